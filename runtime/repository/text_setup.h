// TextModelOf: a version's TextModel (runtime/text/text_model.h) from its manifest's `task`
// section, its checked tokenizer and its signature — what lets it take text. Older manifests
// without a `task` section are read from their `source` map (task, pooling, normalize).
//
// A plain function; safe from any thread.
#ifndef SEQSERVE_RUNTIME_REPOSITORY_TEXT_SETUP_H_
#define SEQSERVE_RUNTIME_REPOSITORY_TEXT_SETUP_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/execution/model_signature.h"
#include "runtime/text/text_model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "seqserve/v1/model_manifest.pb.h"

namespace seqserve {

// nullptr when `tokenizer` is null (the version takes token ids only). FAILED_PRECONDITION
// ("text setup: ...") when the manifest's task does not fit the signature: an unknown task, an
// input that is none of input_ids / attention_mask / token_type_ids or not INT32/INT64, an
// output missing or not [rows, width] FP32, labels that do not match the width, a rerank model
// with more than one output column.
absl::StatusOr<std::shared_ptr<const TextModel>> TextModelOf(const v1::ModelManifest& manifest,
                                                             std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                                             const ModelSignature& signature);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_TEXT_SETUP_H_
