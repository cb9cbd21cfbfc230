// The capacity budget and the out-of-memory path.
#include <gtest/gtest.h>

#include <limits>
#include <string>

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

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(BudgetTest, ReleasesCachedSegmentsBeforeFailingAndStaysUsable) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(24 * kMiB));
  char* a = MustAllocate(*pool, 4 * kMiB, /*stream=*/0);  // 20 MiB segment
  char* s = MustAllocate(*pool, 512, 0);                  // 2 MiB segment
  MustFree(*pool, a);
  ASSERT_POOL_CONSISTENT(*pool);

  // Stream 1 cannot reuse stream 0's segment; 22 + 20 > 24, so stream 0's free segment goes.
  char* b = MustAllocate(*pool, 4 * kMiB, 1);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(backend.frees, 1);
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.reserved_bytes, 22 * kMiB);
  EXPECT_EQ(stats.oom_count, 0u);

  // 17 MiB on stream 1: its 16 MiB remainder is too small, 20 MiB and even the exact 18 MiB
  // would exceed the budget, and nothing is left to release.
  absl::StatusOr<void*> c = pool->Allocate(17 * kMiB, 1);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(c.status().message());
  EXPECT_TRUE(Contains(message, "requested 17825792 bytes")) << message;
  EXPECT_TRUE(Contains(message, "reserved 23068672 bytes")) << message;
  EXPECT_TRUE(Contains(message, "allocated 4194816 bytes")) << message;
  EXPECT_TRUE(Contains(message, "budget 25165824 bytes")) << message;
  EXPECT_TRUE(Contains(message, "capacity budget")) << message;
  stats = pool->stats();
  EXPECT_EQ(stats.oom_count, 1u);
  EXPECT_EQ(stats.reserved_bytes, 22 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);

  // Still serving: once b is freed its segment fits the request.
  MustFree(*pool, b);
  char* d = MustAllocate(*pool, 17 * kMiB, 1);
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
  MustFree(*pool, MustAllocate(*pool, 2 * kMiB, 1));  // 20 MiB, stream 1
  MustFree(*pool, MustAllocate(*pool, 2 * kMiB, 2));  // 20 MiB, stream 2
  MustFree(*pool, MustAllocate(*pool, 512, 0));       // 2 MiB, stream 0
  EXPECT_EQ(pool->stats().reserved_bytes, 42 * kMiB);
  // Stream 3 needs 20 MiB: short by 18 MiB; one 20 MiB segment covers it, the 2 MiB one stays.
  char* p = MustAllocate(*pool, 2 * kMiB, 3);
  EXPECT_EQ(backend.frees, 1);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.segments, 3u);
  EXPECT_EQ(stats.reserved_bytes, 42 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, p);
}

TEST(BudgetTest, ReleasesSeveralSegmentsWhenNoSingleOneCovers) {
  FakeBackend backend;
  auto pool = MakePool(&backend, Budget(24 * kMiB));
  for (StreamId s = 0; s < 4; ++s) MustFree(*pool, MustAllocate(*pool, 512, s));  // 4 x 2 MiB
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

TEST(BudgetTest, BackendFailureReleasesTheCacheAndRetries) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  MustFree(*pool, MustAllocate(*pool, 4 * kMiB, 1));  // a cached 20 MiB segment of stream 1
  backend.FailNext(1);
  char* p = MustAllocate(*pool, 4 * kMiB, 2);
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
  EXPECT_EQ(pool->Allocate(kMaxRequestSize + 1).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool->Allocate(std::numeric_limits<size_t>::max()).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(backend.requested_sizes.empty());
  EXPECT_EQ(pool->stats().oom_count, 2u);
  ASSERT_POOL_CONSISTENT(*pool);
}

}  // namespace
}  // namespace seqserve::memory
