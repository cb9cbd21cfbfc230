#include "server/api/tensor_codec.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/config/data_type_proto.h"

namespace seqserve {

absl::StatusOr<Tensor> FromWire(const v1::Tensor& wire) {
  Tensor t;
  t.name = wire.name();
  t.dtype = FromProto(wire.dtype());
  if (t.dtype == DataType::kInvalid) {
    return absl::InvalidArgumentError(absl::StrCat("input '", wire.name(), "' has no dtype set"));
  }
  t.shape.assign(wire.shape().begin(), wire.shape().end());
  t.borrowed = wire.data();  // Note [borrowed inputs] in server/api/kserve_codec.h
  return t;
}

void ToWire(Tensor&& tensor, v1::Tensor* wire) {
  wire->set_name(std::move(tensor.name));
  wire->set_dtype(ToProto(tensor.dtype));
  for (int64_t d : tensor.shape) wire->add_shape(d);
  wire->set_data(std::move(tensor.data));
}

absl::StatusOr<std::unique_ptr<InferenceRequest>> FromWire(const v1::PredictRequest& wire) {
  auto request = std::make_unique<InferenceRequest>();
  request->model_name = wire.model_name();
  request->model_version = wire.model_version();
  request->id = wire.id();
  if (wire.model_version() < 0) {
    return absl::InvalidArgumentError("model_version must be positive, or 0 for the latest");
  }
  for (const v1::Tensor& input : wire.inputs()) {
    absl::StatusOr<Tensor> t = FromWire(input);
    if (!t.ok()) return t.status();
    request->inputs.push_back(std::move(*t));
  }
  request->requested_outputs.assign(wire.output_filter().begin(), wire.output_filter().end());
  if (!wire.texts().empty() && !wire.inputs().empty()) {
    return absl::InvalidArgumentError("send either texts or input tensors, not both");
  }
  if (wire.texts().empty() && !wire.text_pairs().empty()) return absl::InvalidArgumentError("text_pairs without texts");
  request->texts.assign(wire.texts().begin(), wire.texts().end());
  request->text_pairs.assign(wire.text_pairs().begin(), wire.text_pairs().end());
  return request;
}

void DescribeTensor(const TensorSpec& spec, v1::TensorMetadata* out) {
  out->set_name(spec.name);
  out->set_dtype(ToProto(spec.dtype));
  out->add_shape(-1);
  for (int64_t d : spec.dims) out->add_shape(d);
  out->set_has_sequence_dim(spec.carries_sequence);
}

}  // namespace seqserve
