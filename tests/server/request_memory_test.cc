// RequestMemory (server/admission/request_memory.h): charges within the budget are taken, the one that
// would pass it is refused with its bytes and the budget, and every charge comes back.
#include "server/admission/request_memory.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

TEST(RequestMemoryTest, ChargesWithinTheBudgetAreTakenAndTheOneBeyondIsRefused) {
  RequestMemory memory(1000);
  RequestMemory::Charge a, b, c;
  ASSERT_TRUE(memory.Take(600, "a request body", a).ok());
  ASSERT_TRUE(memory.Take(400, "a request body", b).ok());
  EXPECT_EQ(memory.in_use(), 1000);
  absl::Status refused = memory.Take(1, "a request body", c);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  // The message names what was refused, its bytes, what is held and the budget.
  EXPECT_NE(refused.message().find("a request body of 1 bytes"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("hold 1000 of the 1000 bytes"), std::string::npos) << refused;
  EXPECT_EQ(c.bytes(), 0);
  EXPECT_EQ(memory.refusals(), 1);
  b.GiveBack(100);  // part of it
  EXPECT_EQ(b.bytes(), 300);
  EXPECT_EQ(memory.in_use(), 900);
  b.GiveBack(1000);  // never more than it holds
  EXPECT_EQ(b.bytes(), 0);
  EXPECT_EQ(memory.in_use(), 600);
  ASSERT_TRUE(c.Grow(400, "decoded tensors").ok());
  EXPECT_EQ(memory.in_use(), 1000);
  EXPECT_EQ(memory.peak(), 1000);
}

TEST(RequestMemoryTest, ChargesComeBackWhenDestroyedOrMovedOver) {
  RequestMemory memory(100);
  {
    RequestMemory::Charge charge;
    ASSERT_TRUE(memory.Take(70, "x", charge).ok());
    RequestMemory::Charge moved = std::move(charge);
    EXPECT_EQ(moved.bytes(), 70);
    EXPECT_EQ(memory.in_use(), 70);
    RequestMemory::Charge other;
    ASSERT_TRUE(memory.Take(30, "y", other).ok());
    moved = std::move(other);  // the 70 come back, the 30 move
    EXPECT_EQ(memory.in_use(), 30);
  }
  EXPECT_EQ(memory.in_use(), 0);
}

TEST(RequestMemoryTest, NoBudgetCountsButNeverRefuses) {
  RequestMemory memory(0);
  RequestMemory::Charge charge;
  ASSERT_TRUE(memory.Take(int64_t{1} << 40, "x", charge).ok());
  EXPECT_EQ(memory.in_use(), int64_t{1} << 40);
  charge.Reset();
  EXPECT_EQ(memory.in_use(), 0);
  // A charge of no RequestMemory holds nothing and always grows.
  RequestMemory::Charge none;
  EXPECT_TRUE(none.Grow(5, "x").ok());
  EXPECT_EQ(none.bytes(), 0);
}

// Eight threads charging at once: each takes 300 bytes of 1000 and holds them until all eight
// have tried, so exactly three charges fit in every round, whatever the interleaving; and every
// byte comes back.
TEST(RequestMemoryTest, ConcurrentChargesNeverPassTheBudget) {
  RequestMemory memory(1000);
  constexpr int kThreads = 8;
  for (int round = 0; round < 50; ++round) {
    std::mutex mu;
    std::condition_variable all_tried;
    int tried = 0;
    std::atomic<int> taken{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        RequestMemory::Charge charge;
        if (memory.Take(300, "x", charge).ok()) taken.fetch_add(1);
        std::unique_lock<std::mutex> lock(mu);
        if (++tried == kThreads) all_tried.notify_all();
        all_tried.wait(lock, [&] { return tried == kThreads; });
      });  // the charge comes back here
    }
    for (std::thread& t : threads) t.join();
    ASSERT_EQ(taken.load(), 3) << "round " << round;
    ASSERT_EQ(memory.in_use(), 0);
  }
  EXPECT_EQ(memory.peak(), 900);
  EXPECT_EQ(memory.refusals(), 50 * (kThreads - 3));
}

}  // namespace
}  // namespace seqserve
