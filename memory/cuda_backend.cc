#include "memory/cuda_backend.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"

namespace seqserve::memory {

int CudaBackend::DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear "no device" (without a driver the runtime keeps saying so anyway)
    return 0;
  }
  return count;
}

uint64_t CudaBackend::DeviceMemoryBytes(int device) {
  cudaDeviceProp properties;
  if (cudaGetDeviceProperties(&properties, device) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return properties.totalGlobalMem;
}

absl::StatusOr<void*> CudaBackend::Allocate(size_t bytes) {
  cudaError_t error = cudaSetDevice(device_);
  void* ptr = nullptr;
  if (error == cudaSuccess) error = cudaMalloc(&ptr, bytes);
  if (error == cudaSuccess) return ptr;
  cudaGetLastError();
  const std::string message =
      absl::StrCat("cudaMalloc(", bytes, ") on device ", device_, ": ", cudaGetErrorString(error));
  return error == cudaErrorMemoryAllocation ? absl::ResourceExhaustedError(message) : absl::UnavailableError(message);
}

void CudaBackend::Free(void* ptr, size_t) {
  cudaSetDevice(device_);
  cudaFree(ptr);  // synchronizes the device: the pool calls it only to give segments back
}

EventId CudaBackend::RecordEvent(StreamId stream) {
  cudaSetDevice(device_);
  cudaEvent_t event = nullptr;
  if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) == cudaSuccess &&
      cudaEventRecord(event, reinterpret_cast<cudaStream_t>(stream)) == cudaSuccess) {
    return reinterpret_cast<EventId>(event);
  }
  cudaGetLastError();
  if (event != nullptr) cudaEventDestroy(event);
  cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream));  // Note [event fallback]
  return 0;
}

bool CudaBackend::EventCompleted(EventId event) {
  if (event == 0) return true;
  const cudaError_t state = cudaEventQuery(reinterpret_cast<cudaEvent_t>(event));
  if (state == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  return true;  // done, or failed: either way nothing more will use the block
}

void CudaBackend::StreamWaitEvent(StreamId stream, EventId event) {
  if (event == 0) return;  // Note [event fallback]: the producer stream was synchronized
  cudaSetDevice(device_);
  if (cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(stream), reinterpret_cast<cudaEvent_t>(event), 0) !=
      cudaSuccess) {
    cudaGetLastError();
    cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(event));  // the host waits instead
  }
}

void CudaBackend::ReleaseEvent(EventId event) {
  if (event != 0) cudaEventDestroy(reinterpret_cast<cudaEvent_t>(event));
}

}  // namespace seqserve::memory
