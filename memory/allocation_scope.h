// AllocationScope: what the pool allocations of one thread add up to between two points, and
// their peak: how the runtime measures the memory one batch needs.
//
// Every CachingAllocator charges the block size of each allocation to the scope open on the
// allocating thread, and credits each free to the scope open on the freeing thread (if any).
// A scope starts at 0; current() may go negative when the thread frees memory allocated
// before the scope opened. peak() is the highest current() seen, i.e. the most bytes the
// thread's work held at once beyond what it held at the start.
//
// Note [per-thread attribution]: a pool is shared by every model instance, so its own peak
// cannot say which batch caused it; charging by thread can, without a lock: a scope is one
// thread_local pointer and two relaxed atomics per allocation. It sees what the thread itself
// allocates: all of a batch's memory when the model runs with one intra-op thread (the default
// layout up to 4 cores, Note [cores from the pod]), less when intra-op worker threads allocate
// (PyTorch's kernels rarely allocate inside parallel regions, but some do).
//
// Thread-safety: a scope is opened and closed on one thread; current() and peak() may be read
// from any thread while it is open.
#ifndef SEQSERVE_MEMORY_ALLOCATION_SCOPE_H_
#define SEQSERVE_MEMORY_ALLOCATION_SCOPE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace seqserve::memory {

class AllocationScope {
 public:
  // Opens the scope on this thread; a scope already open here is suspended until this closes.
  AllocationScope();
  ~AllocationScope();

  AllocationScope(const AllocationScope&) = delete;
  AllocationScope& operator=(const AllocationScope&) = delete;

  int64_t current() const { return current_.load(std::memory_order_relaxed); }
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }

  // For allocators: charge `bytes` allocated / freed on this thread to its open scope, if any.
  static void Charge(size_t bytes);
  static void Credit(size_t bytes);

 private:
  std::atomic<int64_t> current_{0};
  std::atomic<int64_t> peak_{0};
  AllocationScope* const outer_;
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_ALLOCATION_SCOPE_H_
