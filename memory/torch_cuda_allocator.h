// Installing the caching pool as libtorch's CUDA allocator, through CUDAPluggableAllocator.
// Plain header; torch_cuda_allocator.cc is the only file of memory/ that includes libtorch's
// CUDA headers.
#ifndef SEQSERVE_MEMORY_TORCH_CUDA_ALLOCATOR_H_
#define SEQSERVE_MEMORY_TORCH_CUDA_ALLOCATOR_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/caching_allocator.h"

namespace seqserve::memory {

struct TorchCudaPoolOptions {
  // Most bytes each device's pool may hold; 0 = unlimited. Beyond it, allocations fail as a CUDA
  // out-of-memory error, which the runtime answers by splitting the batch.
  size_t capacity_bytes = 0;
};

// Creates one pool per visible CUDA device and makes them libtorch's CUDA allocator
// (torch::cuda::CUDAPluggableAllocator). Must run before the first CUDA tensor exists: libtorch
// cannot change allocators once its own has handed out memory. Tensors used on other streams
// (Tensor::record_stream) are honoured: their blocks wait for those streams' events. Returns the
// pools, one per device, for statistics; FAILED_PRECONDITION without a CUDA device or when
// called twice.
absl::StatusOr<std::vector<CachingAllocator*>> InstallTorchCudaPool(const TorchCudaPoolOptions& options);

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_TORCH_CUDA_ALLOCATOR_H_
