// RequestPath: the request path both wire APIs share once a wire request has been decoded:
// the draining check, deadline and cancellation from the gRPC call, submission to the model
// repository, finishing the call from the runtime thread that completes it, and the
// per-request metrics. Every Predict / ModelInfer / stream request goes through Start().
#ifndef SEQSERVE_SERVER_REQUEST_PATH_H_
#define SEQSERVE_SERVER_REQUEST_PATH_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "runtime/inference_request.h"
#include "runtime/model_repository.h"
#include "server/request_metrics.h"

namespace seqserve {

// Whether new requests are still accepted. Thread-safe.
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

// Writes a successful runtime response into the wire response.
using ResponseWriter = std::function<grpc::Status(InferenceResponse& response)>;

// Limits every request is held to before it is queued.
struct RequestLimits {
  // Most elements over all inputs; 0 = no limit.
  int64_t max_elements = 0;
  // Deadline of requests that carry none (from gRPC or the request); zero = none.
  absl::Duration default_deadline = absl::ZeroDuration();
};

// Thread-safe; the repository, state and metrics must outlive it.
class RequestPath {
 public:
  RequestPath(ModelRepository& repository, const ServingState& state, RequestMetrics& metrics,
              RequestLimits limits = {})
      : repository_(repository), state_(state), metrics_(metrics), limits_(limits) {}

  // Runs `decoded` (or answers its decoding error). `finish` is called exactly once: at once
  // when the request is refused, else later from a runtime thread after `write` ran.
  // `model_name` is the name the client asked for (for metrics labels).
  void Start(Api api, grpc::CallbackServerContext* context, std::shared_ptr<CancellationFlag> cancel,
             const std::string& model_name, absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded,
             ResponseWriter write, std::function<void(grpc::Status)> finish);

  // The same for a unary call: finishes `reactor`.
  void Start(Api api, grpc::CallbackServerContext* context, InferReactor* reactor,
             const std::string& model_name, absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded,
             ResponseWriter write);

  ModelRepository& repository() { return repository_; }
  const ServingState& state() const { return state_; }

 private:
  ModelRepository& repository_;
  const ServingState& state_;
  RequestMetrics& metrics_;
  const RequestLimits limits_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_REQUEST_PATH_H_
