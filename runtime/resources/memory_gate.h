// MemoryGate: admission of batches into one memory pool by their predicted peak, shared by every
// model version whose tensors live in that pool.
//
// Policy: the gate has a budget, the bytes batches may hold at once beyond what the pool holds
// outside them (the models' weights). A batch predicted to need `bytes` is admitted when the
// bytes of the batches admitted so far plus its own fit the budget; otherwise it waits until
// enough of them finish. A batch alone is always admitted: if it does not fit after all, the
// pool refuses an allocation and the executor splits the batch (Note [split on OOM] in
// runtime/execution/model_executor.h). Batchers ask Available() while forming a batch, so a batch is
// normally formed to fit and admitted at once; waiting is for the race between two executors.
// With no budget (0, the default) everything is admitted at once, without a lock, and uncounted.
//
// Thread-safe.
#ifndef SEQSERVE_RUNTIME_RESOURCES_MEMORY_GATE_H_
#define SEQSERVE_RUNTIME_RESOURCES_MEMORY_GATE_H_

#include <atomic>
#include <cstdint>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "memory/mutex.h"

namespace seqserve {

class MemoryGate {
 public:
  static constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

  MemoryGate() = default;
  MemoryGate(const MemoryGate&) = delete;
  MemoryGate& operator=(const MemoryGate&) = delete;

  // Bytes batches may hold at once; 0: unlimited. May change at any time (the server sets it
  // when the pool's budget is planned); batches already admitted stay.
  void SetBudget(int64_t bytes);
  // The budget; kUnlimited when there is none.
  int64_t budget() const { return budget_.load(std::memory_order_relaxed); }
  // What a batch formed now may need to be admitted at once: budget - admitted (>= 0), or
  // kUnlimited. Lock-free.
  int64_t Available() const;

  // An admitted batch's share; returns it when destroyed.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : gate_(other.gate_), bytes_(other.bytes_) { other.gate_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket();

   private:
    friend class MemoryGate;
    Ticket(MemoryGate* gate, int64_t bytes) : gate_(gate), bytes_(bytes) {}
    MemoryGate* gate_ = nullptr;
    int64_t bytes_ = 0;
  };

  // Blocks until `bytes` (>= 0) may be admitted (see the policy), then admits it. Sets `*waited`
  // (may be null) to whether it had to wait.
  Ticket Admit(int64_t bytes, bool* waited = nullptr);

  // Batches admitted and not yet finished, and their bytes.
  int64_t admitted_batches() const;
  int64_t admitted_bytes() const { return admitted_bytes_.load(std::memory_order_relaxed); }

 private:
  void Release(int64_t bytes);

  std::atomic<int64_t> budget_{kUnlimited};
  std::atomic<int64_t> admitted_bytes_{0};  // written under mu_, read lock-free
  mutable Mutex mu_;
  CondVar cv_;
  int64_t admitted_batches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_RESOURCES_MEMORY_GATE_H_
