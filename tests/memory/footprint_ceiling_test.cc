// The footprint ceiling (Options::decommit_free_pages, Note [footprint ceiling] in
// footprint_ceiling.cc): before taking memory beyond its previous peak, the pool gives back the
// pages of its free blocks.
#include <gtest/gtest.h>

#include <cstring>

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
using testing::ResidentPages;

CachingAllocator::Options CeilingOptions() {
  CachingAllocator::Options options;
  options.expandable_segments = true;
  options.decommit_free_pages = true;
  return options;
}

// An arena with a 1 MiB hole at its start, in front of a live 512 B block and the free rest of
// a 64 KiB growth step: [hole 1 MiB][live 512 B][free 64 KiB - 512 B].
struct HoleInFront {
  char* hole;
  char* live;
};
HoleInFront MakeHole(CachingAllocator& pool) {
  char* a = MustAllocate(pool, kMiB);
  char* b = MustAllocate(pool, 512);
  std::memset(a, 1, kMiB);
  MustFree(pool, a);
  return {a, b};
}

TEST(FootprintCeilingTest, GivesBackAHoleInsteadOfRaisingThePeak) {
  HostBackend backend;
  auto pool = MakePool(&backend, CeilingOptions());
  const HoleInFront arena = MakeHole(*pool);
  EXPECT_EQ(pool->stats().peak_reserved_bytes, kMiB + kExpandableGrowth);
  EXPECT_EQ(ResidentPages(arena.hole, kMiB), kMiB / 4096);

  // 2 MiB fits nowhere: the arena grows by 2 MiB, but first the hole's pages go back, so the
  // footprint rises by 1 MiB (without the ceiling: 2 MiB, to 3 MiB + 64 KiB).
  char* c = MustAllocate(*pool, 2 * kMiB);
  EXPECT_EQ(c, arena.live + 512);
  PoolStats stats = pool->stats();
  EXPECT_EQ(stats.decommitted_bytes, kMiB);
  EXPECT_EQ(stats.reserved_bytes, 2 * kMiB + kExpandableGrowth);
  EXPECT_EQ(stats.peak_reserved_bytes, 2 * kMiB + kExpandableGrowth);
  EXPECT_EQ(stats.cached_free_bytes, kExpandableGrowth - 512);  // the tail's rest
  EXPECT_EQ(stats.backend_decommits, 1u);
  EXPECT_EQ(ResidentPages(arena.hole, kMiB), 0u);  // the memory really went back
  EXPECT_EQ(backend.bytes_in_use(), static_cast<int64_t>(stats.reserved_bytes));
  std::memset(c, 2, 2 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);

  // 1 MiB: best fit is the hole. Its pages are committed again; to stay near the peak the pool
  // first gives back the whole pages of the only other free block (the tail's 60 KiB).
  char* d = MustAllocate(*pool, kMiB);
  EXPECT_EQ(d, arena.hole);
  std::memset(d, 3, kMiB);  // accessible again (a decommitted page would fault)
  stats = pool->stats();
  EXPECT_EQ(stats.backend_commits, 1u);
  EXPECT_EQ(stats.decommitted_bytes, kExpandableGrowth - 4096);
  EXPECT_EQ(stats.reserved_bytes, 3 * kMiB + 4096);
  EXPECT_EQ(stats.allocated_bytes, 3 * kMiB + 512);
  EXPECT_EQ(backend.bytes_in_use(), static_cast<int64_t>(stats.reserved_bytes));
  ASSERT_POOL_CONSISTENT(*pool);

  MustFree(*pool, arena.live);
  MustFree(*pool, c);
  MustFree(*pool, d);
  ASSERT_POOL_CONSISTENT(*pool);
  EXPECT_EQ(pool->EmptyCache(), 3 * kMiB + 4096);  // the memory held, not the address space
  EXPECT_EQ(pool->stats().decommitted_bytes, 0u);
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(FootprintCeilingTest, BelowThePeakNothingIsGivenBack) {
  HostBackend backend;
  auto pool = MakePool(&backend, CeilingOptions());
  char* a = MustAllocate(*pool, 4 * kMiB);
  MustFree(*pool, a);
  for (int i = 0; i < 100; ++i) {  // steady traffic under the high-water mark
    char* b = MustAllocate(*pool, kMiB + i * 4096);
    char* c = MustAllocate(*pool, 512);
    MustFree(*pool, b);
    MustFree(*pool, c);
  }
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.backend_decommits, 0u);
  EXPECT_EQ(stats.decommitted_bytes, 0u);
  EXPECT_EQ(stats.reserved_bytes, 4 * kMiB);
}

