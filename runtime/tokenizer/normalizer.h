// Normalizers: the first step of tokenization, rewriting the text before it is split into words,
// as tokenizer.json's "normalizer" names them. Implemented: BertNormalizer, NFC, NFD, NFKC, NFKD,
// Lowercase, Nmt, Replace (string or regex), Strip, Prepend and Sequence of these; anything else
// is refused by name (MakeNormalizer).
//
// Immutable after construction; Normalize may run on many threads at once.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_NORMALIZER_H_
#define SEQSERVE_RUNTIME_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/json_fields.h"

namespace seqserve::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Replaces `text` (valid UTF-8) by its normalized form; `scratch` is a buffer it may reuse.
  // Fails only where a regex does (Replace; Note [regex stack]).
  virtual absl::Status Normalize(std::string& text, std::string& scratch) const = 0;
};

// The normalizer tokenizer.json describes; nullptr for a null one. FAILED_PRECONDITION naming a
// type seqserve does not implement.
absl::StatusOr<std::unique_ptr<const Normalizer>> MakeNormalizer(const Json* json);

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_NORMALIZER_H_
