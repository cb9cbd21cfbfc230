// HostBackend: host memory from anonymous mappings (mmap), for the CPU pool and for tests.
//
// Every pointer is aligned to alignment() (default 64 bytes; mappings are page-aligned, more is
// obtained by over-reserving). Sizes are rounded up to whole pages. Streams mean nothing on the
// host: the Backend defaults apply (every event has completed). The backend counts its own calls
// so tests and benchmarks can see how often the pool reached it.
//
// Note [host reservations]: each segment sits at the start of a larger reservation of address
// space (PROT_NONE, MAP_NORESERVE: no memory, no commit charge), so GrowInPlace can extend it by
// making the next pages accessible, without moving it (Note [expandable segments] in
// allocator_options.h). A reservation is 1 GiB or the segment's size if larger; 64-bit address
// space makes that free, and pages count towards RSS only once touched. Decommit maps fresh
// PROT_NONE pages over a range (the memory goes back to the system at once, and a stray access
// faults instead of reading stale data); Commit makes them accessible again. Each decommitted
// range splits the mapping (one or two more kernel VMAs while it lasts; the pool keeps a few
// ranges per free block, far below vm.max_map_count's default 65530).
//
// Thread-safe: one mutex guards the table of reservations; the counters are atomic.
#ifndef SEQSERVE_MEMORY_HOST_BACKEND_H_
#define SEQSERVE_MEMORY_HOST_BACKEND_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "memory/backend.h"
#include "memory/mutex.h"

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

  // `bytes` > 0. RESOURCE_EXHAUSTED when the system refuses the mapping.
  absl::StatusOr<void*> Allocate(size_t bytes) override;
  void Free(void* ptr, size_t bytes) override;
  // Within the segment's reservation only.
  bool can_grow_in_place() const override { return true; }
  bool GrowInPlace(void* ptr, size_t old_bytes, size_t new_bytes) override;
  // The system page size.
  size_t decommit_granularity() const override;
  bool Decommit(void* ptr, size_t bytes) override;
  bool Commit(void* ptr, size_t bytes) override;
  const char* name() const override { return "host"; }
  size_t alignment() const override { return alignment_; }

  // Successful Allocate calls so far.
  int64_t allocations() const { return allocations_.load(std::memory_order_relaxed); }
  // Free calls so far.
  int64_t frees() const { return frees_.load(std::memory_order_relaxed); }
  // Allocate calls that failed.
  int64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // Bytes accessible in live segments (rounded to pages): growth included, decommitted pages not.
  int64_t bytes_in_use() const { return bytes_in_use_.load(std::memory_order_relaxed); }

 private:
  struct Reservation {
    char* base = nullptr;    // what mmap returned
    size_t length = 0;       // what was mapped (munmap's length)
    size_t committed = 0;    // bytes from the segment's start made accessible (grown)
    size_t decommitted = 0;  // of those, bytes decommitted since
  };

  // The reservation whose grown part holds [ptr, ptr + bytes), a non-empty run of whole pages;
  // nullptr if none (or not whole pages).
  Reservation* FindPagesLocked(void* ptr, size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t alignment_;
  Mutex mu_;
  std::map<char*, Reservation> reservations_ ABSL_GUARDED_BY(mu_);  // by segment pointer
  std::atomic<int64_t> allocations_{0};
  std::atomic<int64_t> frees_{0};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> bytes_in_use_{0};
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_HOST_BACKEND_H_
