// RequestPath: the request path every wire API shares once a wire request has been decoded —
// Predict and KServe over gRPC, KServe over REST, the text routes (server/api/text_rest.h): the
// draining check, the element limit, the deadline, cancellation, tokenization of text requests,
// submission to the model repository, finishing the call from the runtime thread that completes
// it, and the per-request metrics. Transport-neutral: gRPC's adapter is server/api/grpc_call.h,
// REST's are server/api/kserve_rest.cc and server/api/text_rest.cc.
//
// Text (StartText, and Start for a request carrying `texts`): the version's TextModel is
// resolved, the texts are tokenized here, on the calling thread (the transport's: gRPC's
// completion threads, the REST event loop), and each text runs as its own one-row request (Note
// [one request per text] in runtime/text/text_encoder.h); the answer is assembled in text order.
#ifndef SEQSERVE_SERVER_SERVING_REQUEST_PATH_H_
#define SEQSERVE_SERVER_SERVING_REQUEST_PATH_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/execution/inference_request.h"
#include "runtime/repository/model_repository.h"
#include "runtime/text/text_encoder.h"
#include "runtime/text/text_model.h"
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

// A decoded text request.
struct TextCall {
  std::string model_name;
  int64_t model_version = 0;  // 0: the highest ready version
  std::string id;
  TextInput input;
  TextOptions options;  // `truncate` is also set by RequestLimits::auto_truncate
  // The model's prompt to prepend to each text: nullopt for its default one (if any), "" none.
  std::optional<std::string> prompt_name;
  // The task the API asks for (/embed: embedding); nullopt: whatever the model does (KServe).
  std::optional<TextTask> task;
  // embedding: the width the client wants (OpenAI's and TEI's `dimensions`), checked against
  // the model's Matryoshka dimensions; nullopt: the model's own.
  std::optional<int64_t> dimensions;
  std::vector<std::string> requested_outputs;  // empty: all
  absl::Time deadline = absl::InfiniteFuture();
};

// What a finished text request's writer gets beside the outputs.
struct TextResult {
  std::shared_ptr<const TextModel> model;
  std::vector<int64_t> tokens;  // per text
  int64_t total_tokens = 0;
};

// Bytes of the texts (and pairs) of `input`.
int64_t TextBytes(const TextInput& input);

// Like ResponseWriter, for text requests.
using TextResponseWriter = std::function<absl::Status(InferenceResponse& response, const TextResult& text)>;

// Thread-safe; the repository, state and metrics must outlive it.
class RequestPath {
 public:
  RequestPath(ModelRepository& repository, const ServingState& state, RequestMetrics& metrics,
              RequestLimits limits = {})
      : repository_(repository), state_(state), metrics_(metrics), limits_(limits) {}

  // Runs `decoded` (or answers its decoding error). `finish` is called exactly once: at once
  // when the request is refused, else later from a runtime thread after `write` ran.
  // A request carrying `texts` goes the text way (StartText, any task).
  void Start(CallInfo call, absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write,
             std::function<void(absl::Status)> finish);

  // Tokenizes `decoded`'s texts with its model's tokenizer and runs them. Refusals beyond
  // Start's: FAILED_PRECONDITION for a model without a tokenizer or of another task,
  // INVALID_ARGUMENT for more texts than max_texts, an unknown prompt name, or a text the
  // encoder refuses (runtime/text/text_encoder.h).
  void StartText(CallInfo call, absl::StatusOr<TextCall> decoded, TextResponseWriter write,
                 std::function<void(absl::Status)> finish);

  ModelRepository& repository() { return repository_; }
  const RequestLimits& limits() const { return limits_; }
  const ServingState& state() const { return state_; }

 private:
  using Finish = std::function<void(absl::Status)>;
  // `finish` wrapped to count the outcome and the latency in `series`; `inflight` is raised.
  Finish Counted(RequestMetrics::Series* series, Finish finish);
  // Answers through `done` and returns true when the server drains or decoding failed.
  bool Refused(const Finish& done, const absl::Status& decoded) const;
  // Texts to rows: resolve, check, tokenize, charge; then queue the rows, which report to one
  // request whose done writes through `write`. Errors answer through `done`.
  void RunText(const CallInfo& call, RequestMetrics::Series& series, TextCall text, TextResponseWriter write,
               Finish done);

  ModelRepository& repository_;
  const ServingState& state_;
  RequestMetrics& metrics_;
  const RequestLimits limits_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_SERVING_REQUEST_PATH_H_
