#include "runtime/model_repository.h"

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/logging.h"
#include "runtime/model_manifest.h"
#include "runtime/request_validator.h"

namespace seqserve {

namespace fs = std::filesystem;

namespace {

// The model file of one version: config's default_model_filename in the version folder.
std::string ModelFilePath(const ModelSetup& setup, const std::string& version_dir) {
  return (fs::path(version_dir) / setup.config.default_model_filename()).string();
}

absl::StatusOr<ModelSetup> SetupOf(const ModelScan& scan, const std::string& name) {
  if (!scan.has_config) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no config.pbtxt in ", scan.dir));
  }
  if (!scan.config_error.empty()) return absl::UnavailableError(scan.config_error);
  return ParseModelConfig(scan.config_text, name);
}

template <typename K, typename V>
std::set<K> Keys(const std::map<K, V>& map) {
  std::set<K> keys;
  for (const auto& [key, value] : map) keys.insert(key);
  return keys;
}

constexpr char kUnloaded[] = "unloaded";
constexpr char kNotLoaded[] = "not loaded";

// Load durations, from a fraction of a second (small models) to minutes (large ones on a GPU).
const std::vector<double>& LoadSecondsBounds() {
  static const std::vector<double> bounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return bounds;
}

}  // namespace

absl::string_view VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kLoading: return "LOADING";
    case VersionState::kReady: return "READY";
    case VersionState::kUnloading: return "UNLOADING";
    case VersionState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Open(const std::string& path, ModelLoader& loader,
                                                                       Options options) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository ", path, " is not a directory"));
  }
  const std::set<std::string> named(options.load_at_start.begin(), options.load_at_start.end());
  const bool load_all = options.mode != ModelControlMode::kExplicit || named.count("*") != 0;
  std::unique_ptr<ModelRepository> repo(new ModelRepository(path, loader, std::move(options)));
  std::map<std::string, ModelScan> scans = ScanRepository(path);
  MutexLock control(&repo->control_mu_);
  MutexLock lock(&repo->mu_);
  for (const auto& [name, scan] : scans) {
    Model& model = repo->models_[name];
    model.dir = scan.dir;
    model.asked = load_all || named.count(name) != 0;
    model.synced = scan;  // what LoadAtStart loads
    absl::StatusOr<ModelSetup> setup = SetupOf(scan, name);
    if (setup.ok()) {
      model.config_ok = true;
      model.setup = std::move(*setup);
    } else {
      model.config_error = std::string(setup.status().message());
      LogError("model '", name, "' is unavailable: ", model.config_error);
    }
    if (!model.asked) {
      model.reason = kNotLoaded;
      continue;
    }
    // Listed LOADING now, so that readiness waits for them (Note [health before load]).
    const std::set<int64_t> versions = model.config_ok
                                           ? ServedVersions(model.setup.config.version_policy(), Keys(scan.versions))
                                           : Keys(scan.versions);
    for (int64_t number : versions) {
      VersionStatus& status = model.versions[number].status;
      status.version = number;
      if (!model.config_ok) {
        status.state = VersionState::kUnavailable;
        status.reason = model.config_error;
      }
    }
  }
  for (const std::string& name : named) {
    if (name != "*" && scans.count(name) == 0) {
      return absl::NotFoundError(absl::StrCat("--load-model=", name, ": the repository ", path, " has no model '", name,
                                              "'; it has: ", absl::StrJoin(Keys(scans), ", ")));
    }
  }
  repo->last_poll_ = std::move(scans);
  repo->PublishRoutes();
  return repo;
}

ModelRepository::~ModelRepository() { Shutdown(); }

void ModelRepository::LoadAtStart() {
  MutexLock control(&control_mu_);
  std::vector<std::pair<std::string, ModelScan>> todo;
  {
    MutexLock lock(&mu_);
    for (const auto& [name, model] : models_) {
      if (model.asked && model.synced) todo.emplace_back(name, *model.synced);
    }
  }
  for (const auto& [name, scan] : todo)
    Sync(name, scan, /*background=*/false).IgnoreError();  // reasons are in the index
}

absl::Status ModelRepository::CheckControl(const std::string& name) const {
  if (options_.mode != ModelControlMode::kExplicit) {
    return absl::FailedPreconditionError(
        absl::StrCat("models are not loaded or unloaded on request in model control mode '",
                     ModelControlModeName(options_.mode), "'; start seqserve with --model-control-mode=explicit"));
  }
  if (absl::Status valid = CheckModelName(name); !valid.ok()) return valid;
  MutexLock lock(&mu_);
  if (shut_down_) return absl::UnavailableError("the server is shutting down");
  return absl::OkStatus();
}

