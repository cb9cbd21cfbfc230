// libFuzzer target: model configs. Input: config.pbtxt text (protobuf text format, schema
// proto/seqserve/v1/model_config.proto), given to ParseModelConfig under the model name the text
// declares (so that most inputs get past the name check). A config that parses must satisfy the
// invariants the runtime relies on (below), and re-parsing its printed, defaults-filled form must
// give the same config.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "fuzz_common.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace {

using namespace seqserve_fuzz;

class QuietErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
  void AddWarning(int, int, const std::string&) override {}
};

// Parses `text` as the harness's own view of it (quietly): for the declared model name, and for
// the guards below. False when it does not parse.
bool PreParse(const std::string& text, seqserve::v1::ModelConfig* config) {
  google::protobuf::TextFormat::Parser parser;
  QuietErrors errors;
  parser.RecordErrorsTo(&errors);
  return parser.ParseFromString(text, config);
}

// The pad bytes of an input hold its pad_value exactly (ParseModelConfig rejects pad values that
// are not values of the type); FP16/BF16 round, so only their size is checked.
void CheckPad(const TensorSpec& spec, double pad_value) {
  FUZZ_CHECK(spec.pad_bytes.size() == seqserve::ElementSize(spec.dtype));
  auto as = [&spec](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, spec.pad_bytes.data(), sizeof(v));
    return static_cast<double>(v);
  };
  switch (spec.dtype) {
    case seqserve::DataType::kBool: FUZZ_CHECK(as(uint8_t{}) == (pad_value != 0 ? 1 : 0)); break;
    case seqserve::DataType::kUint8: FUZZ_CHECK(as(uint8_t{}) == pad_value); break;
    case seqserve::DataType::kInt8: FUZZ_CHECK(as(int8_t{}) == pad_value); break;
    case seqserve::DataType::kInt16: FUZZ_CHECK(as(int16_t{}) == pad_value); break;
    case seqserve::DataType::kInt32: FUZZ_CHECK(as(int32_t{}) == pad_value); break;
    case seqserve::DataType::kInt64: FUZZ_CHECK(as(int64_t{}) == pad_value); break;
    case seqserve::DataType::kFp32:
      FUZZ_CHECK(as(float{}) == static_cast<double>(static_cast<float>(pad_value)));
      break;
    case seqserve::DataType::kFp64: FUZZ_CHECK(as(double{}) == pad_value); break;
    default: break;
  }
}

void CheckSpecs(const ModelSignature& sig, const std::vector<TensorSpec>& specs, bool inputs) {
  FUZZ_CHECK(!specs.empty());
  std::set<std::string> names;
  for (const TensorSpec& spec : specs) {
    FUZZ_CHECK(!spec.name.empty());
    FUZZ_CHECK(names.insert(spec.name).second);
    FUZZ_CHECK(seqserve::ElementSize(spec.dtype) > 0);
    FUZZ_CHECK(!spec.dims.empty());
    if (inputs) FUZZ_CHECK(spec.pad_bytes.size() == seqserve::ElementSize(spec.dtype));
    FUZZ_CHECK(!spec.carries_sequence ||
               (sig.has_sequence() && sig.sequence_axis < static_cast<int>(spec.dims.size())));
    for (size_t i = 0; i < spec.dims.size(); ++i) {
      const bool sequence_axis = spec.carries_sequence && static_cast<int>(i) == sig.sequence_axis;
      FUZZ_CHECK(sequence_axis ? spec.dims[i] == -1 : spec.dims[i] > 0);
    }
  }
}

