#include "memory/torch_cuda_allocator.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/csrc/cuda/CUDAPluggableAllocator.h>

#include <atomic>
#include <memory>
#include <string>

#include "memory/allocation_refusal.h"
#include "memory/cuda_backend.h"

namespace seqserve::memory {
namespace {

// Pools by device index; filled once at install and never cleared (Note [pool lifetime] in
// torch_cpu_allocator.cc applies here too).
std::vector<CachingAllocator*>* g_pools = nullptr;

void* AllocateOnDevice(size_t bytes, int device, cudaStream_t stream) {
  absl::StatusOr<void*> ptr = (*g_pools)[device]->Allocate(bytes, reinterpret_cast<StreamId>(stream));
  // Note [throwing on OOM]: CUDAPluggableAllocator does not check what the allocation function
  // returns: a null pointer becomes a tensor at address 0, the next kernel faults, and the CUDA
  // context is lost for the rest of the process (seen on an H100: every request after the first
  // OOM failed). So the failure is thrown here as libtorch's own CUDA out-of-memory error, which
  // the runtime recognizes (Note [OOM by type] in memory/allocation_refusal.h) and answers by
  // splitting the batch.
  if (!ptr.ok()) {
    NoteAllocationRefused();
    TORCH_CHECK_WITH(OutOfMemoryError, false, kRefusalMarker, " (CUDA device ", device,
                     ", out of memory): ", ptr.status().message());
  }
  return *ptr;
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
  pool_options.release_idle_before_growing = options.release_idle_before_growing;
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
                                                     "before?): ") +
                                         e.what());
  }
  return *pools;
}

namespace {

absl::Status CheckNativeAllocator() {
  if (g_pools != nullptr) return absl::FailedPreconditionError("the seqserve pool is libtorch's CUDA allocator");
  if (CudaBackend::DeviceCount() == 0) return absl::FailedPreconditionError("no CUDA device");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NativeCudaStats> ReadNativeCudaStats(int device) {
  if (absl::Status s = CheckNativeAllocator(); !s.ok()) return s;
  const c10::CachingDeviceAllocator::DeviceStats raw =
      c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  constexpr size_t kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  NativeCudaStats stats;
  stats.reserved_bytes = raw.reserved_bytes[kAll].current;
  stats.peak_reserved_bytes = raw.reserved_bytes[kAll].peak;
  stats.allocated_bytes = raw.allocated_bytes[kAll].current;
  stats.peak_allocated_bytes = raw.allocated_bytes[kAll].peak;
  stats.device_allocations = raw.num_device_alloc;
  stats.device_frees = raw.num_device_free;
  stats.alloc_retries = raw.num_alloc_retries;
  stats.oom_count = raw.num_ooms;
  return stats;
}

absl::Status ResetNativeCudaPeaks(int device) {
  if (absl::Status s = CheckNativeAllocator(); !s.ok()) return s;
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
  return absl::OkStatus();
}

absl::Status EmptyNativeCudaCache() {
  if (absl::Status s = CheckNativeAllocator(); !s.ok()) return s;
  c10::cuda::CUDACachingAllocator::emptyCache();
  return absl::OkStatus();
}

}  // namespace seqserve::memory
