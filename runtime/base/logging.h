// Minimal logging to stderr: one line per call, with severity and wall-clock time.
// Thread-safe (each line is written with a single fwrite).
#ifndef SEQSERVE_RUNTIME_BASE_LOGGING_H_
#define SEQSERVE_RUNTIME_BASE_LOGGING_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace seqserve {

enum class LogSeverity { kInfo, kWarning, kError };

void LogLine(LogSeverity severity, absl::string_view message);

template <typename... Args>
void LogInfo(const Args&... args) {
  LogLine(LogSeverity::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  LogLine(LogSeverity::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  LogLine(LogSeverity::kError, absl::StrCat(args...));
}

// Lets one log line through per `interval` for one kind of event (e.g. a model's failures), so
// that a flood of the same error cannot flood the log. Thread-safe.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(absl::Duration interval) : interval_(interval) {}

  // True when a line may be written at `now`; then *suppressed is the number of lines held
  // back since the last one let through.
  bool Allow(absl::Time now, int64_t* suppressed);

 private:
  const absl::Duration interval_;
  absl::Mutex mu_;
  absl::Time next_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_LOGGING_H_
