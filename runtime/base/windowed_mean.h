// WindowedMean: the mean of the values observed during the last `window`, e.g. the recent
// average queue wait that an autoscaler reads as a gauge. Values are kept in one-second slots,
// so memory is fixed and old values age out without a timer. Thread-safe.
#ifndef SEQSERVE_RUNTIME_BASE_WINDOWED_MEAN_H_
#define SEQSERVE_RUNTIME_BASE_WINDOWED_MEAN_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "memory/mutex.h"

namespace seqserve {

class WindowedMean {
 public:
  // `window` is rounded up to whole seconds (at least 1).
  explicit WindowedMean(absl::Duration window = absl::Seconds(30));

  void Add(double value, absl::Time now);
  // Mean over slots younger than the window; 0 when nothing was observed in it.
  double Mean(absl::Time now) const;

 private:
  struct Slot {
    int64_t second = -1;  // which wall-clock second this slot holds
    double sum = 0;
    uint64_t count = 0;
  };
  mutable Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_WINDOWED_MEAN_H_