TEST(FootprintCeilingTest, LetsTheArenaGrowWithinABudgetByGivingBackHoles) {
  for (const bool ceiling : {false, true}) {
    FakeBackend backend;
    backend.SetGrowable(64 * kMiB);
    backend.SetDecommitGranularity(4096);
    CachingAllocator::Options options = CeilingOptions();
    options.decommit_free_pages = ceiling;
    options.capacity_bytes = 3 * kMiB;
    auto pool = MakePool(&backend, options);
    const HoleInFront arena = MakeHole(*pool);
    // 2.5 MiB more would need 3.5 MiB + 64 KiB in all; with the hole given back, 2.5 + 64 KiB.
    absl::StatusOr<void*> big = pool->Allocate(2 * kMiB + kMiB / 2);
    ASSERT_POOL_CONSISTENT(*pool);
    EXPECT_EQ(big.ok(), ceiling) << big.status();
    if (!ceiling) {
      EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
      continue;
    }
    EXPECT_LE(pool->stats().reserved_bytes, options.capacity_bytes);
    EXPECT_EQ(pool->stats().reserved_bytes, backend.bytes_in_use());
    // The hole cannot be taken back now: that would pass the budget.
    absl::StatusOr<void*> refill = pool->Allocate(kMiB);
    EXPECT_EQ(refill.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(refill.status().message().find("capacity budget"), std::string::npos) << refill.status();
    ASSERT_POOL_CONSISTENT(*pool);
    MustFree(*pool, *big);
    MustFree(*pool, arena.live);
    EXPECT_EQ(MustAllocate(*pool, kMiB), arena.hole);  // and can once the budget allows
    EXPECT_EQ(backend.bad_decommits, 0);
    ASSERT_POOL_CONSISTENT(*pool);
  }
}

TEST(FootprintCeilingTest, AFailedCommitLeavesThePoolUsable) {
  FakeBackend backend;
  backend.SetGrowable(64 * kMiB);
  backend.SetDecommitGranularity(4096);
  auto pool = MakePool(&backend, CeilingOptions());
  const HoleInFront arena = MakeHole(*pool);
  char* c = MustAllocate(*pool, 2 * kMiB);  // gives back the hole
  ASSERT_EQ(pool->stats().decommitted_bytes, kMiB);

  backend.SetFailCommits(true);
  absl::StatusOr<void*> d = pool->Allocate(kMiB);  // best fit is the hole
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find("could not commit"), std::string::npos) << d.status();
  EXPECT_EQ(pool->stats().oom_count, 1u);
  ASSERT_POOL_CONSISTENT(*pool);

  backend.SetFailCommits(false);
  EXPECT_EQ(MustAllocate(*pool, kMiB), arena.hole);
  EXPECT_TRUE(backend.IsCommitted(arena.hole, kMiB));
  EXPECT_EQ(backend.bad_decommits, 0);
  ASSERT_POOL_CONSISTENT(*pool);
  MustFree(*pool, c);
}

