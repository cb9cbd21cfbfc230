// seqserve.v1.PredictionService over gRPC's callback API. Handlers never block: Predict hands
// the request to the runtime and an executor thread finishes the call.
#ifndef SEQSERVE_SERVER_PREDICT_SERVICE_H_
#define SEQSERVE_SERVER_PREDICT_SERVICE_H_

#include "runtime/model_repository.h"
#include "seqserve/v1/predict.grpc.pb.h"
#include "server/inference_call.h"

namespace seqserve {

// Thread-safe; the repository and state must outlive the service.
class PredictService final : public v1::PredictionService::CallbackService {
 public:
  PredictService(ModelRepository& repository, const ServingState& state)
      : repository_(repository), state_(state) {}

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
  ModelRepository& repository_;
  const ServingState& state_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_PREDICT_SERVICE_H_
