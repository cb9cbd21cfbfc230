#include "server/kserve_service.h"

#include <deque>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/grpc_status.h"
#include "server/kserve_codec.h"
#include "server/version.h"

namespace seqserve {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

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

// ModelStreamInfer: requests are read one after another and submitted as they arrive; responses
// are written in request order, each as soon as it and all before it are complete. A bad request
// is answered with its error_message and the stream goes on. The reactor finishes when the
// client has stopped writing and every response is written (or the call was cancelled), and
// deletes itself only after every runtime callback has run.
class StreamReactor final
    : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  StreamReactor(grpc::CallbackServerContext* context, RequestPath& path)
      : context_(context), path_(path),
        cancel_(std::make_shared<CancellationFlag>()) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!ok || broken_) {
      reads_done_ = true;
      Advance(lock);
      return;
    }
    auto slot = std::make_shared<Slot>();
    slot->request = std::move(incoming_);
    incoming_.Clear();
    slots_.push_back(slot);
    ++pending_;
    lock.unlock();
    Submit(slot);
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    slots_.pop_front();
    if (!ok) broken_ = true;
    Advance(lock);
  }

  void OnCancel() override {
    cancel_->Cancel();
    std::unique_lock<std::mutex> lock(mu_);
    broken_ = true;
    Advance(lock);
  }

  void OnDone() override {
    std::unique_lock<std::mutex> lock(mu_);
    done_ = true;
    const bool last = pending_ == 0;
    lock.unlock();
    if (last) delete this;
  }

 private:
  struct Slot {
    inference::ModelInferRequest request;
    inference::ModelStreamInferResponse response;
    bool complete = false;
  };

  void Submit(const std::shared_ptr<Slot>& slot) {
    path_.Start(
        Api::kKServe, context_, cancel_, slot->request.model_name(), FromKServe(slot->request),
        [slot](InferenceResponse& result) {
          ToKServe(slot->request, result, slot->response.mutable_infer_response());
          return grpc::Status::OK;
        },
        [this, slot](grpc::Status status) { Complete(*slot, status); });
  }

  // Runs once per request, on whichever thread finished it.
  void Complete(Slot& slot, const grpc::Status& status) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!status.ok()) {
      slot.response.Clear();
      slot.response.set_error_message(status.error_message());
      slot.response.mutable_infer_response()->set_id(slot.request.id());
    }
    slot.complete = true;
    --pending_;
    if (done_ && pending_ == 0) {  // the call already ended (it was cancelled)
      lock.unlock();
      delete this;
      return;
    }
    Advance(lock);
  }

  // Starts the next write, or finishes the call, as the state allows. Called with the lock
  // held; releases it before calling into gRPC (which may run reactions inline).
  void Advance(std::unique_lock<std::mutex>& lock) {
    if (broken_) {
      while (!writing_ && !slots_.empty() && slots_.front()->complete) slots_.pop_front();
    }
    inference::ModelStreamInferResponse* to_write = nullptr;
    if (!broken_ && !writing_ && !slots_.empty() && slots_.front()->complete) {
      writing_ = true;
      to_write = &slots_.front()->response;
    }
    const bool finish = !finished_ && !writing_ && pending_ == 0 &&
                        (broken_ || (reads_done_ && slots_.empty()));
    if (finish) finished_ = true;
    const bool cancelled = broken_;
    lock.unlock();
    if (to_write != nullptr) StartWrite(to_write);
    if (finish) Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled") : grpc::Status::OK);
  }

  grpc::CallbackServerContext* const context_;
  RequestPath& path_;
  const std::shared_ptr<CancellationFlag> cancel_;
  inference::ModelInferRequest incoming_;  // only touched by the read chain

  std::mutex mu_;
  std::deque<std::shared_ptr<Slot>> slots_;  // in request order; front is next to write
  int pending_ = 0;                          // submitted, not yet complete
  bool writing_ = false;
  bool reads_done_ = false;
  bool broken_ = false;  // cancelled or a write failed: stop writing
  bool finished_ = false;
  bool done_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* KServeService::ServerLive(grpc::CallbackServerContext* context,
                                                    const inference::ServerLiveRequest*,
                                                    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ServerReady(grpc::CallbackServerContext* context,
                                                     const inference::ServerReadyRequest*,
                                                     inference::ServerReadyResponse* response) {
  response->set_ready(readiness_.ServerReady());
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelReady(grpc::CallbackServerContext* context,
                                                    const inference::ModelReadyRequest* request,
                                                    inference::ModelReadyResponse* response) {
  absl::StatusOr<int64_t> version = ParseKServeVersion(request->version());
  if (!version.ok()) return FinishNow(context, version.status());
  // Like Triton: an unknown model or version is simply not ready.
  response->set_ready(readiness_.ModelReady(request->name(), *version));
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ServerMetadata(grpc::CallbackServerContext* context,
                                                        const inference::ServerMetadataRequest*,
                                                        inference::ServerMetadataResponse* response) {
  response->set_name("seqserve");
  response->set_version(kSeqserveVersion);
  response->add_extensions("model_configuration");
  response->add_extensions("statistics");
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelMetadata(grpc::CallbackServerContext* context,
                                                       const inference::ModelMetadataRequest* request,
                                                       inference::ModelMetadataResponse* response) {
  absl::StatusOr<int64_t> version = ParseKServeVersion(request->version());
  if (!version.ok()) return FinishNow(context, version.status());
  absl::StatusOr<int64_t> resolved = repository_.ResolveVersion(request->name(), *version);
  if (!resolved.ok()) return FinishNow(context, resolved.status());
  absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(request->name());
  if (!info.ok()) return FinishNow(context, info.status());
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
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelInfer(grpc::CallbackServerContext* context,
                                                    const inference::ModelInferRequest* request,
                                                    inference::ModelInferResponse* response) {
  auto* reactor = new InferReactor();
  // The message outlives the request (Finish runs in its done callback): it may borrow.
  path_.Start(Api::kKServe, context, reactor, request->model_name(), FromKServe(*request, InputBytes::kBorrow),
                 [request, response](InferenceResponse& result) {
                   ToKServe(*request, result, response);
                   return grpc::Status::OK;
                 });
  return reactor;
}

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
KServeService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return new StreamReactor(context, path_);
}

grpc::ServerUnaryReactor* KServeService::ModelConfig(grpc::CallbackServerContext* context,
                                                     const inference::ModelConfigRequest* request,
                                                     inference::ModelConfigResponse* response) {
  absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(request->name());
  if (!info.ok()) return FinishNow(context, info.status());
  if (!info->config_ok) {
    return FinishNow(context, absl::UnavailableError(absl::StrCat("model '", request->name(),
                                                                  "' is unavailable: ", info->config_error)));
  }
  const ModelSetup& setup = info->setup;
  const ModelSignature& sig = setup.signature;
  inference::ModelConfig* config = response->mutable_config();
  config->set_name(info->name);
  config->set_platform("pytorch_libtorch");
  config->set_backend("pytorch");
  config->set_max_batch_size(static_cast<int32_t>(sig.max_batch_size));
  config->set_default_model_filename(setup.config.default_model_filename());
  for (const TensorSpec& s : sig.inputs) {
    auto* in = config->add_input();
    in->set_name(s.name);
    in->set_data_type(ToConfigType(s.dtype));
    for (int64_t d : s.dims) in->add_dims(d);
    if (s.has_range) StringParameter(config, "seqserve.valid_range." + s.name, absl::StrCat("[", s.range_begin, ", ", s.range_end, ")"));
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
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelStatistics(grpc::CallbackServerContext* context,
                                                         const inference::ModelStatisticsRequest* request,
                                                         inference::ModelStatisticsResponse* response) {
  absl::StatusOr<int64_t> version = ParseKServeVersion(request->version());
  if (!version.ok()) return FinishNow(context, version.status());
  if (!request->name().empty()) {
    absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(request->name());
    if (!info.ok()) return FinishNow(context, info.status());
  }
  for (const auto& [key, stats] : repository_.StatsSnapshot()) {
    const auto& [name, number] = key;
    if (!request->name().empty() && name != request->name()) continue;
    if (*version != 0 && number != *version) continue;
    const ExecutionStats& e = stats.execution;
    inference::ModelStatistics* out = response->add_model_stats();
    out->set_name(name);
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
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                         const inference::RepositoryIndexRequest* request,
                                                         inference::RepositoryIndexResponse* response) {
  for (const std::string& name : repository_.ModelNames()) {
    absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(name);
    if (!info.ok()) continue;
    for (const VersionStatus& v : info->versions) {
      if (request->ready() && v.state != VersionState::kReady) continue;
      auto* index = response->add_models();
      index->set_name(name);
      index->set_version(std::to_string(v.version));
      index->set_state(std::string(VersionStateName(v.state)));
      index->set_reason(v.reason);
    }
    if (!info->config_ok && info->versions.empty() && !request->ready()) {
      auto* index = response->add_models();
      index->set_name(name);
      index->set_state("UNAVAILABLE");
      index->set_reason(info->config_error);
    }
  }
  return FinishNow(context, absl::OkStatus());
}

}  // namespace seqserve
