#include "memory/torch_cuda_allocator.h"

#include <torch/csrc/cuda/CUDAPluggableAllocator.h>

#include <atomic>
#include <memory>
#include <string>

#include "memory/cuda_backend.h"

namespace seqserve::memory {
namespace {

// Pools by device index; filled once at install and never cleared (Note [pool lifetime] in
// torch_cpu_allocator.cc applies here too).
std::vector<CachingAllocator*>* g_pools = nullptr;

void* AllocateOnDevice(size_t bytes, int device, cudaStream_t stream) {
  absl::StatusOr<void*> ptr = (*g_pools)[device]->Allocate(bytes, reinterpret_cast<StreamId>(stream));
  // CUDAPluggableAllocator turns a null pointer into libtorch's CUDA out-of-memory error, whose
  // message says "out of memory" (Note [recognizing OOM] in runtime/torch_model.cc).
  return ptr.ok() ? *ptr : nullptr;
}

void FreeOnDevice(void* ptr, size_t, int device, cudaStream_t) { (void)(*g_pools)[device]->Free(ptr); }

void RecordStream(void* ptr, cudaStream_t stream) {
  for (CachingAllocator* pool : *g_pools) {
    if (pool->RecordStream(ptr, reinterpret_cast<StreamId>(stream)).ok()) return;
  }
}

}  // namespace

absl::StatusOr<std::vector<CachingAllocator*>> InstallTorchCudaPool(const TorchCudaPoolOptions& options) {
  if (g_pools != nullptr) return absl::FailedPreconditionError("the CUDA pool is already installed");
  const int devices = CudaBackend::DeviceCount();
  if (devices == 0) return absl::FailedPreconditionError("no CUDA device: the CUDA pool cannot be installed");
  auto* pools = new std::vector<CachingAllocator*>();
  CachingAllocatorOptions pool_options;
  pool_options.capacity_bytes = options.capacity_bytes;
  for (int device = 0; device < devices; ++device) {
    auto* backend = new CudaBackend(device);
    absl::StatusOr<std::unique_ptr<CachingAllocator>> pool = CachingAllocator::Create(backend, pool_options);
    if (!pool.ok()) return pool.status();
    pools->push_back(pool->release());
  }
  g_pools = pools;
  auto allocator = torch::cuda::CUDAPluggableAllocator::createCustomAllocator(&AllocateOnDevice, &FreeOnDevice);
  auto* pluggable = dynamic_cast<torch::cuda::CUDAPluggableAllocator::CUDAPluggableAllocator*>(allocator.get());
  if (pluggable != nullptr) pluggable->set_record_stream_fn(&RecordStream);
  try {
    torch::cuda::CUDAPluggableAllocator::changeCurrentAllocator(allocator);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(std::string("libtorch refused the CUDA pool (was a CUDA tensor created "
                                                     "before?): ") + e.what());
  }
  return *pools;
}

}  // namespace seqserve::memory
