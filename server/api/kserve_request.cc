#include "server/api/kserve_request.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace seqserve {

absl::StatusOr<int64_t> ParseKServeVersion(absl::string_view version) {
  if (version.empty()) return 0;
  int64_t v = 0;
  if (!absl::SimpleAtoi(version, &v) || v <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_version '", version, "' is not a positive integer (or empty for the latest)"));
  }
  return v;
}

absl::StatusOr<DataType> ParseKServeDataType(absl::string_view input, absl::string_view datatype) {
  std::optional<DataType> type = DataTypeFromName(datatype);
  if (!type.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", input, "': datatype '", datatype,
                     "' is not supported (BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64)"));
  }
  return *type;
}

absl::Status ApplyKServeTimeout(bool is_integer, int64_t microseconds, InferenceRequest& request) {
  if (!is_integer || microseconds < 0) {
    return absl::InvalidArgumentError("parameter 'timeout' must be a non-negative integer in microseconds");
  }
  if (microseconds > 0) request.deadline = absl::Now() + absl::Microseconds(microseconds);
  return absl::OkStatus();
}

}  // namespace seqserve
