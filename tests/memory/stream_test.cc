// Per-stream ownership and RecordStream, with a fake backend whose events complete on command.
#include <gtest/gtest.h>

#include "memory/caching_allocator.h"
#include "memory/host_backend.h"
#include "memory/size_classes.h"
#include "tests/memory/fake_backend.h"
#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::FakeBackend;
using testing::MakePool;
using testing::MustAllocate;
using testing::MustFree;

TEST(StreamTest, BlocksOfABusySegmentAreReusedOnlyOnTheirOwnStream) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* keep = MustAllocate(*pool, 4096, 1);  // keeps stream 1's segment busy
  char* a = MustAllocate(*pool, 4096, 1);
  MustFree(*pool, a);
  char* b = MustAllocate(*pool, 4096, 2);  // stream 2 gets a segment of its own
  EXPECT_NE(backend.SegmentOf(b), backend.SegmentOf(a));
  EXPECT_EQ(backend.allocations, 2);
  EXPECT_TRUE(backend.waits.empty());
  char* c = MustAllocate(*pool, 4096, 1);  // stream 1 reuses its block
  EXPECT_EQ(c, a);
  EXPECT_EQ(backend.allocations, 2);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, b);
  MustFree(*pool, c);
  MustFree(*pool, keep);
}

TEST(StreamTest, AnIdleSegmentMovesToAnotherStreamBehindAStreamWait) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* small = MustAllocate(*pool, 4096, 1);
  char* large = MustAllocate(*pool, 3 << 20, 1);
  MustFree(*pool, small);
  MustFree(*pool, large);  // both of stream 1's segments are now idle
  const size_t reserved = pool->stats().reserved_bytes;

  char* b = MustAllocate(*pool, 2 << 20, 2);  // adopts the large segment, not the small one
  EXPECT_EQ(backend.SegmentOf(b), backend.SegmentOf(large));
  EXPECT_EQ(backend.allocations, 2);
  EXPECT_EQ(pool->stats().reserved_bytes, reserved);
  EXPECT_EQ(pool->stats().segments_adopted, 1u);
  // Stream 2 waits for an event recorded on stream 1 at the hand-over; the event is released.
  ASSERT_EQ(backend.waits.size(), 1u);
  EXPECT_EQ(backend.waits[0].first, 2u);
  EXPECT_EQ(backend.recorded_streams, (std::vector<StreamId>{1}));
  EXPECT_EQ(backend.outstanding_events(), 0u);
  ASSERT_POOL_CONSISTENT(*pool);

  // The segment now belongs to stream 2: its remainder serves stream 2 without a wait.
  char* c = MustAllocate(*pool, 3 << 19, 2);
  EXPECT_EQ(backend.SegmentOf(c), backend.SegmentOf(large));
  EXPECT_EQ(backend.waits.size(), 1u);
  MustFree(*pool, b);
  MustFree(*pool, c);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(StreamTest, RecordStreamHoldsTheBlockBackUntilEveryEventCompleted) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* p = MustAllocate(*pool, 4096, 1);
  ASSERT_TRUE(pool->RecordStream(p, 2).ok());
  ASSERT_TRUE(pool->RecordStream(p, 3).ok());
  ASSERT_TRUE(pool->RecordStream(p, 2).ok());  // recorded once
  ASSERT_TRUE(pool->RecordStream(p, 1).ok());  // its own stream: nothing to wait for
  MustFree(*pool, p);
  EXPECT_EQ(backend.recorded_streams, (std::vector<StreamId>{2, 3}));
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.pending_free_blocks, 1u);
  EXPECT_EQ(stats.pending_free_bytes, 4096u);
  EXPECT_EQ(stats.allocated_bytes, 0u);
  ASSERT_POOL_CONSISTENT(*pool);

  // Not reused while events are outstanding, and its segment cannot be released.
  char* q = MustAllocate(*pool, 4096, 1);
  EXPECT_NE(q, p);
  MustFree(*pool, q);
  EXPECT_EQ(pool->EmptyCache(), 0u);
  ASSERT_POOL_CONSISTENT(*pool);

  backend.CompleteEvents(2);  // one of two
  char* r = MustAllocate(*pool, 4096, 1);
  EXPECT_NE(r, p);
  MustFree(*pool, r);
  EXPECT_EQ(pool->stats().pending_free_blocks, 1u);

  backend.CompleteEvents(3);  // all: the next allocation collects the block, then reuses it
  char* s = MustAllocate(*pool, 4096, 1);
  EXPECT_EQ(s, p);
  stats = pool->stats();
  EXPECT_EQ(stats.pending_free_blocks, 0u);
  EXPECT_EQ(stats.pending_free_bytes, 0u);
  EXPECT_EQ(backend.released_events, 2);
  EXPECT_EQ(backend.outstanding_events(), 0u);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, s);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->stats().free_blocks, 1u);  // coalesced back into one segment-sized block
  EXPECT_EQ(pool->EmptyCache(), 2 * kMiB);
}

TEST(StreamTest, PendingBlockMergesWithFreeNeighboursOnceReleased) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 512, 1);
  char* b = MustAllocate(*pool, 512, 1);
  char* c = MustAllocate(*pool, 512, 1);
  ASSERT_TRUE(pool->RecordStream(b, 4).ok());
  MustFree(*pool, b);  // pending
  MustFree(*pool, a);  // free, next to the pending b: must not merge with it
  MustFree(*pool, c);  // free, merges with the tail only
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->stats().free_blocks, 2u);
  backend.CompleteAllEvents();
  EXPECT_EQ(pool->EmptyCache(), 2 * kMiB);  // collects the event, merges, releases
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(StreamTest, EventsOfTheHostBackendCompleteAtOnce) {
  HostBackend backend;
  auto pool = MakePool(&backend);
  char* p = MustAllocate(*pool, 4096, 1);
  ASSERT_TRUE(pool->RecordStream(p, 2).ok());
  MustFree(*pool, p);
  EXPECT_EQ(MustAllocate(*pool, 4096, 1), p);
  MustFree(*pool, p);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(StreamTest, DestructionReleasesOutstandingEvents) {
  FakeBackend backend;
  {
    auto pool = MakePool(&backend);
    char* p = MustAllocate(*pool, 4096, 1);
    ASSERT_TRUE(pool->RecordStream(p, 2).ok());
    MustFree(*pool, p);
  }
  EXPECT_EQ(backend.released_events, 1);
  EXPECT_EQ(backend.bytes_in_use(), 0u);
  EXPECT_EQ(backend.bad_frees, 0);
}

}  // namespace
}  // namespace seqserve::memory
