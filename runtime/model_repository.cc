#include "runtime/model_repository.h"

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/logging.h"
#include "runtime/model_manifest.h"
#include "runtime/request_validator.h"

namespace seqserve {

namespace fs = std::filesystem;

namespace {

bool IsVersionDir(const fs::directory_entry& entry) {
  int64_t number = 0;
  std::error_code ec;
  return entry.is_directory(ec) && absl::SimpleAtoi(entry.path().filename().string(), &number) && number > 0;
}

// Why a repository entry is skipped; `suspicious` when it looks like a model set up wrongly
// (model files but no config.pbtxt or version folder), which is logged as a warning.
struct Skip {
  std::string reason;
  bool suspicious = false;
};

// Note [what is a model]: pods mount repositories as volumes, and volumes carry entries that are
// not models: `lost+found` at the root of an ext4 volume, dot-folders (`.git`, `.snapshot`), and
// for a ConfigMap or Secret Kubernetes' own layout (`..data` -> `..2026_12_01_...`, each model a
// symlink through `..data`). Counting those as failed models would keep a strict server from
// ever becoming ready. So an entry is a model only if it is a directory (symlinks followed) not
// named `lost+found` or starting with '.', holding a config.pbtxt or at least one version
// folder; anything else is skipped with one log line.
std::optional<Skip> NotAModel(const fs::directory_entry& entry) {
  const std::string name = entry.path().filename().string();
  if (name.empty() || name[0] == '.') return Skip{"hidden entry (a dot-folder or Kubernetes' volume layout)"};
  if (name == "lost+found") return Skip{"the file system's lost+found"};
  std::error_code ec;
  if (!entry.is_directory(ec)) return Skip{"not a directory"};
  if (fs::exists(entry.path() / "config.pbtxt", ec)) return std::nullopt;
  bool model_files = false;
  for (const fs::directory_entry& v : fs::directory_iterator(entry.path(), ec)) {
    if (IsVersionDir(v)) return std::nullopt;
    const std::string file = v.path().filename().string();
    model_files |= absl::EndsWith(file, ".pt") || absl::EndsWith(file, ".pt2");
  }
  if (model_files) {
    return Skip{absl::StrCat("holds model files but no config.pbtxt and no version folder; a model needs ", name,
                             "/config.pbtxt and ", name, "/1/model.pt"),
                true};
  }
  return Skip{"no config.pbtxt and no version folder, so not a model"};
}

// The model file of one version: config's default_model_filename in the version folder.
std::string ModelFilePath(const ModelSetup& setup, const std::string& version_dir) {
  return (fs::path(version_dir) / setup.config.default_model_filename()).string();
}

}  // namespace

absl::string_view VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kLoading: return "LOADING";
    case VersionState::kReady: return "READY";
    case VersionState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Open(const std::string& path, ModelLoader& loader,
                                                                       MemoryGate* cpu_memory) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository ", path, " is not a directory"));
  }
  std::unique_ptr<ModelRepository> repo(new ModelRepository(path, loader, cpu_memory));
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::optional<Skip> skip = NotAModel(entry)) {
      if (skip->suspicious) {
        LogWarning("model repository: skipping '", name, "': ", skip->reason);
      } else {
        LogInfo("model repository: skipping '", name, "': ", skip->reason);
      }
      continue;
    }
    Model model;
    model.dir = entry.path().string();
    absl::StatusOr<ModelSetup> setup = LoadModelConfig(model.dir);
    if (setup.ok()) {
      model.config_ok = true;
      model.setup = std::move(*setup);
    } else {
      model.config_error = std::string(setup.status().message());
      LogError("model '", name, "' is unavailable: ", model.config_error);
    }
    for (const fs::directory_entry& v : fs::directory_iterator(entry.path(), ec)) {
      int64_t number = 0;
      if (IsVersionDir(v) && absl::SimpleAtoi(v.path().filename().string(), &number)) {
        Version version;
        version.status.version = number;
        if (!model.config_ok) {
          version.status.state = VersionState::kUnavailable;
          version.status.reason = model.config_error;
        }
        model.versions.emplace(number, std::move(version));
      }
    }
    if (model.versions.empty() && model.config_ok) {
      model.config_ok = false;
      model.config_error = absl::StrCat("no version directory (e.g. ", name, "/1/) in ", model.dir);
      LogError("model '", name, "' is unavailable: ", model.config_error);
    }
    MutexLock lock(&repo->mu_);
    repo->models_.emplace(name, std::move(model));
  }
  MutexLock lock(&repo->mu_);
  repo->PublishRoutes();
  return repo;
}

