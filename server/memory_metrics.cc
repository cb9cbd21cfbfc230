#include "server/memory_metrics.h"

#include <string>

namespace seqserve {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// One family, one series per pool (labelled pool="cpu", "cuda:0", ...).
template <typename Value>
void Add(std::vector<MetricFamily>& out, const std::vector<PoolSource>& pools,
         const std::vector<memory::PoolStats>& stats, const char* name, const char* help, MetricType type,
         Value value) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  for (size_t i = 0; i < pools.size(); ++i) {
    ClientMetric m;
    m.label = {{"pool", pools[i].label}};
    (type == MetricType::Counter ? m.counter.value : m.gauge.value) = static_cast<double>(value(pools[i], stats[i]));
    f.metric.push_back(std::move(m));
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
    const MetricType gauge = MetricType::Gauge, counter = MetricType::Counter;
    Add(out, pools, stats, "seqserve_memory_reserved_bytes", "Bytes the pool holds from its backend.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.reserved_bytes; });
    Add(out, pools, stats, "seqserve_memory_allocated_bytes",
        "Bytes in live allocations (rounded to the pool's block sizes).", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.allocated_bytes; });
    Add(out, pools, stats, "seqserve_memory_peak_reserved_bytes", "Highest reserved bytes since start.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.peak_reserved_bytes; });
    Add(out, pools, stats, "seqserve_memory_peak_allocated_bytes", "Highest allocated bytes since start.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.peak_allocated_bytes; });
    Add(out, pools, stats, "seqserve_memory_cached_free_bytes", "Reserved bytes free for reuse.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.cached_free_bytes; });
    Add(out, pools, stats, "seqserve_memory_decommitted_bytes",
        "Free address space in the pool's segments whose memory went back to the system.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.decommitted_bytes; });
    Add(out, pools, stats, "seqserve_memory_largest_free_block_bytes",
        "Largest free block: the biggest allocation served without the backend.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.largest_free_block; });
    Add(out, pools, stats, "seqserve_memory_fragmentation_ratio",
        "1 - largest free block / free space (0 = free space in one piece).", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.fragmentation; });
    Add(out, pools, stats, "seqserve_memory_overhead_ratio",
        "Reserved / allocated bytes (0 when nothing is allocated).", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.overhead; });
    Add(out, pools, stats, "seqserve_memory_segments", "Segments held from the backend.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.segments; });
    Add(out, pools, stats, "seqserve_memory_backend_allocations_total", "Allocations the pool asked of its backend.",
        counter, [](const PoolSource&, const memory::PoolStats& s) { return s.backend_allocations; });
    Add(out, pools, stats, "seqserve_memory_backend_grows_total",
        "Segments the pool grew in place (expandable segments).", counter,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_grows; });
    Add(out, pools, stats, "seqserve_memory_backend_frees_total", "Segments the pool returned to its backend.", counter,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_frees; });
    Add(out, pools, stats, "seqserve_memory_backend_decommits_total",
        "Ranges of free pages the pool gave back to the system (footprint ceiling).", counter,
        [](const PoolSource&, const memory::PoolStats& s) { return s.backend_decommits; });
    Add(out, pools, stats, "seqserve_memory_backend_commits_total", "Ranges of given-back pages the pool took again.",
        counter, [](const PoolSource&, const memory::PoolStats& s) { return s.backend_commits; });
    Add(out, pools, stats, "seqserve_memory_cache_hit_ratio",
        "Allocations served from the pool's free lists / all allocations.", gauge,
        [](const PoolSource&, const memory::PoolStats& s) { return s.hit_rate; });
    Add(out, pools, stats, "seqserve_memory_oom_total", "Allocations the pool refused (budget or backend exhausted).",
        counter, [](const PoolSource&, const memory::PoolStats& s) { return s.oom_count; });
    Add(out, pools, stats, "seqserve_memory_segments_adopted_total",
        "Idle segments handed from one stream to another instead of a new backend allocation.", counter,
        [](const PoolSource&, const memory::PoolStats& s) { return s.segments_adopted; });
    auto capacity_of = [&pools, &capacity](const PoolSource& p) { return capacity[&p - pools.data()]; };
    Add(out, pools, stats, "seqserve_memory_capacity_bytes",
        "Bytes headroom is measured against: the pool's budget, else the cgroup memory limit, else RAM.", gauge,
        [&](const PoolSource& p, const memory::PoolStats&) { return capacity_of(p); });
    Add(out, pools, stats, "seqserve_memory_headroom_ratio",
        "1 - reserved / capacity: a scaling signal (scale out before it nears 0).", gauge,
        [&](const PoolSource& p, const memory::PoolStats& s) {
          return capacity_of(p) > 0 ? 1.0 - static_cast<double>(s.reserved_bytes) / static_cast<double>(capacity_of(p))
                                    : 1.0;
        });
  };
}

MetricsCollector::Provider RequestMemoryMetrics(const RequestMemory& memory, const std::atomic<int64_t>& hangups) {
  return [&memory, &hangups](std::vector<MetricFamily>& out) {
    auto one = [&out](const char* name, const char* help, MetricType type, int64_t value) {
      MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      ClientMetric m;
      (type == MetricType::Counter ? m.counter.value : m.gauge.value) = static_cast<double>(value);
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    };
    one("seqserve_request_memory_bytes",
        "Bytes held by requests in flight: bodies and messages, decoded tensors, queued requests.", MetricType::Gauge,
        memory.in_use());
    one("seqserve_request_memory_peak_bytes", "Most bytes held by requests in flight at once since start.",
        MetricType::Gauge, memory.peak());
    one("seqserve_request_memory_budget_bytes",
        "Bytes requests in flight may hold at once (--request-memory-bytes); 0 = unlimited.", MetricType::Gauge,
        memory.budget());
    one("seqserve_request_memory_refusals_total",
        "Requests refused RESOURCE_EXHAUSTED (429) because their bytes did not fit the request memory.",
        MetricType::Counter, memory.refusals());
    one("seqserve_rest_hangups_total",
        "REST clients that hung up while their request was in the server; each request was cancelled.",
        MetricType::Counter, hangups.load(std::memory_order_relaxed));
  };
}

}  // namespace seqserve
