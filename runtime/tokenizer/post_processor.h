// Post-processing: the special tokens around one text or a pair, and the token type ids, as
// tokenizer.json's "post_processor" names them. TemplateProcessing, BertProcessing and
// RobertaProcessing are all one template here (BERT: [CLS] A [SEP] B [SEP], B's types 1;
// RoBERTa: <s> A </s> </s> B </s>, all types 0); ByteLevel changes only offsets, which seqserve
// does not produce, so it adds nothing; Sequence combines those. No post-processor joins A and B
// with types 0 and 1. Anything else is refused by name.
//
// Immutable after construction; safe from many threads.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_POST_PROCESSOR_H_
#define SEQSERVE_RUNTIME_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/json_fields.h"

namespace seqserve::tokenizer {

// What a text (or a pair) tokenizes to. The attention mask is all ones (no padding here).
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class Template {
 public:
  // One part of a template: a sequence (0: A, 1: B) or special token ids, with its type id.
  struct Item {
    int sequence;  // -1 for special tokens
    std::vector<int32_t> special_ids;
    int32_t type_id;
  };

  // The template of `json` (nullptr: none, A then B).
  static absl::StatusOr<Template> FromJson(const Json* json);

  // Special tokens the template adds around one text (pair false) or a pair.
  size_t SpecialTokenCount(bool pair) const;

  // Writes the template filled with `a` (and `b`, for a pair) to `out`.
  void Apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b, Encoding& out) const;

 private:
  std::vector<Item> single_, pair_;
};

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_POST_PROCESSOR_H_
