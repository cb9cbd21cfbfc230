#include "memory/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

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

size_t BlockSizeOf(const CachingAllocator& pool, const void* p) {
  absl::StatusOr<size_t> size = pool.BlockSize(p);
  EXPECT_TRUE(size.ok()) << size.status();
  return size.ok() ? *size : 0;
}

TEST(CachingAllocatorTest, ZeroBytesGiveNullptrAndTouchNothing) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  absl::StatusOr<void*> p = pool->Allocate(0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, nullptr);
  EXPECT_TRUE(pool->Free(nullptr).ok());
  EXPECT_TRUE(pool->RecordStream(nullptr, 3).ok());
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(s.cache_hits + s.cache_misses, 0u);
  EXPECT_EQ(backend.allocations, 0);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, RoundsTo512AndCarvesSmallRequestsFromTwoMebibyteSegments) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 1);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(BlockSizeOf(*pool, a), 512u);
  char* b = MustAllocate(*pool, 1000);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(BlockSizeOf(*pool, b), 1024u);
  EXPECT_EQ(b, a + 512);  // packed at the start of the segment
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.reserved_bytes, 2 * kMiB);
  EXPECT_EQ(s.allocated_bytes, 1536u);
  EXPECT_EQ(s.requested_bytes, 1001u);
  EXPECT_EQ(s.segments, 1u);
  EXPECT_EQ(s.free_blocks, 1u);
  EXPECT_EQ(s.cached_free_bytes, 2 * kMiB - 1536);
  EXPECT_EQ(backend.requested_sizes, std::vector<size_t>{2 * kMiB});
  MustFree(*pool, a);
  MustFree(*pool, b);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, ReusesFreedMemoryWithoutCallingTheBackend) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 4096);
  MustFree(*pool, a);
  char* b = MustAllocate(*pool, 4000);
  EXPECT_EQ(a, b);
  EXPECT_EQ(backend.allocations, 1);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.cache_misses, 1u);
  EXPECT_EQ(s.cache_hits, 1u);
  MustFree(*pool, b);
}

TEST(CachingAllocatorTest, CoalescesWithFreeNeighboursOnBothSides) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 512);
  char* b = MustAllocate(*pool, 512);
  char* c = MustAllocate(*pool, 512);
  ASSERT_EQ(b, a + 512);
  ASSERT_EQ(c, b + 512);

  MustFree(*pool, a);  // a alone: its right neighbour b is live
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->stats().free_blocks, 2u);

  MustFree(*pool, c);  // c merges with the tail of the segment
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->stats().free_blocks, 2u);
  EXPECT_EQ(pool->stats().largest_free_block, 2 * kMiB - 1024);

  MustFree(*pool, b);  // b merges with a on the left and c+tail on the right
  ASSERT_POOL_CONSISTENT(*pool);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.free_blocks, 1u);
  EXPECT_EQ(s.largest_free_block, 2 * kMiB);
  EXPECT_EQ(s.fragmentation, 0.0);

  // The whole segment serves a 1 MiB request again from its start.
  char* big = MustAllocate(*pool, kMiB);
  EXPECT_EQ(big, a);
  MustFree(*pool, big);
}

TEST(CachingAllocatorTest, BestFitPicksTheSmallestFittingBlock) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  // Holes of 2048, 1024 and 1536 bytes, kept apart by live 512-byte separators.
  char* h1 = MustAllocate(*pool, 2048);
  char* s1 = MustAllocate(*pool, 512);
  char* h2 = MustAllocate(*pool, 1024);
  char* s2 = MustAllocate(*pool, 512);
  char* h3 = MustAllocate(*pool, 1536);
  char* s3 = MustAllocate(*pool, 512);
  MustFree(*pool, h1);
  MustFree(*pool, h2);
  MustFree(*pool, h3);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->stats().free_blocks, 4u);  // three holes and the tail

  EXPECT_EQ(MustAllocate(*pool, 1000), h2);  // 1024 fits exactly
  EXPECT_EQ(MustAllocate(*pool, 1100), h3);  // 1536 is the smallest >= 1536
  EXPECT_EQ(MustAllocate(*pool, 600), h1);   // only 2048 is left below the tail: split
  ASSERT_POOL_CONSISTENT(*pool);
  // The 1024-byte remainder of h1 is now the best fit for 1024.
  EXPECT_EQ(MustAllocate(*pool, 1024), h1 + 1024);
  ASSERT_POOL_CONSISTENT(*pool);
  (void)s1, (void)s2, (void)s3;
}

