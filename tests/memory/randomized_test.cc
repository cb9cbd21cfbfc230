// A few thousand random operations against a reference model of what must be true: live ranges
// never overlap, every block covers its request, memory keeps what was written to it, and the
// pool's statistics equal a recount of the model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>

#include "memory/caching_allocator.h"
#include "memory/size_classes.h"
#include "tests/memory/fake_backend.h"
#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::FakeBackend;
using testing::MakePool;

struct Live {
  size_t requested;
  size_t block;
  StreamId stream;
  uint64_t tag;
};

struct Scenario {
  const char* name;
  uint32_t seed;
  size_t capacity_bytes;
  size_t max_split_size;
  bool expandable = false;  // expandable segments over a backend that can grow them
  bool decommit = false;    // the footprint ceiling over a backend that can decommit 4 KiB pages
};

class RandomizedTest : public ::testing::TestWithParam<Scenario> {};

// Writes `tag` into the first and last 8 bytes of the request (or what fits).
void Stamp(char* p, size_t n, uint64_t tag) {
  std::memcpy(p, &tag, std::min<size_t>(n, 8));
  if (n >= 16) std::memcpy(p + n - 8, &tag, 8);
}

bool StampIntact(const char* p, size_t n, uint64_t tag) {
  uint64_t head = 0, tail = 0;
  std::memcpy(&head, p, std::min<size_t>(n, 8));
  if (n >= 16) std::memcpy(&tail, p + n - 8, 8);
  const uint64_t mask = n >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
  return (head & mask) == (tag & mask) && (n < 16 || tail == tag);
}

size_t RandomSize(std::mt19937_64& rng) {
  switch (rng() % 10) {
    case 0: return 1 + rng() % 512;                         // tiny
    case 1: return kMiB - 256 + rng() % 512;                // around the small/large boundary
    case 2: return (1 + rng() % 12) * kMiB + rng() % kMiB;  // large
    case 3: return 19 * kMiB + rng() % (3 * kMiB);          // around the 20 MiB segment
    case 4: return 40 * kMiB + rng() % (24 * kMiB);         // huge (oversize when limited)
    default: return 1 + rng() % (256 * kKiB);               // common small tensors
  }
}

