#include "server/admission/memory_metrics.h"

#include <string>

#include "server/observability/metric_catalog.h"

namespace seqserve {
namespace {

using prometheus::MetricFamily;

// One family, one series per pool (labelled pool="cpu", "cuda:0", ...).
template <typename Value>
void Add(std::vector<MetricFamily>& out, const std::vector<PoolSource>& pools,
         const std::vector<memory::PoolStats>& stats, const MetricSpec& spec, Value value) {
  MetricFamily f = MakeFamily(spec);
  for (size_t i = 0; i < pools.size(); ++i) {
    AddValue(f, {{"pool", pools[i].label}}, static_cast<double>(value(pools[i], stats[i])));
  }
  out.push_back(std::move(f));
}

}  // namespace

MetricsCollector::Provider MemoryPoolMetrics(std::vector<PoolSource> pools) {
  return [pools = std::move(pools)](std::vector<MetricFamily>& out) {
    std::vector<memory::PoolStats> stats;
    stats.reserve(pools.size());
    std::vector<uint64_t> capacity;
    for (const PoolSource& p : pools) {
      stats.push_back(p.pool->stats());
      capacity.push_back(p.capacity_bytes());
    }
    Add(out, pools, stats, metric::kPoolReserved,
        [](const PoolSource&, const memory::PoolStats& s) { return s.reserved_bytes; });
    Add(out, pools, stats, metric::kPoolAllocated,
        [](const PoolSource&, const memory::PoolStats& s) { return s.allocated_bytes; });
    Add(out, pools, stats, metric::kPoolPeakReserved,
        [](const PoolSource&, const memory::PoolStats& s) { return s.peak_reserved_bytes; });
    Add(out, pools, stats, metric::kPoolPeakAllocated,
        [](const PoolSource&, const memory::PoolStats& s) { return s.peak_allocated_bytes; });
    Add(out, pools, stats, metric::kPoolCachedFree,
        [](const PoolSource&, const memory::PoolStats& s) { return s.cached_free_bytes; });
    Add(out, pools, stats, metric::kPoolDecommitted,
        [](const PoolSource&, const memory::PoolStats& s) { return s.decommitted_bytes; });
    Add(out, pools, stats, metric::kPoolLargestFreeBlock,
        [](const PoolSource&, const memory::PoolStats& s) { return s.largest_free_block; });
    Add(out, pools, stats, metric::kPoolFragmentation,
        [](const PoolSource&, const memory::PoolStats& s) { return s.fragmentation; });
    Add(out, pools, stats, metric::kPoolOverhead,
        [](const PoolSource&, const memory::PoolStats& s) { return s.overhead; });
    Add(out, pools, stats, metric::kPoolSegments,
        [](const PoolSource&, const memory::PoolStats& s) { return s.segments; });
    Add(out, pools, stats, metric::kPoolBackendAllocations,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_allocations; });
    Add(out, pools, stats, metric::kPoolBackendGrows,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_grows; });
    Add(out, pools, stats, metric::kPoolBackendFrees,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_frees; });
    Add(out, pools, stats, metric::kPoolBackendDecommits,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_decommits; });
    Add(out, pools, stats, metric::kPoolBackendCommits,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_commits; });
    Add(out, pools, stats, metric::kPoolCacheHit,
        [](const PoolSource&, const memory::PoolStats& s) { return s.hit_rate; });
    Add(out, pools, stats, metric::kPoolOom, [](const PoolSource&, const memory::PoolStats& s) { return s.oom_count; });
    Add(out, pools, stats, metric::kPoolSegmentsAdopted,
        [](const PoolSource&, const memory::PoolStats& s) { return s.segments_adopted; });
    auto capacity_of = [&pools, &capacity](const PoolSource& p) { return capacity[&p - pools.data()]; };
    Add(out, pools, stats, metric::kPoolCapacity,
        [&](const PoolSource& p, const memory::PoolStats&) { return capacity_of(p); });
    Add(out, pools, stats, metric::kPoolHeadroom, [&](const PoolSource& p, const memory::PoolStats& s) {
      return capacity_of(p) > 0 ? 1.0 - static_cast<double>(s.reserved_bytes) / static_cast<double>(capacity_of(p))
                                : 1.0;
    });
  };
}

MetricsCollector::Provider RequestMemoryMetrics(const RequestMemory& memory, const std::atomic<int64_t>& hangups) {
  return [&memory, &hangups](std::vector<MetricFamily>& out) {
    PushValue(out, metric::kRequestMemory, memory.in_use());
    PushValue(out, metric::kRequestMemoryPeak, memory.peak());
    PushValue(out, metric::kRequestMemoryBudget, memory.budget());
    PushValue(out, metric::kRequestMemoryRefusals, memory.refusals());
    PushValue(out, metric::kRestHangups, hangups.load(std::memory_order_relaxed));
  };
}

}  // namespace seqserve
