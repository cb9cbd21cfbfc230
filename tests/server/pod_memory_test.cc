#include "server/admission/pod_memory.h"

#include <memory>

#include <gtest/gtest.h>

#include "memory/host_backend.h"

namespace seqserve {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// Note [budget from the pod], applied by PodMemory to a real pool and gate, with the resident
// bytes the test chooses: 1000 MiB limit, 187 MiB set aside for requests (62 + gRPC's 125).
class PodMemoryTest : public ::testing::Test {
 protected:
  PodMemoryTest() {
    pool_ = std::move(*memory::CachingAllocator::Create(&backend_));
    pod_ = std::make_unique<PodMemory>(/*budget_flag=*/-1, 187 * kMiB, pool_.get(), &gate_,
                                       MemoryLimit{1000 * kMiB, "test"}, [this] { return outside_ + Reserved(); });
  }
  ~PodMemoryTest() override {
    for (void* p : held_) EXPECT_TRUE(pool_->Free(p).ok());
  }
  uint64_t Reserved() const { return pool_->stats().reserved_bytes; }
  void Hold(size_t bytes) { held_.push_back(*pool_->Allocate(bytes)); }

  memory::HostBackend backend_;
  std::unique_ptr<memory::CachingAllocator> pool_;
  MemoryGate gate_;
  uint64_t outside_ = 300 * kMiB;  // what the process holds outside the pool
  std::vector<void*> held_;
  std::unique_ptr<PodMemory> pod_;
};

TEST_F(PodMemoryTest, BudgetIsTheLimitLessWhatLivesOutsideTheMarginAndTheRequests) {
  pod_->PlanBeforeLoading();
  // 1000 - 300 outside - 64 margin (max(64 MiB, 5 %)) - 187 requests.
  EXPECT_EQ(pool_->capacity(), (1000 - 300 - 64 - 187) * kMiB);
  EXPECT_EQ(pod_->CapacityBytes(), (1000 - 300 - 64 - 187) * kMiB);

  Hold(100 * kMiB);       // the weights
  outside_ += 50 * kMiB;  // libtorch grew beside them
  pod_->PlanAfterLoading();
  const uint64_t budget = (1000 - 350 - 64 - 187) * kMiB;
  EXPECT_EQ(pool_->capacity(), budget);
  // What batches may hold: the budget less what the pool keeps after loading.
  EXPECT_EQ(gate_.budget(), static_cast<int64_t>(budget - pool_->stats().allocated_bytes));
}

// What lives outside the pool only grows: a later, lower measurement does not raise the budget.
TEST_F(PodMemoryTest, NeverPlansBelowAnEarlierMeasurementOfWhatLivesOutside) {
  pod_->PlanBeforeLoading();
  const uint64_t first = pool_->capacity();
  outside_ = 200 * kMiB;
  pod_->PlanAfterLoading();
  EXPECT_EQ(pool_->capacity(), first);
}

// A budget planned after loading below what the pool already reserved (warm-up ran under the
// plan made before) is met at once: the pool's free memory goes back (wholly free segments by
// CachingAllocator::SetCapacity, free pages inside the others by PodMemory's trim; this case
// exercises the first).
TEST_F(PodMemoryTest, AfterLoadingThePoolGivesBackWhatTheLowerBudgetNoLongerAllows) {
  pod_->PlanBeforeLoading();  // 449 MiB
  Hold(64 * kMiB);
  void* warmup = *pool_->Allocate(300 * kMiB);  // a warm-up batch, then freed: cached
  ASSERT_TRUE(pool_->Free(warmup).ok());
  ASSERT_GE(Reserved(), 364 * kMiB);
  outside_ += 200 * kMiB;  // 1000 - 500 - 64 - 187 = 249 MiB < reserved
  pod_->PlanAfterLoading();
  EXPECT_EQ(pool_->capacity(), 249 * kMiB);
  EXPECT_LE(Reserved(), 249 * kMiB);
  EXPECT_GE(Reserved(), 64 * kMiB);  // the weights stay
}

TEST_F(PodMemoryTest, AFixedOrNoBudgetIgnoresTheRule) {
  PodMemory fixed(/*budget_flag=*/static_cast<int64_t>(123 * kMiB), 187 * kMiB, pool_.get(), &gate_,
                  MemoryLimit{1000 * kMiB, "test"}, [] { return uint64_t{0}; });
  fixed.PlanBeforeLoading();
  EXPECT_EQ(pool_->capacity(), 123 * kMiB);
  PodMemory unlimited(/*budget_flag=*/0, 187 * kMiB, pool_.get(), &gate_, MemoryLimit{1000 * kMiB, "test"},
                      [] { return uint64_t{0}; });
  unlimited.PlanAfterLoading();
  EXPECT_EQ(pool_->capacity(), 0u);
  EXPECT_EQ(unlimited.CapacityBytes(), 1000 * kMiB);  // headroom against the limit
}

}  // namespace
}  // namespace seqserve
