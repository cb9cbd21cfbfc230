#include "server/api/kserve_info.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/api/kserve_request.h"
#include "server/observability/version.h"

namespace seqserve {
namespace {

inference::DataType ToConfigType(DataType type) {
  switch (type) {
    case DataType::kBool: return inference::TYPE_BOOL;
    case DataType::kUint8: return inference::TYPE_UINT8;
    case DataType::kInt8: return inference::TYPE_INT8;
    case DataType::kInt16: return inference::TYPE_INT16;
    case DataType::kInt32: return inference::TYPE_INT32;
    case DataType::kInt64: return inference::TYPE_INT64;
    case DataType::kFp16: return inference::TYPE_FP16;
    case DataType::kBf16: return inference::TYPE_BF16;
    case DataType::kFp32: return inference::TYPE_FP32;
    case DataType::kFp64: return inference::TYPE_FP64;
    case DataType::kInvalid: break;
  }
  return inference::TYPE_INVALID;
}

void StringParameter(inference::ModelConfig* config, const std::string& key, const std::string& value) {
  (*config->mutable_parameters())[key].set_string_value(value);
}

void SetDuration(inference::StatisticDuration* d, int64_t count, int64_t ns) {
  d->set_count(static_cast<uint64_t>(count));
  d->set_ns(static_cast<uint64_t>(ns));
}

}  // namespace

void KServeInfo::ServerMetadata(inference::ServerMetadataResponse* response) const {
  response->set_name("seqserve");
  response->set_version(kSeqserveVersion);
  response->add_extensions("model_configuration");
  response->add_extensions("statistics");
  response->add_extensions("binary_tensor_data");
}

absl::StatusOr<bool> KServeInfo::ModelReady(const std::string& name, const std::string& version_text) const {
  absl::StatusOr<int64_t> version = ParseKServeVersion(version_text);
  if (!version.ok()) return version.status();
  return readiness_.ModelReady(name, *version);
}

absl::Status KServeInfo::ModelMetadata(const std::string& name, const std::string& version_text,
                                       inference::ModelMetadataResponse* response) const {
  absl::StatusOr<int64_t> version = ParseKServeVersion(version_text);
  if (!version.ok()) return version.status();
  absl::StatusOr<int64_t> resolved = repository_.router().ResolveVersion(name, *version);
  if (!resolved.ok()) return resolved.status();
  absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(name);
  if (!info.ok()) return info.status();
  response->set_name(info->name);
  for (const VersionStatus& v : info->versions) {
    if (v.state == VersionState::kReady) response->add_versions(std::to_string(v.version));
  }
  response->set_platform("pytorch_libtorch");
  const ModelSignature& sig = info->setup.signature;
  auto describe = [&sig](const TensorSpec& spec, inference::ModelMetadataResponse::TensorMetadata* out) {
    out->set_name(spec.name);
    out->set_datatype(std::string(DataTypeName(spec.dtype)));
    out->add_shape(-1);
    for (int64_t d : spec.dims) out->add_shape(d);
  };
  for (const TensorSpec& s : sig.inputs) describe(s, response->add_inputs());
  for (const TensorSpec& s : sig.outputs) describe(s, response->add_outputs());
  return absl::OkStatus();
}

absl::Status KServeInfo::ModelConfig(const std::string& name, inference::ModelConfigResponse* response) const {
  absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(name);
  if (!info.ok()) return info.status();
  if (!info->config_ok) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is unavailable: ", info->config_error));
  }
  const ModelSetup& setup = info->setup;
  const ModelSignature& sig = setup.signature;
  inference::ModelConfig* config = response->mutable_config();
  config->set_name(info->name);
  config->set_platform("pytorch_libtorch");
  config->set_backend("pytorch");
  config->set_max_batch_size(static_cast<int32_t>(sig.max_batch_size));
  config->set_default_model_filename(setup.config.default_model_filename());
  // Triton's ModelVersionPolicy and ours have the same fields and numbers: the bytes carry over.
  config->mutable_version_policy()->ParseFromString(setup.config.version_policy().SerializeAsString());
  for (const TensorSpec& s : sig.inputs) {
    auto* in = config->add_input();
    in->set_name(s.name);
    in->set_data_type(ToConfigType(s.dtype));
    for (int64_t d : s.dims) in->add_dims(d);
    if (s.has_range)
      StringParameter(config, "seqserve.valid_range." + s.name,
                      absl::StrCat("[", s.range_begin, ", ", s.range_end, ")"));
  }
  for (const TensorSpec& s : sig.outputs) {
    auto* out = config->add_output();
    out->set_name(s.name);
    out->set_data_type(ToConfigType(s.dtype));
    for (int64_t d : s.dims) out->add_dims(d);
  }
  auto* group = config->add_instance_group();
  group->set_count(setup.instances);
  group->set_kind(setup.device == Device::kCuda ? inference::ModelInstanceGroup::KIND_GPU
                                                : inference::ModelInstanceGroup::KIND_CPU);
  for (int gpu : setup.gpus) group->add_gpus(gpu);
  config->mutable_dynamic_batching()->set_max_queue_delay_microseconds(
      static_cast<uint64_t>(absl::ToInt64Microseconds(setup.batcher.max_queue_delay)));
  // seqserve's own batching knobs have no Triton field; they travel as parameters.
  const v1::BatchingConfig& b = setup.config.batching();
  StringParameter(config, "seqserve.batching_mode", v1::BatchingConfig::Mode_Name(b.mode()));
  StringParameter(config, "seqserve.max_batch_tokens", std::to_string(b.max_batch_tokens()));
  StringParameter(config, "seqserve.max_queue_size", std::to_string(b.max_queue_size()));
  StringParameter(config, "seqserve.bucket_edges", absl::StrJoin(b.bucket_edges(), ","));
  if (sig.has_sequence()) {
    StringParameter(config, "seqserve.sequence_axis", std::to_string(sig.sequence_axis));
    StringParameter(config, "seqserve.max_sequence_length", std::to_string(sig.max_sequence_length));
  }
  StringParameter(config, "seqserve.intra_op_threads", std::to_string(setup.intra_op_threads));
  return absl::OkStatus();
}

