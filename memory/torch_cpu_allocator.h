// Installing the caching pool as libtorch's CPU allocator. Plain header (no libtorch types);
// torch_cpu_allocator.cc is the only file of memory/ that includes libtorch.
#ifndef SEQSERVE_MEMORY_TORCH_CPU_ALLOCATOR_H_
#define SEQSERVE_MEMORY_TORCH_CPU_ALLOCATOR_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "memory/caching_allocator.h"

namespace seqserve::memory {

struct TorchCpuPoolOptions {
  // Most bytes the pool may hold from the host; 0 = unlimited. Allocations beyond it fail the
  // way libtorch reports out-of-memory (c10::OutOfMemoryError), which the runtime answers by
  // splitting the batch.
  size_t capacity_bytes = 0;
  // If set, every allocation and free is recorded to this file (memory/trace.h format), for
  // offline replay (benchmarks/memory/). Costs a formatted write per event while on.
  std::string trace_path;
  // CachingAllocatorOptions::expandable_segments. Default true on the host, where segments grow
  // with mprotect (cheap): the encoder's trace replays at 1.08x its live peak instead of 1.19x
  // (benchmarks/RESULTS.md).
  bool expandable_segments = true;
  // CachingAllocatorOptions::decommit_free_pages (the footprint ceiling). Default true on the
  // host: the trace replays at 1.000x its live peak instead of 1.076x, nearly all the extra
  // system calls falling in warm-up (benchmarks/RESULTS.md).
  bool decommit_free_pages = true;
};

// Creates a host-memory caching pool and installs it with c10::SetAllocator as the allocator of
// every CPU tensor created afterwards. Call once, at startup, before any model loads. The pool
// lives until the process exits (tensors may be freed at any time, from any thread, so it is
// never destroyed). Returns it for statistics. FAILED_PRECONDITION when called twice.
absl::StatusOr<CachingAllocator*> InstallTorchCpuPool(const TorchCpuPoolOptions& options);

// Flushes and closes the trace file, if one was opened; later events are dropped.
absl::Status CloseTorchCpuPoolTrace();

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_TORCH_CPU_ALLOCATOR_H_
