#include "server/request_path.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/grpc_status.h"

namespace seqserve {

void RequestPath::Start(Api api, grpc::CallbackServerContext* context, std::shared_ptr<CancellationFlag> cancel,
                        const std::string& model_name,
                        absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write,
                        std::function<void(grpc::Status)> finish) {
  const absl::Time received = absl::Now();
  metrics_.inflight().fetch_add(1, std::memory_order_relaxed);
  // Every outcome leaves through here: count it, then answer.
  RequestMetrics::Series* series = &metrics_.SeriesFor(api, model_name);
  auto done = [this, series, received, finish = std::move(finish)](grpc::Status status) {
    RequestMetrics::Record(*series, static_cast<absl::StatusCode>(status.error_code()), absl::Now() - received);
    metrics_.inflight().fetch_sub(1, std::memory_order_relaxed);
    finish(std::move(status));
  };
  if (state_.draining()) {
    done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is draining (shutting down); retry on another replica"));
    return;
  }
  if (!decoded.ok()) {
    done(ToGrpcStatus(decoded.status()));
    return;
  }
  std::unique_ptr<InferenceRequest> request = std::move(*decoded);
  if (limits_.max_elements > 0) {
    int64_t elements = 0;
    for (const Tensor& t : request->inputs) {
      const std::optional<int64_t> n = CheckedNumElements(t.shape);
      if (!n.has_value()) continue;  // a negative or overflowing shape: ValidateRequest says which
      if (__builtin_add_overflow(elements, *n, &elements) || elements > limits_.max_elements) {
        done(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("request has more than ", limits_.max_elements,
                                       " tensor elements, the server's limit (--max-request-elements)")));
        return;
      }
    }
  }
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    request->deadline = std::min(request->deadline, absl::FromChrono(deadline));
  }
  if (request->deadline == absl::InfiniteFuture() && limits_.default_deadline > absl::ZeroDuration()) {
    request->deadline = received + limits_.default_deadline;
  }
  request->cancel = std::move(cancel);
  request->done = [write = std::move(write), done](absl::StatusOr<InferenceResponse> result) {
    done(result.ok() ? write(*result) : ToGrpcStatus(result.status()));
  };
  absl::Status status = repository_.Infer(request);
  if (!status.ok()) done(ToGrpcStatus(status));
}

void RequestPath::Start(Api api, grpc::CallbackServerContext* context, InferReactor* reactor,
                        const std::string& model_name,
                        absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write) {
  Start(api, context, reactor->cancel(), model_name, std::move(decoded), std::move(write),
        [reactor](grpc::Status status) { reactor->Finish(std::move(status)); });
}

}  // namespace seqserve
