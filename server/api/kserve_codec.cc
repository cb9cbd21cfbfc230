#include "server/api/kserve_codec.h"

#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/api/kserve_request.h"

namespace seqserve {
namespace {

using InputTensor = inference::ModelInferRequest::InferInputTensor;

// Appends `values` converted to T, as little-endian bytes.
template <typename T, typename Repeated>
void AppendAs(const Repeated& values, std::string& out) {
  const size_t start = out.size();
  out.resize(start + sizeof(T) * static_cast<size_t>(values.size()));
  char* dst = out.data() + start;
  for (const auto& v : values) {
    const T x = static_cast<T>(v);
    std::memcpy(dst, &x, sizeof(T));
    dst += sizeof(T);
  }
}

// Encodes typed contents of `input` (whose dtype is `type`) into `out`; returns the element
// count found, or an error when the datatype has no typed field in the protocol.
absl::StatusOr<int64_t> EncodeContents(const InputTensor& input, DataType type, std::string& out) {
  const inference::InferTensorContents& c = input.contents();
  switch (type) {
    case DataType::kBool: AppendAs<uint8_t>(c.bool_contents(), out); return c.bool_contents_size();
    case DataType::kUint8: AppendAs<uint8_t>(c.uint_contents(), out); return c.uint_contents_size();
    case DataType::kInt8: AppendAs<int8_t>(c.int_contents(), out); return c.int_contents_size();
    case DataType::kInt16: AppendAs<int16_t>(c.int_contents(), out); return c.int_contents_size();
    case DataType::kInt32: AppendAs<int32_t>(c.int_contents(), out); return c.int_contents_size();
    case DataType::kInt64: AppendAs<int64_t>(c.int64_contents(), out); return c.int64_contents_size();
    case DataType::kFp32: AppendAs<float>(c.fp32_contents(), out); return c.fp32_contents_size();
    case DataType::kFp64: AppendAs<double>(c.fp64_contents(), out); return c.fp64_contents_size();
    case DataType::kFp16:
    case DataType::kBf16:
    case DataType::kInvalid: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "': datatype ", DataTypeName(type),
                                                 " has no typed contents field; send it in raw_input_contents"));
}

bool HasContents(const InputTensor& input) {
  const inference::InferTensorContents& c = input.contents();
  return c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() + c.uint_contents_size() +
             c.uint64_contents_size() + c.fp32_contents_size() + c.fp64_contents_size() + c.bytes_contents_size() >
         0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InferenceRequest>> FromKServe(const inference::ModelInferRequest& wire,
                                                             InputBytes input_bytes) {
  auto request = std::make_unique<InferenceRequest>();
  request->model_name = wire.model_name();
  request->id = wire.id();
  absl::StatusOr<int64_t> version = ParseKServeVersion(wire.model_version());
  if (!version.ok()) return version.status();
  request->model_version = *version;

  const bool raw = wire.raw_input_contents_size() > 0;
  if (raw && wire.raw_input_contents_size() != wire.inputs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("raw_input_contents has ", wire.raw_input_contents_size(),
                                                   " entries for ", wire.inputs_size(),
                                                   " inputs; send one entry per input, in the order of `inputs`"));
  }
  for (int i = 0; i < wire.inputs_size(); ++i) {
    const InputTensor& input = wire.inputs(i);
    if (input.datatype() == kTextDataType) {
      const std::vector<int64_t> shape(input.shape().begin(), input.shape().end());
      absl::StatusOr<KServeTextInput> text = KServeTextTarget(input.name(), shape, *request);
      if (!text.ok()) return text.status();
      if (raw) {
        absl::Status split = SplitKServeBytes(input.name(), wire.raw_input_contents(i), text->count, *text->strings);
        if (!split.ok()) return split;
        continue;
      }
      const auto& strings = input.contents().bytes_contents();
      if (strings.size() != text->count) {
        return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "' has ", strings.size(),
                                                       " strings in bytes_contents but its shape needs ", text->count));
      }
      text->strings->assign(strings.begin(), strings.end());
      continue;
    }
    Tensor t;
    t.name = input.name();
    absl::StatusOr<DataType> type = ParseKServeDataType(input.name(), input.datatype());
    if (!type.ok()) return type.status();
    t.dtype = *type;
    t.shape.assign(input.shape().begin(), input.shape().end());
    if (raw) {
      if (HasContents(input)) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", input.name(),
                         "' has typed contents while the request uses raw_input_contents; "
                         "use one or the other for all inputs"));
      }
      if (input_bytes == InputBytes::kBorrow) {
        t.borrowed = wire.raw_input_contents(i);
      } else {
        t.data = wire.raw_input_contents(i);
      }
    } else {
      absl::StatusOr<int64_t> count = EncodeContents(input, t.dtype, t.data);
      if (!count.ok()) return count.status();
      // Invalid shapes (negative, overflowing) are reported by ValidateRequest, with context.
      const std::optional<int64_t> needed = CheckedNumElements(t.shape);
      if (needed.has_value() && *count != *needed) {
        return absl::InvalidArgumentError(absl::StrCat("input '", input.name(), "' has ", *count,
                                                       " elements in contents but its shape needs ", *needed));
      }
    }
    request->inputs.push_back(std::move(t));
  }
  for (const auto& output : wire.outputs()) request->requested_outputs.push_back(output.name());

  auto timeout = wire.parameters().find("timeout");
  if (timeout != wire.parameters().end()) {
    absl::Status applied =
        ApplyKServeTimeout(timeout->second.parameter_choice_case() == inference::InferParameter::kInt64Param,
                           timeout->second.int64_param(), *request);
    if (!applied.ok()) return applied;
  }
  return request;
}

void ToKServe(const inference::ModelInferRequest& request, InferenceResponse& result,
              inference::ModelInferResponse* response) {
  response->set_model_name(request.model_name());
  response->set_model_version(std::to_string(result.model_version));
  response->set_id(request.id());
  for (Tensor& t : result.outputs) {
    auto* out = response->add_outputs();
    out->set_name(t.name);
    out->set_datatype(std::string(DataTypeName(t.dtype)));
    for (int64_t d : t.shape) out->add_shape(d);
    response->add_raw_output_contents(std::move(t.data));
  }
}

}  // namespace seqserve
