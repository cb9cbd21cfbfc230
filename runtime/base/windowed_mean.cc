#include "runtime/base/windowed_mean.h"

#include <algorithm>
#include <cmath>

namespace seqserve {

WindowedMean::WindowedMean(absl::Duration window)
    : slots_(static_cast<size_t>(std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(window, absl::Seconds(1)))))) {}

void WindowedMean::Add(double value, absl::Time now) {
  const int64_t second = absl::ToUnixSeconds(now);
  MutexLock lock(&mu_);
  Slot& slot = slots_[static_cast<size_t>(second) % slots_.size()];
  if (slot.second != second) slot = Slot{second, 0, 0};
  slot.sum += value;
  ++slot.count;
}

double WindowedMean::Mean(absl::Time now) const {
  const int64_t second = absl::ToUnixSeconds(now);
  MutexLock lock(&mu_);
  const int64_t oldest = second - static_cast<int64_t>(slots_.size()) + 1;
  double sum = 0;
  uint64_t count = 0;
  for (const Slot& slot : slots_) {
    if (slot.second >= oldest && slot.second <= second) {
      sum += slot.sum;
      count += slot.count;
    }
  }
  return count == 0 ? 0.0 : sum / static_cast<double>(count);
}

}  // namespace seqserve
