#include "server/inference_call.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/time/time.h"
#include "server/grpc_status.h"

namespace seqserve {

void StartInference(ModelRepository& repository, const ServingState& state,
                    grpc::CallbackServerContext* context, std::shared_ptr<CancellationFlag> cancel,
                    std::unique_ptr<InferenceRequest> request, ResponseWriter write,
                    std::function<void(grpc::Status)> finish) {
  if (state.draining()) {
    finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "server is draining (shutting down); retry on another replica"));
    return;
  }
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    request->deadline = std::min(request->deadline, absl::FromChrono(deadline));
  }
  request->cancel = std::move(cancel);
  request->done = [write = std::move(write), finish](absl::StatusOr<InferenceResponse> result) {
    if (!result.ok()) {
      finish(ToGrpcStatus(result.status()));
      return;
    }
    finish(write(*result));
  };
  absl::Status status = repository.Infer(request);
  if (!status.ok()) finish(ToGrpcStatus(status));
}

void StartInference(ModelRepository& repository, const ServingState& state,
                    grpc::CallbackServerContext* context, InferReactor* reactor,
                    std::unique_ptr<InferenceRequest> request, ResponseWriter write) {
  StartInference(repository, state, context, reactor->cancel(), std::move(request), std::move(write),
                 [reactor](grpc::Status status) { reactor->Finish(std::move(status)); });
}

}  // namespace seqserve
