// The tokens tokenizer.json's "added_tokens" lists ([CLS], <mask>, ...): where one appears in the
// input it becomes that token, whatever the model would make of its characters. Tokens marked
// "normalized" are looked for in the normalized text (their content normalized the same way),
// the others in the text as sent, before normalization. Among tokens that start at the same place
// the longest wins; "lstrip"/"rstrip" swallow the whitespace before/after a match.
// "single_word" is not implemented: a file that sets it is refused by name. Matching tries, at
// each position, the tokens that start with its byte: linear in the text for the handful of
// special tokens encoders have; a file with thousands of added tokens would want Aho-Corasick,
// as `tokenizers` uses.
//
// Immutable after construction; Split may run on many threads at once.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_ADDED_TOKENS_H_
#define SEQSERVE_RUNTIME_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "runtime/tokenizer/json_fields.h"
#include "runtime/tokenizer/normalizer.h"

namespace seqserve::tokenizer {

class AddedTokens {
 public:
  // A piece of the text: either an added token (id >= 0) or text to tokenize (id == -1).
  struct Segment {
    uint32_t begin, end;
    int32_t id;
  };

  // From the "added_tokens" array (nullptr: none). `normalizer` (may be null) normalizes the
  // content of "normalized" tokens.
  static absl::StatusOr<AddedTokens> FromJson(const Json* list, const Normalizer* normalizer);

  // Cuts `text` at the tokens looked for in raw text (`normalized` false) or in normalized text
  // (true); writes the pieces, in order, to `out` (cleared first). Empty text pieces are left out.
  void Split(absl::string_view text, bool normalized, std::vector<Segment>& out) const;

 private:
  struct Token {
    std::string content;  // as matched: normalized when `normalized`
    int32_t id;
    bool normalized, lstrip, rstrip;
  };
  std::vector<Token> tokens_;
  // By the first byte of their matched content, per pass: candidates to try at a position.
  std::array<std::vector<uint32_t>, 256> raw_by_byte_, normalized_by_byte_;
};

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_ADDED_TOKENS_H_
