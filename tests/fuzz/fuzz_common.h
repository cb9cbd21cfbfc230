// Shared by the request fuzz targets: the model signatures requests are validated against, and
// what the executor does with a validated request (batch assembly, output extraction), with
// checks that trap on any broken invariant.
#ifndef SEQSERVE_FUZZ_FUZZ_COMMON_H_
#define SEQSERVE_FUZZ_FUZZ_COMMON_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fuzz_demo_configs.h"  // generated from models/*/config.pbtxt
#include "google/protobuf/repeated_field.h"
#include "google/protobuf/stubs/logging.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/batch.h"
#include "runtime/execution/request_validator.h"

namespace seqserve_fuzz {

using seqserve::Batch;
using seqserve::InferenceRequest;
using seqserve::ModelSignature;
using seqserve::Tensor;
using seqserve::TensorSpec;

// A broken invariant: abort so that libFuzzer records the input (the message says which).
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      __builtin_trap();                                                                    \
    }                                                                                      \
  } while (0)

// A third, fuzz-only model whose layouts the demo models do not have: the sequence on axis 1
// (so each row holds several sequence chunks), 2-byte, 1-byte and 8-byte types with non-zero pad
// values, an input without the sequence, and outputs with and without it.
constexpr char kLayoutConfig[] = R"pbtxt(
name: "layout"
max_batch_size: 4
input { name: "feats" data_type: FP16 dims: [3, -1, 2] pad_value: -2.5 }
input { name: "mask"  data_type: BOOL dims: [1, -1]    pad_value: 1 }
input { name: "scale" data_type: FP64 dims: [2] }
output { name: "out"    data_type: BF16  dims: [3, -1] }
output { name: "pooled" data_type: INT32 dims: [5] }
sequence { axis: 1 max_length: 64 }
batching { mode: PAD_TO_MAX }
)pbtxt";

// The byte size of a tensor of `shape` with `element_size`-byte elements when every dimension is
// positive and the size is at most kMaxRepairBytes (enough for a full batch of the linear model);
// nullopt otherwise. Used by the harnesses' "repaired" variants (see fuzz_predict_request.cc).
constexpr int64_t kMaxRepairBytes = 256 * 1024;
inline std::optional<int64_t> SmallByteSize(const google::protobuf::RepeatedField<int64_t>& shape,
                                            size_t element_size) {
  if (element_size == 0) return std::nullopt;
  int64_t n = static_cast<int64_t>(element_size);
  for (int64_t d : shape) {
    if (d <= 0 || __builtin_mul_overflow(n, d, &n) || n > kMaxRepairBytes) return std::nullopt;
  }
  return n;
}

struct Model {
  std::string name;
  ModelSignature signature;
};

// encoder, linear (the demo models) and layout; parsed once.
inline const std::vector<Model>& Models() {
  static const std::vector<Model>* models = [] {
    auto* out = new std::vector<Model>;
    const std::pair<const char*, const char*> configs[] = {
        {"encoder", kEncoderConfig}, {"linear", kLinearConfig}, {"layout", kLayoutConfig}};
    for (const auto& [name, text] : configs) {
      absl::StatusOr<seqserve::ModelSetup> setup = seqserve::ParseModelConfig(text, name, /*cpu_cores=*/2);
      if (!setup.ok()) {
        std::fprintf(stderr, "config of %s does not parse: %s\n", name, setup.status().ToString().c_str());
        __builtin_trap();
      }
      out->push_back(Model{name, setup->signature});
    }
    return out;
  }();
  return *models;
}

inline int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) FUZZ_CHECK(!__builtin_mul_overflow(n, d, &n));
  return n;
}

inline size_t ByteSize(const ModelSignature& sig, const TensorSpec& spec, int64_t rows, int64_t length) {
  const int64_t n = Product(seqserve::BatchedShape(sig, spec, rows, length));
  FUZZ_CHECK(n > 0);
  return static_cast<size_t>(n) * seqserve::ElementSize(spec.dtype);
}

