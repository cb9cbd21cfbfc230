// LoadVersion: one model version from its folder to a started executor — the self-checking load
// (runtime/config/model_manifest.h: the manifest's SHA-256 and framework checks before the model
// loads, its reference outputs on every instance before that instance warms up), then warm-up.
// What to load and when, and what happens to the versions around it, is the repository's
// (runtime/repository/model_repository.h); how a file becomes runners is the loader's
// (runtime/repository/model_loader.h).
//
// Thread-safe: versions may load concurrently (the loader must allow it).
#ifndef SEQSERVE_RUNTIME_REPOSITORY_VERSION_LOADER_H_
#define SEQSERVE_RUNTIME_REPOSITORY_VERSION_LOADER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/inference_request.h"
#include "runtime/execution/model_executor.h"
#include "runtime/repository/model_loader.h"
#include "runtime/resources/memory_gate.h"
#include "runtime/text/text_model.h"

namespace seqserve {

// One version to load and how.
struct VersionLoad {
  std::string model;        // the model's name
  int64_t number = 0;       // the version
  std::string version_dir;  // <repository>/<model>/<version>
  // The model's config; must outlive the executor's runners (runtime/repository/model_loader.h).
  const ModelSetup* setup = nullptr;
  // The CPU pool's gate for a CPU model's executor (memory-aware batching); may be null.
  MemoryGate* cpu_memory = nullptr;
  // Set when loading beside serving traffic: the nice value of the loading and warm-up threads
  // (Note [background load] in runtime/execution/model_executor.h; 0 = full priority). Unset: start-up.
  std::optional<int> background_nice;
  // When cancelled, the load stops at its next warm-up batch. May be null.
  const CancellationFlag* abort = nullptr;
};

// A version ready to serve.
struct LoadedVersion {
  std::unique_ptr<ModelExecutor> executor;
  // What it computes from text (runtime/repository/text_setup.h); null when it has no tokenizer.
  std::shared_ptr<const TextModel> text;
};

// The started executor, or why the version cannot serve: its manifest's check (its tokenizer's
// included), a reference output that differs, the loader's error, or CANCELLED by `load.abort`.
absl::StatusOr<LoadedVersion> LoadVersion(ModelLoader& loader, const VersionLoad& load);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_VERSION_LOADER_H_
