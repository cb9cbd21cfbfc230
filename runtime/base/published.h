// Published<T>: one immutable value that many threads read without a lock while one writer at
// a time replaces it, and the value it replaced is freed once no reader can still hold it.
//
//   Published<Table> table(initial);
//   { Published<Table>::Reader reader(table); Use(*reader); }  // lock-free; hold only briefly
//   table.Publish(std::make_shared<const Table>(...));         // returns once the old one is free
//
// Note [grace period]: a reader announces itself on one of two counters, chosen by the parity
// of an epoch, before it loads the current pointer, and leaves when it is done. Publish() swaps
// the pointer, then flips the epoch and waits until the counter of the old parity is zero:
// every reader that could have loaded the old pointer registered on that counter before the
// flip (a reader re-checks the epoch after registering and registers again if it moved), and
// every reader registering after the flip loads the new pointer. One flip per Publish() is
// enough: the previous one waited out every reader of the epoch before it, so when a flip
// starts, every reader in flight is of the current epoch. Readers pay two atomic adds on a shared line (as a shared_ptr
// copy would, without libstdc++'s global lock pool for atomic shared_ptr access); the writer waits for the readers in
// flight, which hold a value only for a lookup and a queue insertion (microseconds). Before this, ModelRepository kept
// every routing table it ever published and every executor it ever started until exit (a few hundred bytes and a few KB
// per swap).
//
// Thread-safe: any number of Readers; Publish() calls are serialised by an internal mutex and
// must not be made while the calling thread holds a Reader of the same object (it would wait
// for itself).
#ifndef SEQSERVE_RUNTIME_BASE_PUBLISHED_H_
#define SEQSERVE_RUNTIME_BASE_PUBLISHED_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "memory/mutex.h"

namespace seqserve {

template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial) : owned_(std::move(initial)) {
    current_.store(owned_.get(), std::memory_order_release);
  }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // Holds the value current when it was made, for its scope. Not movable.
  class Reader {
   public:
    explicit Reader(const Published& published) : published_(published) {
      for (;;) {
        epoch_ = published_.epoch_.load(std::memory_order_seq_cst);
        published_.readers_[epoch_ & 1].fetch_add(1, std::memory_order_seq_cst);
        if (published_.epoch_.load(std::memory_order_seq_cst) == epoch_) break;
        published_.readers_[epoch_ & 1].fetch_sub(1, std::memory_order_release);
      }
      value_ = published_.current_.load(std::memory_order_seq_cst);
    }
    ~Reader() { published_.readers_[epoch_ & 1].fetch_sub(1, std::memory_order_release); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    const T& operator*() const { return *value_; }
    const T* operator->() const { return value_; }
    const T* get() const { return value_; }

   private:
    const Published& published_;
    uint64_t epoch_ = 0;
    const T* value_ = nullptr;
  };

  // Makes `value` current; returns once no Reader holds the value it replaced, which is then
  // released (freed unless the caller kept a reference).
  void Publish(std::shared_ptr<const T> value) {
    MutexLock lock(&mu_);
    current_.store(value.get(), std::memory_order_seq_cst);
    std::swap(owned_, value);  // `value` is now the replaced one
    const uint64_t before = epoch_.fetch_add(1, std::memory_order_seq_cst);
    while (readers_[before & 1].load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }

  // Number of grace periods completed; for tests.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

 private:
  Mutex mu_;
  std::shared_ptr<const T> owned_ ABSL_GUARDED_BY(mu_);
  std::atomic<const T*> current_{nullptr};
  std::atomic<uint64_t> epoch_{0};
  mutable std::atomic<int64_t> readers_[2] = {0, 0};
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_PUBLISHED_H_
