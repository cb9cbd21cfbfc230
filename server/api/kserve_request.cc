#include "server/api/kserve_request.h"

#include <cstring>
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

absl::StatusOr<KServeTextInput> KServeTextTarget(absl::string_view input, absl::Span<const int64_t> shape,
                                                 InferenceRequest& request) {
  std::vector<std::string>* strings = input == "text"        ? &request.texts
                                      : input == "text_pair" ? &request.text_pairs
                                                             : nullptr;
  if (strings == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("input '", input, "': datatype ", kTextDataType,
                                                   " is for text, in inputs named 'text' and 'text_pair'"));
  }
  if (!strings->empty()) return absl::InvalidArgumentError(absl::StrCat("input '", input, "' is given twice"));
  const bool column = shape.size() == 2 && shape[1] == 1;
  if ((shape.size() != 1 && !column) || shape[0] < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", input, "' must have shape [N] or [N, 1], one string per row"));
  }
  return KServeTextInput{strings, shape[0]};
}

absl::Status SplitKServeBytes(absl::string_view input, absl::string_view raw, int64_t count,
                              std::vector<std::string>& out) {
  for (int64_t i = 0; i < count; ++i) {
    uint32_t length = 0;
    if (raw.size() < sizeof length) break;
    std::memcpy(&length, raw.data(), sizeof length);
    raw.remove_prefix(sizeof length);
    if (raw.size() < length) break;
    out.emplace_back(raw.substr(0, length));
    raw.remove_prefix(length);
    if (i + 1 == count && raw.empty()) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("input '", input, "': its bytes are not ", count,
                   " strings, each a 4-byte little-endian length followed by that many bytes"));
}

}  // namespace seqserve