absl::Status ModelRepository::Load(const std::string& name) {
  if (absl::Status allowed = CheckControl(name); !allowed.ok()) return allowed;
  MutexLock control(&control_mu_);
  if (abort_loading_.cancelled()) return absl::UnavailableError("the server is shutting down");
  std::optional<ModelScan> scan = ScanModel(path_, name);
  if (!scan) return absl::NotFoundError(absl::StrCat("the repository has no model '", name, "'"));
  LogInfo("load requested for model '", name, "'");
  return Sync(name, scan, /*background=*/true);
}

absl::Status ModelRepository::Unload(const std::string& name) {
  if (absl::Status allowed = CheckControl(name); !allowed.ok()) return allowed;
  MutexLock control(&control_mu_);
  if (abort_loading_.cancelled()) return absl::UnavailableError("the server is shutting down");
  std::vector<int64_t> serving;
  {
    MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return absl::NotFoundError(absl::StrCat("the repository has no model '", name, "'"));
    it->second.asked = false;
    it->second.synced.reset();
    for (const auto& [number, version] : it->second.versions) {
      if (version.executor != nullptr) serving.push_back(number);
    }
    if (it->second.versions.empty()) it->second.reason = kUnloaded;
    PublishRoutes();  // readiness no longer counts it
  }
  LogInfo("unloading model '", name, "'");
  for (int64_t number : serving) Retire(name, number, kUnloaded);
  return absl::OkStatus();
}

void ModelRepository::Poll() {
  if (options_.mode != ModelControlMode::kPoll) return;
  MutexLock control(&control_mu_);
  std::map<std::string, ModelScan> scans = ScanRepository(path_, /*log_skips=*/false);
  std::map<std::string, std::optional<ModelScan>> synced;  // per model known: what it was synced with
  {
    MutexLock lock(&mu_);
    if (shut_down_) return;
    for (const auto& [name, model] : models_) {
      synced[name] = model.synced;
    }
  }
  std::set<std::string> names;
  for (const auto& [name, scan] : scans) names.insert(name);
  for (const auto& [name, scan] : synced) names.insert(name);
  for (const std::string& name : names) {
    auto now = scans.find(name);
    auto before = last_poll_.find(name);
    const bool present = now != scans.end();
    // Note [atomic pickup]: act only on what two polls in a row scanned the same way.
    if (present != (before != last_poll_.end()) || (present && now->second != before->second)) continue;
    auto known = synced.find(name);
    const bool changed =
        known == synced.end() ? present : !known->second.has_value() || !present || *known->second != now->second;
    if (!changed) continue;
    LogInfo("repository poll: model '", name, "' ", known == synced.end() ? "appeared" : present ? "changed" : "left");
    Sync(name, present ? std::optional<ModelScan>(now->second) : std::nullopt, /*background=*/true).IgnoreError();
  }
  last_poll_ = std::move(scans);
}

void ModelRepository::StartPolling(absl::Duration every) {
  poller_ = std::thread([this, every] {
    for (;;) {
      {
        MutexLock lock(&poll_mu_);
        if (!stop_polling_) poll_cv_.WaitFor(&poll_mu_, absl::ToChronoNanoseconds(every));
        if (stop_polling_) return;
      }
      Poll();  // a spurious wake-up polls early, which is harmless
    }
  });
}

