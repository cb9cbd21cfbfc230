// Micro-benchmarks of the caching allocator's cached path: one Allocate + Free of a size the
// pool already holds a free block for, single-threaded, on the host backend. Goal: median under
// 100 ns per pair. BM_MallocFree is glibc's malloc/free of the same sizes, for scale. The second
// argument picks the pool's options: 0 the defaults, 1 the server's CPU pool (expandable
// segments and the footprint ceiling, memory/torch_cpu_allocator.h).
//
//   memory_alloc_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// With SEQSERVE_MEMORY_TRACE=<file written by FileTraceWriter>, BM_ReplayTrace replays that
// trace on a fresh pool per iteration and reports its peaks.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "memory/caching_allocator.h"
#include "memory/host_backend.h"
#include "memory/trace.h"
#include "memory/trace_replay.h"

namespace seqserve::memory {
namespace {

std::unique_ptr<CachingAllocator> NewPool(Backend* backend, bool server_options = false) {
  CachingAllocatorOptions options;
  if (server_options) {
    options.expandable_segments = true;
    options.decommit_free_pages = true;
  }
  absl::StatusOr<std::unique_ptr<CachingAllocator>> pool = CachingAllocator::Create(backend, options);
  if (!pool.ok()) std::abort();
  return std::move(*pool);
}

void BM_AllocFree(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  HostBackend backend;
  auto pool = NewPool(&backend, state.range(1) != 0);
  state.SetLabel(state.range(1) != 0 ? "server options" : "defaults");
  // Warm the cache: the first allocation takes the segment from the backend.
  absl::StatusOr<void*> warm = pool->Allocate(bytes);
  if (!warm.ok() || !pool->Free(*warm).ok()) std::abort();
  for (auto _ : state) {
    absl::StatusOr<void*> p = pool->Allocate(bytes);
    benchmark::DoNotOptimize(p);
    pool->Free(*p).IgnoreError();
  }
  const PoolStats stats = pool->stats();
  state.counters["backend_allocations"] = static_cast<double>(stats.backend_allocations);
  state.counters["hit_rate"] = stats.hit_rate;
}
BENCHMARK(BM_AllocFree)->ArgsProduct({{512, 64 << 10, 4 << 20}, {0, 1}});

// Several allocations live at once, freed in another order: exercises splitting and merging
// with neighbours on both sides rather than one block against one remainder.
void BM_AllocFreeInterleaved(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  HostBackend backend;
  auto pool = NewPool(&backend, state.range(1) != 0);
  state.SetLabel(state.range(1) != 0 ? "server options" : "defaults");
  constexpr int kLive = 8;
  void* ptrs[kLive];
  for (auto _ : state) {
    for (int i = 0; i < kLive; ++i) ptrs[i] = *pool->Allocate(bytes + 512 * i);
    for (int i = 0; i < kLive; i += 2) pool->Free(ptrs[i]).IgnoreError();
    for (int i = 1; i < kLive; i += 2) pool->Free(ptrs[i]).IgnoreError();
  }
  state.SetItemsProcessed(state.iterations() * kLive);
}
BENCHMARK(BM_AllocFreeInterleaved)->ArgsProduct({{512, 64 << 10}, {0, 1}});

void BM_MallocFree(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = std::malloc(bytes);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}
BENCHMARK(BM_MallocFree)->Arg(512)->Arg(64 << 10)->Arg(4 << 20);

void BM_ReplayTrace(benchmark::State& state, std::string path) {
  absl::StatusOr<std::vector<TraceEvent>> events = ReadTrace(path);
  if (!events.ok()) {
    state.SkipWithError(std::string(events.status().message()).c_str());
    return;
  }
  PoolStats last;
  for (auto _ : state) {
    HostBackend backend;
    auto pool = NewPool(&backend);
    absl::StatusOr<ReplayResult> result = ReplayTrace(*events, *pool);
    if (!result.ok()) {
      state.SkipWithError(std::string(result.status().message()).c_str());
      return;
    }
    last = pool->stats();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events->size()));
  state.counters["peak_reserved_MiB"] = static_cast<double>(last.peak_reserved_bytes) / (1 << 20);
  state.counters["peak_allocated_MiB"] = static_cast<double>(last.peak_allocated_bytes) / (1 << 20);
  state.counters["hit_rate"] = last.hit_rate;
}

}  // namespace
}  // namespace seqserve::memory

int main(int argc, char** argv) {
  if (const char* trace = std::getenv("SEQSERVE_MEMORY_TRACE")) {
    benchmark::RegisterBenchmark("BM_ReplayTrace", seqserve::memory::BM_ReplayTrace, std::string(trace));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
