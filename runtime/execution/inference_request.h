// The runtime's request and response types, shared by both wire APIs (seqserve.v1 and KServe v2).
#ifndef SEQSERVE_RUNTIME_EXECUTION_INFERENCE_REQUEST_H_
#define SEQSERVE_RUNTIME_EXECUTION_INFERENCE_REQUEST_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/base/tensor.h"

namespace seqserve {

// Set by the transport when the client cancels; read by the batcher before compute. A flag
// with a parent is also cancelled when its parent is (the row chunks of one request share one,
// under the client's). Thread-safe.
class CancellationFlag {
 public:
  explicit CancellationFlag(std::shared_ptr<const CancellationFlag> parent = nullptr) : parent_(std::move(parent)) {}
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const {
    return cancelled_.load(std::memory_order_relaxed) || (parent_ != nullptr && parent_->cancelled());
  }

 private:
  std::atomic<bool> cancelled_{false};
  const std::shared_ptr<const CancellationFlag> parent_;
};

// When the runtime accepted a request: set by DynamicBatcher::Enqueue (row chunks cut from a
// request already queued keep its time, runtime/execution/row_chunks.cc). Read by the batcher (oldest
// request first, max_queue_delay), by ModelExecutor::RecordBatch (queue and success durations
// in ExecutionStats) and by CompleteDead (the "waited" of a deadline message). The server times
// requests with its own clock (server/serving/request_path.cc) and never reads this.
struct RequestTiming {
  absl::Time received;
};

struct InferenceResponse {
  int64_t model_version = 0;
  // In the order of InferenceRequest::output_indices.
  std::vector<Tensor> outputs;
};

// Called exactly once, on a runtime thread, with the outputs or the reason the request failed.
// Must not block for long: it runs on an executor thread.
using DoneCallback = std::function<void(absl::StatusOr<InferenceResponse>)>;

// One client request: one or more rows for one model version. Owned by the runtime from
// submission until `done` is called. Not synchronized (only `cancel` is shared).
struct InferenceRequest {
  std::string model_name;
  int64_t model_version = 0;  // 0: the highest ready version
  std::string id;             // the client's request id, echoed back
  std::vector<Tensor> inputs;
  // Text instead of token tensors (KServe BYTES inputs "text" and "text_pair", one string per
  // row): the server tokenizes them with the model's tokenizer before the request is routed
  // (server/serving/request_path.h), so the runtime never sees them. Empty otherwise.
  std::vector<std::string> texts;
  std::vector<std::string> text_pairs;
  std::vector<std::string> requested_outputs;  // empty: all outputs
  absl::Time deadline = absl::InfiniteFuture();
  std::shared_ptr<CancellationFlag> cancel;  // may be null
  DoneCallback done;

  // Filled by ValidateRequest: inputs reordered to the model's order, and:
  std::vector<int> output_indices;  // outputs to return, as indices into the signature
  int64_t rows = 0;                 // size of the leading row dimension
  int64_t sequence_length = 0;      // 0 when the model has no sequence dimension
  RequestTiming timing;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_INFERENCE_REQUEST_H_
