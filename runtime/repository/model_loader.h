// ModelLoader: the one seam between the model repository and a model framework. The repository
// decides what to load and when (configs, manifests, warm-up, version states, routing); a loader
// decides how a version's file becomes runners, one per instance. The server's loader is
// libtorch's (runtime/torch/torch_loader.h); unit tests pass fakes and so never link libtorch.
#ifndef SEQSERVE_RUNTIME_REPOSITORY_MODEL_LOADER_H_
#define SEQSERVE_RUNTIME_REPOSITORY_MODEL_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/batch_runner.h"
#include "seqserve/v1/model_manifest.pb.h"

namespace seqserve {

// One version to load, as the repository found and checked it.
struct VersionToLoad {
  const ModelSetup* setup = nullptr;            // its model's config; outlives every runner
  std::string version_dir;                      // <repository>/<model>/<version>
  std::string model_file;                       // the file in it the config names
  const v1::ModelManifest* manifest = nullptr;  // null when the version has none; already checked
  std::string name;                             // "model 'm' version 3", for log lines
};

// Thread-safe: the repository may load several versions at once.
class ModelLoader {
 public:
  virtual ~ModelLoader() = default;

  // The framework release that manifests must have been made with (e.g. "2.11.0").
  virtual std::string FrameworkVersion() const = 0;

  // Prepares one version's load (cheap: the work happens in the factory's calls). The factory is
  // called on each instance's own thread, concurrently for one version's instances, and dropped
  // once every instance has its runner.
  virtual BatchRunnerFactory Prepare(const VersionToLoad& version) = 0;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_MODEL_LOADER_H_
