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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_REQUEST_H_
