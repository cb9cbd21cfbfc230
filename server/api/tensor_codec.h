// Conversions between seqserve.v1 wire messages and the runtime's types.
#ifndef SEQSERVE_SERVER_API_TENSOR_CODEC_H_
#define SEQSERVE_SERVER_API_TENSOR_CODEC_H_

#include "absl/status/statusor.h"
#include "runtime/execution/inference_request.h"
#include "runtime/execution/model_signature.h"
#include "seqserve/v1/predict.pb.h"

namespace seqserve {

// A runtime tensor over a wire tensor: its bytes are borrowed, not copied, so `wire` must outlive
// it unchanged (a unary Predict's message does; Note [borrowed inputs] in kserve_codec.h).
// INVALID_ARGUMENT for an unset or unknown dtype. Shape and size are checked later, against the
// model (ValidateRequest).
absl::StatusOr<Tensor> FromWire(const v1::Tensor& wire);

// Moves a runtime tensor's bytes into a wire tensor.
void ToWire(Tensor&& tensor, v1::Tensor* wire);

// Builds the runtime request for a Predict call; its inputs borrow from `wire`, as above.
absl::StatusOr<std::unique_ptr<InferenceRequest>> FromWire(const v1::PredictRequest& wire);

// Describes a tensor of a signature, with the row dimension as -1 first.
void DescribeTensor(const TensorSpec& spec, v1::TensorMetadata* out);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_TENSOR_CODEC_H_
