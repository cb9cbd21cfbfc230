// Tokenizer: a model's own Hugging Face tokenizer (its tokenizer.json), producing exactly the
// token ids and token type ids that Hugging Face `tokenizers` produces for a text or a pair of
// texts with special tokens added — truncated as asked, never padded (the batcher pads).
//
// The pipeline, as `tokenizers` runs it: split off the added tokens found in the raw text;
// normalize the rest (normalizer.h); split off added tokens found in the normalized text;
// pre-tokenize into words (pre_tokenizer.h); tokenize each word (model.h); truncate (LongestFirst,
// OnlyFirst or OnlySecond, from the right or left, leaving room for the special tokens); add the
// special tokens and type ids (post_processor.h). A tokenizer.json that uses a component outside
// what those headers list is refused by name at load: FromJson never approximates.
//
// Thread-safety: immutable after FromJson; Encode is const, takes no lock and may run on any
// number of threads at once. Its working buffers are per thread (Note [tokenizer buffers]).
#ifndef SEQSERVE_RUNTIME_TOKENIZER_TOKENIZER_H_
#define SEQSERVE_RUNTIME_TOKENIZER_TOKENIZER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "runtime/tokenizer/added_tokens.h"
#include "runtime/tokenizer/model.h"
#include "runtime/tokenizer/normalizer.h"
#include "runtime/tokenizer/post_processor.h"
#include "runtime/tokenizer/pre_tokenizer.h"

namespace seqserve::tokenizer {

// Note [text size cap]: one text (or text_pair) is at most 1 MiB. That is hundreds of times what
// a 512-token encoder reads (its truncation keeps the first ~2-4 KB of prose), keeps every
// offset far from 32-bit limits after the pipeline's expansions (NFKD, BERT's spaced CJK, 3-byte
// '▁', byte-level doubling), and bounds one encoding's working memory to tens of MB (Unigram's
// lattice is 24 bytes per byte of a word). Larger texts are refused, never cut silently.
inline constexpr size_t kMaxTextBytes = size_t{1} << 20;

// How an encoding longer than max_length tokens (special tokens included) is cut.
struct Truncation {
  enum class Strategy { kLongestFirst, kOnlyFirst, kOnlySecond };
  enum class Side { kRight, kLeft };
  // Longest encoding, special tokens included; 0: no truncation. Default 0.
  size_t max_length = 0;
  // Which text loses tokens: the longer one token by token (default), only the first, only the
  // second.
  Strategy strategy = Strategy::kLongestFirst;
  // Which end tokens are cut from. Default: the right.
  Side side = Side::kRight;
};

class Tokenizer {
 public:
  // Parses a tokenizer.json. INVALID_ARGUMENT for malformed JSON or fields;
  // FAILED_PRECONDITION naming a component (or option) seqserve does not implement.
  static absl::StatusOr<std::unique_ptr<const Tokenizer>> FromJson(absl::string_view json);
  // FromJson of a file's contents; NOT_FOUND when it cannot be read.
  static absl::StatusOr<std::unique_ptr<const Tokenizer>> FromFile(const std::string& path);

  // Encodes `text` (and `pair`, for cross-encoders) into `out`. INVALID_ARGUMENT for a text
  // above kMaxTextBytes, invalid UTF-8 (naming "text" or "text_pair" and the byte offset), a
  // truncation `tokenizers` refuses too (OnlyFirst/OnlySecond with too short a sequence,
  // OnlySecond without a pair) and max_length below the special tokens (where `tokenizers`
  // would wrap around); RESOURCE_EXHAUSTED where a tokenizer.json regex exceeds its budget
  // (Note [regex stack]).
  absl::Status Encode(absl::string_view text, std::optional<absl::string_view> pair, const Truncation& truncation,
                      Encoding& out) const;

  // "WordPiece", "BPE" or "Unigram".
  absl::string_view family() const { return model_->family(); }
  // The truncation tokenizer.json itself asks for (max_length 0 when it has none).
  const Truncation& file_truncation() const { return file_truncation_; }
  // Special tokens added around one text (pair false) or a pair.
  size_t special_token_count(bool pair) const { return template_.SpecialTokenCount(pair); }

 private:
  Tokenizer() = default;
  // The ids of one text, before truncation and special tokens.
  absl::Status EncodeSequence(absl::string_view text, std::vector<int32_t>& ids) const;

  std::unique_ptr<const Normalizer> normalizer_;
  std::unique_ptr<const PreTokenizer> pre_tokenizer_;
  std::unique_ptr<const Model> model_;
  AddedTokens added_;
  Template template_;
  Truncation file_truncation_;
};

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_TOKENIZER_H_
