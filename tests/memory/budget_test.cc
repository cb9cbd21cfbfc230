// The capacity budget and the out-of-memory path.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "memory/allocation_scope.h"
#include "memory/caching_allocator.h"
#include "memory/size_classes.h"
#include "tests/memory/fake_backend.h"
#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::FakeBackend;
using testing::MakePool;
using testing::MustAllocate;
using testing::MustFree;

CachingAllocator::Options Budget(size_t bytes) {
  CachingAllocator::Options options;
  options.capacity_bytes = bytes;
  return options;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(BudgetTest, ReleasesCachedSegmentsBeforeFailingAndStaysUsable) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(24 * kMiB));
  char* a = MustAllocate(*pool, 4 * kMiB, /*stream=*/0);  // 20 MiB segment
  char* s = MustAllocate(*pool, 512, 0);                  // 2 MiB segment
  MustFree(*pool, a);
  ASSERT_POOL_CONSISTENT(*pool);

  // 21 MiB on stream 1: stream 0's idle 20 MiB segment is too small to adopt, and 2 + 20 + 22
  // exceeds the budget, so the idle segment goes back to the backend first.
  char* b = MustAllocate(*pool, 21 * kMiB, 1);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(backend.frees, 1);
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.reserved_bytes, 24 * kMiB);
  EXPECT_EQ(stats.oom_count, 0u);
  EXPECT_EQ(stats.segments_adopted, 0u);

  // 3 MiB on stream 1: b's segment has no room, a new one would exceed the budget, and nothing
  // is left to release.
  absl::StatusOr<void*> c = pool->Allocate(3 * kMiB, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(c.status().message());
  EXPECT_TRUE(Contains(message, "requested 3145728 bytes")) << message;
  EXPECT_TRUE(Contains(message, "reserved 25165824 bytes")) << message;
  EXPECT_TRUE(Contains(message, "budget 25165824 bytes")) << message;
  EXPECT_TRUE(Contains(message, "capacity budget")) << message;
  stats = pool->stats();
  EXPECT_EQ(stats.oom_count, 1u);
  EXPECT_EQ(stats.reserved_bytes, 24 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);

  // Still serving: once b is freed its segment serves the request.
  MustFree(*pool, b);
  char* d = MustAllocate(*pool, 3 * kMiB, 1);
  EXPECT_EQ(d, b);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, d);
  MustFree(*pool, s);
}

TEST(BudgetTest, FallsBackToTheExactSegmentNearTheBudget) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(10 * kMiB));
  char* a = MustAllocate(*pool, 4 * kMiB);
  char* b = MustAllocate(*pool, 4 * kMiB);
  EXPECT_EQ(backend.requested_sizes, (std::vector<size_t>{4 * kMiB, 4 * kMiB}));
  EXPECT_FALSE(pool->Allocate(4 * kMiB).ok());  // 12 MiB > 10 MiB
  EXPECT_EQ(pool->stats().reserved_bytes, 8 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, a);
  MustFree(*pool, b);
}

TEST(BudgetTest, ReleasesTheSmallestSegmentThatCoversTheShortfall) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(44 * kMiB));
  // All live at once (an idle segment would be adopted by the next stream), then all freed.
  char* on1 = MustAllocate(*pool, 2 * kMiB, 1);  // 20 MiB, stream 1
  char* on2 = MustAllocate(*pool, 2 * kMiB, 2);  // 20 MiB, stream 2
  char* on0 = MustAllocate(*pool, 512, 0);       // 2 MiB, stream 0
  for (char* p : {on1, on2, on0}) MustFree(*pool, p);
  EXPECT_EQ(pool->stats().reserved_bytes, 42 * kMiB);
  // Stream 3 needs a 22 MiB segment (no idle one is big enough to adopt): short by 20 MiB; one
  // 20 MiB segment covers it, the 2 MiB one stays.
  char* p = MustAllocate(*pool, 21 * kMiB, 3);
  EXPECT_EQ(backend.frees, 1);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.segments, 3u);
  EXPECT_EQ(stats.reserved_bytes, 44 * kMiB);
  EXPECT_EQ(stats.segments_adopted, 0u);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, p);
}

TEST(BudgetTest, ReleasesSeveralSegmentsWhenNoSingleOneCovers) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(24 * kMiB));
  std::vector<char*> held;
  for (StreamId s = 0; s < 4; ++s) held.push_back(MustAllocate(*pool, 512, s));  // 4 x 2 MiB
  for (char* p : held) MustFree(*pool, p);
  EXPECT_EQ(pool->stats().reserved_bytes, 8 * kMiB);
  // 20 MiB on stream 9: 8 + 20 > 24, short by 4 MiB; no single 2 MiB segment covers that, so
  // two go, and two stay cached.
  char* p = MustAllocate(*pool, 2 * kMiB, 9);
  EXPECT_EQ(backend.frees, 2);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.segments, 3u);
  EXPECT_EQ(stats.reserved_bytes, 24 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, p);
}

