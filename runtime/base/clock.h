// Clock: where the batcher and the executor read the time — when a request was accepted, when
// its bucket is due, whether its deadline passed, how long a batch took. The server uses the
// process's clock; tests use a FakeClock (tests/testing/fake_clock.h) and move time forward
// instead of sleeping, so a test of "the oldest request's bucket runs once it waited
// max_queue_delay" neither waits nor depends on how fast the machine is.
//
// Only readings go through the clock. A batcher with nothing due yet still blocks on its
// condition variable for the (clock's) time left; a test with a fake clock advances it before
// it asks for the batch.
#ifndef SEQSERVE_RUNTIME_BASE_CLOCK_H_
#define SEQSERVE_RUNTIME_BASE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seqserve {

// Thread-safe (implementations must be).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process's clock (absl::Now). Lives forever.
  static const Clock* Real();
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

inline const Clock* Clock::Real() {
  static const RealClock* const clock = new RealClock();
  return clock;
}

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_CLOCK_H_
