// HostBackend: host memory from std::aligned_alloc, for the CPU pool and for tests.
//
// Every pointer is aligned to alignment() (default 64 bytes); sizes are rounded up to a multiple
// of it, as aligned_alloc requires. Streams mean nothing on the host: the Backend defaults apply
// (every event has completed). The backend counts its own calls so tests and benchmarks can see
// how often the pool reached it.
//
// Thread-safe: aligned_alloc/free are, and the counters are atomic.
#ifndef SEQSERVE_MEMORY_HOST_BACKEND_H_
#define SEQSERVE_MEMORY_HOST_BACKEND_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "memory/backend.h"

namespace seqserve::memory {

class HostBackend final : public Backend {
 public:
  // Note [host alignment]: 64 bytes is one cache line and the widest SIMD load (AVX-512), and it
  // is what libtorch's CPU allocator guarantees (c10's gAlignment), so kernels that assume it
  // keep working when this pool replaces libtorch's allocator.
  static constexpr size_t kDefaultAlignment = 64;

  // `alignment` must be a power of two and a multiple of sizeof(void*); otherwise every
  // Allocate fails with INVALID_ARGUMENT (and CachingAllocator::Create refuses the backend).
  explicit HostBackend(size_t alignment = kDefaultAlignment);

  HostBackend(const HostBackend&) = delete;
  HostBackend& operator=(const HostBackend&) = delete;

  // `bytes` > 0. RESOURCE_EXHAUSTED when aligned_alloc fails.
  absl::StatusOr<void*> Allocate(size_t bytes) override;
  void Free(void* ptr, size_t bytes) override;
  const char* name() const override { return "host"; }
  size_t alignment() const override { return alignment_; }

  // Successful Allocate calls so far.
  int64_t allocations() const { return allocations_.load(std::memory_order_relaxed); }
  // Free calls so far.
  int64_t frees() const { return frees_.load(std::memory_order_relaxed); }
  // Allocate calls that failed.
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // Bytes handed out and not yet freed, after rounding to the alignment.
  int64_t bytes_in_use() const { return bytes_in_use_.load(std::memory_order_relaxed); }

 private:
  const size_t alignment_;
  std::atomic<int64_t> allocations_{0};
  std::atomic<int64_t> frees_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> bytes_in_use_{0};
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_HOST_BACKEND_H_