absl::Status KServeInfo::ModelStatistics(const std::string& name, const std::string& version_text,
                                         inference::ModelStatisticsResponse* response) const {
  absl::StatusOr<int64_t> version = ParseKServeVersion(version_text);
  if (!version.ok()) return version.status();
  if (!name.empty()) {
    absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(name);
    if (!info.ok()) return info.status();
  }
  for (const auto& [key, stats] : repository_.StatsSnapshot()) {
    const auto& [model, number] = key;
    if (!name.empty() && model != name) continue;
    if (*version != 0 && number != *version) continue;
    const ExecutionStats& e = stats.execution;
    inference::ModelStatistics* out = response->add_model_stats();
    out->set_name(model);
    out->set_version(std::to_string(number));
    out->set_last_inference(static_cast<uint64_t>(e.last_inference_ms));
    out->set_inference_count(static_cast<uint64_t>(e.inference_count));
    out->set_execution_count(static_cast<uint64_t>(e.execution_count));
    inference::InferStatistics* s = out->mutable_inference_stats();
    SetDuration(s->mutable_success(), e.success_count, e.success_ns);
    SetDuration(s->mutable_fail(), e.fail_count, e.fail_ns);
    SetDuration(s->mutable_queue(), e.success_count + e.fail_count, e.queue_ns);
    // seqserve times a batch as a whole (padding copy-in, forward, copy-out): all of it is
    // reported as compute_infer; compute_input/output carry the same count (perf_analyzer
    // requires equal counts) and zero time.
    SetDuration(s->mutable_compute_input(), e.success_count + e.fail_count, 0);
    SetDuration(s->mutable_compute_infer(), e.success_count + e.fail_count, e.compute_ns);
    SetDuration(s->mutable_compute_output(), e.success_count + e.fail_count, 0);
  }
  return absl::OkStatus();
}

void KServeInfo::RepositoryIndex(bool ready_only, inference::RepositoryIndexResponse* response) const {
  for (const std::string& name : repository_.ModelNames()) {
    absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(name);
    if (!info.ok()) continue;
    for (const VersionStatus& v : info->versions) {
      if (ready_only && v.state != VersionState::kReady) continue;
      auto* index = response->add_models();
      index->set_name(name);
      index->set_version(std::to_string(v.version));
      index->set_state(std::string(VersionStateName(v.state)));
      index->set_reason(v.reason);
    }
    if (info->versions.empty() && !ready_only) {  // a model with no version to list: say why
      auto* index = response->add_models();
      index->set_name(name);
      index->set_state("UNAVAILABLE");
      index->set_reason(!info->config_ok ? info->config_error : info->reason);
    }
  }
}

}  // namespace seqserve
