#include "server/serving/request_path.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace seqserve {

void RequestPath::Start(CallInfo call, absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write,
                        std::function<void(absl::Status)> finish) {
  const absl::Time received = absl::Now();
  metrics_.inflight().fetch_add(1, std::memory_order_relaxed);
  // Every outcome leaves through here: count it, then answer.
  RequestMetrics::Series* series = &metrics_.SeriesFor(call.api, call.model_name);
  auto done = [this, series, received, finish = std::move(finish)](absl::Status status) {
    RequestMetrics::Record(*series, status.code(), absl::Now() - received);
    metrics_.inflight().fetch_sub(1, std::memory_order_relaxed);
    finish(std::move(status));
  };
  if (state_.draining()) {
    done(absl::UnavailableError("server is draining (shutting down); retry on another replica"));
    return;
  }
  if (!decoded.ok()) {
    done(decoded.status());
    return;
  }
  std::unique_ptr<InferenceRequest> request = std::move(*decoded);
  // The message and the tensors decoded from it (those that do not borrow from it), held until
  // the call finishes: a request waiting in a queue keeps its bytes (Note [request bytes]).
  std::shared_ptr<RequestMemory::Charge> charge;
  if (limits_.memory != nullptr && call.message_bytes >= 0) {
    int64_t bytes = call.message_bytes;
    for (const Tensor& t : request->inputs) bytes += static_cast<int64_t>(t.data.size());
    charge = std::make_shared<RequestMemory::Charge>();
    if (absl::Status taken = limits_.memory->Take(bytes, "a request", *charge); !taken.ok()) {
      done(std::move(taken));
      return;
    }
  }
  if (limits_.max_elements > 0) {
    int64_t elements = 0;
    for (const Tensor& t : request->inputs) {
      if (absl::Status within = AddElements(t.shape, limits_.max_elements, elements); !within.ok()) {
        done(std::move(within));
        return;
      }
    }
  }
  request->deadline = std::min(request->deadline, call.deadline);
  if (request->deadline == absl::InfiniteFuture() && limits_.default_deadline > absl::ZeroDuration()) {
    request->deadline = received + limits_.default_deadline;
  }
  request->cancel = std::move(call.cancel);
  request->done = [write = std::move(write), done,
                   charge = std::move(charge)](absl::StatusOr<InferenceResponse> result) {
    done(result.ok() ? write(*result) : result.status());
  };
  absl::Status status = repository_.router().Infer(request);
  if (!status.ok()) done(std::move(status));
}

}  // namespace seqserve
