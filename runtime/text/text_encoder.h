// EncodeTexts: the texts of one request into runtime requests, one per text, each holding that
// text's token tensors at its own length — on the request's thread, before anything is queued.
//
// Note [one request per text]: a request of many texts is not padded into one multi-row request:
// its texts differ in length (a 32-text request of real sentences spans 8 to 120 tokens), and
// one padded request would run every text at the longest one's length. Each text instead joins
// the length-bucketed batcher (runtime/execution/batcher.h) by its own token count, beside texts
// of other requests of its length, and the request's answer is assembled from its rows in order
// (RowChunks::Join, runtime/execution/row_chunks.h) — the row chunks of a multi-row request, cut
// at every row.
//
// A plain function of immutable inputs; safe from any thread. The tokenizer's Encode takes no
// lock (Note [tokenizer buffers]).
#ifndef SEQSERVE_RUNTIME_TEXT_TEXT_ENCODER_H_
#define SEQSERVE_RUNTIME_TEXT_TEXT_ENCODER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/execution/inference_request.h"
#include "runtime/text/text_model.h"

namespace seqserve {

// What a client sent: texts (with a second text each for a cross-encoder), or token ids.
struct TextInput {
  std::vector<std::string> texts;
  // Empty, or one per text: the second text of each pair (rerank: the passage; texts hold the query).
  std::vector<std::string> pairs;
  // Instead of texts: each row's token ids, used as given (no special tokens added).
  std::vector<std::vector<int64_t>> token_ids;

  size_t size() const { return token_ids.empty() ? texts.size() : token_ids.size(); }
};

struct TextOptions {
  // Cut an encoding longer than the model's max_length to it; otherwise such a text is refused.
  // Default false.
  bool truncate = false;
  // Which end truncation cuts from. Default the right.
  tokenizer::Truncation::Side side = tokenizer::Truncation::Side::kRight;
  // Prepended to every text (not to pairs): the model's named prompt. Default none.
  std::string prompt;
};

struct EncodedTexts {
  // One request per text, in order: rows 1, sequence_length its tokens, inputs in the model's
  // order. Only their inputs, rows and sequence_length are set.
  std::vector<std::unique_ptr<InferenceRequest>> rows;
  // Tokens of each text, special tokens included, after truncation; and their sum.
  std::vector<int64_t> tokens;
  int64_t total_tokens = 0;
  // Bytes of all input tensors.
  int64_t bytes = 0;
};

// INVALID_ARGUMENT naming the text (its index) for: a text that is not valid UTF-8 or larger
// than 1 MiB (Note [text size cap]), an encoding longer than the model's max_length without
// `truncate`, pairs for a model that is not a cross-encoder or a rerank model without them, an
// empty token-id row, a token id outside the model's input type. RESOURCE_EXHAUSTED where the
// tokenizer's regex budget ran out.
absl::StatusOr<EncodedTexts> EncodeTexts(const TextModel& model, const TextInput& input, const TextOptions& options);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_TEXT_TEXT_ENCODER_H_
