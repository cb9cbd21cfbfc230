#include "server/admission/request_memory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace seqserve {

RequestMemory::Charge& RequestMemory::Charge::operator=(Charge&& other) noexcept {
  if (this != &other) {
    Reset();
    memory_ = other.memory_;
    bytes_ = other.bytes_;
    other.memory_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

absl::Status RequestMemory::Charge::Grow(int64_t bytes, absl::string_view what) {
  if (memory_ == nullptr || bytes <= 0) return absl::OkStatus();
  if (!memory_->TryAdd(bytes)) {
    memory_->refusals_.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " of ", bytes, " bytes does not fit: requests in flight hold ", memory_->in_use(),
                     " of the ", memory_->budget(),
                     " bytes the server keeps for them (--request-memory-bytes); retry later, or send smaller "
                     "requests"));
  }
  bytes_ += bytes;
  return absl::OkStatus();
}

void RequestMemory::Charge::GiveBack(int64_t bytes) {
  bytes = std::clamp<int64_t>(bytes, 0, bytes_);
  if (memory_ != nullptr && bytes > 0) memory_->Subtract(bytes);
  bytes_ -= bytes;
}

absl::Status RequestMemory::Take(int64_t bytes, absl::string_view what, Charge& charge) {
  charge = Charge(this);
  return charge.Grow(bytes, what);
}

bool RequestMemory::TryAdd(int64_t bytes) {
  int64_t now = in_use_.load(std::memory_order_relaxed);
  int64_t next = 0;
  do {
    if (__builtin_add_overflow(now, bytes, &next)) return false;
    if (budget_ > 0 && next > budget_) return false;
  } while (!in_use_.compare_exchange_weak(now, next, std::memory_order_relaxed));
  int64_t peak = peak_.load(std::memory_order_relaxed);
  while (next > peak && !peak_.compare_exchange_weak(peak, next, std::memory_order_relaxed)) {
  }
  return true;
}

}  // namespace seqserve
