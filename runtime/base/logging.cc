#include "runtime/base/logging.h"

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seqserve {

void LogLine(LogSeverity severity, absl::string_view message) {
  const char tag = severity == LogSeverity::kInfo ? 'I' : severity == LogSeverity::kWarning ? 'W' : 'E';
  std::string line =
      absl::StrCat(std::string(1, tag), absl::FormatTime("%m%d %H:%M:%E3S", absl::Now(), absl::UTCTimeZone()),
                   " seqserve] ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool LogRateLimiter::Allow(absl::Time now, int64_t* suppressed) {
  absl::MutexLock lock(&mu_);
  if (now < next_) {
    ++suppressed_;
    return false;
  }
  next_ = now + interval_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace seqserve
