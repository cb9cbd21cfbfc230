// seqserve.v1.PredictionService over gRPC's callback API. Handlers never block: Predict hands
// the request to the runtime and an executor thread finishes the call.
#ifndef SEQSERVE_SERVER_API_PREDICT_SERVICE_H_
#define SEQSERVE_SERVER_API_PREDICT_SERVICE_H_

#include <utility>

#include "runtime/repository/model_repository.h"
#include "seqserve/v1/predict.grpc.pb.h"
#include "server/observability/version.h"
#include "server/serving/readiness.h"
#include "server/serving/request_path.h"

namespace seqserve {

// Thread-safe; `path` and `readiness` must outlive the service.
class PredictService final : public v1::PredictionService::CallbackService {
 public:
  PredictService(RequestPath& path, const Readiness& readiness, BuildInfo build)
      : path_(path), repository_(path.repository()), readiness_(readiness), build_(std::move(build)) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context, const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context, const v1::ModelMetadataRequest* request,
                                          v1::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const v1::ServerMetadataRequest* request,
                                           v1::ServerMetadataResponse* response) override;

 private:
  RequestPath& path_;
  ModelRepository& repository_;
  const Readiness& readiness_;
  const BuildInfo build_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_PREDICT_SERVICE_H_
