// Conversions between KServe v2 (inference.*) messages and the runtime's types.
#ifndef SEQSERVE_SERVER_KSERVE_CODEC_H_
#define SEQSERVE_SERVER_KSERVE_CODEC_H_

#include <memory>

#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "runtime/inference_request.h"

namespace seqserve {

// Parses a KServe version string: "" means 0 (latest), else a positive integer.
absl::StatusOr<int64_t> ParseKServeVersion(const std::string& version);

// Builds the runtime request for a ModelInfer call. Inputs come either all as
// raw_input_contents (one entry per input, in order) or all as typed `contents`; mixing the two,
// counts that do not match the shape, and unsupported datatypes are INVALID_ARGUMENT.
// Honoured parameters: "timeout" (int64, microseconds) tightens the deadline.
absl::StatusOr<std::unique_ptr<InferenceRequest>> FromKServe(const inference::ModelInferRequest& wire);

// Fills a ModelInfer response; outputs go into raw_output_contents, as Triton sends them.
void ToKServe(const inference::ModelInferRequest& request, InferenceResponse& result,
              inference::ModelInferResponse* response);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_KSERVE_CODEC_H_
