// seqserve.v1.PredictionService over gRPC's callback API. Handlers never block: Predict hands
// the request to the runtime and an executor thread finishes the call.
#ifndef SEQSERVE_SERVER_PREDICT_SERVICE_H_
#define SEQSERVE_SERVER_PREDICT_SERVICE_H_

#include "runtime/model_repository.h"
#include "seqserve/v1/predict.grpc.pb.h"
#include "server/request_path.h"

namespace seqserve {

// Thread-safe; `path` must outlive the service.
class PredictService final : public v1::PredictionService::CallbackService {
 public:
  explicit PredictService(RequestPath& path) : path_(path), repository_(path.repository()) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const v1::ModelMetadataRequest* request,
                                          v1::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const v1::ServerMetadataRequest* request,
                                           v1::ServerMetadataResponse* response) override;

 private:
  RequestPath& path_;
  ModelRepository& repository_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_PREDICT_SERVICE_H_
