// Row chunks: one request of many rows run as several smaller requests ("parts"), so that no
// single request can exceed a batch's row, token or memory limits.
//
// Note [row chunks]: memory per batch grows with rows x padded length (and attention with
// rows x length^2), and a request's rows cannot otherwise be split, so one "embed these 32
// passages of 512 tokens" call would run as one batch of 16,384 tokens, ~1 GiB of activations on
// all-MiniLM-L6-v2, whatever the token budget. Cut into parts of at most max_batch_tokens
// (and what the memory budget allows), it runs as ordinary batches beside other requests.
// Each part borrows its rows of the request's inputs (no copy); the parts' outputs are
// concatenated in row order into the one response the client gets. Parts share the request's
// deadline and, under the client's cancellation, one flag of their own: when a part fails, the
// rest are cancelled (never computed in vain) and the request gets that first error.
#ifndef SEQSERVE_RUNTIME_EXECUTION_ROW_CHUNKS_H_
#define SEQSERVE_RUNTIME_EXECUTION_ROW_CHUNKS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/execution/inference_request.h"

namespace seqserve {

class RowChunks {
 public:
  // Moves `request` (validated, rows > rows_per_part >= 1) into the parts; `request` becomes
  // null. Each part's `done` reports to the assembly; the request's own `done` is called once,
  // when the last part is done.
  static RowChunks Split(std::unique_ptr<InferenceRequest>& request, int64_t rows_per_part);
  // The same assembly over parts made elsewhere, each holding its own rows' inputs at its own
  // length: the text path's one request per text (Note [one request per text] in
  // runtime/text/text_encoder.h). `whole->rows` must be the sum of the parts' rows. Each part
  // gets `whole`'s model, version, id, deadline and timing and the parts' shared flag under
  // `whole->cancel`; `whole->done` is called once, when the last part is done.
  static RowChunks Join(std::unique_ptr<InferenceRequest> whole, std::vector<std::unique_ptr<InferenceRequest>> parts);

  RowChunks(RowChunks&&) = default;
  RowChunks& operator=(RowChunks&&) = default;

  std::vector<std::unique_ptr<InferenceRequest>>& parts() { return parts_; }
  // Gives the request back, when the parts could not be queued: they are dropped without their
  // `done` being called, and the request's `done` is not called either.
  std::unique_ptr<InferenceRequest> Abandon();

 private:
  struct Assembly;
  RowChunks() = default;

  std::shared_ptr<Assembly> assembly_;
  std::vector<std::unique_ptr<InferenceRequest>> parts_;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_ROW_CHUNKS_H_
