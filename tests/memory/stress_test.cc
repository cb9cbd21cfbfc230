// Multi-threaded stress: 4 threads x 20k random operations on one pool, with frees handed across
// threads, RecordStream, EmptyCache and a reader taking snapshots and checking invariants all
// the while. Meant to run under ThreadSanitizer and AddressSanitizer (SEQSERVE_SANITIZE). Run
// with the pool's defaults and with the server's CPU options (expandable segments and the
// footprint ceiling, whose decommitted host pages fault on any access).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "memory/caching_allocator.h"
#include "memory/host_backend.h"
#include "memory/size_classes.h"
#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::MakePool;

struct Allocation {
  char* ptr;
  size_t bytes;
  uint64_t tag;
};

void Stamp(const Allocation& a) {
  std::memcpy(a.ptr, &a.tag, std::min<size_t>(a.bytes, 8));
  if (a.bytes >= 16) std::memcpy(a.ptr + a.bytes - 8, &a.tag, 8);
}

bool Intact(const Allocation& a) {
  uint64_t head = 0, tail = a.tag;
  std::memcpy(&head, a.ptr, std::min<size_t>(a.bytes, 8));
  if (a.bytes >= 16) std::memcpy(&tail, a.ptr + a.bytes - 8, 8);
  const uint64_t mask = a.bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * a.bytes)) - 1;
  return (head & mask) == (a.tag & mask) && tail == a.tag;
}

class StressTest : public ::testing::TestWithParam<bool> {};

TEST_P(StressTest, FourThreadsOfRandomAllocationsAndFrees) {
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 20000;
  constexpr size_t kMaxLivePerThread = 48;
  HostBackend backend;
  CachingAllocator::Options options;
  options.capacity_bytes = 512 * kMiB;  // bounds what the test can hold
  options.expandable_segments = GetParam();
  options.decommit_free_pages = GetParam();
  auto pool = MakePool(&backend, options);
  ASSERT_NE(pool, nullptr);

  std::mutex handoff_mu;
  std::vector<Allocation> handoff;  // allocations freed by another thread than their owner
  std::atomic<int> corrupted{0}, errors{0}, ooms{0}, running{kThreads};

  auto worker = [&](int id) {
    std::mt19937_64 rng(1000 + id);
    const StreamId stream = id % 2;  // two threads per stream: they share free lists
    std::vector<Allocation> mine;
    uint64_t serial = 0;
    auto release = [&](const Allocation& a) {
      if (!Intact(a)) corrupted.fetch_add(1);
      if (!pool->Free(a.ptr).ok()) errors.fetch_add(1);
    };
    for (int op = 0; op < kOpsPerThread; ++op) {
      const uint64_t dice = rng() % 100;
      if (dice < 52 && mine.size() < kMaxLivePerThread) {
        size_t bytes;
        const uint64_t kind = rng() % 20;
        if (kind == 0) {
          bytes = kMiB + rng() % (8 * kMiB);
        } else if (kind < 5) {
          bytes = 64 * kKiB + rng() % kMiB;
        } else {
          bytes = 1 + rng() % (64 * kKiB);
        }
        absl::StatusOr<void*> p = pool->Allocate(bytes, stream);
        if (!p.ok()) {
          if (absl::IsResourceExhausted(p.status())) {
            ooms.fetch_add(1);
          } else {
            errors.fetch_add(1);
          }
          continue;
        }
        Allocation a{static_cast<char*>(*p), bytes, (uint64_t(id) << 56) | ++serial};
        Stamp(a);
        if (rng() % 16 == 0 && !pool->RecordStream(a.ptr, 2 + rng() % 2).ok()) errors.fetch_add(1);
        mine.push_back(a);
      } else if (dice < 94 && !mine.empty()) {
        const size_t i = rng() % mine.size();
        const Allocation a = mine[i];
        mine[i] = mine.back();
        mine.pop_back();
        if (rng() % 4 == 0) {
          std::lock_guard<std::mutex> lock(handoff_mu);
          handoff.push_back(a);  // someone else frees it
        } else {
          release(a);
        }
      } else if (dice < 99) {
        std::vector<Allocation> theirs;
        {
          std::lock_guard<std::mutex> lock(handoff_mu);
          theirs.swap(handoff);
        }
        for (const Allocation& a : theirs) release(a);
      } else {
        pool->EmptyCache();
      }
    }
    for (const Allocation& a : mine) release(a);
    running.fetch_sub(1);
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  // The scraper: snapshots and full checks while the workers run.
  int checks = 0;
  do {  // at least once, however fast the workers finish
    const PoolStats s = pool->stats();
    EXPECT_LE(s.allocated_bytes, s.reserved_bytes);
    EXPECT_LE(s.reserved_bytes, options.capacity_bytes);
    const absl::Status status = pool->CheckInvariants();
    EXPECT_TRUE(status.ok()) << status;
    ++checks;
    // A full check holds the lock for O(blocks); pace it like a scraper so workers progress.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  } while (running.load() > 0);
  for (std::thread& t : threads) t.join();
  for (const Allocation& a : handoff) {
    EXPECT_TRUE(Intact(a));
    EXPECT_TRUE(pool->Free(a.ptr).ok());
  }

  EXPECT_EQ(corrupted.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(checks, 0);
  ASSERT_POOL_CONSISTENT(*pool);
  PoolStats s = pool->stats();
  EXPECT_EQ(s.allocated_bytes, 0u);
  EXPECT_EQ(s.live_blocks, 0u);
  EXPECT_EQ(s.oom_count, static_cast<uint64_t>(ooms.load()));
  EXPECT_GT(s.hit_rate, 0.9) << DebugString(s);
  if (GetParam()) {
    EXPECT_GT(s.backend_decommits, 0u) << "the footprint ceiling was never exercised";
    EXPECT_GT(s.backend_commits, 0u);
  }
  pool->EmptyCache();
  s = pool->stats();
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

INSTANTIATE_TEST_SUITE_P(Options, StressTest, ::testing::Bool(), [](const ::testing::TestParamInfo<bool>& info) {
  return std::string(info.param ? "ServerCpuPool" : "Defaults");
});

}  // namespace
}  // namespace seqserve::memory
