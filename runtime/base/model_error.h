// What a client is told when its model fails, and what the log keeps.
//
// libtorch's errors are long: a TorchScript failure is a whole interpreter traceback (source
// lines of the model, "<--- HERE" markers) ending in the original error, often several KiB.
// That belongs in the server's log, not in every client's status message. Plain C++, no
// libtorch; thread-safe (pure functions).
#ifndef SEQSERVE_RUNTIME_BASE_MODEL_ERROR_H_
#define SEQSERVE_RUNTIME_BASE_MODEL_ERROR_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace seqserve {

// Longest summary SummarizeModelError returns, in bytes (longer lines are cut, with "...").
inline constexpr size_t kMaxModelErrorSummary = 300;

// One line a client developer can act on: for a TorchScript interpreter traceback, the exception
// it ends in (e.g. "RuntimeError: index out of range in self"); otherwise the first line of
// `full`. At most kMaxModelErrorSummary bytes.
std::string SummarizeModelError(absl::string_view full);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_MODEL_ERROR_H_
