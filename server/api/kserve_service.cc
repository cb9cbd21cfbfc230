#include "server/api/kserve_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/api/grpc_call.h"
#include "server/api/grpc_status.h"
#include "server/api/kserve_codec.h"
#include "server/api/kserve_stream.h"

namespace seqserve {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

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
  absl::StatusOr<bool> ready = info_.ModelReady(request->name(), request->version());
  if (ready.ok()) response->set_ready(*ready);
  return FinishNow(context, ready.status());
}

grpc::ServerUnaryReactor* KServeService::ServerMetadata(grpc::CallbackServerContext* context,
                                                        const inference::ServerMetadataRequest*,
                                                        inference::ServerMetadataResponse* response) {
  info_.ServerMetadata(response);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelMetadata(grpc::CallbackServerContext* context,
                                                       const inference::ModelMetadataRequest* request,
                                                       inference::ModelMetadataResponse* response) {
  return FinishNow(context, info_.ModelMetadata(request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* KServeService::ModelInfer(grpc::CallbackServerContext* context,
                                                    const inference::ModelInferRequest* request,
                                                    inference::ModelInferResponse* response) {
  auto* reactor = new InferReactor();
  // The message outlives the request (Finish runs in its done callback): it may borrow.
  StartUnary(path_, Api::kKServe, context, reactor, request->model_name(), *request,
             FromKServe(*request, InputBytes::kBorrow), [request, response](InferenceResponse& result) {
               ToKServe(*request, result, response);
               return absl::OkStatus();
             });
  return reactor;
}

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
KServeService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return NewStreamReactor(context, path_);
}

grpc::ServerUnaryReactor* KServeService::ModelConfig(grpc::CallbackServerContext* context,
                                                     const inference::ModelConfigRequest* request,
                                                     inference::ModelConfigResponse* response) {
  return FinishNow(context, info_.ModelConfig(request->name(), response));
}

grpc::ServerUnaryReactor* KServeService::ModelStatistics(grpc::CallbackServerContext* context,
                                                         const inference::ModelStatisticsRequest* request,
                                                         inference::ModelStatisticsResponse* response) {
  return FinishNow(context, info_.ModelStatistics(request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* KServeService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                         const inference::RepositoryIndexRequest* request,
                                                         inference::RepositoryIndexResponse* response) {
  info_.RepositoryIndex(request->ready(), response);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                             const inference::RepositoryModelLoadRequest* request,
                                                             inference::RepositoryModelLoadResponse*) {
  return Control(context, RepositoryControl::Action::kLoad, request->repository_name(), request->model_name(),
                 request->parameters());
}

grpc::ServerUnaryReactor* KServeService::RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                               const inference::RepositoryModelUnloadRequest* request,
                                                               inference::RepositoryModelUnloadResponse*) {
  return Control(context, RepositoryControl::Action::kUnload, request->repository_name(), request->model_name(),
                 request->parameters());
}

grpc::ServerUnaryReactor* KServeService::Control(
    grpc::CallbackServerContext* context, RepositoryControl::Action action, const std::string& repository_name,
    const std::string& model_name,
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters) {
  if (control_ == nullptr) return FinishNow(context, absl::UnimplementedError("model control is not enabled"));
  if (!repository_name.empty()) {
    return FinishNow(context,
                     absl::InvalidArgumentError("seqserve serves one repository: leave repository_name empty"));
  }
  std::vector<std::string> names;
  for (const auto& [name, value] : parameters) names.push_back(name);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  control_->Run(action, model_name, names,
                [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace seqserve
