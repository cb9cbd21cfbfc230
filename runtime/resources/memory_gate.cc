#include "runtime/resources/memory_gate.h"

#include <algorithm>

namespace seqserve {

void MemoryGate::SetBudget(int64_t bytes) {
  {
    MutexLock lock(&mu_);
    budget_.store(bytes > 0 ? bytes : kUnlimited, std::memory_order_relaxed);
  }
  cv_.SignalAll();
}

int64_t MemoryGate::Available() const {
  const int64_t budget = budget_.load(std::memory_order_relaxed);
  if (budget == kUnlimited) return kUnlimited;
  return std::max<int64_t>(0, budget - admitted_bytes_.load(std::memory_order_relaxed));
}

MemoryGate::Ticket MemoryGate::Admit(int64_t bytes, bool* waited) {
  bytes = std::max<int64_t>(0, bytes);
  if (waited != nullptr) *waited = false;
  // No budget: nothing to count, no lock (batches admitted so are not counted if one is set
  // later; they finish within a batch's time).
  if (budget_.load(std::memory_order_relaxed) == kUnlimited) return Ticket();
  MutexLock lock(&mu_);
  bool had_to_wait = false;
  while (true) {
    const int64_t budget = budget_.load(std::memory_order_relaxed);
    const int64_t admitted = admitted_bytes_.load(std::memory_order_relaxed);
    if (admitted_batches_ == 0 || budget == kUnlimited || (bytes <= budget && admitted <= budget - bytes)) break;
    had_to_wait = true;
    cv_.Wait(&mu_);
  }
  ++admitted_batches_;
  admitted_bytes_.store(admitted_bytes_.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  if (waited != nullptr) *waited = had_to_wait;
  return Ticket(this, bytes);
}

void MemoryGate::Release(int64_t bytes) {
  {
    MutexLock lock(&mu_);
    --admitted_batches_;
    admitted_bytes_.store(admitted_bytes_.load(std::memory_order_relaxed) - bytes, std::memory_order_relaxed);
  }
  cv_.SignalAll();
}

int64_t MemoryGate::admitted_batches() const {
  MutexLock lock(&mu_);
  return admitted_batches_;
}

MemoryGate::Ticket& MemoryGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    if (gate_ != nullptr) gate_->Release(bytes_);
    gate_ = other.gate_;
    bytes_ = other.bytes_;
    other.gate_ = nullptr;
  }
  return *this;
}

MemoryGate::Ticket::~Ticket() {
  if (gate_ != nullptr) gate_->Release(bytes_);
}

}  // namespace seqserve
