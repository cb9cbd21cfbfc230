// The request path both wire APIs share once a wire request has become an InferenceRequest:
// deadline and cancellation from the gRPC call, the draining check, submission to the
// repository, and finishing the reactor from the runtime thread that completes the request.
#ifndef SEQSERVE_SERVER_INFERENCE_CALL_H_
#define SEQSERVE_SERVER_INFERENCE_CALL_H_

#include <atomic>
#include <functional>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "runtime/inference_request.h"
#include "runtime/model_repository.h"

namespace seqserve {

// Serving state shared by the services: whether new requests are still accepted.
// Thread-safe.
class ServingState {
 public:
  void StartDraining() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

 private:
  std::atomic<bool> draining_{false};
};

// A unary reactor that forwards client cancellation to the runtime. Deletes itself when done.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  InferReactor() : cancel_(std::make_shared<CancellationFlag>()) {}
  void OnCancel() override { cancel_->Cancel(); }
  void OnDone() override { delete this; }
  const std::shared_ptr<CancellationFlag>& cancel() const { return cancel_; }

 private:
  std::shared_ptr<CancellationFlag> cancel_;
};

// Writes a successful runtime response into the wire response; may reject it (e.g. an encoding
// the client asked for is impossible) by returning a non-OK status.
using ResponseWriter = std::function<grpc::Status(InferenceResponse& response)>;

// Submits `request` for `context`; `reactor` is finished exactly once, either now (rejected
// before acceptance) or later from the runtime thread via `write`.
void StartInference(ModelRepository& repository, const ServingState& state,
                    grpc::CallbackServerContext* context, InferReactor* reactor,
                    std::unique_ptr<InferenceRequest> request, ResponseWriter write);

// Same submission for a caller that is not a unary reactor (the KServe stream): `finish` gets
// the final status after `write` ran (or instead of it).
void StartInference(ModelRepository& repository, const ServingState& state,
                    grpc::CallbackServerContext* context, std::shared_ptr<CancellationFlag> cancel,
                    std::unique_ptr<InferenceRequest> request, ResponseWriter write,
                    std::function<void(grpc::Status)> finish);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_INFERENCE_CALL_H_
