// Metric families of the caching memory pool, read from its statistics at scrape time.
#ifndef SEQSERVE_SERVER_ADMISSION_MEMORY_METRICS_H_
#define SEQSERVE_SERVER_ADMISSION_MEMORY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "memory/caching_allocator.h"
#include "server/admission/request_memory.h"
#include "server/observability/metrics_collector.h"

namespace seqserve {

// One pool to export: its label value ("cpu", "cuda:0", ...), the pool (not owned; outlives the
// provider) and the bytes its headroom is measured against (read at each scrape: the CPU pool's
// budget is planned after loading, PodMemory::CapacityBytes).
struct PoolSource {
  std::string label;
  const memory::CachingAllocator* pool = nullptr;
  std::function<uint64_t()> capacity_bytes;
};

// A provider for MetricsCollector: seqserve_memory_* families with one series per pool
// (label `pool`), including seqserve_memory_headroom_ratio = 1 - reserved / capacity.
MetricsCollector::Provider MemoryPoolMetrics(std::vector<PoolSource> pools);

// A provider for MetricsCollector: seqserve_request_memory_{bytes,peak_bytes,budget_bytes},
// seqserve_request_memory_refusals_total (Note [request bytes]) and seqserve_rest_hangups_total
// (Note [REST hang-ups]). Both must outlive it.
MetricsCollector::Provider RequestMemoryMetrics(const RequestMemory& memory, const std::atomic<int64_t>& hangups);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_ADMISSION_MEMORY_METRICS_H_