absl::Status ModelRepository::Sync(const std::string& name, const std::optional<ModelScan>& scan, bool background) {
  if (!scan.has_value()) {  // the folder left the repository: unload, then forget it
    std::vector<int64_t> serving;
    {
      MutexLock lock(&mu_);
      for (const auto& [number, version] : models_.at(name).versions) {
        if (version.executor != nullptr) serving.push_back(number);
      }
    }
    for (int64_t number : serving) Retire(name, number, kUnloaded);
    MutexLock lock(&mu_);
    models_.erase(name);
    PublishRoutes();
    return absl::OkStatus();
  }
  absl::StatusOr<ModelSetup> parsed = SetupOf(*scan, name);
  std::set<int64_t> served;
  if (parsed.ok()) {
    served = ServedVersions(parsed->config.version_policy(), Keys(scan->versions));
    if (served.empty()) {
      parsed = absl::NotFoundError(absl::StrCat("no version directory with its model file (e.g. ", name, "/1/",
                                                parsed->config.default_model_filename(), ") in ", scan->dir));
    }
  }
  std::shared_ptr<const ModelSetup> setup;
  absl::Status failed;
  {
    MutexLock lock(&mu_);
    Model& model = models_[name];
    model.dir = scan->dir;
    model.asked = true;
    model.reason.clear();
    model.synced = *scan;
    bool serving = false;
    for (const auto& [number, version] : model.versions) serving |= version.executor != nullptr;
    if (!parsed.ok()) {
      const std::string error(parsed.status().message());
      LogError("model '", name, "': ", error, serving ? "; the versions loaded before keep serving" : "");
      for (auto& [number, version] : model.versions) {
        version.status.reason = version.executor != nullptr ? absl::StrCat("its model's new files failed (", error,
                                                                           "); this load keeps serving")
                                                            : error;
        if (version.executor == nullptr) version.status.state = VersionState::kUnavailable;
      }
      if (!serving) {
        model.config_ok = false;
        model.config_error = error;
        for (int64_t number : Keys(scan->versions))
          model.versions[number].status = {number, VersionState::kUnavailable, error};
      }
      PublishRoutes();
      failed = parsed.status();
    } else {
      model.config_ok = true;
      model.config_error.clear();
      model.setup = *parsed;
      setup = std::make_shared<const ModelSetup>(std::move(*parsed));
    }
  }
  if (!failed.ok()) {
    NotifyChange();
    return failed;
  }

  absl::Status result;
  bool served_ready = false;
  for (int64_t number : served) {
    auto folder = scan->versions.find(number);
    {
      MutexLock lock(&mu_);
      Version& version = models_.at(name).versions[number];
      version.status.version = number;
      if (folder == scan->versions.end()) {  // a `specific` version without a complete folder
        const std::string why = absl::StrCat("version_policy serves version ", number, " but ", scan->dir, "/", number,
                                             "/", setup->config.default_model_filename(), " does not exist");
        if (version.executor == nullptr) {
          version.status = {number, VersionState::kUnavailable, why};
          if (result.ok()) result = absl::NotFoundError(why);
        }
        PublishRoutes();
        continue;
      }
      if (version.executor != nullptr && version.fingerprint == folder->second &&
          version.config_text == scan->config_text) {
        version.status.reason.clear();  // unchanged: keeps serving
        served_ready = true;
        continue;
      }
      if (version.executor == nullptr) {
        version.status = {number, VersionState::kLoading, ""};
        PublishRoutes();
      }
    }
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<ModelExecutor>> loaded =
        abort_loading_.cancelled()
            ? absl::CancelledError("not loaded: the server is shutting down")
            : LoadVersion(name, *setup, (fs::path(scan->dir) / std::to_string(number)).string(), number, background);
    RecordLoad(name, loaded.ok(), absl::Now() - start);
    ModelExecutor* replaced = nullptr;
    {
      MutexLock lock(&mu_);
      Version& version = models_.at(name).versions.at(number);
      if (loaded.ok()) {
        replaced = version.executor;
        version.executor = loaded->get();
        executors_.push_back({setup, std::move(*loaded)});
        version.status = {number, VersionState::kReady, ""};
        version.fingerprint = folder->second;
        version.config_text = scan->config_text;
        version.instances = setup->instances;
        version.intra_op_threads = setup->intra_op_threads;
        served_ready = true;
        LogInfo("model '", name, "' version ", number, " is ready (loaded and warmed up in ",
                absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))),
                "); pool memory per batch ~ ", version.executor->memory_cost_model().Describe(),
                replaced != nullptr ? "; the earlier load of it is draining" : "");
      } else {
        const std::string error = absl::StrCat("version ", number, ": ", loaded.status().message());
        if (version.executor != nullptr) {
          version.status.reason =
              absl::StrCat("a new load failed (", loaded.status().message(), "); the earlier load keeps serving");
          served_ready |= version.status.state == VersionState::kReady;
        } else {
          version.status = {number, VersionState::kUnavailable, std::string(loaded.status().message())};
        }
        LogError(
            "model '", name, "' version ", number,
            version.executor != nullptr ? ": a new load failed, the earlier one keeps serving: " : " is unavailable: ",
            loaded.status().message());
        if (result.ok()) result = absl::Status(loaded.status().code(), absl::StrCat("model '", name, "' ", error));
      }
      PublishRoutes();
    }
    if (replaced != nullptr) replaced->Stop();  // finishes what it accepted; its runners go
    NotifyChange(/*runners_destroyed=*/replaced != nullptr);
  }

  // Retire what the policy no longer serves, once something it serves is ready (Note [swap]).
  std::vector<int64_t> retiring;
  {
    MutexLock lock(&mu_);
    Model& model = models_.at(name);
    for (auto it = model.versions.begin(); it != model.versions.end();) {
      const bool kept = served.count(it->first) != 0;
      if (!kept && it->second.executor != nullptr) {
        if (served_ready) {
          retiring.push_back(it->first);
        } else {
          it->second.status.reason = "no version the policy serves is ready; this one keeps serving";
          LogWarning("model '", name, "': no version its policy serves is ready; version ", it->first,
                     " keeps serving");
        }
      }
      // Forget versions that neither serve nor are listed by the policy, unless unloaded on purpose.
      const bool forget = !kept && it->second.executor == nullptr && it->second.status.reason != kUnloaded;
      it = forget ? model.versions.erase(it) : std::next(it);
    }
    PublishRoutes();
  }
  for (int64_t number : retiring) Retire(name, number, kUnloaded);
  return result;
}

