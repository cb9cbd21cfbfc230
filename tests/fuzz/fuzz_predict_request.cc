// libFuzzer target: seqserve.v1 Predict requests. Input: a serialized seqserve.v1.PredictRequest
// (inputs that do not parse as one are skipped). Each parsed request goes through FromWire and
// ValidateRequest against every model of fuzz_common.h (encoder, linear, layout), and a request
// that validates is batched and assembled as the executor would (fuzz_common.h ExerciseBatches).
//
// Random mutation rarely makes `data` exactly shape x dtype bytes long, so that most requests
// would stop at the byte-size check. Each request is therefore run twice: as it is, and
// "repaired" (every input's data zero-extended or cut to the size its shape and dtype imply,
// when that is small), which lets the fuzzer's shapes, names, dtypes and filters reach
// validation's later rules and batch assembly.
#include <cstddef>
#include <cstdint>
#include <limits>

#include "fuzz_common.h"
#include "server/api/tensor_codec.h"

namespace {

using namespace seqserve_fuzz;

void Run(const seqserve::v1::PredictRequest& wire) {
  DecodeValidateAndBatch(wire, [](const seqserve::v1::PredictRequest& w) { return seqserve::FromWire(w); });
}

// Resizes every input's data to what its shape and dtype imply (when small); false if none changed.
bool RepairSizes(seqserve::v1::PredictRequest& wire) {
  bool changed = false;
  for (seqserve::v1::Tensor& t : *wire.mutable_inputs()) {
    const std::optional<int64_t> bytes =
        SmallByteSize(t.shape(), seqserve::ElementSize(seqserve::FromProto(t.dtype())));
    if (bytes.has_value() && t.data().size() != static_cast<size_t>(*bytes)) {
      t.mutable_data()->resize(static_cast<size_t>(*bytes), '\x11');
      changed = true;
    }
  }
  return changed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) return 0;
  seqserve::v1::PredictRequest wire;
  if (!wire.ParseFromArray(data, static_cast<int>(size))) return 0;
  Run(wire);
  if (RepairSizes(wire)) Run(wire);
  return 0;
}
