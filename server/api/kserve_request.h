// The transport-neutral part of decoding a KServe v2 inference request: what its model version,
// an input's datatype and the `timeout` parameter mean, and how each is refused. The gRPC
// decoder (server/api/kserve_codec.cc) and the REST one (server/api/kserve_json.cc) both call these, so
// a field means the same and fails with the same words on either transport; what differs is
// only how each format carries it.
//
// Plain functions; thread-compatible.
#ifndef SEQSERVE_SERVER_API_KSERVE_REQUEST_H_
#define SEQSERVE_SERVER_API_KSERVE_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/base/data_type.h"
#include "runtime/execution/inference_request.h"

namespace seqserve {

// A KServe version string: "" means 0 (the highest READY version), else a positive integer.
// INVALID_ARGUMENT otherwise.
absl::StatusOr<int64_t> ParseKServeVersion(absl::string_view version);

// Input `input`'s datatype name ("INT64", "FP32", ...); INVALID_ARGUMENT naming the input and
// the supported types otherwise.
absl::StatusOr<DataType> ParseKServeDataType(absl::string_view input, absl::string_view datatype);

// The `timeout` parameter, in microseconds: a positive one tightens `request.deadline` (0: no
// deadline of its own). `is_integer` false (a string, a double, ...) or a negative value is
// INVALID_ARGUMENT.
absl::Status ApplyKServeTimeout(bool is_integer, int64_t microseconds, InferenceRequest& request);

// Text over KServe: a model packed with a tokenizer takes an input "text" (and "text_pair" for a
// cross-encoder) of datatype BYTES, one UTF-8 string per row, shape [N] or [N, 1]; the server
// tokenizes it (server/serving/request_path.h). Datatype BYTES on any other input name is refused.
inline constexpr absl::string_view kTextDataType = "BYTES";

// Where BYTES input `input` of `shape` goes in `request` (texts or text_pairs), and how many
// strings it must hold. INVALID_ARGUMENT for another name, a second input of that name, or
// another shape.
struct KServeTextInput {
  std::vector<std::string>* strings = nullptr;
  int64_t count = 0;
};
absl::StatusOr<KServeTextInput> KServeTextTarget(absl::string_view input, absl::Span<const int64_t> shape,
                                                 InferenceRequest& request);

// Appends the strings of Triton's binary BYTES layout (each: a 4-byte little-endian length, then
// that many bytes) to `out`. INVALID_ARGUMENT when `raw` does not hold exactly `count` of them.
absl::Status SplitKServeBytes(absl::string_view input, absl::string_view raw, int64_t count,
                              std::vector<std::string>& out);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_REQUEST_H_
