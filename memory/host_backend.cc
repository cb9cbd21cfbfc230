#include "memory/host_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace seqserve::memory {
namespace {

bool ValidAlignment(size_t alignment) { return alignment >= sizeof(void*) && (alignment & (alignment - 1)) == 0; }

constexpr size_t kReservationBytes = size_t{1} << 30;  // Note [host reservations]

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUpTo(size_t bytes, size_t multiple) { return (bytes + multiple - 1) / multiple * multiple; }

}  // namespace

HostBackend::HostBackend(size_t alignment) : alignment_(alignment) {}

absl::StatusOr<void*> HostBackend::Allocate(size_t bytes) {
  if (!ValidAlignment(alignment_)) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(
        absl::StrCat("host backend alignment ", alignment_, " is not a power of two >= ", sizeof(void*)));
  }
  if (bytes == 0 || bytes > (std::numeric_limits<size_t>::max() >> 2)) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(absl::StrCat("host backend cannot allocate ", bytes, " bytes"));
  }
  const size_t page = PageSize();
  const size_t committed = RoundUpTo(bytes, page);
  // Over-reserve by the alignment beyond a page, so an aligned start exists inside.
  const size_t slack = alignment_ > page ? alignment_ : 0;
  const size_t length = std::max(committed, kReservationBytes) + slack;
  void* mapped = mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  char* base = static_cast<char*>(mapped);
  char* start = mapped == MAP_FAILED
                    ? nullptr
                    : reinterpret_cast<char*>(RoundUpTo(reinterpret_cast<uintptr_t>(base), std::max(alignment_, page)));
  if (mapped == MAP_FAILED || mprotect(start, committed, PROT_READ | PROT_WRITE) != 0) {
    if (mapped != MAP_FAILED) munmap(mapped, length);
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat("mapping ", committed, " bytes failed: host memory exhausted"));
  }
  {
    MutexLock lock(&mu_);
    reservations_[start] = Reservation{base, length, committed, 0};
  }
  allocations_.fetch_add(1, std::memory_order_relaxed);
  bytes_in_use_.fetch_add(static_cast<int64_t>(committed), std::memory_order_relaxed);
  return static_cast<void*>(start);
}

bool HostBackend::GrowInPlace(void* ptr, size_t old_bytes, size_t new_bytes) {
  if (new_bytes <= old_bytes) return false;
  MutexLock lock(&mu_);
  const auto it = reservations_.find(static_cast<char*>(ptr));
  if (it == reservations_.end()) return false;
  Reservation& r = it->second;
  char* const start = static_cast<char*>(ptr);
  const size_t target = RoundUpTo(new_bytes, PageSize());
  if (start + target > r.base + r.length) return false;  // past the reservation
  if (target > r.committed) {
    if (mprotect(start + r.committed, target - r.committed, PROT_READ | PROT_WRITE) != 0) return false;
    bytes_in_use_.fetch_add(static_cast<int64_t>(target - r.committed), std::memory_order_relaxed);
    r.committed = target;
  }
  return true;
}

void HostBackend::Free(void* ptr, size_t) {
  if (ptr == nullptr) return;
  Reservation r;
  {
    MutexLock lock(&mu_);
    const auto it = reservations_.find(static_cast<char*>(ptr));
    if (it == reservations_.end()) return;  // not ours: nothing to unmap
    r = it->second;
    reservations_.erase(it);
  }
  munmap(r.base, r.length);
  frees_.fetch_add(1, std::memory_order_relaxed);
  bytes_in_use_.fetch_sub(static_cast<int64_t>(r.committed - r.decommitted), std::memory_order_relaxed);
}

size_t HostBackend::decommit_granularity() const { return PageSize(); }

HostBackend::Reservation* HostBackend::FindPagesLocked(void* ptr, size_t bytes) {
  if (bytes == 0 || reinterpret_cast<uintptr_t>(ptr) % PageSize() != 0 || bytes % PageSize() != 0) return nullptr;
  char* const p = static_cast<char*>(ptr);
  auto it = reservations_.upper_bound(p);
  if (it == reservations_.begin()) return nullptr;
  --it;
  Reservation& r = it->second;
  if (p + bytes > it->first + r.committed) return nullptr;
  return &r;
}

bool HostBackend::Decommit(void* ptr, size_t bytes) {
  MutexLock lock(&mu_);
  Reservation* r = FindPagesLocked(ptr, bytes);
  if (r == nullptr) return false;
  // A new mapping over the range drops its pages in one call (munmap + mmap would open a window
  // in which another thread's mmap could take the addresses).
  if (mmap(ptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
    return false;
  }
  r->decommitted += bytes;
  bytes_in_use_.fetch_sub(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  return true;
}

bool HostBackend::Commit(void* ptr, size_t bytes) {
  MutexLock lock(&mu_);
  Reservation* r = FindPagesLocked(ptr, bytes);
  if (r == nullptr || r->decommitted < bytes) return false;
  if (mprotect(ptr, bytes, PROT_READ | PROT_WRITE) != 0) return false;
  r->decommitted -= bytes;
  bytes_in_use_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  return true;
}

}  // namespace seqserve::memory
