#include "server/admission/pod_memory.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/logging.h"
#include "server/observability/metric_catalog.h"

namespace seqserve {
namespace {

std::string Mib(int64_t bytes) { return absl::StrCat(bytes >> 20, " MiB"); }

}  // namespace

PodMemory::PodMemory(int64_t budget_flag, uint64_t request_bytes, memory::CachingAllocator* pool, MemoryGate* gate,
                     MemoryLimit limit, std::function<uint64_t()> resident)
    : budget_flag_(budget_flag),
      request_bytes_(request_bytes),
      pool_(pool),
      gate_(gate),
      limit_(std::move(limit)),
      resident_(std::move(resident)) {}

void PodMemory::PlanBeforeLoading() { Plan(false); }
void PodMemory::PlanAfterLoading() { Plan(true); }

void PodMemory::Plan(bool after_loading) {
  if (pool_ == nullptr) return;
  const memory::PoolStats before = pool_->stats();
  PoolBudget plan;
  if (budget_flag_ < 0) {
    // What lives outside the pool only grows (libtorch, gRPC): never plan below an earlier
    // measurement. Resident - reserved can fall below it when the pool reserved pages it has not
    // touched (a warm-up batch that ran out of its budget).
    const uint64_t floor_resident = before.reserved_bytes + outside_floor_;
    plan = PlanPoolBudget(limit_.bytes, std::max<uint64_t>(resident_(), floor_resident), before.reserved_bytes,
                          request_bytes_);
    outside_floor_ = std::max(outside_floor_, plan.outside_pool);
  } else {
    plan.limit = limit_.bytes;
    plan.budget = static_cast<uint64_t>(budget_flag_);
    plan.reason = budget_flag_ == 0 ? "--memory-budget-bytes=0: the pool is unlimited"
                                    : absl::StrCat("--memory-budget-bytes: pool budget ", Mib(budget_flag_));
  }
  pool_->SetCapacity(plan.budget);
  // A budget planned lower than what the pool reserved (warm-up ran under the plan made before
  // loading, when less was held outside the pool) is met at once: the pool's free memory goes
  // back, so that it holds what it is planned to hold, not only what it may newly take.
  if (after_loading && plan.budget != 0 && pool_->stats().reserved_bytes > plan.budget) {
    pool_->EmptyCache();
    pool_->DecommitFreePages();
  }
  // The weights and whatever else the pool keeps after loading are not the batches' to use.
  const int64_t kept = static_cast<int64_t>(pool_->stats().allocated_bytes);
  const int64_t batches = plan.budget == 0 ? 0 : std::max<int64_t>(1, static_cast<int64_t>(plan.budget) - kept);
  if (after_loading && gate_ != nullptr) gate_->SetBudget(batches);
  {
    MutexLock lock(&mu_);
    plan_ = plan;
  }
  LogInfo("memory ", after_loading ? "with the models loaded now" : "before loading", ": ",
          limit_.bytes ? absl::StrCat("limit from ", limit_.source) : limit_.source, "; ", plan.reason,
          after_loading && plan.budget != 0
              ? absl::StrCat("; the pool holds ", Mib(kept), " outside batches, so batches may hold ", Mib(batches),
                             " at once")
              : "");
}

uint64_t PodMemory::CapacityBytes() const {
  if (pool_ != nullptr && pool_->capacity() > 0) return pool_->capacity();
  return limit_.bytes.value_or(PhysicalMemoryBytes());
}

MetricsCollector::Provider PodMemory::Metrics() const {
  return [this](std::vector<prometheus::MetricFamily>& out) {
    PoolBudget plan;
    {
      MutexLock lock(&mu_);
      plan = plan_;
    }
    PushValue(out, metric::kMemoryLimit, static_cast<double>(limit_.bytes.value_or(0)));
    PushValue(out, metric::kMemoryOutsidePool, static_cast<double>(plan.outside_pool));
    PushValue(out, metric::kMemoryMargin, static_cast<double>(plan.margin));
    const int64_t batches = gate_ != nullptr ? gate_->budget() : MemoryGate::kUnlimited;
    PushValue(out, metric::kBatchBudget, batches == MemoryGate::kUnlimited ? 0.0 : static_cast<double>(batches));
    PushValue(out, metric::kBatchAdmitted, gate_ != nullptr ? static_cast<double>(gate_->admitted_bytes()) : 0.0);
  };
}

}  // namespace seqserve
