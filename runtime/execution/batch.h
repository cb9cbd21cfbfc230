// A batch of requests for one model, and the copies between per-request tensors and the batched
// (padded) tensors a model runs on. Plain C++: the libtorch executor calls these on its buffers.
#ifndef SEQSERVE_RUNTIME_EXECUTION_BATCH_H_
#define SEQSERVE_RUNTIME_EXECUTION_BATCH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/execution/inference_request.h"
#include "runtime/execution/model_signature.h"

namespace seqserve {

// Requests that run together. Rows are laid out request after request, in `requests` order;
// every tensor that carries the sequence dimension is padded to `padded_length`.
// A value type; owned by one executor thread at a time.
struct Batch {
  std::vector<std::unique_ptr<InferenceRequest>> requests;
  int64_t rows = 0;
  int64_t padded_length = 0;  // longest member's sequence length; 0 without a sequence dimension
};

// A request's tokens that are not padding: rows x sequence length (rows without a sequence).
inline int64_t RealTokens(const InferenceRequest& request) {
  return request.rows * (request.sequence_length > 1 ? request.sequence_length : 1);
}

// Whether `request` should no longer be computed: its client cancelled or its deadline passed.
bool IsDead(const InferenceRequest& request, absl::Time now);

// Completes each of `dead` with CANCELLED or DEADLINE_EXCEEDED, saying `where` it waited (e.g.
// "in the queue"), and empties it. Call without locks held: `done` runs client code.
void CompleteDead(std::vector<std::unique_ptr<InferenceRequest>>& dead, absl::Time now, absl::string_view where);

// Moves the dead requests of `batch` into `dead` and recomputes its rows and padded length.
void RemoveDead(Batch& batch, absl::Time now, std::vector<std::unique_ptr<InferenceRequest>>& dead);

// Splits `batch` into two batches of about half the requests each, in order, with their rows
// and padded lengths recomputed. `batch` must hold at least two requests.
std::pair<Batch, Batch> SplitBatch(Batch&& batch);

// Shape of `spec` batched over `rows` rows, its sequence axis (if any) set to `padded_length`.
std::vector<int64_t> BatchedShape(const ModelSignature& signature, const TensorSpec& spec, int64_t rows,
                                  int64_t padded_length);

// A request of `rows` rows at sequence length `length` (ignored without a sequence dimension)
// with every input of the signature, each sized for its batched shape and its bytes written by
// `fill(spec, data)` (data arrives sized, zeroed), and every output requested. For synthetic
// batches: warm-up, tests, fuzzers.
std::unique_ptr<InferenceRequest> SyntheticRequest(
    const ModelSignature& signature, int64_t rows, int64_t length,
    const std::function<void(const TensorSpec& spec, std::string& data)>& fill);

// Writes input `input_index` of every request in `batch` into `dst`, a buffer of the batched
// shape (BatchedShape x element size), filling padded positions with the input's pad value.
void AssembleInput(const ModelSignature& signature, int input_index, const Batch& batch, char* dst);

// Checks a model output against the signature: `shape` must be BatchedShape(output, rows,
// padded_length). INTERNAL error otherwise (the model disagrees with its config.pbtxt).
absl::Status CheckOutputShape(const ModelSignature& signature, int output_index, const Batch& batch,
                              const std::vector<int64_t>& shape);

// Copies the rows of `request` (which start at `row_offset` in the batch) out of the batched
// output `src` (of the checked batched shape), removing sequence padding.
Tensor ExtractOutput(const ModelSignature& signature, int output_index, const Batch& batch, const char* src,
                     int64_t row_offset, const InferenceRequest& request);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_BATCH_H_