TEST(CachingAllocatorTest, EqualSizesGoToTheLowestAddress) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 1024);
  char* sep1 = MustAllocate(*pool, 512);
  char* b = MustAllocate(*pool, 1024);
  char* sep2 = MustAllocate(*pool, 512);
  MustFree(*pool, b);
  MustFree(*pool, a);
  EXPECT_EQ(MustAllocate(*pool, 1024), a);
  EXPECT_EQ(MustAllocate(*pool, 1024), b);
  (void)sep1, (void)sep2;
}

TEST(CachingAllocatorTest, LargePoolSplitsOnlyRemaindersAboveOneMebibyte) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  // 4 MiB from a fresh 20 MiB segment: the 16 MiB remainder is split off.
  char* a = MustAllocate(*pool, 4 * kMiB);
  EXPECT_EQ(BlockSizeOf(*pool, a), 4 * kMiB);
  EXPECT_EQ(pool->stats().cached_free_bytes, 16 * kMiB);
  MustFree(*pool, a);
  // 19 MiB: the 1 MiB remainder is not above 1 MiB, so it stays with the allocation.
  char* b = MustAllocate(*pool, 19 * kMiB);
  EXPECT_EQ(b, a);
  EXPECT_EQ(BlockSizeOf(*pool, b), 20 * kMiB);
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.allocated_bytes, 20 * kMiB);
  EXPECT_EQ(s.requested_bytes, 19 * kMiB);
  EXPECT_EQ(s.free_blocks, 0u);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, b);
  // 19 MiB - 512: the remainder is 1 MiB + 512 and is split off.
  char* c = MustAllocate(*pool, 19 * kMiB - 512);
  EXPECT_EQ(BlockSizeOf(*pool, c), 19 * kMiB - 512);
  EXPECT_EQ(pool->stats().cached_free_bytes, kMiB + 512);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, c);
  EXPECT_EQ(backend.allocations, 1);
}

