#include "runtime/tokenizer/model.h"

namespace seqserve::tokenizer {

absl::StatusOr<std::unique_ptr<const Model>> MakeModel(const Json& json) {
  const std::string type = TypeOf(json);
  if (type == "WordPiece") return MakeWordPiece(json);
  if (type == "BPE") return MakeBpe(json);
  if (type == "Unigram") return MakeUnigram(json);
  return Unsupported("model", type, "WordPiece, BPE, Unigram");
}

}  // namespace seqserve::tokenizer
