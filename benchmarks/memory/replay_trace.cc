// Replays an allocation trace recorded from the server (seqserve --memory-trace=PATH) through
// three allocators and compares them:
//   pool        seqserve's caching pool (memory/caching_allocator.h) over host memory
//   no-cache    one backend call per allocation and per free (what a plain malloc-per-tensor
//               allocator costs in backend calls; its reserved bytes are exactly the live ones)
//   pow2-cache  sizes rounded up to a power of two, one free list per size, nothing released
//               (the simplest caching allocator)
//
//   replay_trace TRACE [--repeats=5] [--large-segment-mib=20,8,4,2]
//
// The pool is replayed once per large-segment size given (its Options::large_segment_bytes), once
// with expandable segments (Options::expandable_segments), and once with expandable segments and
// the footprint ceiling (Options::decommit_free_pages): the server's CPU pool.
//
// Prints, per allocator: peak reserved bytes / peak live (requested) bytes, backend calls per
// 1,000 allocations (segment allocations, frees, grows, decommits and commits), and ns per
// replayed event (median of --repeats). The replay never touches the memory, so the page faults
// that follow a commit are not in the time; the server comparison (compare_allocators.py) has
// them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "memory/caching_allocator.h"
#include "memory/host_backend.h"
#include "memory/trace.h"
#include "memory/trace_replay.h"

