// libFuzzer target: KServe v2 ModelInfer requests. Input: a serialized inference.ModelInferRequest
// (inputs that do not parse as one are skipped). Each parsed request goes through FromKServe and
// ValidateRequest against every model of fuzz_common.h (encoder, linear, layout), and a request
// that validates is batched and assembled as the executor would (fuzz_common.h ExerciseBatches).
//
// As in fuzz_predict_request.cc, each request also runs "repaired": one raw_input_contents entry
// per input, each (or, for typed requests, each typed contents field) resized to what the input's
// shape and datatype imply (when small), so that the fuzzer's shapes and names get past the
// count checks.
#include <cstddef>
#include <cstdint>
#include <limits>

#include "fuzz_common.h"
#include "server/api/kserve_codec.h"

namespace {

using namespace seqserve_fuzz;
using seqserve::DataType;

void Run(const inference::ModelInferRequest& wire) {
  DecodeValidateAndBatch(wire, [](const inference::ModelInferRequest& w) {
    return seqserve::FromKServe(w, seqserve::InputBytes::kBorrow);
  });
}

template <typename T>
bool ResizeTo(google::protobuf::RepeatedField<T>* field, int count) {
  if (field->size() == count) return false;
  field->Resize(count, T{});
  return true;
}

// Resizes the inputs' data to what their shapes and datatypes imply (when small); false if
// nothing changed.
bool RepairSizes(inference::ModelInferRequest& wire) {
  bool changed = false;
  const bool raw = wire.raw_input_contents_size() > 0;
  if (raw) {
    while (wire.raw_input_contents_size() < wire.inputs_size()) {
      wire.add_raw_input_contents();
      changed = true;
    }
    while (wire.raw_input_contents_size() > wire.inputs_size()) {
      wire.mutable_raw_input_contents()->RemoveLast();
      changed = true;
    }
  }
  for (int i = 0; i < wire.inputs_size(); ++i) {
    inference::ModelInferRequest::InferInputTensor& input = *wire.mutable_inputs(i);
    const std::optional<DataType> type = seqserve::DataTypeFromName(input.datatype());
    if (!type.has_value()) continue;
    const size_t element = seqserve::ElementSize(*type);
    const std::optional<int64_t> bytes = SmallByteSize(input.shape(), element);
    if (!bytes.has_value()) continue;
    if (raw) {
      if (input.has_contents()) {
        input.clear_contents();
        changed = true;
      }
      std::string* contents = wire.mutable_raw_input_contents(i);
      if (contents->size() != static_cast<size_t>(*bytes)) {
        contents->resize(static_cast<size_t>(*bytes), '\x11');
        changed = true;
      }
      continue;
    }
    const int count = static_cast<int>(*bytes / static_cast<int64_t>(element));
    inference::InferTensorContents& c = *input.mutable_contents();
    switch (*type) {
      case DataType::kBool: changed |= ResizeTo(c.mutable_bool_contents(), count); break;
      case DataType::kUint8: changed |= ResizeTo(c.mutable_uint_contents(), count); break;
      case DataType::kInt8:
      case DataType::kInt16:
      case DataType::kInt32: changed |= ResizeTo(c.mutable_int_contents(), count); break;
      case DataType::kInt64: changed |= ResizeTo(c.mutable_int64_contents(), count); break;
      case DataType::kFp32: changed |= ResizeTo(c.mutable_fp32_contents(), count); break;
      case DataType::kFp64: changed |= ResizeTo(c.mutable_fp64_contents(), count); break;
      default: break;  // FP16 / BF16 have no typed field
    }
  }
  return changed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) return 0;
  inference::ModelInferRequest wire;
  if (!wire.ParseFromArray(data, static_cast<int>(size))) return 0;
  Run(wire);
  if (RepairSizes(wire)) Run(wire);
  return 0;
}
