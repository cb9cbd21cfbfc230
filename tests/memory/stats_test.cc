#include <gtest/gtest.h>

#include "memory/caching_allocator.h"
#include "memory/pool_stats.h"
#include "memory/size_classes.h"
#include "tests/memory/fake_backend.h"
#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::FakeBackend;
using testing::MakePool;
using testing::MustAllocate;
using testing::MustFree;

TEST(PoolStatsTest, TracksBytesPeaksAndCallsAfterEveryOperation) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.overhead, 0.0);  // nothing allocated: defined as 0
  EXPECT_EQ(s.hit_rate, 0.0);
  EXPECT_EQ(s.fragmentation, 0.0);

  char* a = MustAllocate(*pool, 3 * kMiB);  // 20 MiB segment, split
  ASSERT_POOL_CONSISTENT(*pool);
  char* b = MustAllocate(*pool, 1000);  // 2 MiB segment
  ASSERT_POOL_CONSISTENT(*pool);
  s = pool->stats();
  EXPECT_EQ(s.reserved_bytes, 22 * kMiB);
  EXPECT_EQ(s.allocated_bytes, 3 * kMiB + 1024);
  EXPECT_EQ(s.requested_bytes, 3 * kMiB + 1000);
  EXPECT_EQ(s.peak_reserved_bytes, 22 * kMiB);
  EXPECT_EQ(s.peak_allocated_bytes, 3 * kMiB + 1024);
  EXPECT_EQ(s.segments, 2u);
  EXPECT_EQ(s.live_blocks, 2u);
  EXPECT_EQ(s.free_blocks, 2u);
  EXPECT_EQ(s.backend_allocations, 2u);
  EXPECT_EQ(s.cache_misses, 2u);
  EXPECT_DOUBLE_EQ(s.overhead, 22.0 * kMiB / (3 * kMiB + 1024));

  MustFree(*pool, a);
  ASSERT_POOL_CONSISTENT(*pool);
  char* c = MustAllocate(*pool, kMiB + 1);  // hit in the large pool
  ASSERT_POOL_CONSISTENT(*pool);
  s = pool->stats();
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_DOUBLE_EQ(s.hit_rate, 1.0 / 3.0);
  EXPECT_EQ(s.peak_allocated_bytes, 3 * kMiB + 1024);  // the peak outlives the free
  EXPECT_EQ(s.allocated_bytes, kMiB + 512 + 1024);

  pool->ResetPeaks();
  s = pool->stats();
  EXPECT_EQ(s.peak_allocated_bytes, s.allocated_bytes);
  EXPECT_EQ(s.peak_reserved_bytes, s.reserved_bytes);

  MustFree(*pool, b);
  MustFree(*pool, c);
  EXPECT_EQ(pool->EmptyCache(), 22 * kMiB);
  s = pool->stats();
  EXPECT_EQ(s.backend_frees, 2u);
  EXPECT_EQ(s.peak_reserved_bytes, 22 * kMiB);
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(s.overhead, 0.0);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(PoolStatsTest, FragmentationIsOneMinusLargestFreeBlockOverFreeBytes) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  char* a = MustAllocate(*pool, 512);
  char* b = MustAllocate(*pool, 512);
  MustFree(*pool, a);  // free: a hole of 512 B and the tail of 2 MiB - 1 KiB
  PoolStats s = pool->stats();
  EXPECT_EQ(s.cached_free_bytes, 2 * kMiB - 512);
  EXPECT_EQ(s.largest_free_block, 2 * kMiB - 1024);
  EXPECT_DOUBLE_EQ(s.fragmentation, 1.0 - double(2 * kMiB - 1024) / double(2 * kMiB - 512));
  MustFree(*pool, b);
  s = pool->stats();
  EXPECT_EQ(s.fragmentation, 0.0);
  EXPECT_EQ(s.largest_free_block, 2 * kMiB);
}

TEST(PoolStatsTest, LargestFreeBlockLooksAcrossStreams) {
  FakeBackend backend;
  auto pool = MakePool(&backend);
  // Stream 1: 20 MiB segment with 16 MiB free; stream 2: 20 MiB with 4 MiB free; stream 3: small.
  char* a = MustAllocate(*pool, 4 * kMiB, 1);
  char* b = MustAllocate(*pool, 16 * kMiB, 2);
  char* c = MustAllocate(*pool, 512, 3);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.largest_free_block, 16 * kMiB);
  EXPECT_EQ(s.free_blocks, 3u);
  MustFree(*pool, b);
  s = pool->stats();
  EXPECT_EQ(s.largest_free_block, 20 * kMiB);
  MustFree(*pool, a);
  MustFree(*pool, c);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(PoolStatsTest, DebugStringNamesTheFields) {
  PoolStats s;
  s.reserved_bytes = 2097152;
  s.fragmentation = 0.25;
  const std::string text = DebugString(s);
  EXPECT_NE(text.find("reserved=2097152"), std::string::npos) << text;
  EXPECT_NE(text.find("fragmentation=0.2500"), std::string::npos) << text;
}

}  // namespace
}  // namespace seqserve::memory