namespace seqserve::memory {
namespace {

struct Result {
  double peak_reserved = 0;
  double backend_calls = 0;  // allocations + frees asked of the backend
  double ns_per_event = 0;
};

// Peak of the sum of requested bytes live at once.
uint64_t PeakLive(const std::vector<TraceEvent>& events) {
  std::unordered_map<uint64_t, uint64_t> live;
  uint64_t now = 0, peak = 0;
  for (const TraceEvent& e : events) {
    if (e.op == TraceOp::kAlloc) {
      live[e.address] = e.size;
      now += e.size;
      peak = std::max(peak, now);
    } else if (auto it = live.find(e.address); it != live.end()) {
      now -= it->second;
      live.erase(it);
    }
  }
  return peak;
}

Result ReplayPool(const std::vector<TraceEvent>& events, const CachingAllocatorOptions& options) {
  HostBackend backend(64);
  auto pool = CachingAllocator::Create(&backend, options);
  if (!pool.ok()) {
    std::fprintf(stderr, "%s\n", pool.status().ToString().c_str());
    std::exit(1);
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<ReplayResult> replay = ReplayTrace(events, **pool);
  const double ns = absl::ToDoubleNanoseconds(absl::Now() - start);
  if (!replay.ok()) {
    std::fprintf(stderr, "pool replay failed: %s\n", replay.status().ToString().c_str());
    std::exit(1);
  }
  const PoolStats s = (*pool)->stats();
  const uint64_t calls =
      s.backend_allocations + s.backend_frees + s.backend_grows + s.backend_decommits + s.backend_commits;
  return {static_cast<double>(s.peak_reserved_bytes), static_cast<double>(calls), ns / events.size()};
}

Result ReplayNoCache(const std::vector<TraceEvent>& events) {
  std::unordered_map<uint64_t, std::pair<void*, uint64_t>> live;
  uint64_t reserved = 0, peak = 0, calls = 0;
  const absl::Time start = absl::Now();
  for (const TraceEvent& e : events) {
    if (e.op == TraceOp::kAlloc) {
      const uint64_t size = (std::max<uint64_t>(e.size, 1) + 63) / 64 * 64;
      live[e.address] = {std::aligned_alloc(64, size), size};
      reserved += size;
      peak = std::max(peak, reserved);
      ++calls;
    } else if (auto it = live.find(e.address); it != live.end()) {
      std::free(it->second.first);
      reserved -= it->second.second;
      live.erase(it);
      ++calls;
    }
  }
  const double ns = absl::ToDoubleNanoseconds(absl::Now() - start);
  for (auto& [address, block] : live) std::free(block.first);
  return {static_cast<double>(peak), static_cast<double>(calls), ns / events.size()};
}

Result ReplayPow2(const std::vector<TraceEvent>& events) {
  std::map<uint64_t, std::vector<void*>> free_lists;  // size class -> cached blocks
  std::unordered_map<uint64_t, std::pair<void*, uint64_t>> live;
  uint64_t reserved = 0, calls = 0;
  const absl::Time start = absl::Now();
  for (const TraceEvent& e : events) {
    if (e.op == TraceOp::kAlloc) {
      uint64_t size = 512;
      while (size < e.size) size *= 2;
      std::vector<void*>& cached = free_lists[size];
      void* ptr;
      if (!cached.empty()) {
        ptr = cached.back();
        cached.pop_back();
      } else {
        ptr = std::aligned_alloc(64, size);
        reserved += size;
        ++calls;
      }
      live[e.address] = {ptr, size};
    } else if (auto it = live.find(e.address); it != live.end()) {
      free_lists[it->second.second].push_back(it->second.first);
      live.erase(it);
    }
  }
  const double ns = absl::ToDoubleNanoseconds(absl::Now() - start);
  for (auto& [address, block] : live) free_lists[block.second].push_back(block.first);
  for (auto& [size, blocks] : free_lists) {
    for (void* p : blocks) std::free(p);
  }
  return {static_cast<double>(reserved), static_cast<double>(calls),
          ns / events.size()};  // never releases: peak = final
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: replay_trace TRACE [--repeats=N]\n");
    return 2;
  }
  int repeats = 5;
  std::vector<size_t> segment_mib = {20};
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--repeats=")) (void)absl::SimpleAtoi(arg.substr(10), &repeats);
    if (absl::StartsWith(arg, "--large-segment-mib=")) {
      segment_mib.clear();
      for (absl::string_view v : absl::StrSplit(arg.substr(20), ',')) {
        size_t mib = 0;
        if (absl::SimpleAtoi(v, &mib)) segment_mib.push_back(mib);
      }
    }
  }
  absl::StatusOr<std::vector<TraceEvent>> events = ReadTrace(argv[1]);
  if (!events.ok()) {
    std::fprintf(stderr, "%s\n", events.status().ToString().c_str());
    return 1;
  }
  int64_t allocations = 0;
  for (const TraceEvent& e : *events) allocations += e.op == TraceOp::kAlloc;
  const double peak_live = static_cast<double>(PeakLive(*events));
  std::printf("trace: %zu events, %lld allocations, peak live %.1f MiB\n\n", events->size(),
              static_cast<long long>(allocations), peak_live / (1 << 20));
  std::printf(
      "| allocator | peak reserved / peak live | backend calls per 1,000 allocations | ns per event (median of %d) |\n",
      repeats);
  std::printf("|---|---|---|---|\n");
  std::vector<std::pair<std::string, std::function<Result(const std::vector<TraceEvent>&)>>> allocators;
  auto pool = [](CachingAllocatorOptions options) {
    return [options](const std::vector<TraceEvent>& e) { return ReplayPool(e, options); };
  };
  for (size_t mib : segment_mib) {
    CachingAllocatorOptions options;
    options.large_segment_bytes = mib << 20;
    allocators.emplace_back(absl::StrCat("pool (large segments ", mib, " MiB)"), pool(options));
  }
  CachingAllocatorOptions expandable;
  expandable.expandable_segments = true;
  allocators.emplace_back("pool (expandable segments)", pool(expandable));
  CachingAllocatorOptions ceiling = expandable;
  ceiling.decommit_free_pages = true;
  allocators.emplace_back("pool (expandable segments, footprint ceiling)", pool(ceiling));
  allocators.emplace_back("no-cache", ReplayNoCache);
  allocators.emplace_back("pow2-cache", ReplayPow2);
  for (const auto& [name, replay] : allocators) {
    std::vector<Result> runs;
    for (int r = 0; r < repeats; ++r) runs.push_back(replay(*events));
    std::sort(runs.begin(), runs.end(),
              [](const Result& a, const Result& b) { return a.ns_per_event < b.ns_per_event; });
    const Result& median = runs[runs.size() / 2];
    std::printf("| %s | %.3f | %.1f | %.0f |\n", name.c_str(), median.peak_reserved / peak_live,
                1000.0 * median.backend_calls / allocations, median.ns_per_event);
  }
  return 0;
}

}  // namespace
}  // namespace seqserve::memory

int main(int argc, char** argv) { return seqserve::memory::Main(argc, argv); }
