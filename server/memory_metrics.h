// Metric families of the caching memory pool, read from its statistics at scrape time.
#ifndef SEQSERVE_SERVER_MEMORY_METRICS_H_
#define SEQSERVE_SERVER_MEMORY_METRICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "memory/caching_allocator.h"
#include "server/metrics_collector.h"

namespace seqserve {

// The bytes memory headroom is measured against: `budget_bytes` if > 0, else the cgroup's
// memory limit (the pod's limit in Kubernetes), else the machine's physical memory.
uint64_t MemoryCapacityBytes(uint64_t budget_bytes);

// One pool to export: its label value ("cpu", "cuda:0", ...), the pool (not owned; outlives the
// provider) and the bytes its headroom is measured against.
struct PoolSource {
  std::string label;
  const memory::CachingAllocator* pool = nullptr;
  uint64_t capacity_bytes = 0;
};

// A provider for MetricsCollector: seqserve_memory_* families with one series per pool
// (label `pool`), including seqserve_memory_headroom_ratio = 1 - reserved / capacity.
MetricsCollector::Provider MemoryPoolMetrics(std::vector<PoolSource> pools);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_MEMORY_METRICS_H_
