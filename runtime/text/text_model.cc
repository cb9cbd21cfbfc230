#include "runtime/text/text_model.h"

#include <algorithm>

namespace seqserve {

absl::string_view TextTaskName(TextTask task) {
  switch (task) {
    case TextTask::kEmbedding: return "embedding";
    case TextTask::kClassification: return "classification";
    case TextTask::kRerank: return "rerank";
  }
  return "embedding";
}

std::optional<TextTask> TextTaskFromName(absl::string_view name) {
  for (TextTask task : {TextTask::kEmbedding, TextTask::kClassification, TextTask::kRerank}) {
    if (TextTaskName(task) == name) return task;
  }
  return std::nullopt;
}

bool TextModel::AllowsDimensions(int64_t dimensions) const {
  return dimensions == width || std::find(matryoshka_dimensions.begin(), matryoshka_dimensions.end(), dimensions) !=
                                    matryoshka_dimensions.end();
}

}  // namespace seqserve
