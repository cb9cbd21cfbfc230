// Installing the caching pool as libtorch's CPU allocator. Plain header (no libtorch types):
// of memory/, only torch_cpu_allocator.cc and torch_cuda_allocator.cc include libtorch.
#ifndef SEQSERVE_MEMORY_TORCH_CPU_ALLOCATOR_H_
#define SEQSERVE_MEMORY_TORCH_CPU_ALLOCATOR_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "memory/caching_allocator.h"

namespace seqserve::memory {

struct TorchCpuPoolOptions {
  // Most bytes the pool may reserve from the host (CachingAllocatorOptions::capacity_bytes: the
  // sum of its segments); 0 = unlimited, the default. The server installs with 0 and sets the
  // budget later (CachingAllocator::SetCapacity, from server/admission/pod_memory.cc). An allocation the
  // pool refuses throws c10::OutOfMemoryError with a message starting with kRefusalMarker, and
  // records the refusal on the allocating thread first: runtime/torch/torch_model.cc takes the record
  // with the marker as out of memory even where a scripted forward rethrew the error as a plain
  // c10::Error (Note [OOM by type] in memory/allocation_refusal.h), and the executor splits the
  // batch.
  size_t capacity_bytes = 0;
  // If set, every allocation and free is written to this file (FileTraceWriter, memory/trace.h),
  // for offline replay (benchmarks/memory/); a file that cannot be opened fails the install.
  // Costs an fprintf under the writer's lock per event while on. Default empty: no trace.
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
// never destroyed). Returns it, for statistics and SetCapacity. FAILED_PRECONDITION when called
// twice.
absl::StatusOr<CachingAllocator*> InstallTorchCpuPool(const TorchCpuPoolOptions& options);

// Flushes and closes the trace file, if one was opened, returning the first write error; later
// events are dropped. OK when there is no trace.
absl::Status CloseTorchCpuPoolTrace();

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_TORCH_CPU_ALLOCATOR_H_