TEST(CachingAllocatorTest, SmallAndLargeRequestsUseSeparatePools) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* small = MustAllocate(*pool, kMiB);      // the largest small request
  char* large = MustAllocate(*pool, kMiB + 1);  // the smallest large one
  char* huge = MustAllocate(*pool, 30 * kMiB + 1);
  EXPECT_EQ(backend.requested_sizes, (std::vector<size_t>{2 * kMiB, 20 * kMiB, 32 * kMiB}));
  EXPECT_EQ(backend.SegmentOf(small), small);
  EXPECT_EQ(backend.SegmentOf(large), large);
  MustFree(*pool, small);
  MustFree(*pool, large);
  MustFree(*pool, huge);
  ASSERT_POOL_CONSISTENT(*pool);

  // With only large free memory cached, a small request still gets a small segment, and a
  // large request never takes the small pool's free memory.
  EXPECT_EQ(pool->EmptyCache(), 2 * kMiB + 20 * kMiB + 32 * kMiB);
  char* l = MustAllocate(*pool, 2 * kMiB);
  MustFree(*pool, l);
  char* s = MustAllocate(*pool, 4096);
  EXPECT_EQ(backend.requested_sizes.back(), 2 * kMiB);
  EXPECT_EQ(pool->stats().segments, 2u);
  MustFree(*pool, s);
  char* l2 = MustAllocate(*pool, kMiB + 512);
  EXPECT_EQ(l2, l);
  MustFree(*pool, l2);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, PointersAre512AlignedInsideSegments) {
  // Decision: a pointer is aligned to min(backend alignment, 512): blocks start at multiples of
  // 512 from their segment's base, which has the backend's alignment.
  FakeBackend backend(4096);
  auto pool = MakePool(&backend);
  std::mt19937 rng(7);
  std::vector<void*> live;
  for (int i = 0; i < 300; ++i) {
    const size_t bytes = 1 + rng() % (i % 10 == 0 ? 8 * kMiB : 64 * kKiB);
    char* p = MustAllocate(*pool, bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 512, 0u);
    const char* base = backend.SegmentOf(p);
    ASSERT_NE(base, nullptr);
    EXPECT_EQ((p - base) % 512, 0);
    live.push_back(p);
    if (rng() % 3 == 0) {
      const size_t victim = rng() % live.size();
      MustFree(*pool, live[victim]);
      live.erase(live.begin() + victim);
    }
  }
  for (void* p : live) MustFree(*pool, p);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, HostBackendPointersAre64Aligned) {
  HostBackend backend;
  auto pool = MakePool(&backend);
  std::vector<void*> live;
  for (size_t bytes : {1ul, 63ul, 65ul, 4097ul, kMiB + 3, 5 * kMiB + 1}) {
    char* p = MustAllocate(*pool, bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << bytes;
    live.push_back(p);
  }
  for (void* p : live) MustFree(*pool, p);
}

TEST(CachingAllocatorTest, RejectsDoubleFreeAndForeignPointers) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* p = MustAllocate(*pool, 100);
  MustFree(*pool, p);
  const PoolStats before = pool->stats();
  EXPECT_EQ(pool->Free(p).code(), absl::StatusCode::kInvalidArgument);
  int local = 0;
  EXPECT_EQ(pool->Free(&local).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool->RecordStream(p, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool->BlockSize(p).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool->stats().cached_free_bytes, before.cached_free_bytes);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, EmptyCacheReleasesOnlyFullyFreeSegments) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* small = MustAllocate(*pool, 4096);
  char* large = MustAllocate(*pool, 4 * kMiB);
  char* keep = MustAllocate(*pool, 2 * kMiB);  // same large segment as `large`
  MustFree(*pool, small);
  MustFree(*pool, large);
  EXPECT_EQ(pool->EmptyCache(), 2 * kMiB);  // the small segment only
  EXPECT_EQ(backend.frees, 1);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.reserved_bytes, 20 * kMiB);
  EXPECT_EQ(s.backend_frees, 1u);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, keep);
  EXPECT_EQ(pool->EmptyCache(), 20 * kMiB);
  s = pool->stats();
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(s.segments, 0u);
  EXPECT_EQ(backend.bytes_in_use(), 0u);
  EXPECT_EQ(pool->EmptyCache(), 0u);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, MaxSplitSizeKeepsOversizeBlocksWhole) {
  FakeBackend backend;
  CachingAllocator::Options options;
  options.max_split_size = 24 * kMiB;
  auto pool = MakePool(&backend, options);

  // An oversize request gets its exact (2 MiB-rounded) segment.
  char* big = MustAllocate(*pool, 50 * kMiB - 100);
  EXPECT_EQ(backend.requested_sizes.back(), 50 * kMiB);
  MustFree(*pool, big);

  // An ordinary request (<= 24 MiB) never takes (and splits) the cached oversize block.
  char* medium = MustAllocate(*pool, 10 * kMiB);
  EXPECT_NE(backend.SegmentOf(medium), big);
  EXPECT_EQ(backend.requested_sizes.back(), 20 * kMiB);
  MustFree(*pool, medium);

  // An oversize request takes it when the waste is under 20 MiB, unsplit.
  char* again = MustAllocate(*pool, 45 * kMiB);
  EXPECT_EQ(again, big);
  EXPECT_EQ(BlockSizeOf(*pool, again), 50 * kMiB);
  MustFree(*pool, again);
  // ...also with just under 20 MiB of waste...
  char* other = MustAllocate(*pool, 30 * kMiB + 512);
  EXPECT_EQ(other, big);
  MustFree(*pool, other);
  // ...but not with 20 MiB: 30 MiB gets a fresh, exact segment.
  char* fresh = MustAllocate(*pool, 30 * kMiB);
  EXPECT_NE(fresh, big);
  EXPECT_EQ(backend.requested_sizes.back(), 30 * kMiB);
  MustFree(*pool, fresh);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(CachingAllocatorTest, CreateValidatesItsInputs) {
  FakeBackend backend;
  EXPECT_EQ(CachingAllocator::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  CachingAllocator::Options options;
  options.max_split_size = 10 * kMiB;
  EXPECT_EQ(CachingAllocator::Create(&backend, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.max_split_size = 21 * kMiB;  // rounded up to the 2 MiB segment granularity
  auto pool = MakePool(&backend, options);
  EXPECT_EQ(pool->options().max_split_size, 22 * kMiB);
  FakeBackend odd(48);
  EXPECT_EQ(CachingAllocator::Create(&odd).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CachingAllocatorTest, DestructionReturnsEverySegment) {
  HostBackend backend;
  {
    auto pool = MakePool(&backend);
    MustAllocate(*pool, 100);  // deliberately leaked into the pool
    MustAllocate(*pool, 3 * kMiB);
    char* p = MustAllocate(*pool, 64 * kKiB);
    MustFree(*pool, p);
  }
  EXPECT_EQ(backend.allocations(), backend.frees());
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(CachingAllocatorTest, ExpandableSegmentGrowsInPlaceInsteadOfAddingSegments) {
  HostBackend backend;
  CachingAllocator::Options options;
  options.expandable_segments = true;
  auto pool = MakePool(&backend, options);
  char* a = MustAllocate(*pool, 2 * kMiB);  // the stream's expandable segment: 2 MiB, not 20
  EXPECT_EQ(pool->stats().segments, 1u);
  EXPECT_EQ(pool->stats().reserved_bytes, 2 * kMiB);
  char* b = MustAllocate(*pool, 4 * kMiB);  // the last block is live: 4 MiB appended after it
  EXPECT_EQ(b, a + 2 * kMiB);
  EXPECT_EQ(pool->stats().reserved_bytes, 6 * kMiB);
  MustFree(*pool, a);
  char* c = MustAllocate(*pool, 3 * kMiB);  // a's 2 MiB is too small: 3 MiB appended after b
  EXPECT_EQ(c, b + 4 * kMiB);
  EXPECT_EQ(pool->stats().reserved_bytes, 9 * kMiB);
  MustFree(*pool, c);
  char* d = MustAllocate(*pool, 7 * kMiB);  // the last block is free (3 MiB): it grows by 4
  EXPECT_EQ(d, c);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.reserved_bytes, 13 * kMiB);
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_EQ(stats.backend_grows, 3u);
  EXPECT_EQ(backend.allocations(), 1);
  std::memset(b, 2, 4 * kMiB);  // every byte handed out is usable
  std::memset(d, 4, 7 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, b);  // merges with a's free block: 6 MiB at a
  char* e = MustAllocate(*pool, 6 * kMiB);
  EXPECT_EQ(e, a);
  EXPECT_EQ(pool->stats().reserved_bytes, 13 * kMiB);
  char* tiny = MustAllocate(*pool, 1000);  // small requests share the arena: the tail grows
  EXPECT_EQ(tiny, d + 7 * kMiB);
  EXPECT_EQ(pool->stats().segments, 1u);
  EXPECT_EQ(pool->stats().reserved_bytes, 13 * kMiB + kExpandableGrowth);
  MustFree(*pool, tiny);
  MustFree(*pool, d);
  MustFree(*pool, e);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->EmptyCache(), 13 * kMiB + kExpandableGrowth);  // one segment, at its grown size
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(CachingAllocatorTest, ExpandableSegmentsFallBackWhenTheBackendCannotGrow) {
  FakeBackend backend;  // GrowInPlace: the default, never
  CachingAllocator::Options options;
  options.expandable_segments = true;
  auto pool = MakePool(&backend, options);
  char* a = MustAllocate(*pool, 3 * kMiB);
  char* b = MustAllocate(*pool, 5 * kMiB);  // the option is ignored: one ordinary 20 MiB segment
  EXPECT_EQ(pool->stats().segments, 1u);
  EXPECT_EQ(pool->stats().reserved_bytes, 20 * kMiB);
  EXPECT_EQ(backend.grows, 0);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, a);
  MustFree(*pool, b);
}

}  // namespace
}  // namespace seqserve::memory