TEST_P(RandomizedTest, MatchesTheReferenceModel) {
  const Scenario& scenario = GetParam();
  std::mt19937_64 rng(scenario.seed);
  FakeBackend backend;
  CachingAllocator::Options options;
  options.capacity_bytes = scenario.capacity_bytes;
  options.max_split_size = scenario.max_split_size;
  options.expandable_segments = scenario.expandable;
  options.decommit_free_pages = scenario.decommit;
  // Room for each stream's arena to grow as far as the test's live bytes can go.
  if (scenario.expandable) backend.SetGrowable(2048 * kMiB);
  constexpr size_t kPage = 4096;
  if (scenario.decommit) backend.SetDecommitGranularity(kPage);
  uint64_t high_water = 0;  // the highest footprint before the current operation
  auto pool = MakePool(&backend, options);
  ASSERT_NE(pool, nullptr);

  std::map<uintptr_t, Live> live;  // by address
  uint64_t next_tag = 1;
  int ooms = 0;
  constexpr int kOps = 4000;
  constexpr size_t kMaxLive = 64;  // bounds the memory the test holds
  for (int op = 0; op < kOps; ++op) {
    const uint64_t dice = rng() % 100;
    if ((dice < 50 && live.size() < kMaxLive) || live.empty()) {
      const size_t bytes = RandomSize(rng);
      const StreamId stream = rng() % 3;
      absl::StatusOr<void*> result = pool->Allocate(bytes, stream);
      if (!result.ok()) {
        ASSERT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
        ASSERT_NE(scenario.capacity_bytes, 0u) << "unlimited pools only fail on a budget";
        ++ooms;
      } else {
        char* p = static_cast<char*>(*result);
        const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
        absl::StatusOr<size_t> block = pool->BlockSize(p);
        ASSERT_TRUE(block.ok());
        ASSERT_GE(*block, RoundRequest(bytes));
        // No overlap with the live neighbours on either side.
        auto after = live.lower_bound(begin);
        if (after != live.end()) {
          ASSERT_LE(begin + *block, after->first) << "overlaps the next";
        }
        if (after != live.begin()) {
          auto before = std::prev(after);
          ASSERT_LE(before->first + before->second.block, begin) << "overlaps the previous";
        }
        ASSERT_TRUE(backend.IsCommitted(p, *block)) << "handed out decommitted pages";
        const uint64_t tag = next_tag++;
        Stamp(p, bytes, tag);
        live[begin] = Live{bytes, *block, stream, tag};
      }
    } else if (dice < 92) {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      char* p = reinterpret_cast<char*>(it->first);
      ASSERT_TRUE(StampIntact(p, it->second.requested, it->second.tag)) << "memory was overwritten";
      if (rng() % 8 == 0) {
        ASSERT_TRUE(pool->RecordStream(p, 3 + rng() % 2).ok());
      }
      ASSERT_TRUE(pool->Free(p).ok());
      live.erase(it);
    } else if (dice < 97) {
      backend.CompleteEvents(3 + rng() % 2);
    } else {
      pool->EmptyCache();
    }

    ASSERT_POOL_CONSISTENT(*pool);
    const PoolStats stats = pool->stats();
    uint64_t allocated = 0, requested = 0;
    for (const auto& [address, l] : live) {
      allocated += l.block;
      requested += l.requested;
    }
    ASSERT_EQ(stats.allocated_bytes, allocated) << "op " << op;
    ASSERT_EQ(stats.requested_bytes, requested) << "op " << op;
    ASSERT_EQ(stats.live_blocks, live.size()) << "op " << op;
    ASSERT_LE(stats.allocated_bytes, stats.reserved_bytes);
    if (scenario.capacity_bytes != 0) {
      ASSERT_LE(stats.reserved_bytes, scenario.capacity_bytes);
    }
    ASSERT_EQ(stats.reserved_bytes, backend.bytes_in_use());
    ASSERT_EQ(stats.oom_count, static_cast<uint64_t>(ooms));
    if (scenario.decommit) {
      ASSERT_EQ(backend.bad_decommits, 0) << "op " << op;
      for (const auto& [address, l] : live) {
        ASSERT_TRUE(backend.IsCommitted(reinterpret_cast<void*>(address), l.block)) << "op " << op;
      }
    }
    if (scenario.decommit && scenario.expandable && scenario.capacity_bytes == 0) {
      // Note [footprint ceiling]: the footprint passes its old peak only when no free block has
      // more than its two partial pages committed; then by at most one growth step.
      const uint64_t floor =
          stats.allocated_bytes + stats.pending_free_bytes + (2 * stats.free_blocks + 2) * kPage + kExpandableGrowth;
      ASSERT_LE(stats.reserved_bytes, std::max(high_water, floor)) << "op " << op << " " << DebugString(stats);
    }
    high_water = std::max<uint64_t>(high_water, stats.reserved_bytes);
  }

  for (const auto& [address, l] : live) {
    ASSERT_TRUE(StampIntact(reinterpret_cast<char*>(address), l.requested, l.tag));
    ASSERT_TRUE(pool->Free(reinterpret_cast<void*>(address)).ok());
  }
  backend.CompleteAllEvents();
  pool->EmptyCache();
  ASSERT_POOL_CONSISTENT(*pool);
  const PoolStats stats = pool->stats();
  EXPECT_EQ(stats.reserved_bytes, 0u);
  EXPECT_EQ(stats.pending_free_blocks, 0u);
  EXPECT_GT(stats.cache_hits, 0u);
  if (scenario.capacity_bytes != 0) {
    EXPECT_GT(ooms, 0) << "the budget was never reached";
  }
  if (scenario.expandable) {
    EXPECT_GT(stats.backend_grows, 0u) << "no segment ever grew";
    EXPECT_EQ(static_cast<uint64_t>(backend.grows), stats.backend_grows);
  }
  if (scenario.decommit) {
    EXPECT_GT(stats.backend_decommits, 0u) << "nothing was ever decommitted";
    EXPECT_GT(stats.backend_commits, 0u) << "no decommitted page was ever reused";
    EXPECT_EQ(static_cast<uint64_t>(backend.decommits), stats.backend_decommits);
    EXPECT_EQ(static_cast<uint64_t>(backend.commits), stats.backend_commits);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, RandomizedTest,
    ::testing::Values(Scenario{"Unlimited", 1, 0, ~size_t{0}}, Scenario{"Budget", 2, 256 * kMiB, ~size_t{0}},
                      Scenario{"MaxSplit", 3, 0, 32 * kMiB}, Scenario{"BudgetAndMaxSplit", 4, 192 * kMiB, 24 * kMiB},
                      Scenario{"Expandable", 5, 0, ~size_t{0}, true},
                      Scenario{"ExpandableWithBudget", 6, 192 * kMiB, ~size_t{0}, true},
                      Scenario{"Decommit", 7, 0, ~size_t{0}, false, true},
                      Scenario{"ExpandableDecommit", 8, 0, ~size_t{0}, true, true},
                      Scenario{"ExpandableDecommitWithBudget", 9, 192 * kMiB, ~size_t{0}, true, true}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace seqserve::memory