TEST(FootprintCeilingTest, RangesOfAdjacentSegmentsStayApart) {
  // Segment B ends exactly where segment A begins (mmap often places mappings back to back).
  // A range given back at B's end and one at A's start must not merge into one: A's block would
  // then count pages that lie in B (a regression found in review).
  FakeBackend backend;
  backend.SetContiguous(128 * kMiB);
  backend.SetDecommitGranularity(4096);
  CachingAllocator::Options options;
  options.decommit_free_pages = true;  // 20 MiB segments, one per stream
  auto pool = MakePool(&backend, options);
  char* p = MustAllocate(*pool, 2 * kMiB, /*stream=*/0);   // segment B: [0, 20 MiB)
  char* q1 = MustAllocate(*pool, 4 * kMiB, /*stream=*/1);  // segment A: [20 MiB, 40 MiB)
  char* q2 = MustAllocate(*pool, 2 * kMiB, /*stream=*/1);
  ASSERT_EQ(q1, p + 20 * kMiB) << "the fake backend did not place the segments back to back";
  MustFree(*pool, q1);  // a 4 MiB hole at A's start
  // 36 MiB more than the peak: all of B's free tail (18 MiB), A's free tail (14 MiB) and the hole
  // at A's start (4 MiB) are given back: ranges [2, 20) and [20, 24) MiB touch across segments.
  char* big = MustAllocate(*pool, 36 * kMiB, /*stream=*/2);
  EXPECT_EQ(pool->stats().decommitted_bytes, 36 * kMiB);
  ASSERT_POOL_CONSISTENT(*pool);
  // The hole is best fit for 2 MiB: split, then its first 2 MiB committed again.
  char* r = MustAllocate(*pool, 2 * kMiB, /*stream=*/1);
  EXPECT_EQ(r, q1);
  EXPECT_TRUE(backend.IsCommitted(r, 2 * kMiB));
  EXPECT_EQ(pool->stats().decommitted_bytes, 34 * kMiB);
  EXPECT_EQ(backend.bad_decommits, 0);
  ASSERT_POOL_CONSISTENT(*pool);
  for (char* x : {p, q2, big, r}) MustFree(*pool, x);
  EXPECT_GT(pool->EmptyCache(), 0u);
  EXPECT_EQ(pool->stats().decommitted_bytes, 0u);
  EXPECT_EQ(backend.bytes_in_use(), 0u);
  ASSERT_POOL_CONSISTENT(*pool);
}

// DecommitFreePages hands back the free pages of a segment that still holds a live block (what
// EmptyCache cannot release: the segment is not wholly free), and they are committed again when
// reused. This is what an unloaded model version leaves behind (server/main.cc).
TEST(FootprintCeilingTest, DecommitFreePagesGivesBackWhatEmptyCacheCannot) {
  HostBackend backend;
  auto pool = MakePool(&backend, CeilingOptions());
  const HoleInFront arena = MakeHole(*pool);  // [hole 1 MiB][live 512 B][free rest]
  ASSERT_EQ(pool->EmptyCache(), 0u);          // the arena holds a live block
  const size_t reserved = pool->stats().reserved_bytes;
  const size_t decommitted = pool->DecommitFreePages();
  EXPECT_GE(decommitted, kMiB);  // at least the hole's whole pages
  EXPECT_EQ(pool->stats().reserved_bytes, reserved - decommitted);
  EXPECT_EQ(pool->stats().decommitted_bytes, decommitted);
  EXPECT_EQ(ResidentPages(arena.hole, kMiB), 0u);
  EXPECT_EQ(pool->DecommitFreePages(), 0u);  // nothing left to give back
  ASSERT_POOL_CONSISTENT(*pool);
  char* again = MustAllocate(*pool, kMiB);  // the hole, committed again
  EXPECT_EQ(again, arena.hole);
  std::memset(again, 2, kMiB);
  MustFree(*pool, again);
  MustFree(*pool, arena.live);
  ASSERT_POOL_CONSISTENT(*pool);
}

TEST(FootprintCeilingTest, DecommitFreePagesDoesNothingWithoutTheOption) {
  HostBackend backend;
  CachingAllocator::Options options = CeilingOptions();
  options.decommit_free_pages = false;
  auto pool = MakePool(&backend, options);
  const HoleInFront arena = MakeHole(*pool);
  EXPECT_EQ(pool->DecommitFreePages(), 0u);
  EXPECT_EQ(ResidentPages(arena.hole, kMiB), kMiB / 4096);
  MustFree(*pool, arena.live);
}

}  // namespace
}  // namespace seqserve::memory
