#include "server/admission/request_limits.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/base/tensor.h"

namespace seqserve {

absl::Status AddElements(absl::Span<const int64_t> shape, int64_t max, int64_t& total) {
  const std::optional<int64_t> n = CheckedNumElements(shape);
  if (!n.has_value()) return absl::OkStatus();
  if (__builtin_add_overflow(total, *n, &total) || total > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("request has more than ", max, " tensor elements, the server's limit (--max-request-elements)"));
  }
  return absl::OkStatus();
}

}  // namespace seqserve