// What ValidateRequest promises on success.
inline void CheckValidated(const ModelSignature& sig, const InferenceRequest& r) {
  FUZZ_CHECK(r.inputs.size() == sig.inputs.size());
  FUZZ_CHECK(r.rows >= 1 && r.rows <= sig.max_batch_size);
  if (sig.has_sequence()) {
    FUZZ_CHECK(r.sequence_length >= 1 && r.sequence_length <= sig.max_sequence_length);
  } else {
    FUZZ_CHECK(r.sequence_length == 0);
  }
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    const TensorSpec& spec = sig.inputs[i];
    const Tensor& t = r.inputs[i];
    FUZZ_CHECK(t.name == spec.name);
    FUZZ_CHECK(t.dtype == spec.dtype);
    FUZZ_CHECK(t.shape == seqserve::BatchedShape(sig, spec, r.rows, r.sequence_length));
    FUZZ_CHECK(t.bytes().size() == ByteSize(sig, spec, r.rows, r.sequence_length));
  }
  FUZZ_CHECK(!r.output_indices.empty());
  for (int k : r.output_indices) FUZZ_CHECK(k >= 0 && k < static_cast<int>(sig.outputs.size()));
}

// Whether every input and output of `sig`, batched over `rows` rows at `length`, takes at most
// `limit` bytes (computed without overflow).
inline bool BatchFits(const ModelSignature& sig, int64_t rows, int64_t length, int64_t limit) {
  for (const auto* specs : {&sig.inputs, &sig.outputs}) {
    for (const TensorSpec& spec : *specs) {
      int64_t n = static_cast<int64_t>(seqserve::ElementSize(spec.dtype));
      for (int64_t d : seqserve::BatchedShape(sig, spec, rows, length)) {
        if (d <= 0 || __builtin_mul_overflow(n, d, &n) || n > limit) return false;
      }
    }
  }
  return true;
}

// A valid request of `rows` rows at `length` that the executor could batch with others; its
// bytes are a pattern that depends on `seed` and the position, so misplaced copies show.
inline std::unique_ptr<InferenceRequest> Companion(const ModelSignature& sig, int64_t rows, int64_t length,
                                                   int seed = 7) {
  return seqserve::SyntheticRequest(sig, rows, length, [seed](const TensorSpec&, std::string& data) {
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + seed);
  });
}

// Runs `batch` the way the libtorch runner does, on exactly-sized heap buffers (so ASan sees any
// copy past their ends): assembles every input, then checks that extracting each request's rows
// back out of the assembled input gives its data unchanged (the inputs viewed as outputs), and
// extracts every output of a zero-filled batched output.
inline void RunBatch(const ModelSignature& sig, const Batch& batch) {
  ModelSignature mirror = sig;  // inputs as outputs, to read assembled inputs back
  mirror.outputs = sig.inputs;
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    const size_t bytes = ByteSize(sig, sig.inputs[i], batch.rows, batch.padded_length);
    std::unique_ptr<char[]> buffer(new char[bytes]);
    seqserve::AssembleInput(sig, static_cast<int>(i), batch, buffer.get());
    int64_t row_offset = 0;
    for (const auto& request : batch.requests) {
      Tensor back = seqserve::ExtractOutput(mirror, static_cast<int>(i), batch, buffer.get(), row_offset, *request);
      FUZZ_CHECK(back.shape == request->inputs[i].shape);
      FUZZ_CHECK(absl::string_view(back.data) == request->inputs[i].bytes());
      row_offset += request->rows;
    }
    FUZZ_CHECK(row_offset == batch.rows);
  }
  for (size_t k = 0; k < sig.outputs.size(); ++k) {
    const TensorSpec& spec = sig.outputs[k];
    const std::vector<int64_t> shape = seqserve::BatchedShape(sig, spec, batch.rows, batch.padded_length);
    FUZZ_CHECK(seqserve::CheckOutputShape(sig, static_cast<int>(k), batch, shape).ok());
    const size_t bytes = ByteSize(sig, spec, batch.rows, batch.padded_length);
    std::unique_ptr<char[]> buffer(new char[bytes]());
    int64_t row_offset = 0;
    for (const auto& request : batch.requests) {
      Tensor out = seqserve::ExtractOutput(sig, static_cast<int>(k), batch, buffer.get(), row_offset, *request);
      FUZZ_CHECK(out.shape == seqserve::BatchedShape(sig, spec, request->rows, request->sequence_length));
      FUZZ_CHECK(out.data.size() == ByteSize(sig, spec, request->rows, request->sequence_length));
      row_offset += request->rows;
    }
  }
}

