// CudaBackend: device memory for a CachingAllocator on one CUDA device — cudaMalloc/cudaFree for
// segments, CUDA events for the cross-stream rule. StreamId is a cudaStream_t (0: the legacy
// default stream). Uses only the CUDA runtime API; built when the CUDA toolkit is found.
//
// Thread-safety: as Backend requires for one pool (the pool calls it under its lock); every call
// selects the backend's device first, so pools of several devices may live in one process.
#ifndef SEQSERVE_MEMORY_CUDA_BACKEND_H_
#define SEQSERVE_MEMORY_CUDA_BACKEND_H_

#include <cstdint>

#include "memory/backend.h"

namespace seqserve::memory {

class CudaBackend final : public Backend {
 public:
  // Number of CUDA devices usable by this process; 0 without a driver or device (never fails).
  static int DeviceCount();
  // Total memory of `device` in bytes; 0 if it cannot be read.
  static uint64_t DeviceMemoryBytes(int device);

  explicit CudaBackend(int device) : device_(device) {}

  // RESOURCE_EXHAUSTED when the device is out of memory, UNAVAILABLE for other CUDA errors.
  absl::StatusOr<void*> Allocate(size_t bytes) override;
  void Free(void* ptr, size_t bytes) override;
  const char* name() const override { return "cuda"; }
  // cudaMalloc's guarantee.
  size_t alignment() const override { return 256; }

  // Note [event fallback]: RecordEvent must not fail (backend.h); if an event cannot be created
  // or recorded, it synchronizes the stream instead and returns 0, which reads as completed.
  EventId RecordEvent(StreamId stream) override;
  bool EventCompleted(EventId event) override;
  void StreamWaitEvent(StreamId stream, EventId event) override;
  void ReleaseEvent(EventId event) override;

  int device() const { return device_; }

 private:
  const int device_;
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_CUDA_BACKEND_H_
