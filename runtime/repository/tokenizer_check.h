// The load-time check of a version's packed tokenizer (the manifest's `tokenizer` section,
// written by scripts/seqpack/tokenizer.py): the file is the packed one (SHA-256), seqserve can
// run it (runtime/tokenizer/ implements every component it uses), and it tokenizes every
// reference text to exactly the ids Hugging Face `tokenizers` gave at packing. Any failure names
// the check and what differs; the version is then UNAVAILABLE with that reason.
//
// A plain function; safe from any thread.
#ifndef SEQSERVE_RUNTIME_REPOSITORY_TOKENIZER_CHECK_H_
#define SEQSERVE_RUNTIME_REPOSITORY_TOKENIZER_CHECK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/tokenizer.h"
#include "seqserve/v1/model_manifest.pb.h"

namespace seqserve {

// The checked tokenizer of the version in `version_dir`; nullptr when the manifest has none.
// FAILED_PRECONDITION ("tokenizer check: ...") on any failure.
absl::StatusOr<std::shared_ptr<const tokenizer::Tokenizer>> LoadCheckedTokenizer(const v1::ModelManifest& manifest,
                                                                                 const std::string& version_dir);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_TOKENIZER_CHECK_H_
