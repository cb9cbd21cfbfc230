#include "server/memory_metrics.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"

namespace seqserve {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void Add(std::vector<MetricFamily>& out, const char* name, const char* help, MetricType type, double value) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  ClientMetric m;
  m.label = {{"pool", "cpu"}};
  (type == MetricType::Counter ? m.counter.value : m.gauge.value) = value;
  f.metric.push_back(std::move(m));
  out.push_back(std::move(f));
}

}  // namespace

uint64_t MemoryCapacityBytes(uint64_t budget_bytes) {
  if (budget_bytes > 0) return budget_bytes;
  std::ifstream cgroup("/sys/fs/cgroup/memory.max");  // cgroup v2; "max" when unlimited
  std::string limit;
  uint64_t bytes = 0;
  if (cgroup >> limit && absl::SimpleAtoi(limit, &bytes) && bytes > 0) return bytes;
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

MetricsCollector::Provider MemoryPoolMetrics(const memory::CachingAllocator* pool, uint64_t capacity_bytes) {
  return [pool, capacity_bytes](std::vector<MetricFamily>& out) {
    const memory::PoolStats s = pool->stats();
    const MetricType gauge = MetricType::Gauge, counter = MetricType::Counter;
    Add(out, "seqserve_memory_reserved_bytes", "Bytes the pool holds from its backend.", gauge, s.reserved_bytes);
    Add(out, "seqserve_memory_allocated_bytes", "Bytes in live allocations (rounded to the pool's block sizes).", gauge, s.allocated_bytes);
    Add(out, "seqserve_memory_peak_reserved_bytes", "Highest reserved bytes since start.", gauge, s.peak_reserved_bytes);
    Add(out, "seqserve_memory_peak_allocated_bytes", "Highest allocated bytes since start.", gauge, s.peak_allocated_bytes);
    Add(out, "seqserve_memory_cached_free_bytes", "Reserved bytes free for reuse.", gauge, s.cached_free_bytes);
    Add(out, "seqserve_memory_largest_free_block_bytes", "Largest free block: the biggest allocation served without the backend.", gauge, s.largest_free_block);
    Add(out, "seqserve_memory_fragmentation_ratio", "1 - largest free block / free bytes (0 = free memory in one piece).", gauge, s.fragmentation);
    Add(out, "seqserve_memory_overhead_ratio", "Reserved / allocated bytes (0 when nothing is allocated).", gauge, s.overhead);
    Add(out, "seqserve_memory_segments", "Segments held from the backend.", gauge, s.segments);
    Add(out, "seqserve_memory_backend_allocations_total", "Allocations the pool asked of its backend.", counter, s.backend_allocations);
    Add(out, "seqserve_memory_backend_frees_total", "Segments the pool returned to its backend.", counter, s.backend_frees);
    Add(out, "seqserve_memory_cache_hit_ratio", "Allocations served from the pool's free lists / all allocations.", gauge, s.hit_rate);
    Add(out, "seqserve_memory_oom_total", "Allocations the pool refused (budget or backend exhausted).", counter, s.oom_count);
    Add(out, "seqserve_memory_capacity_bytes", "Bytes headroom is measured against: the budget, else the cgroup limit, else RAM.", gauge, capacity_bytes);
    Add(out, "seqserve_memory_headroom_ratio", "1 - reserved / capacity: a scaling signal (scale out before it nears 0).", gauge,
        capacity_bytes > 0 ? 1.0 - static_cast<double>(s.reserved_bytes) / static_cast<double>(capacity_bytes) : 1.0);
  };
}

}  // namespace seqserve
