// Installing the caching pool as libtorch's CUDA allocator, through CUDAPluggableAllocator.
// Plain header; torch_cuda_allocator.cc is the only file of memory/ that includes libtorch's
// CUDA headers.
#ifndef SEQSERVE_MEMORY_TORCH_CUDA_ALLOCATOR_H_
#define SEQSERVE_MEMORY_TORCH_CUDA_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/caching_allocator.h"

namespace seqserve::memory {

struct TorchCudaPoolOptions {
  // Most bytes each device's pool may hold; 0 = unlimited. Beyond it, allocations fail as a CUDA
  // out-of-memory error, which the runtime answers by splitting the batch.
  size_t capacity_bytes = 0;
  // CachingAllocatorOptions::release_idle_before_growing.
  bool release_idle_before_growing = false;
};

// Creates one pool per visible CUDA device and makes them libtorch's CUDA allocator
// (torch::cuda::CUDAPluggableAllocator). Must run before the first CUDA tensor exists: libtorch
// cannot change allocators once its own has handed out memory. Tensors used on other streams
// (Tensor::record_stream) are honoured: their blocks wait for those streams' events. Returns the
// pools, one per device, for statistics; FAILED_PRECONDITION without a CUDA device or when
// called twice.
absl::StatusOr<std::vector<CachingAllocator*>> InstallTorchCudaPool(const TorchCudaPoolOptions& options);

// libtorch's own CUDA caching allocator, for measuring the pool against it -------------------

// Its counters for one device, in PoolStats' terms.
struct NativeCudaStats {
  uint64_t reserved_bytes = 0;
  uint64_t peak_reserved_bytes = 0;
  uint64_t allocated_bytes = 0;
  uint64_t peak_allocated_bytes = 0;
  uint64_t device_allocations = 0;  // cudaMalloc calls (cumulative)
  uint64_t device_frees = 0;        // cudaFree calls (cumulative)
  uint64_t alloc_retries = 0;       // cudaMalloc failures retried after emptying its cache
  uint64_t oom_count = 0;           // allocations that failed even after the retry
};

// FAILED_PRECONDITION when the pool is installed (read CachingAllocator::stats() then) or there
// is no CUDA device.
absl::StatusOr<NativeCudaStats> ReadNativeCudaStats(int device);
// Resets the peaks that ReadNativeCudaStats reports (torch.cuda.reset_peak_memory_stats).
absl::Status ResetNativeCudaPeaks(int device);
// Returns the native allocator's cached, unused segments to the driver (torch.cuda.empty_cache).
absl::Status EmptyNativeCudaCache();

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_TORCH_CUDA_ALLOCATOR_H_
