// Mutex, MutexLock, CondVar: std::mutex and std::condition_variable with
// clang's thread-safety annotations (abseil's macros), so that every ABSL_GUARDED_BY and
// ABSL_EXCLUSIVE_LOCKS_REQUIRED in the tree is checked at compile time (`-Wthread-safety`, the
// `thread_safety_analysis` ctest entry). The API is absl::Mutex's, for familiarity. Header-only;
// in memory/, the lowest layer, so every folder can use it.
//
// Note [why not absl::Mutex]: the pool's tests also run under ThreadSanitizer, linked against
// Debian's uninstrumented abseil, where absl::Mutex's synchronization is invisible and every
// guarded access would be reported as a race; std::mutex is intercepted by the sanitizer. The
// wrappers add nothing at run time (each call is one inline std:: call).
//
// Waits take no predicate lambdas: clang analyses a lambda as a function of its own that holds
// no lock, so conditions are written as loops (`while (!ready_) cv_.Wait(&mu_);`).
#ifndef SEQSERVE_MEMORY_MUTEX_H_
#define SEQSERVE_MEMORY_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace seqserve {

// Not reentrant. Thread-safe, of course.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Waits release `mu` while blocked and hold it again when they return. Spurious wake-ups happen:
// wait in a loop on the condition. Thread-safe.
class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Waits at most `timeout`; the caller re-checks its condition either way.
  template <typename Rep, typename Period>
  void WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait_for(lock, timeout);
    lock.release();
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace seqserve

#endif  // SEQSERVE_MEMORY_MUTEX_H_
