// CachingAllocatorOptions: the knobs of a CachingAllocator, fixed at creation.
//
// Plain value type. The size classes themselves (512 B rounding, 1 MiB small limit, 2 and
// 20 MiB segments) are constants, explained in memory/size_classes.h.
#ifndef SEQSERVE_MEMORY_ALLOCATOR_OPTIONS_H_
#define SEQSERVE_MEMORY_ALLOCATOR_OPTIONS_H_

#include <cstddef>
#include <limits>

#include "memory/size_classes.h"

namespace seqserve::memory {

class TraceSink;

struct CachingAllocatorOptions {
  // Most bytes the pool may reserve from its backend (the sum of its segments); an allocation
  // that would need more first releases cached free segments, then fails with
  // RESOURCE_EXHAUSTED. 0 means unlimited. Default 0. Below 2 MiB (one small segment) nothing
  // can be allocated. Note [capacity budget]: in a pod, the memory limit minus what the process
  // needs besides tensors, so the pool reports RESOURCE_EXHAUSTED (and the server splits or
  // rejects the batch) before the kernel's OOM killer ends the pod; the server derives it so
  // (Note [budget from the pod] in runtime/resources/host_memory.h) and may change it later
  // (CachingAllocator::SetCapacity).
  size_t capacity_bytes = 0;

  // Smallest segment the large pool asks of the backend (larger requests get a segment of their
  // own size, rounded to 2 MiB). A multiple of 2 MiB. Default 20 MiB (Note [large segments] in
  // size_classes.h): few backend calls on a GPU, where cudaMalloc is slow and memory is measured
  // in GiB. Smaller values trade backend calls for less slack at the end of each segment, which
  // matters when the whole working set is tens of MiB (benchmarks/RESULTS.md).
  size_t large_segment_bytes = kLargeSegmentSize;

  // Cached blocks larger than this are never split (Note [oversize blocks] in size_classes.h).
  // Must be at least large_segment_bytes: below it the standard segments of
  // ordinary large requests would themselves be oversize and could not be shared. Rounded up to
  // a multiple of 2 MiB by CachingAllocator::Create (Note [max_split_size rounding]).
  // Default: unlimited (std::numeric_limits<size_t>::max()), every block may be split.
  size_t max_split_size = std::numeric_limits<size_t>::max();

  // Note [expandable segments]: when the backend can grow a segment in place
  // (Backend::can_grow_in_place; the host backend can, the CUDA backend cannot yet), every request
  // of a stream, small or large, comes from one segment (an arena) that grows at its end by
  // multiples of kExpandableGrowth (64 KiB), and every remainder of 512 B or more is split off. So
  // what the pool holds follows the high-water mark of the live bytes instead of the sum of the
  // small and large pools' separate peaks plus a 20 MiB segment's slack: on the encoder's recorded
  // trace, peak reserved / peak live 1.076 instead of 1.191 (the variants measured on the way:
  // benchmarks/RESULTS.md). The rest is holes between live blocks at the peak
  // (decommit_free_pages gives their memory back). Ignored where the backend cannot grow. Default
  // false (the server's CPU pool turns it on: TorchCpuPoolOptions).
  bool expandable_segments = false;

  // When a miss needs a new segment, first return wholly free (idle) segments that cannot serve
  // it to the backend, so the footprint follows the live bytes instead of the sum of every shape
  // seen. Costs backend calls (on CUDA, cudaFree synchronizes the device). Default false: keep
  // the cache, as libtorch's allocator does; measured side by side in benchmarks/gpu/check.sh.
  bool release_idle_before_growing = false;

  // Note [footprint ceiling] (footprint_ceiling.cc): where the backend can decommit pages
  // (Backend::decommit_granularity; the host backend can), the pool never takes new memory (growing
  // or creating a segment, recommitting pages) beyond its previous peak while free pages could be
  // given back instead: it first decommits free pages, from the free blocks with the most committed
  // pages, just as many as needed. Its peak footprint then follows the peak of the live (and
  // pending) bytes, plus at most two pages per free block and one growth step, whatever the
  // placement; on the encoder's trace 1.076x -> 1.000x the live peak. Costs backend calls and page
  // faults when decommitted pages are reused, almost all of them during warm-up. Ignored where the
  // backend cannot decommit. Default false (the server's CPU pool turns it on:
  // TorchCpuPoolOptions).
  bool decommit_free_pages = false;

  // Receives one event per allocation and free (memory/trace.h); not owned, must outlive the
  // pool. nullptr (the default) turns tracing off, which costs one branch per operation.
  TraceSink* trace_sink = nullptr;
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_ALLOCATOR_OPTIONS_H_
