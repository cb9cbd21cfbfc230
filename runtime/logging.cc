#include "runtime/logging.h"

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seqserve {

void LogLine(LogSeverity severity, absl::string_view message) {
  const char tag = severity == LogSeverity::kInfo ? 'I' : severity == LogSeverity::kWarning ? 'W' : 'E';
  std::string line = absl::StrCat(
      std::string(1, tag),
      absl::FormatTime("%m%d %H:%M:%E3S", absl::Now(), absl::UTCTimeZone()), " seqserve] ",
      message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace seqserve
