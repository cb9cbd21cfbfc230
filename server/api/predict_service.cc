#include "server/api/predict_service.h"

#include <utility>

#include "server/api/grpc_call.h"
#include "server/api/grpc_status.h"
#include "server/api/tensor_codec.h"
#include "server/observability/version.h"

namespace seqserve {

grpc::ServerUnaryReactor* PredictService::Predict(grpc::CallbackServerContext* context,
                                                  const v1::PredictRequest* request, v1::PredictResponse* response) {
  auto* reactor = new InferReactor();
  StartUnary(path_, Api::kPredict, context, reactor, request->model_name(), *request, FromWire(*request),
             [request, response](InferenceResponse& result) {
               response->set_model_name(request->model_name());
               response->set_model_version(result.model_version);
               response->set_id(request->id());
               for (Tensor& t : result.outputs) ToWire(std::move(t), response->add_outputs());
               return absl::OkStatus();
             });
  return reactor;
}

grpc::ServerUnaryReactor* PredictService::ModelMetadata(grpc::CallbackServerContext* context,
                                                        const v1::ModelMetadataRequest* request,
                                                        v1::ModelMetadataResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(request->model_name());
  if (!info.ok()) {
    reactor->Finish(ToGrpcStatus(info.status()));
    return reactor;
  }
  response->set_model_name(info->name);
  for (const VersionStatus& v : info->versions) {
    v1::ModelVersionStatus* out = response->add_versions();
    out->set_version(v.version);
    out->set_state(std::string(VersionStateName(v.state)));
    out->set_reason(v.reason);
  }
  if (!info->config_ok) {
    // Still answer: the reason is what the client developer needs to see.
    response->set_ready(false);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  absl::StatusOr<int64_t> version =
      repository_.router().ResolveVersion(request->model_name(), request->model_version());
  response->set_ready(readiness_.ModelReady(request->model_name(), request->model_version()));
  if (version.ok()) response->set_model_version(*version);
  const ModelSignature& sig = info->setup.signature;
  for (const TensorSpec& s : sig.inputs) DescribeTensor(s, response->add_inputs());
  for (const TensorSpec& s : sig.outputs) DescribeTensor(s, response->add_outputs());
  response->set_max_batch_size(sig.max_batch_size);
  response->set_max_sequence_length(sig.max_sequence_length);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PredictService::ServerMetadata(grpc::CallbackServerContext* context,
                                                         const v1::ServerMetadataRequest*,
                                                         v1::ServerMetadataResponse* response) {
  response->set_name("seqserve");
  response->set_version(build_.version);
  response->set_torch_version(build_.torch_version);
  for (const std::string& name : repository_.ModelNames()) response->add_models(name);
  response->set_ready(readiness_.ServerReady());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace seqserve
