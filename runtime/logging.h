// Minimal logging to stderr: one line per call, with severity and wall-clock time.
// Thread-safe (each line is written with a single fwrite).
#ifndef SEQSERVE_RUNTIME_LOGGING_H_
#define SEQSERVE_RUNTIME_LOGGING_H_

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace seqserve {

enum class LogSeverity { kInfo, kWarning, kError };

void LogLine(LogSeverity severity, absl::string_view message);

template <typename... Args>
void LogInfo(const Args&... args) { LogLine(LogSeverity::kInfo, absl::StrCat(args...)); }
template <typename... Args>
void LogWarning(const Args&... args) { LogLine(LogSeverity::kWarning, absl::StrCat(args...)); }
template <typename... Args>
void LogError(const Args&... args) { LogLine(LogSeverity::kError, absl::StrCat(args...)); }

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_LOGGING_H_
