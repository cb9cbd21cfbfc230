// Conversions between KServe v2 (inference.*) messages and the runtime's types.
#ifndef SEQSERVE_SERVER_API_KSERVE_CODEC_H_
#define SEQSERVE_SERVER_API_KSERVE_CODEC_H_

#include <memory>

#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "runtime/execution/inference_request.h"

namespace seqserve {

// Builds the runtime request for a ModelInfer call. Inputs come either all as
// raw_input_contents (one entry per input, in order) or all as typed `contents`; mixing the two,
// counts that do not match the shape, and unsupported datatypes are INVALID_ARGUMENT. The
// version, datatypes and "timeout" (int64, microseconds) mean what server/api/kserve_request.h says.
//
// Note [borrowed inputs]: with kBorrow, raw_input_contents are not copied: each input points
// into `wire` (Tensor::borrowed), which the caller keeps alive and unchanged until the
// request's `done` has run. A unary ModelInfer's message lives until its reactor finishes, so
// it borrows; a stream reads each message into the same buffer, so it copies. The bytes are
// then copied once, into the padded batch tensor (they were already copied once from gRPC's
// receive buffer when the message was parsed).
enum class InputBytes { kCopy, kBorrow };
absl::StatusOr<std::unique_ptr<InferenceRequest>> FromKServe(const inference::ModelInferRequest& wire,
                                                             InputBytes input_bytes = InputBytes::kCopy);

// Fills a ModelInfer response; outputs go into raw_output_contents, as Triton sends them.
void ToKServe(const inference::ModelInferRequest& request, InferenceResponse& result,
              inference::ModelInferResponse* response);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_CODEC_H_