bool HasNanPad(const seqserve::v1::ModelConfig& config) {
  for (const auto& t : config.input())
    if (std::isnan(t.pad_value())) return true;
  for (const auto& t : config.output())
    if (std::isnan(t.pad_value())) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  seqserve::v1::ModelConfig declared;
  const bool parses = PreParse(text, &declared);
  // The model name the text declares, so that most inputs get past the name check.
  const std::string name = parses && !declared.name().empty() ? declared.name() : "model";
  absl::StatusOr<seqserve::ModelSetup> parsed = seqserve::ParseModelConfig(text, name, /*cpu_cores=*/2);
  if (!parsed.ok()) {
    CheckRejection(parsed.status());
    return 0;
  }
  FUZZ_CHECK(parses);
  const seqserve::ModelSetup& setup = *parsed;
  const ModelSignature& sig = setup.signature;

  FUZZ_CHECK(setup.config.name() == name);
  FUZZ_CHECK(sig.max_batch_size >= 1);
  FUZZ_CHECK(setup.batcher.max_batch_size == sig.max_batch_size);
  CheckSpecs(sig, sig.inputs, /*inputs=*/true);
  CheckSpecs(sig, sig.outputs, /*inputs=*/false);
  FUZZ_CHECK(setup.config.input_size() == static_cast<int>(sig.inputs.size()));
  for (size_t i = 0; i < sig.inputs.size(); ++i)
    CheckPad(sig.inputs[i], setup.config.input(static_cast<int>(i)).pad_value());
  FUZZ_CHECK(setup.batcher.max_batch_tokens >= 1);
  FUZZ_CHECK(setup.batcher.max_queue_size >= 1);
  // 0 is a setting of its own ("run at once"); absence takes the default, which is positive.
  FUZZ_CHECK(setup.batcher.max_queue_delay >= absl::ZeroDuration());
  FUZZ_CHECK(setup.config.batching().has_max_queue_delay_microseconds());  // made explicit
  for (const TensorSpec& spec : sig.inputs) {
    if (!spec.has_range) continue;
    FUZZ_CHECK(spec.range_begin < spec.range_end);
    FUZZ_CHECK(seqserve::IsInteger(spec.dtype));
  }
  for (const TensorSpec& spec : sig.outputs) FUZZ_CHECK(!spec.has_range);
  FUZZ_CHECK((setup.device == seqserve::Device::kCuda) == !setup.gpus.empty());
  for (int gpu : setup.gpus) FUZZ_CHECK(gpu >= 0);
  FUZZ_CHECK(setup.instances >= 1 && setup.instances <= 64);
  FUZZ_CHECK(setup.intra_op_threads >= 1 && setup.intra_op_threads <= 256);
  FUZZ_CHECK(setup.warmup.iterations >= 1);
  FUZZ_CHECK(setup.config.default_model_filename().find('/') == std::string::npos);
  if (sig.has_sequence()) {
    FUZZ_CHECK(sig.max_sequence_length >= 1);
    bool any = false;
    for (const TensorSpec& spec : sig.inputs) any = any || spec.carries_sequence;
    FUZZ_CHECK(any);
    const std::vector<int64_t>& edges = setup.batcher.bucket_edges;
    FUZZ_CHECK(!edges.empty());
    for (size_t i = 0; i < edges.size(); ++i) FUZZ_CHECK(edges[i] >= 1 && (i == 0 || edges[i] > edges[i - 1]));
    FUZZ_CHECK(edges.back() >= sig.max_sequence_length);
    for (int64_t len : setup.warmup.lengths) FUZZ_CHECK(len >= 1 && len <= sig.max_sequence_length);
  } else {
    FUZZ_CHECK(sig.max_sequence_length == 0);
    for (const TensorSpec& spec : sig.inputs) FUZZ_CHECK(!spec.carries_sequence);
    for (const TensorSpec& spec : sig.outputs) FUZZ_CHECK(!spec.carries_sequence);
  }

  // A full batch (max_batch_size rows at max_sequence_length) of every tensor has a byte size
  // that fits in int64: the validator, the warm-up and the executor compute these sizes with
  // plain int64 arithmetic (NumElements). (Regression seed regress_size_overflow.pbtxt.)
  const int64_t length = sig.has_sequence() ? sig.max_sequence_length : 0;
  for (const auto* specs : {&sig.inputs, &sig.outputs}) {
    for (const TensorSpec& spec : *specs) {
      int64_t n = static_cast<int64_t>(seqserve::ElementSize(spec.dtype));
      for (int64_t d : seqserve::BatchedShape(sig, spec, sig.max_batch_size, length)) {
        FUZZ_CHECK(!__builtin_mul_overflow(n, d, &n));
      }
    }
  }

  // The config's own signature through batch assembly (when small): a batch of two requests of
  // different lengths and rows, then the same split in two, as the executor would run them.
  const int64_t rows = std::min<int64_t>(sig.max_batch_size, 3);
  const int64_t long_length = sig.has_sequence() ? std::min<int64_t>(sig.max_sequence_length, 5) : 0;
  const int64_t short_length = sig.has_sequence() ? std::min<int64_t>(sig.max_sequence_length, 2) : 0;
  if (BatchFits(sig, rows, long_length, 1 << 16)) {
    std::vector<std::unique_ptr<InferenceRequest>> requests;
    requests.push_back(Companion(sig, 1, short_length, 1));
    if (rows > 1) requests.push_back(Companion(sig, rows - 1, long_length, 2));
    Batch batch = MakeBatch(std::move(requests));
    RunBatch(sig, batch);
    if (batch.requests.size() == 2) {
      std::pair<Batch, Batch> halves = seqserve::SplitBatch(std::move(batch));
      RunBatch(sig, halves.first);
      RunBatch(sig, halves.second);
    }
  }

  // Idempotence: the defaults-filled config, printed and parsed again, is the same config.
  if (!HasNanPad(setup.config)) {
    std::string printed;
    FUZZ_CHECK(google::protobuf::TextFormat::PrintToString(setup.config, &printed));
    absl::StatusOr<seqserve::ModelSetup> again = seqserve::ParseModelConfig(printed, name, /*cpu_cores=*/2);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->config.SerializeAsString() == setup.config.SerializeAsString());
  }
  return 0;
}
