// Tokenization models: turn one pre-tokenized word into token ids, as tokenizer.json's "model"
// names them. Implemented: WordPiece (BERT and its kin, MPNet), BPE (byte-level for RoBERTa and
// GPT-2; byte fallback; no dropout) and Unigram (SentencePiece's, XLM-R); anything else is
// refused by name.
//
// Immutable after construction; Tokenize may run on many threads at once.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_MODEL_H_
#define SEQSERVE_RUNTIME_TOKENIZER_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/json_fields.h"

namespace seqserve::tokenizer {

using Vocabulary = absl::flat_hash_map<std::string, int32_t>;

// The id of `token` in `vocabulary`, if there.
inline std::optional<int32_t> Find(const Vocabulary& vocabulary, absl::string_view token) {
  auto it = vocabulary.find(token);
  return it == vocabulary.end() ? std::nullopt : std::optional<int32_t>(it->second);
}

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `word`'s tokens to `ids`. INVALID_ARGUMENT only where `tokenizers` fails
  // too (a Unigram model without an unknown token meeting an unknown character).
  virtual absl::Status Tokenize(absl::string_view word, std::vector<int32_t>& ids) const = 0;
  // The id of a token of the vocabulary.
  virtual std::optional<int32_t> IdOf(absl::string_view token) const = 0;
  // "WordPiece", "BPE" or "Unigram".
  virtual absl::string_view family() const = 0;
};

// The model tokenizer.json describes. FAILED_PRECONDITION naming a type or option seqserve does
// not implement; INVALID_ARGUMENT for a malformed one.
absl::StatusOr<std::unique_ptr<const Model>> MakeModel(const Json& json);

// One per family, for MakeModel.
absl::StatusOr<std::unique_ptr<const Model>> MakeWordPiece(const Json& json);
absl::StatusOr<std::unique_ptr<const Model>> MakeBpe(const Json& json);
absl::StatusOr<std::unique_ptr<const Model>> MakeUnigram(const Json& json);

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_MODEL_H_
