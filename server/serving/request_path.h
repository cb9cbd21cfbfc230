// RequestPath: the request path every wire API shares once a wire request has been decoded —
// Predict and KServe over gRPC, KServe over REST: the draining check, the element limit, the
// deadline, cancellation, submission to the model repository, finishing the call from the
// runtime thread that completes it, and the per-request metrics. Transport-neutral: gRPC's
// adapter is server/api/grpc_call.h, REST's is server/api/kserve_rest.cc.
#ifndef SEQSERVE_SERVER_SERVING_REQUEST_PATH_H_
#define SEQSERVE_SERVER_SERVING_REQUEST_PATH_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/execution/inference_request.h"
#include "runtime/repository/model_repository.h"
#include "server/admission/request_limits.h"
#include "server/observability/request_metrics.h"
#include "server/serving/serving_state.h"

namespace seqserve {

// Writes a successful runtime response into the wire response; runs on the runtime thread
// that completed the request, so it should only move data (encoding belongs to the transport).
using ResponseWriter = std::function<absl::Status(InferenceResponse& response)>;

// What the transport knows about a call before it is decoded.
struct CallInfo {
  Api api = Api::kPredict;
  // The name the client asked for (for metrics labels; unknown names share one label).
  std::string model_name;
  // The transport's deadline (gRPC's, or none); the request's own may be earlier.
  absl::Time deadline = absl::InfiniteFuture();
  // Set by the transport when the client goes away; may be null.
  std::shared_ptr<CancellationFlag> cancel;
  // Bytes of the received message, charged to request memory here with the tensors decoded
  // from it (gRPC, whose messages arrive whole); -1: the transport charged the call itself
  // (REST: its body as it arrived, its tensors as they were decoded).
  int64_t message_bytes = -1;
};

// Thread-safe; the repository, state and metrics must outlive it.
class RequestPath {
 public:
  RequestPath(ModelRepository& repository, const ServingState& state, RequestMetrics& metrics,
              RequestLimits limits = {})
      : repository_(repository), state_(state), metrics_(metrics), limits_(limits) {}

  // Runs `decoded` (or answers its decoding error). `finish` is called exactly once: at once
  // when the request is refused, else later from a runtime thread after `write` ran.
  void Start(CallInfo call, absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write,
             std::function<void(absl::Status)> finish);

  ModelRepository& repository() { return repository_; }
  const RequestLimits& limits() const { return limits_; }
  const ServingState& state() const { return state_; }

 private:
  ModelRepository& repository_;
  const ServingState& state_;
  RequestMetrics& metrics_;
  const RequestLimits limits_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_SERVING_REQUEST_PATH_H_
