#include "runtime/model_error.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace seqserve {

std::string SummarizeModelError(absl::string_view full) {
  std::vector<absl::string_view> lines = absl::StrSplit(full, '\n', absl::SkipWhitespace());
  if (lines.empty()) return "unknown error";
  // The interpreter's traceback reads top-down to the failing operation; its last line is the
  // exception that was raised.
  const bool traceback = absl::StartsWith(lines.front(), "The following operation failed in the TorchScript") ||
                         absl::StrContains(full, "\nTraceback of TorchScript");
  absl::string_view line = absl::StripAsciiWhitespace(traceback ? lines.back() : lines.front());
  if (line.size() <= kMaxModelErrorSummary) return std::string(line);
  return absl::StrCat(line.substr(0, kMaxModelErrorSummary - 3), "...");
}

}  // namespace seqserve