TEST(BudgetTest, ReleaseIdleBeforeGrowingKeepsTheFootprintNearTheLiveBytes) {
  for (const bool lean : {false, true}) {
    FakeBackend backend;
    CachingAllocator::Options options;
    options.release_idle_before_growing = lean;
    auto pool = MakePool(&backend, options);
    MustFree(*pool, MustAllocate(*pool, 4 * kMiB, 0));  // an idle 20 MiB segment
    char* p = MustAllocate(*pool, 21 * kMiB, 0);        // too large for it: a 22 MiB segment
    const PoolStats stats = pool->stats();
    EXPECT_EQ(backend.frees, lean ? 1 : 0) << lean;
    EXPECT_EQ(stats.reserved_bytes, (lean ? 22 : 42) * kMiB) << lean;
    ASSERT_POOL_CONSISTENT(*pool);
    MustFree(*pool, p);
  }
}

TEST(BudgetTest, BackendFailureReleasesTheCacheAndRetries) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  MustFree(*pool, MustAllocate(*pool, 4 * kMiB, 1));  // a cached 20 MiB segment of stream 1
  backend.FailNext(1);
  // Too large for the idle segment to be adopted: a new segment, which the backend refuses once.
  char* p = MustAllocate(*pool, 21 * kMiB, 2);
  ASSERT_NE(p, nullptr);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.backend_failures, 1u);
  EXPECT_EQ(stats.backend_frees, 1u);
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_EQ(stats.oom_count, 0u);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, p);
}

TEST(BudgetTest, BackendOutOfMemoryFallsBackToTheExactSizeThenFails) {
  FakeBackend backend;
  backend.SetDeviceBytes(8 * kMiB);
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 4 * kMiB);  // 20 MiB fails, 4 MiB fits the device
  EXPECT_EQ(backend.requested_sizes, (std::vector<size_t>{20 * kMiB, 4 * kMiB}));

  absl::StatusOr<void*> b = pool->Allocate(6 * kMiB);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(b.status().message());
  EXPECT_TRUE(Contains(message, "backend 'fake' could not allocate")) << message;
  EXPECT_TRUE(Contains(message, "budget unlimited")) << message;
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.oom_count, 1u);
  EXPECT_EQ(stats.backend_failures, 3u);
  ASSERT_POOL_CONSISTENT(*pool);

  // With a freed, its cached segment is released for the retry and 6 MiB fits.
  MustFree(*pool, a);
  char* c = MustAllocate(*pool, 6 * kMiB);
  stats = pool->stats();
  EXPECT_EQ(stats.reserved_bytes, 6 * kMiB);
  EXPECT_EQ(stats.backend_frees, 1u);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, c);
}

TEST(BudgetTest, BudgetBelowOneSmallSegmentServesNothing) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(kMiB));
  EXPECT_EQ(pool->Allocate(1).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(backend.allocations, 0);
}

TEST(BudgetTest, AbsurdRequestsFailWithoutCallingTheBackend) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  EXPECT_EQ(pool->Allocate(kMaxRequestSize + 1).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool->Allocate(std::numeric_limits<size_t>::max()).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(backend.requested_sizes.empty());
  EXPECT_EQ(pool->stats().oom_count, 2u);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(BudgetTest, SetCapacityChangesTheBudgetAndGivesBackCachedSegments) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(0));
  char* a = MustAllocate(*pool, 30 * kMiB, 0);
  char* b = MustAllocate(*pool, 4 * kMiB, 0);
  MustFree(*pool, a);  // 30 MiB cached
  const size_t before = pool->stats().reserved_bytes;
  pool->SetCapacity(24 * kMiB);
  EXPECT_EQ(pool->capacity(), 24 * kMiB);
  EXPECT_LT(pool->stats().reserved_bytes, before);  // the idle segment went back
  EXPECT_LE(pool->stats().reserved_bytes, 24 * kMiB);
  EXPECT_FALSE(pool->Allocate(30 * kMiB, 0).ok());  // beyond the new budget
  pool->SetCapacity(0);                             // unlimited again
  char* c = MustAllocate(*pool, 30 * kMiB, 0);
  MustFree(*pool, c);
  MustFree(*pool, b);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(AllocationScopeTest, ChargesThisThreadsAllocationsAndKeepsThePeak) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(0));
  char* before = MustAllocate(*pool, 1 * kMiB, 0);  // outside any scope
  {
    AllocationScope scope;
    char* a = MustAllocate(*pool, 3 * kMiB, 0);
    char* b = MustAllocate(*pool, 1000, 0);  // charged by block: 1024
    EXPECT_EQ(scope.current(), static_cast<int64_t>(3 * kMiB + 1024));
    MustFree(*pool, a);
    EXPECT_EQ(scope.current(), 1024);
    {
      AllocationScope inner;  // suspends the outer one
      char* c = MustAllocate(*pool, 2 * kMiB, 0);
      MustFree(*pool, c);
      EXPECT_EQ(inner.peak(), static_cast<int64_t>(2 * kMiB));
    }
    MustFree(*pool, before);  // freed here, allocated before: current goes below 0
    EXPECT_EQ(scope.current(), 1024 - static_cast<int64_t>(1 * kMiB));
    EXPECT_EQ(scope.peak(), static_cast<int64_t>(3 * kMiB + 1024));
    MustFree(*pool, b);
  }
  // Another thread's allocations are not charged here.
  AllocationScope scope;
  std::thread other([&] { MustFree(*pool, MustAllocate(*pool, 5 * kMiB, 0)); });
  other.join();
  EXPECT_EQ(scope.peak(), 0);
}

}  // namespace
}  // namespace seqserve::memory
