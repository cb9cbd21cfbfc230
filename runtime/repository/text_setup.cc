#include "runtime/repository/text_setup.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

absl::Status Failed(absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat("text setup: ", what));
}

std::string SourceValue(const v1::ModelManifest& manifest, const std::string& key, const std::string& fallback) {
  auto it = manifest.source().find(key);
  return it == manifest.source().end() ? fallback : it->second;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TextModel>> TextModelOf(const v1::ModelManifest& manifest,
                                                             std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                                             const ModelSignature& signature) {
  if (tokenizer == nullptr) return std::shared_ptr<const TextModel>();
  auto model = std::make_shared<TextModel>();
  model->tokenizer = std::move(tokenizer);
  const v1::TaskManifest& task = manifest.task();
  const std::string task_name = manifest.has_task() ? task.task() : SourceValue(manifest, "task", "embedding");
  std::optional<TextTask> parsed = TextTaskFromName(task_name);
  if (!parsed.has_value()) {
    return Failed(absl::StrCat("unknown task '", task_name, "' (embedding, classification or rerank)"));
  }
  model->task = *parsed;
  if (!signature.has_sequence()) return Failed("the model has no sequence dimension to put tokens on");
  model->max_length = std::min<int64_t>(manifest.tokenizer().max_length(), signature.max_sequence_length);
  for (const TensorSpec& spec : signature.inputs) {
    TextModel::Input input{spec.name, TextModel::Feed::kIds, spec.dtype};
    if (spec.name == "input_ids") {
      input.feed = TextModel::Feed::kIds;
    } else if (spec.name == "attention_mask") {
      input.feed = TextModel::Feed::kMask;
    } else if (spec.name == "token_type_ids") {
      input.feed = TextModel::Feed::kTypeIds;
    } else {
      return Failed(absl::StrCat("input '", spec.name,
                                 "' is none of input_ids, attention_mask, token_type_ids: text cannot fill it"));
    }
    if ((spec.dtype != DataType::kInt64 && spec.dtype != DataType::kInt32) || spec.dims.size() != 1 ||
        !spec.carries_sequence) {
      return Failed(absl::StrCat("input '", spec.name, "' must be INT64 or INT32 of shape [-1]"));
    }
    model->inputs.push_back(std::move(input));
  }
  if (std::none_of(model->inputs.begin(), model->inputs.end(),
                   [](const TextModel::Input& input) { return input.feed == TextModel::Feed::kIds; })) {
    return Failed("the model has no input_ids input");
  }
  model->output = !task.output().empty() ? task.output() : model->task == TextTask::kEmbedding ? "embedding" : "logits";
  auto output = std::find_if(signature.outputs.begin(), signature.outputs.end(),
                             [&](const TensorSpec& spec) { return spec.name == model->output; });
  if (output == signature.outputs.end()) return Failed(absl::StrCat("the model has no output '", model->output, "'"));
  if (output->dtype != DataType::kFp32 || output->dims.size() != 1 || output->carries_sequence) {
    return Failed(absl::StrCat("output '", model->output, "' must be FP32 of shape [width]"));
  }
  model->output_index = static_cast<int>(output - signature.outputs.begin());
  model->width = output->dims[0];
  if (model->task == TextTask::kEmbedding) {
    model->pooling = manifest.has_task() ? task.pooling() : SourceValue(manifest, "pooling", "mean");
    model->normalized = manifest.has_task() ? task.normalized() : SourceValue(manifest, "normalize", "") == "true";
    model->prompts.insert(task.prompts().begin(), task.prompts().end());
    model->default_prompt_name = task.default_prompt_name();
    if (!model->default_prompt_name.empty() && model->prompts.count(model->default_prompt_name) == 0) {
      return Failed(absl::StrCat("default prompt '", model->default_prompt_name, "' is not among its prompts"));
    }
    for (int64_t d : task.matryoshka_dimensions()) {
      if (d < 1 || d > model->width) {
        return Failed(absl::StrCat("Matryoshka dimension ", d, " is outside [1, ", model->width, "]"));
      }
      model->matryoshka_dimensions.push_back(d);
    }
    std::sort(model->matryoshka_dimensions.rbegin(), model->matryoshka_dimensions.rend());
  } else {
    model->labels.assign(task.labels().begin(), task.labels().end());
    if (model->labels.empty()) {
      for (int64_t i = 0; i < model->width; ++i) model->labels.push_back(absl::StrCat("LABEL_", i));
    }
    if (static_cast<int64_t>(model->labels.size()) != model->width) {
      return Failed(absl::StrCat(model->labels.size(), " labels for an output of width ", model->width));
    }
    if (model->task == TextTask::kRerank && model->width != 1) {
      return Failed(
          absl::StrCat("a rerank model gives one logit per pair; output '", model->output, "' has ", model->width));
    }
  }
  return std::shared_ptr<const TextModel>(std::move(model));
}

}  // namespace seqserve