ModelRepository::~ModelRepository() { Shutdown(); }

void ModelRepository::LoadAll(const std::function<void()>& after_each) {
  std::vector<std::pair<std::string, int64_t>> todo;
  {
    MutexLock lock(&mu_);
    for (auto& [name, model] : models_) {
      if (!model.config_ok) continue;
      for (auto& [number, version] : model.versions) todo.emplace_back(name, number);
    }
  }
  for (const auto& [name, number] : todo) {
    if (abort_loading_.cancelled()) {
      MutexLock lock(&mu_);
      VersionStatus& status = models_.at(name).versions.at(number).status;
      status.state = VersionState::kUnavailable;
      status.reason = "not loaded: the server is shutting down";
      PublishRoutes();
      continue;
    }
    const Model* model;
    {
      MutexLock lock(&mu_);
      model = &models_.at(name);
    }
    const ModelSetup& setup = model->setup;  // immutable after Open
    const std::string version_dir = (fs::path(model->dir) / std::to_string(number)).string();
    const std::string version_name = absl::StrCat("model '", name, "' version ", number);
    const absl::Time start = absl::Now();
    LogInfo("loading ", version_name, " (", setup.instances, " instance", setup.instances == 1 ? "" : "s", " x ",
            setup.intra_op_threads, " intra-op thread", setup.intra_op_threads == 1 ? "" : "s", ", ",
            PrecisionName(setup.precision), ")");
    auto executor = std::make_unique<ModelExecutor>(setup.signature, setup.batcher, setup.instances, version_name,
                                                    setup.device == Device::kCpu ? cpu_memory_ : nullptr);
    // Self-checking load (runtime/model_manifest.h): the manifest's checks before the model
    // loads, its references on every instance before that instance warms up.
    const std::string model_file = ModelFilePath(setup, version_dir);
    absl::StatusOr<std::optional<v1::ModelManifest>> manifest = ReadManifest(version_dir);
    absl::Status status = manifest.status();
    if (status.ok() && manifest->has_value()) {
      status = CheckManifest(**manifest, setup.signature, model_file, setup.format == ModelFormat::kAotInductor,
                             loader_.FrameworkVersion());
    }
    BatchRunnerFactory make_runner;
    if (status.ok()) {
      make_runner = loader_.Prepare(
          VersionToLoad{&setup, version_dir, model_file, manifest->has_value() ? &**manifest : nullptr, version_name});
    }
    if (status.ok()) {
      status = executor->Start(
          [&](int instance) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
            absl::StatusOr<std::unique_ptr<BatchRunner>> runner = make_runner(instance);
            if (!runner.ok() || !manifest->has_value()) return runner;
            absl::Status checked = CheckReferences(**runner, setup.signature, **manifest, setup.reference_tolerances);
            if (!checked.ok()) return checked;
            return runner;
          },
          setup.warmup, &abort_loading_);
    }
    if (status.ok() && manifest->has_value()) {
      LogInfo(version_name, " passed its manifest's checks (SHA-256, PyTorch ", (*manifest)->pytorch_version(), ", ",
              (*manifest)->references_size(), " reference outputs on each instance)");
    }
    {
      MutexLock lock(&mu_);
      Version& version = models_.at(name).versions.at(number);
      if (status.ok()) {
        version.status.state = VersionState::kReady;
        version.executor = std::move(executor);
        LogInfo(version_name, " is ready (loaded and warmed up in ",
                absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))),
                "); pool memory per batch ~ ", version.executor->memory_cost_model().Describe());
      } else {
        version.status.state = VersionState::kUnavailable;
        version.status.reason = std::string(status.message());
        LogError(version_name, " is unavailable: ", status.message());
      }
      PublishRoutes();
    }
    if (after_each) after_each();
  }
}

void ModelRepository::PublishRoutes() {
  auto table = std::make_unique<RoutingTable>();
  for (const auto& [name, model] : models_) {
    ModelRoutes& routes = (*table)[name];
    routes.config_ok = model.config_ok;
    routes.config_error = model.config_error;
    for (const auto& [number, version] : model.versions) {
      routes.versions[number] = Route{version.status.state, version.status.reason, version.executor.get()};
    }
  }
  routes_.store(table.get(), std::memory_order_release);
  tables_.push_back(std::move(table));
}

