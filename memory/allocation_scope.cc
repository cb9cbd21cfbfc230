#include "memory/allocation_scope.h"

namespace seqserve::memory {
namespace {

thread_local AllocationScope* t_scope = nullptr;

}  // namespace

AllocationScope::AllocationScope() : outer_(t_scope) { t_scope = this; }

AllocationScope::~AllocationScope() { t_scope = outer_; }

void AllocationScope::Charge(size_t bytes) {
  AllocationScope* scope = t_scope;
  if (scope == nullptr) return;
  // Only this thread writes the scope: load + store, not read-modify-write.
  const int64_t now = scope->current_.load(std::memory_order_relaxed) + static_cast<int64_t>(bytes);
  scope->current_.store(now, std::memory_order_relaxed);
  if (now > scope->peak_.load(std::memory_order_relaxed)) scope->peak_.store(now, std::memory_order_relaxed);
}

void AllocationScope::Credit(size_t bytes) {
  AllocationScope* scope = t_scope;
  if (scope == nullptr) return;
  scope->current_.store(scope->current_.load(std::memory_order_relaxed) - static_cast<int64_t>(bytes),
                        std::memory_order_relaxed);
}

}  // namespace seqserve::memory
