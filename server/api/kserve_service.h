// inference.GRPCInferenceService (KServe v2 / Open Inference Protocol, as Triton speaks it), so
// tritonclient, perf_analyzer and KServe's SDK work unchanged. ModelInfer and ModelStreamInfer
// share the Predict request path (server/serving/request_path.h); the answers about models come from
// server/api/kserve_info.h, shared with the REST routes. RPCs about shared memory, tracing,
// and logging answer UNIMPLEMENTED (the base class's default); repository load/unload go to
// server/serving/repository_control.h (UNIMPLEMENTED without one).
#ifndef SEQSERVE_SERVER_API_KSERVE_SERVICE_H_
#define SEQSERVE_SERVER_API_KSERVE_SERVICE_H_

#include "inference/grpc_service.grpc.pb.h"
#include "runtime/repository/model_repository.h"
#include "server/api/kserve_info.h"
#include "server/serving/readiness.h"
#include "server/serving/repository_control.h"
#include "server/serving/request_path.h"

namespace seqserve {

// Thread-safe; `path`, `readiness` and `control` (may be null) must outlive the service.
class KServeService final : public inference::GRPCInferenceService::CallbackService {
 public:
  KServeService(RequestPath& path, const Readiness& readiness, RepositoryControl* control = nullptr)
      : path_(path), readiness_(readiness), control_(control), info_(path.repository(), readiness) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                const inference::RepositoryModelLoadRequest* request,
                                                inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                  const inference::RepositoryModelUnloadRequest* request,
                                                  inference::RepositoryModelUnloadResponse* response) override;

 private:
  grpc::ServerUnaryReactor* Control(
      grpc::CallbackServerContext* context, RepositoryControl::Action action, const std::string& repository_name,
      const std::string& model_name,
      const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters);

  RequestPath& path_;
  const Readiness& readiness_;
  RepositoryControl* const control_;
  const KServeInfo info_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_SERVICE_H_
