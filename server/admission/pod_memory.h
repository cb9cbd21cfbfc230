// PodMemory: applies Note [budget from the pod] (runtime/resources/host_memory.h) to the CPU pool and its
// MemoryGate, logs what it decided and exports it.
//
// Twice: before the models load (resident memory then is libtorch and the server alone), and
// after they have loaded and warmed up (their weights are in the pool, what the process holds
// outside it has settled). The gate's budget, what batches may hold at once, is the pool's
// budget minus what the pool holds after loading (the weights, and anything else kept).
//
// Thread-safe.
#ifndef SEQSERVE_SERVER_ADMISSION_POD_MEMORY_H_
#define SEQSERVE_SERVER_ADMISSION_POD_MEMORY_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "memory/caching_allocator.h"
#include "memory/mutex.h"
#include "runtime/resources/host_memory.h"
#include "runtime/resources/memory_gate.h"
#include "server/observability/metrics_collector.h"

namespace seqserve {

class PodMemory {
 public:
  // `budget_flag`: --memory-budget-bytes (-1: the rule; 0: unlimited; > 0: that).
  // `request_bytes`: what is set aside for requests in flight (Note [request bytes]). `pool` and
  // `gate` are not owned and must outlive this; `pool` may be null (libtorch's allocator).
  // `resident`: the process's resident bytes now (the server's: ResidentBytes; tests pass their
  // own, so the plan is computed from numbers they choose).
  PodMemory(int64_t budget_flag, uint64_t request_bytes, memory::CachingAllocator* pool, MemoryGate* gate,
            MemoryLimit limit, std::function<uint64_t()> resident);

  void PlanBeforeLoading();
  void PlanAfterLoading();

  // seqserve_memory_limit_bytes, _outside_pool_bytes, _margin_bytes, _batch_budget_bytes,
  // _batch_admitted_bytes.
  MetricsCollector::Provider Metrics() const;

  // The bytes the pool's headroom is measured against: its budget, else the limit, else RAM.
  uint64_t CapacityBytes() const;

 private:
  void Plan(bool after_loading);

  const int64_t budget_flag_;
  const uint64_t request_bytes_;
  memory::CachingAllocator* const pool_;
  MemoryGate* const gate_;
  const MemoryLimit limit_;
  const std::function<uint64_t()> resident_;
  mutable Mutex mu_;
  PoolBudget plan_ ABSL_GUARDED_BY(mu_);
  uint64_t outside_floor_ = 0;  // the most measured outside the pool so far; Plan()'s thread only
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_ADMISSION_POD_MEMORY_H_