inline Batch MakeBatch(std::vector<std::unique_ptr<InferenceRequest>> requests) {
  Batch batch;
  for (auto& r : requests) {
    batch.rows += r->rows;
    batch.padded_length = std::max(batch.padded_length, r->sequence_length);
    batch.requests.push_back(std::move(r));
  }
  return batch;
}

// Everything the executor does with a request that passed ValidateRequest: the request alone;
// after a longer or shorter companion (so it lands at a row offset, padded or padding the other);
// and the two halves SplitBatch makes of that (the out-of-memory retry).
inline void ExerciseBatches(const ModelSignature& sig, std::unique_ptr<InferenceRequest> request) {
  CheckValidated(sig, *request);
  std::vector<std::unique_ptr<InferenceRequest>> alone;
  alone.push_back(std::move(request));
  Batch batch = MakeBatch(std::move(alone));
  FUZZ_CHECK(batch.padded_length == batch.requests[0]->sequence_length);
  RunBatch(sig, batch);
  request = std::move(batch.requests[0]);

  if (request->rows >= sig.max_batch_size) return;  // no room for a companion
  const int64_t length = request->sequence_length;
  // Longer than the request when there is room, else shorter.
  const int64_t companion_length =
      !sig.has_sequence() ? 0
                          : (length < sig.max_sequence_length ? std::min(length + 3, sig.max_sequence_length)
                                                              : std::max<int64_t>(1, length - 2));
  std::vector<std::unique_ptr<InferenceRequest>> two;
  two.push_back(Companion(sig, 1, companion_length));
  two.push_back(std::move(request));
  Batch pair = MakeBatch(std::move(two));
  RunBatch(sig, pair);
  std::pair<Batch, Batch> halves = seqserve::SplitBatch(std::move(pair));
  FUZZ_CHECK(halves.first.requests.size() == 1 && halves.second.requests.size() == 1);
  RunBatch(sig, halves.first);
  RunBatch(sig, halves.second);
}

// A failed validation must be INVALID_ARGUMENT with a message for the client.
inline void CheckRejection(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(!status.message().empty());
}

// The request targets' common path: decode `wire` (per model, since ValidateRequest reorders
// the inputs it is given), validate it against every model, and run what validates through the
// executor's batch assembly.
template <typename Wire, typename Decode>
void DecodeValidateAndBatch(const Wire& wire, Decode decode) {
  for (const Model& model : Models()) {
    absl::StatusOr<std::unique_ptr<InferenceRequest>> request = decode(wire);
    if (!request.ok()) {
      CheckRejection(request.status());
      return;  // decoding does not depend on the model
    }
    FUZZ_CHECK(*request != nullptr);
    FUZZ_CHECK((*request)->inputs.size() == static_cast<size_t>(wire.inputs_size()));
    absl::Status status = seqserve::ValidateRequest(model.signature, **request);
    if (!status.ok()) {
      CheckRejection(status);
      continue;
    }
    ExerciseBatches(model.signature, std::move(*request));
  }
}

}  // namespace seqserve_fuzz

// libFuzzer calls this once before the first input: silence protobuf's log lines (invalid UTF-8
// in string fields, etc.: noise that would slow the run and bury real reports) and parse the
// model configs up front.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  seqserve_fuzz::Models();
  return 0;
}

#endif  // SEQSERVE_FUZZ_FUZZ_COMMON_H_
