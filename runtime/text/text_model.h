// TextModel: what a model packed with a tokenizer computes from text — its task, its checked
// tokenizer, the longest encoding it takes, which of its inputs carries the ids, the mask and
// the token types, and what its output means (pooling, normalization, labels, prompts,
// Matryoshka widths). Built once per version at load (runtime/repository/text_setup.h) from the
// manifest's `task` and `tokenizer` sections; immutable after, shared by the routing table and
// the requests that use it. Thread-safe (const).
#ifndef SEQSERVE_RUNTIME_TEXT_TEXT_MODEL_H_
#define SEQSERVE_RUNTIME_TEXT_TEXT_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "runtime/base/data_type.h"
#include "runtime/tokenizer/tokenizer.h"

namespace seqserve {

enum class TextTask { kEmbedding, kClassification, kRerank };

// "embedding", "classification", "rerank" (the manifest's and the packer's names).
absl::string_view TextTaskName(TextTask task);
std::optional<TextTask> TextTaskFromName(absl::string_view name);

struct TextModel {
  // What one model input carries, for a text of n tokens: its ids, ones, or its type ids.
  enum class Feed { kIds, kMask, kTypeIds };
  struct Input {
    std::string name;
    Feed feed = Feed::kIds;
    DataType dtype = DataType::kInt64;  // INT64 or INT32
  };

  TextTask task = TextTask::kEmbedding;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  // Longest encoding the model takes, special tokens included: the manifest's
  // tokenizer.max_length, at most the config's sequence.max_length.
  int64_t max_length = 0;
  // Every model input, in the signature's order.
  std::vector<Input> inputs;
  // The output holding the answer, [rows, width] FP32, and its index among the signature's outputs.
  std::string output;
  int output_index = 0;
  int64_t width = 0;

  // embedding: "mean" / "cls", and whether the model already L2-normalizes its output.
  std::string pooling;
  bool normalized = false;
  // classification and rerank: the label of each output column.
  std::vector<std::string> labels;
  // embedding: named prompts (prepended to texts) and the default one's name ("" none).
  std::map<std::string, std::string> prompts;
  std::string default_prompt_name;
  // embedding: widths a client may truncate the vector to (Matryoshka), widest first.
  std::vector<int64_t> matryoshka_dimensions;

  // Whether a vector may be cut to `dimensions` (the full width always may).
  bool AllowsDimensions(int64_t dimensions) const;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_TEXT_TEXT_MODEL_H_
