// PeriodicThread: runs a task every `every` on a thread of its own, the first time one period
// after it starts, until Stop() (or destruction). A run in progress is finished, never
// interrupted; Stop() returns once the thread has ended. A spurious wake-up runs the task
// early, so the task must tolerate that (the repository's poll does).
//
// Thread-safe: Stop() from any thread but the task's own, one call at a time (again: a no-op).
#ifndef SEQSERVE_RUNTIME_BASE_PERIODIC_THREAD_H_
#define SEQSERVE_RUNTIME_BASE_PERIODIC_THREAD_H_

#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "memory/mutex.h"

namespace seqserve {

class PeriodicThread {
 public:
  PeriodicThread(absl::Duration every, std::function<void()> task)
      : thread_([this, every, task = std::move(task)] {
          for (;;) {
            {
              MutexLock lock(&mu_);
              if (!stop_) cv_.WaitFor(&mu_, absl::ToChronoNanoseconds(every));
              if (stop_) return;
            }
            task();
          }
        }) {}
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  void Stop() {
    {
      MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_PERIODIC_THREAD_H_
