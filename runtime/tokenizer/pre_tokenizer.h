// Pre-tokenizers: split normalized text into the words the model tokenizes one by one, as
// tokenizer.json's "pre_tokenizer" names them. Implemented: BertPreTokenizer, Whitespace,
// WhitespaceSplit, ByteLevel, Metaspace and Sequence of these; anything else is refused by name.
//
// Immutable after construction; Split may run on many threads at once.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_
#define SEQSERVE_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/json_fields.h"

namespace seqserve::tokenizer {

// Words as byte ranges of one buffer: non-empty, in text order, not overlapping (Add keeps out
// empty ones). A pre-tokenizer that rewrites words (ByteLevel's byte alphabet, Metaspace's '▁')
// writes a new buffer; one that only splits keeps its input's offsets.
struct Words {
  struct Span {
    uint32_t begin, end;
  };
  std::string text;
  std::vector<Span> spans;

  absl::string_view word(size_t i) const {
    return absl::string_view(text).substr(spans[i].begin, spans[i].end - spans[i].begin);
  }
  void Add(size_t begin, size_t end) {
    if (end > begin) spans.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end)});
  }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits each word of `in` into `out` (cleared first; never `in`). `at_start`: `in`'s first
  // word begins the input text (Metaspace's prepend_scheme "first" asks). Fails only where a
  // regex does (ByteLevel's; Note [regex stack]).
  virtual absl::Status Split(const Words& in, bool at_start, Words& out) const = 0;
};

// The pre-tokenizer tokenizer.json describes; nullptr for a null one. FAILED_PRECONDITION naming
// a type seqserve does not implement.
absl::StatusOr<std::unique_ptr<const PreTokenizer>> MakePreTokenizer(const Json* json);

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_PRE_TOKENIZER_H_