absl::StatusOr<std::unique_ptr<ModelExecutor>> ModelRepository::LoadVersion(const std::string& name,
                                                                            const ModelSetup& setup,
                                                                            const std::string& version_dir,
                                                                            int64_t number, bool background) {
  const std::string version_name = absl::StrCat("model '", name, "' version ", number);
  LogInfo("loading ", version_name, " (", setup.instances, " instance", setup.instances == 1 ? "" : "s", " x ",
          setup.intra_op_threads, " intra-op thread", setup.intra_op_threads == 1 ? "" : "s", ", ",
          PrecisionName(setup.precision), ")");
  auto executor = std::make_unique<ModelExecutor>(setup.signature, setup.batcher, setup.instances, version_name,
                                                  setup.device == Device::kCpu ? options_.cpu_memory : nullptr);
  // Self-checking load (runtime/model_manifest.h): the manifest's checks before the model
  // loads, its references on every instance before that instance warms up.
  const std::string model_file = ModelFilePath(setup, version_dir);
  absl::StatusOr<std::optional<v1::ModelManifest>> manifest = ReadManifest(version_dir);
  if (!manifest.ok()) return manifest.status();
  if (manifest->has_value()) {
    absl::Status checked = CheckManifest(**manifest, setup.signature, model_file,
                                         setup.format == ModelFormat::kAotInductor, loader_.FrameworkVersion());
    if (!checked.ok()) return checked;
  }
  WarmupOptions warmup = setup.warmup;
  if (background) warmup.background_nice = options_.background_load_nice;
  BatchRunnerFactory make_runner = loader_.Prepare(
      VersionToLoad{&setup, version_dir, model_file, manifest->has_value() ? &**manifest : nullptr, version_name});
  absl::Status started = executor->Start(
      [&](int instance) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
        absl::StatusOr<std::unique_ptr<BatchRunner>> runner = make_runner(instance);
        if (!runner.ok() || !manifest->has_value()) return runner;
        absl::Status checked = CheckReferences(**runner, setup.signature, **manifest, setup.reference_tolerances);
        if (!checked.ok()) return checked;
        return runner;
      },
      warmup, &abort_loading_);
  if (!started.ok()) return started;
  if (manifest->has_value()) {
    LogInfo(version_name, " passed its manifest's checks (SHA-256, PyTorch ", (*manifest)->pytorch_version(), ", ",
            (*manifest)->references_size(), " reference outputs on each instance)");
  }
  return executor;
}

void ModelRepository::Retire(const std::string& name, int64_t number, const std::string& reason) {
  ModelExecutor* executor;
  {
    MutexLock lock(&mu_);
    Version& version = models_.at(name).versions.at(number);
    executor = version.executor;
    version.status = {number, VersionState::kUnloading, ""};
    PublishRoutes();
  }
  LogInfo("model '", name, "' version ", number, " is unloading: finishing the requests it accepted");
  executor->Stop();
  {
    MutexLock lock(&mu_);
    Version& version = models_.at(name).versions.at(number);
    version.executor = nullptr;
    version.status = {number, VersionState::kUnavailable, reason};
    PublishRoutes();
  }
  LogInfo("model '", name, "' version ", number, " is unloaded");
  NotifyChange(/*runners_destroyed=*/true);
}

