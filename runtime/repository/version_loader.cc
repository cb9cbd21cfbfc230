#include "runtime/repository/version_loader.h"

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/base/logging.h"
#include "runtime/config/model_manifest.h"
#include "runtime/repository/text_setup.h"
#include "runtime/repository/tokenizer_check.h"

namespace seqserve {

absl::StatusOr<LoadedVersion> LoadVersion(ModelLoader& loader, const VersionLoad& load) {
  const ModelSetup& setup = *load.setup;
  const std::string version_name = absl::StrCat("model '", load.model, "' version ", load.number);
  LogInfo("loading ", version_name, " (", setup.instances, " instance", setup.instances == 1 ? "" : "s", " x ",
          setup.intra_op_threads, " intra-op thread", setup.intra_op_threads == 1 ? "" : "s", ", ",
          PrecisionName(setup.precision), ")");
  LoadedVersion loaded;
  auto executor = std::make_unique<ModelExecutor>(setup.signature, setup.batcher, setup.instances, version_name,
                                                  setup.device == Device::kCpu ? load.cpu_memory : nullptr);
  const std::string model_file =
      (std::filesystem::path(load.version_dir) / setup.config.default_model_filename()).string();
  absl::StatusOr<std::optional<v1::ModelManifest>> manifest = ReadManifest(load.version_dir);
  if (!manifest.ok()) return manifest.status();
  if (manifest->has_value()) {
    absl::Status checked = CheckManifest(**manifest, setup.signature, model_file,
                                         setup.format == ModelFormat::kAotInductor, loader.FrameworkVersion());
    if (!checked.ok()) return checked;
    absl::StatusOr<std::shared_ptr<const tokenizer::Tokenizer>> tokenizer =
        LoadCheckedTokenizer(**manifest, load.version_dir);
    if (!tokenizer.ok()) return tokenizer.status();
    if (*tokenizer) {
      LogInfo(version_name, ": its ", (*tokenizer)->family(), " tokenizer (", (**manifest).tokenizer().file(),
              ") gives the packed ids on all ", (**manifest).tokenizer().references_size(), " reference texts");
    }
    absl::StatusOr<std::shared_ptr<const TextModel>> text = TextModelOf(**manifest, *tokenizer, setup.signature);
    if (!text.ok()) return text.status();
    loaded.text = *std::move(text);
  }
  WarmupOptions warmup = setup.warmup;
  if (load.background_nice.has_value()) warmup.background_nice = *load.background_nice;
  BatchRunnerFactory make_runner = loader.Prepare(
      VersionToLoad{&setup, load.version_dir, model_file, manifest->has_value() ? &**manifest : nullptr, version_name});
  absl::Status started = executor->Start(
      [&](int instance) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
        absl::StatusOr<std::unique_ptr<BatchRunner>> runner = make_runner(instance);
        if (!runner.ok() || !manifest->has_value()) return runner;
        absl::Status checked = CheckReferences(**runner, setup.signature, **manifest, setup.reference_tolerances);
        if (!checked.ok()) return checked;
        return runner;
      },
      warmup, load.abort);
  if (!started.ok()) return started;
  if (manifest->has_value()) {
    LogInfo(version_name, " passed its manifest's checks (SHA-256, PyTorch ", (*manifest)->pytorch_version(), ", ",
            (*manifest)->references_size(), " reference outputs on each instance)");
  }
  loaded.executor = std::move(executor);
  return loaded;
}

}  // namespace seqserve