absl::StatusOr<ModelExecutor*> ModelRepository::FindInRoutes(const RoutingTable& table, const std::string& name,
                                                             int64_t version, int64_t* resolved) {
  auto it = table.find(name);
  if (it == table.end()) {
    return absl::NotFoundError(absl::StrCat("unknown model '", name, "'; ServerMetadata lists the models"));
  }
  const ModelRoutes& model = it->second;
  if (!model.config_ok) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is unavailable: ", model.config_error));
  }
  if (version > 0) {
    auto v = model.versions.find(version);
    if (v == model.versions.end()) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ", version));
    }
    if (v->second.state != VersionState::kReady) {
      return absl::UnavailableError(absl::StrCat("model '", name, "' version ", version, " is ",
                                                 VersionStateName(v->second.state),
                                                 v->second.reason.empty() ? "" : ": ", v->second.reason));
    }
    *resolved = version;
    return v->second.executor;
  }
  for (auto v = model.versions.rbegin(); v != model.versions.rend(); ++v) {
    if (v->second.state == VersionState::kReady) {
      *resolved = v->first;
      return v->second.executor;
    }
  }
  // None ready: while one still loads that may change; otherwise say why the newest failed.
  for (const auto& [number, v] : model.versions) {
    if (v.state == VersionState::kLoading) {
      return absl::UnavailableError(absl::StrCat("model '", name, "' has no ready version yet"));
    }
  }
  const auto& [newest, v] = *model.versions.rbegin();
  return absl::UnavailableError(
      absl::StrCat("model '", name, "' has no ready version; version ", newest, " is unavailable: ", v.reason));
}

absl::Status ModelRepository::Infer(std::unique_ptr<InferenceRequest>& request) {
  // Executors live until Shutdown(), which first drains all RPCs; the pointer stays valid.
  absl::StatusOr<ModelExecutor*> found =
      FindInRoutes(routes(), request->model_name, request->model_version, &request->model_version);
  if (!found.ok()) return found.status();
  ModelExecutor* executor = *found;
  absl::Status status = ValidateRequest(executor->signature(), *request);
  if (!status.ok()) return status;
  return executor->Submit(request);
}

void ModelRepository::Shutdown() {
  std::vector<ModelExecutor*> executors;
  {
    MutexLock lock(&mu_);
    for (auto& [name, model] : models_) {
      for (auto& [number, version] : model.versions) {
        if (version.executor) executors.push_back(version.executor.get());
      }
    }
  }
  for (ModelExecutor* e : executors) e->Stop();
}

std::vector<std::string> ModelRepository::ModelNames() const {
  MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, model] : models_) names.push_back(name);
  return names;
}

absl::StatusOr<ModelInfo> ModelRepository::GetModelInfo(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  ModelInfo info;
  info.name = name;
  info.config_ok = it->second.config_ok;
  info.config_error = it->second.config_error;
  info.setup = it->second.setup;
  for (const auto& [number, version] : it->second.versions) info.versions.push_back(version.status);
  return info;
}

absl::StatusOr<int64_t> ModelRepository::ResolveVersion(const std::string& name, int64_t version) const {
  int64_t resolved = 0;
  absl::StatusOr<ModelExecutor*> found = FindInRoutes(routes(), name, version, &resolved);
  if (!found.ok()) return found.status();
  return resolved;
}

bool ModelRepository::AllReady() const {
  MutexLock lock(&mu_);
  for (const auto& [name, model] : models_) {
    bool any_ready = false;
    for (const auto& [number, version] : model.versions) {
      if (version.status.state == VersionState::kLoading) return false;
      any_ready |= version.status.state == VersionState::kReady;
    }
    if (!any_ready) return false;
  }
  return true;
}

std::map<std::pair<std::string, int64_t>, ModelRepository::VersionStats> ModelRepository::StatsSnapshot() const {
  MutexLock lock(&mu_);
  std::map<std::pair<std::string, int64_t>, VersionStats> out;
  for (const auto& [name, model] : models_) {
    for (const auto& [number, version] : model.versions) {
      if (version.executor) {
        out[{name, number}] = {version.executor->batcher_stats(), version.executor->execution_stats(),
                               model.setup.instances, model.setup.intra_op_threads};
      }
    }
  }
  return out;
}

}  // namespace seqserve