void ModelRepository::RecordLoad(const std::string& name, bool ok, absl::Duration took) {
  MutexLock lock(&mu_);
  std::unique_ptr<LoadCounters>& counters = loads_[name];
  if (counters == nullptr) counters = std::make_unique<LoadCounters>(LoadSecondsBounds());
  ++(ok ? counters->succeeded : counters->failed);
  counters->seconds.Observe(absl::ToDoubleSeconds(took));
}

void ModelRepository::NotifyChange(bool runners_destroyed) {
  std::function<void(bool)> changed;
  {
    MutexLock lock(&mu_);
    changed = on_change_;
  }
  if (changed) changed(runners_destroyed);
}

void ModelRepository::PublishRoutes() {
  auto table = std::make_unique<RoutingTable>();
  for (const auto& [name, model] : models_) {
    ModelRoutes& routes = (*table)[name];
    routes.config_ok = model.config_ok;
    routes.config_error = model.config_error;
    routes.reason = model.reason;
    for (const auto& [number, version] : model.versions) {
      routes.versions[number] = Route{version.status.state, version.status.reason,
                                      version.status.state == VersionState::kReady ? version.executor : nullptr};
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
  if (!model.config_ok && model.versions.empty()) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is unavailable: ", model.config_error));
  }
  if (model.versions.empty()) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is ",
                                               model.reason.empty() ? kNotLoaded : model.reason,
                                               "; load it with RepositoryModelLoad"));
  }
  if (version > 0) {
    auto v = model.versions.find(version);
    if (v == model.versions.end()) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ", version,
                                              " served (its version_policy and version folders decide which)"));
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
    if (v.state == VersionState::kLoading || v.state == VersionState::kUnloading) {
      return absl::UnavailableError(absl::StrCat("model '", name, "' has no ready version yet"));
    }
  }
  const auto& [newest, v] = *model.versions.rbegin();
  return absl::UnavailableError(
      absl::StrCat("model '", name, "' has no ready version; version ", newest, " is unavailable: ", v.reason));
}

absl::Status ModelRepository::Infer(std::unique_ptr<InferenceRequest>& request) {
  // Note [routing table]: an executor found in a table from before a swap may have been stopped
  // since; it refuses the request, which then goes to the table published before that stop.
  const RoutingTable* table = &routes();
  const std::string& name = request->model_name;
  const int64_t asked_version = request->model_version;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<ModelExecutor*> found = FindInRoutes(*table, name, asked_version, &request->model_version);
    if (!found.ok()) return found.status();
    ModelExecutor* executor = *found;
    absl::Status status = ValidateRequest(executor->signature(), *request);
    if (!status.ok()) return status;
    status = executor->Submit(request);
    if (status.ok() || status.code() != absl::StatusCode::kUnavailable || attempt == 3) return status;
    const RoutingTable* current = &routes();
    if (current == table) return status;  // no swap: the server is shutting down
    table = current;
    request->model_version = asked_version;
  }
}

void ModelRepository::Shutdown() {
  {
    MutexLock lock(&poll_mu_);
    stop_polling_ = true;
    poll_cv_.SignalAll();
  }
  if (poller_.joinable()) poller_.join();
  abort_loading_.Cancel();          // a load in progress ends at its next warm-up batch ...
  MutexLock control(&control_mu_);  // ... and is waited for
  std::vector<ModelExecutor*> executors;
  {
    MutexLock lock(&mu_);
    shut_down_ = true;
    for (const Started& started : executors_) executors.push_back(started.executor.get());
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
  const Model& model = it->second;
  ModelInfo info;
  info.name = name;
  info.config_ok = model.config_ok;
  info.config_error = model.config_error;
  info.setup = model.setup;
  info.asked = model.asked;
  info.reason = model.reason;
  for (const auto& [number, version] : model.versions) info.versions.push_back(version.status);
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
    if (!model.asked) continue;
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
      if (version.executor != nullptr) {
        out[{name, number}] = {version.executor->batcher_stats(), version.executor->execution_stats(),
                               version.instances, version.intra_op_threads};
      }
    }
  }
  return out;
}

std::map<std::string, LoadStats> ModelRepository::LoadStatsSnapshot() const {
  MutexLock lock(&mu_);
  std::map<std::string, LoadStats> out;
  for (const auto& [name, counters] : loads_) {
    out[name] = {counters->succeeded, counters->failed, counters->seconds.Snapshot()};
  }
  return out;
}

}  // namespace seqserve
