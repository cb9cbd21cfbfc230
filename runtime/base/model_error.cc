#include "runtime/base/model_error.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace seqserve {

namespace {

// Whether `line` reads like the exception a traceback ends in: "<Name>: message" with a dotted
// identifier ending in Error or Exception ("RuntimeError", "builtins.ValueError", ...).
bool IsExceptionLine(absl::string_view line) {
  const size_t colon = line.find(": ");
  if (colon == absl::string_view::npos || colon == 0) return false;
  const absl::string_view name = line.substr(0, colon);
  if (!absl::ascii_isalpha(name[0]) && name[0] != '_') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.') return false;
  }
  return absl::EndsWith(name, "Error") || absl::EndsWith(name, "Exception");
}

}  // namespace

std::string SummarizeModelError(absl::string_view full) {
  std::vector<absl::string_view> lines = absl::StrSplit(full, '\n', absl::SkipWhitespace());
  if (lines.empty()) return "unknown error";
  absl::string_view line = lines.front();
  // The interpreter's traceback: one or two headers ("Traceback of TorchScript, serialized code"
  // / "original code"), frames with source lines (top-level ones unindented) and "<--- HERE"
  // markers, then the exception that was raised ("RuntimeError: index out of range in self").
  // After it may come a C++ stack (TORCH_SHOW_CPP_STACKTRACES) or CUDA's advice, so the
  // summary is the first exception line after the last header, else the last line.
  if (absl::StartsWith(line, "The following operation failed in the TorchScript") ||
      absl::StrContains(full, "\nTraceback of TorchScript")) {
    size_t after = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (absl::StartsWith(lines[i], "Traceback of TorchScript")) after = i + 1;
    }
    line = lines.back();
    for (size_t i = after; i < lines.size(); ++i) {
      if (IsExceptionLine(lines[i])) {
        line = lines[i];
        break;
      }
    }
  }
  line = absl::StripAsciiWhitespace(line);
  if (line.size() <= kMaxModelErrorSummary) return std::string(line);
  return absl::StrCat(line.substr(0, kMaxModelErrorSummary - 3), "...");
}

}  // namespace seqserve
