// FakeClock: a Clock (runtime/base/clock.h) that stands still until a test moves it. Starts in the
// year 2100, far after the real clock, so that code reading the real clock where it should read
// this one sees requests not yet due and deadlines not yet passed, and its test fails.
// Thread-safe.
#ifndef SEQSERVE_TESTS_TESTING_FAKE_CLOCK_H_
#define SEQSERVE_TESTS_TESTING_FAKE_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "runtime/base/clock.h"

namespace seqserve {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixNanos(nanos_.load()); }
  void Advance(absl::Duration by) { nanos_.fetch_add(absl::ToInt64Nanoseconds(by)); }

 private:
  std::atomic<int64_t> nanos_{int64_t{4'102'444'800} * 1'000'000'000};  // 2100-01-01
};

}  // namespace seqserve

#endif  // SEQSERVE_TESTS_TESTING_FAKE_CLOCK_H_
