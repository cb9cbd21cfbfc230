#include "runtime/config/model_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace seqserve {
namespace {

// Collects the text parser's complaints instead of letting protobuf print them.
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    absl::StrAppend(&text_, text_.empty() ? "" : "; ", "line ", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

absl::Status Invalid(absl::string_view model, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config of model '", model, "': ", what));
}

// Note [config bounds]: found by fuzzing (tests/fuzz): unbounded dims and lengths made batch byte
// sizes overflow int64, and the default bucket edges loop with them. Real models stay far below.
constexpr int64_t kMaxSequenceLength = int64_t{1} << 24;
constexpr int64_t kMaxBatchTensorBytes = int64_t{1} << 40;  // 1 TiB

// Whether one tensor of a full batch (max_batch_size rows, the sequence at its maximum) has a
// byte size below kMaxBatchTensorBytes, computed without overflow.
bool FullBatchFits(const ModelSignature& sig, const TensorSpec& spec) {
  int64_t bytes = static_cast<int64_t>(ElementSize(spec.dtype));
  if (__builtin_mul_overflow(bytes, sig.max_batch_size, &bytes)) return false;
  for (int64_t d : spec.dims) {
    if (__builtin_mul_overflow(bytes, d == -1 ? sig.max_sequence_length : d, &bytes)) return false;
  }
  return bytes <= kMaxBatchTensorBytes;
}

// Whether `value` is exactly a value of `type`: finite, and for integer types whole and in range.
bool PadValueFits(DataType type, double value) {
  if (!std::isfinite(value)) return false;
  auto whole_in = [value](double lo, double hi) { return value == std::trunc(value) && value >= lo && value <= hi; };
  switch (type) {
    case DataType::kBool: return value == 0 || value == 1;
    case DataType::kUint8: return whole_in(0, 255);
    case DataType::kInt8: return whole_in(-128, 127);
    case DataType::kInt16: return whole_in(-32768, 32767);
    case DataType::kInt32: return whole_in(-2147483648.0, 2147483647.0);
    case DataType::kInt64: return whole_in(-9.2e18, 9.2e18);
    default: return true;  // floating point: rounded to the nearest value of the type
  }
}

// Checks a tensor's valid_range: integer inputs only, non-empty, and holding the pad value
// (padded positions reach the model too).
absl::Status CheckRange(absl::string_view model, absl::string_view kind, const TensorSpec& spec,
                        const v1::TensorConfig& t) {
  const v1::ValueRange& r = t.valid_range();
  const std::string what = absl::StrCat(kind, " '", spec.name, "' has valid_range [", r.begin(), ", ", r.end(), ")");
  if (kind != "input") return Invalid(model, absl::StrCat(what, ": only inputs take a valid_range"));
  if (!IsInteger(spec.dtype)) {
    return Invalid(model,
                   absl::StrCat(what, ": only integer inputs take a valid_range, not ", DataTypeName(spec.dtype)));
  }
  if (r.end() <= r.begin()) return Invalid(model, absl::StrCat(what, ": end must be greater than begin"));
  if (t.pad_value() < static_cast<double>(r.begin()) || t.pad_value() >= static_cast<double>(r.end())) {
    return Invalid(model, absl::StrCat(what, ", which does not hold its pad_value ", t.pad_value()));
  }
  return absl::OkStatus();
}

// Fills TensorSpecs and checks dims: -1 only on the sequence axis, everything else positive.
absl::StatusOr<std::vector<TensorSpec>> ToSpecs(absl::string_view model, absl::string_view kind,
                                                const google::protobuf::RepeatedPtrField<v1::TensorConfig>& tensors,
                                                int axis) {
  std::vector<TensorSpec> specs;
  for (const v1::TensorConfig& t : tensors) {
    TensorSpec spec;
    spec.name = t.name();
    spec.dtype = FromProto(t.data_type());
    spec.dims.assign(t.dims().begin(), t.dims().end());
    if (spec.name.empty()) return Invalid(model, absl::StrCat("an ", kind, " has no name"));
    for (const TensorSpec& other : specs) {
      if (other.name == spec.name) return Invalid(model, absl::StrCat(kind, " '", spec.name, "' is declared twice"));
    }
    if (spec.dtype == DataType::kInvalid) {
      return Invalid(model, absl::StrCat(kind, " '", spec.name, "' needs a data_type"));
    }
    if (spec.dims.empty()) {
      return Invalid(model, absl::StrCat(kind, " '", spec.name, "' needs dims (without the row dimension)"));
    }
    for (int i = 0; i < static_cast<int>(spec.dims.size()); ++i) {
      const int64_t d = spec.dims[i];
      if (d == -1 && i == axis) {
        spec.carries_sequence = true;
      } else if (d <= 0) {
        return Invalid(model,
                       absl::StrCat(kind, " '", spec.name, "' has dims [", absl::StrJoin(spec.dims, ", "),
                                    "]: only the sequence axis (", axis < 0 ? "none declared" : std::to_string(axis),
                                    ") may be -1, other dims must be positive"));
      }
    }
    if (!PadValueFits(spec.dtype, t.pad_value())) {
      return Invalid(model, absl::StrCat(kind, " '", spec.name, "' has pad_value ", t.pad_value(),
                                         ", which is not a value of ", DataTypeName(spec.dtype)));
    }
    spec.pad_bytes = EncodeScalar(spec.dtype, t.pad_value());
    if (t.has_valid_range()) {
      absl::Status range = CheckRange(model, kind, spec, t);
      if (!range.ok()) return range;
      spec.has_range = true;
      spec.range_begin = t.valid_range().begin();
      spec.range_end = t.valid_range().end();
    }
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) return Invalid(model, absl::StrCat("needs at least one ", kind));
  return specs;
}

BatchingMode ToMode(v1::BatchingConfig::Mode mode) {
  switch (mode) {
    case v1::BatchingConfig::NONE: return BatchingMode::kNone;
    case v1::BatchingConfig::PAD_TO_MAX: return BatchingMode::kPadToMax;
    default: return BatchingMode::kLengthBucketed;
  }
}

}  // namespace

absl::StatusOr<ModelSetup> ParseModelConfig(absl::string_view text, absl::string_view model_name, int cpu_cores) {
  ModelSetup setup;
  v1::ModelConfig& c = setup.config;
  google::protobuf::TextFormat::Parser parser;
  ParseErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &c)) {
    return Invalid(model_name, absl::StrCat("config.pbtxt does not parse: ", errors.text()));
  }
  if (c.name().empty()) c.set_name(std::string(model_name));
  if (c.name() != model_name) {
    return Invalid(model_name, absl::StrCat("name '", c.name(), "' differs from its directory name"));
  }
  if (c.max_batch_size() < 1) return Invalid(model_name, "max_batch_size must be at least 1");

  ModelSignature& sig = setup.signature;
  sig.max_batch_size = c.max_batch_size();
  if (c.has_sequence()) {
    if (c.sequence().max_length() < 1 || c.sequence().max_length() > kMaxSequenceLength) {
      return Invalid(model_name, absl::StrCat("sequence.max_length must be 1..", kMaxSequenceLength));
    }
    if (c.sequence().axis() < 0) return Invalid(model_name, "sequence.axis must be >= 0");
    sig.sequence_axis = c.sequence().axis();
    sig.max_sequence_length = c.sequence().max_length();
  }
  auto inputs = ToSpecs(model_name, "input", c.input(), sig.sequence_axis);
  if (!inputs.ok()) return inputs.status();
  sig.inputs = std::move(*inputs);
  auto outputs = ToSpecs(model_name, "output", c.output(), sig.sequence_axis);
  if (!outputs.ok()) return outputs.status();
  sig.outputs = std::move(*outputs);
  for (const std::vector<TensorSpec>* specs : {&sig.inputs, &sig.outputs}) {
    for (const TensorSpec& spec : *specs) {
      if (!FullBatchFits(sig, spec)) {
        return Invalid(model_name, absl::StrCat("'", spec.name,
                                                "' of a full batch (max_batch_size x dims, the sequence at "
                                                "max_length) would exceed ",
                                                kMaxBatchTensorBytes, " bytes"));
      }
    }
  }
  if (sig.has_sequence() &&
      std::none_of(sig.inputs.begin(), sig.inputs.end(), [](const TensorSpec& s) { return s.carries_sequence; })) {
    return Invalid(model_name, "declares a sequence but no input has -1 on the sequence axis");
  }

  // Batching, with the defaults of BatcherOptions made explicit in the config.
  const BatcherOptions defaults;
  v1::BatchingConfig& b = *c.mutable_batching();
  if (b.mode() == v1::BatchingConfig::MODE_UNSPECIFIED) {
    b.set_mode(sig.has_sequence() ? v1::BatchingConfig::LENGTH_BUCKETED : v1::BatchingConfig::PAD_TO_MAX);
  }
  if (b.max_batch_tokens() == 0) b.set_max_batch_tokens(defaults.max_batch_tokens);
  if (!b.has_max_queue_delay_microseconds()) {
    b.set_max_queue_delay_microseconds(absl::ToInt64Microseconds(defaults.max_queue_delay));
  }
  if (b.max_queue_size() == 0) b.set_max_queue_size(static_cast<int32_t>(defaults.max_queue_size));
  if (b.bucket_edges().empty() && sig.has_sequence()) {
    for (int64_t e : DefaultBucketEdges(sig.max_sequence_length)) b.add_bucket_edges(e);
  }
  if (b.max_batch_tokens() < 0 || b.max_queue_delay_microseconds() < 0 || b.max_queue_size() < 0) {
    return Invalid(model_name, "batching limits must not be negative");
  }
  for (int i = 0; i < b.bucket_edges_size(); ++i) {
    if (b.bucket_edges(i) < 1 || (i > 0 && b.bucket_edges(i) <= b.bucket_edges(i - 1))) {
      return Invalid(model_name, "batching.bucket_edges must be positive and strictly ascending");
    }
  }
  if (sig.has_sequence() && b.bucket_edges(b.bucket_edges_size() - 1) < sig.max_sequence_length) {
    return Invalid(model_name, "the last of batching.bucket_edges must be >= sequence.max_length");
  }
  setup.batcher.mode = ToMode(b.mode());
  setup.batcher.max_batch_size = c.max_batch_size();
  setup.batcher.max_batch_tokens = b.max_batch_tokens();
  setup.batcher.max_queue_delay = absl::Microseconds(b.max_queue_delay_microseconds());
  setup.batcher.bucket_edges.assign(b.bucket_edges().begin(), b.bucket_edges().end());
  setup.batcher.max_queue_size = b.max_queue_size();

  v1::InstanceConfig& inst = *c.mutable_instance();
  if (inst.device() == v1::InstanceConfig::DEVICE_UNSPECIFIED) inst.set_device(v1::InstanceConfig::CPU);
  if (inst.count() < 0 || inst.count() > 64 || inst.intra_op_threads() < 0 || inst.intra_op_threads() > 256) {
    return Invalid(model_name, "instance.count must be 1..64 and intra_op_threads 1..256");
  }
  // CPU: what config leaves unset comes from the process's cores (runtime/resources/host_cpu.h);
  // CUDA: one instance with one host thread unless config says otherwise.
  const InstanceLayout layout = inst.device() == v1::InstanceConfig::CUDA
                                    ? InstanceLayout{std::max(1, inst.count()), std::max(1, inst.intra_op_threads())}
                                    : DefaultInstanceLayout(cpu_cores, inst.count(), inst.intra_op_threads());
  inst.set_count(layout.instances);
  inst.set_intra_op_threads(layout.intra_op_threads);
  setup.instances = inst.count();
  setup.intra_op_threads = inst.intra_op_threads();
  setup.device = inst.device() == v1::InstanceConfig::CUDA ? Device::kCuda : Device::kCpu;
  if (setup.device == Device::kCuda && inst.gpus().empty()) inst.add_gpus(0);
  if (setup.device != Device::kCuda && !inst.gpus().empty()) {
    return Invalid(model_name, "instance.gpus applies to device: CUDA only");
  }
  for (int32_t gpu : inst.gpus()) {
    if (gpu < 0 || gpu > 1023)
      return Invalid(model_name, absl::StrCat("instance.gpus has ", gpu, "; CUDA indices are 0..1023"));
  }
  setup.gpus.assign(inst.gpus().begin(), inst.gpus().end());

  v1::WarmupConfig& w = *c.mutable_warmup();
  if (w.lengths().empty() && sig.has_sequence()) {
    // Short, typical and longest lengths: TorchScript specializes on the shapes it has seen.
    for (int64_t len : {int64_t{1}, int64_t{16}, int64_t{64}, int64_t{128}, sig.max_sequence_length}) {
      if (len <= sig.max_sequence_length && (w.lengths().empty() || len > *w.lengths().rbegin())) {
        w.add_lengths(len);
      }
    }
  }
  if (w.iterations() == 0) w.set_iterations(2);
  if (w.iterations() < 0 || w.iterations() > 1000) return Invalid(model_name, "warmup.iterations must be 1..1000");
  for (int64_t len : w.lengths()) {
    if (!sig.has_sequence()) break;
    if (len < 1 || len > sig.max_sequence_length) {
      return Invalid(model_name, "warmup.lengths must lie in 1..sequence.max_length");
    }
  }
  setup.warmup.lengths.assign(w.lengths().begin(), w.lengths().end());
  setup.warmup.iterations = w.iterations();
  setup.warmup.max_batch_tokens = b.max_batch_tokens();
  // The platform rule (model_config.proto, `platform`): explicit, else by file extension.
  if (c.platform().empty()) {
    c.set_platform(absl::EndsWith(c.default_model_filename(), ".pt2") ? kPlatformAoti : kPlatformTorchScript);
  }
  if (c.platform() == kPlatformAoti) {
    setup.format = ModelFormat::kAotInductor;
  } else if (c.platform() != kPlatformTorchScript) {
    return Invalid(model_name, absl::StrCat("platform '", c.platform(), "' is not one of '", kPlatformTorchScript,
                                            "' (TorchScript) and '", kPlatformAoti, "' (AOTInductor .pt2)"));
  }
  if (c.default_model_filename().empty()) {
    c.set_default_model_filename(setup.format == ModelFormat::kAotInductor ? "model.pt2" : "model.pt");
  }
  if (c.default_model_filename().find('/') != std::string::npos) {
    return Invalid(model_name, "default_model_filename must be a plain file name");
  }
  // Precision: which ones a device can run is checked at load (runtime/torch/torch_model.cc).
  v1::OptimizationConfig& opt = *c.mutable_optimization();
  if (opt.precision() == v1::OptimizationConfig::PRECISION_UNSPECIFIED) opt.set_precision(v1::OptimizationConfig::FP32);
  switch (opt.precision()) {
    case v1::OptimizationConfig::BF16: setup.precision = Precision::kBf16; break;
    case v1::OptimizationConfig::FP16: setup.precision = Precision::kFp16; break;
    case v1::OptimizationConfig::INT8_DYNAMIC: setup.precision = Precision::kInt8Dynamic; break;
    default: setup.precision = Precision::kFp32; break;
  }
  if (setup.precision == Precision::kInt8Dynamic &&
      (setup.device != Device::kCpu || setup.format != ModelFormat::kTorchScript)) {
    return Invalid(model_name, "optimization.precision INT8_DYNAMIC is for TorchScript on CPU only");
  }
  for (int k = 0; k < c.output_size(); ++k) {
    // A model computing in reduced precision misses its FP32 references by that precision's
    // rounding, whatever type its outputs are converted to.
    Tolerance tolerance = DefaultTolerance(sig.outputs[k].dtype);
    if (IsFloatingPoint(sig.outputs[k].dtype) &&
        (setup.precision == Precision::kBf16 || setup.precision == Precision::kFp16)) {
      const Tolerance reduced =
          DefaultTolerance(setup.precision == Precision::kBf16 ? DataType::kBf16 : DataType::kFp16);
      tolerance = Tolerance{std::max(tolerance.atol, reduced.atol), std::max(tolerance.rtol, reduced.rtol)};
    }
    // (0, 0) is proto3's "absent" and would demand bit-equality of floats, never what one means:
    // it takes the type's default. Exactness is asked for with a tiny atol.
    const v1::Tolerance& t = c.output(k).reference_tolerance();
    if (t.atol() != 0 || t.rtol() != 0) tolerance = Tolerance{t.atol(), t.rtol()};
    if (!(tolerance.atol >= 0) || !(tolerance.rtol >= 0)) {
      return Invalid(model_name, absl::StrCat("output '", sig.outputs[k].name, "' has a negative reference_tolerance"));
    }
    setup.reference_tolerances.push_back(tolerance);
  }
  v1::VersionPolicy& policy = *c.mutable_version_policy();
  if (policy.policy_choice_case() == v1::VersionPolicy::POLICY_CHOICE_NOT_SET) policy.mutable_latest();
  if (policy.has_latest() && policy.latest().num_versions() == 0) policy.mutable_latest()->set_num_versions(1);
  if (policy.has_specific()) {
    if (policy.specific().versions_size() == 0) {
      return Invalid(model_name, "version_policy.specific lists no versions");
    }
    for (int64_t v : policy.specific().versions()) {
      if (v < 1) return Invalid(model_name, absl::StrCat("version_policy.specific: version ", v, " is not >= 1"));
    }
  }
  for (const v1::TensorConfig& t : c.input()) {
    if (t.has_reference_tolerance()) {
      return Invalid(model_name,
                     absl::StrCat("input '", t.name(), "' has a reference_tolerance; only outputs take one"));
    }
  }
  return setup;
}

absl::StatusOr<ModelSetup> LoadModelConfig(const std::string& model_dir, int cpu_cores) {
  const std::filesystem::path dir(model_dir);
  const std::string name = dir.filename().string();
  std::ifstream in(dir / "config.pbtxt");
  if (!in) return absl::NotFoundError(absl::StrCat("model '", name, "' has no config.pbtxt in ", model_dir));
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), name, cpu_cores);
}

std::set<int64_t> ServedVersions(const v1::VersionPolicy& policy, const std::set<int64_t>& folders) {
  if (policy.has_all()) return folders;
  if (policy.has_specific())
    return std::set<int64_t>(policy.specific().versions().begin(), policy.specific().versions().end());
  const size_t n = policy.has_latest() ? std::max<size_t>(1, policy.latest().num_versions()) : 1;
  std::set<int64_t> served;
  for (auto v = folders.rbegin(); v != folders.rend() && served.size() < n; ++v) served.insert(*v);
  return served;
}

}  // namespace seqserve
