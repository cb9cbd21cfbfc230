#include "memory/host_backend.h"

#include <cstdlib>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace seqserve::memory {
namespace {

bool ValidAlignment(size_t alignment) {
  return alignment >= sizeof(void*) && (alignment & (alignment - 1)) == 0;
}

}  // namespace

HostBackend::HostBackend(size_t alignment) : alignment_(alignment) {}

absl::StatusOr<void*> HostBackend::Allocate(size_t bytes) {
  if (!ValidAlignment(alignment_)) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(absl::StrCat("host backend alignment ", alignment_,
                                                   " is not a power of two >= ", sizeof(void*)));
  }
  if (bytes == 0 || bytes > std::numeric_limits<size_t>::max() - alignment_) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::InvalidArgumentError(
        absl::StrCat("host backend cannot allocate ", bytes, " bytes"));
  }
  const size_t rounded = (bytes + alignment_ - 1) / alignment_ * alignment_;
  void* ptr = std::aligned_alloc(alignment_, rounded);
  if (ptr == nullptr) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat("aligned_alloc(", alignment_, ", ", rounded,
                                                     ") failed: host memory exhausted"));
  }
  allocations_.fetch_add(1, std::memory_order_relaxed);
  bytes_in_use_.fetch_add(static_cast<int64_t>(rounded), std::memory_order_relaxed);
  return ptr;
}

void HostBackend::Free(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t rounded = (bytes + alignment_ - 1) / alignment_ * alignment_;
  std::free(ptr);
  frees_.fetch_add(1, std::memory_order_relaxed);
  bytes_in_use_.fetch_sub(static_cast<int64_t>(rounded), std::memory_order_relaxed);
}

}  // namespace seqserve::memory
