#include "runtime/repository/model_repository.h"

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/base/logging.h"
#include "runtime/repository/version_loader.h"

namespace seqserve {

namespace fs = std::filesystem;

namespace {

absl::StatusOr<ModelSetup> SetupOf(const ModelScan& scan, const std::string& name, int cpu_cores) {
  if (!scan.has_config) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no config.pbtxt in ", scan.dir));
  }
  if (!scan.config_error.empty()) return absl::UnavailableError(scan.config_error);
  return ParseModelConfig(scan.config_text, name, cpu_cores);
}

template <typename K, typename V>
std::set<K> Keys(const std::map<K, V>& map) {
  std::set<K> keys;
  for (const auto& [key, value] : map) keys.insert(key);
  return keys;
}

// An executor that shares ownership of the config its runners were made from, which must
// outlive them (runtime/repository/model_loader.h): the executor goes first.
std::shared_ptr<ModelExecutor> OwningItsConfig(std::shared_ptr<const ModelSetup> setup,
                                               std::unique_ptr<ModelExecutor> executor) {
  struct Held {
    std::shared_ptr<const ModelSetup> setup;
    std::unique_ptr<ModelExecutor> executor;  // destroyed before `setup`
  };
  auto held = std::make_shared<Held>(Held{std::move(setup), std::move(executor)});
  ModelExecutor* raw = held->executor.get();
  return std::shared_ptr<ModelExecutor>(std::move(held), raw);
}

// Load durations, from a fraction of a second (small models) to minutes (large ones on a GPU).
const std::vector<double>& LoadSecondsBounds() {
  static const std::vector<double> bounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return bounds;
}

}  // namespace

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
  for (const std::string& name : named) {
    if (name != "*" && scans.count(name) == 0) {
      return absl::NotFoundError(absl::StrCat("--load-model=", name, ": the repository ", path, " has no model '", name,
                                              "'; it has: ", absl::StrJoin(Keys(scans), ", ")));
    }
  }
  MutexLock control(&repo->control_mu_);
  MutexLock lock(&repo->mu_);
  for (const auto& [name, scan] : scans) {
    Model& model = repo->models_[name];
    model.dir = scan.dir;
    model.asked = load_all || named.count(name) != 0;
    model.synced = scan;  // what LoadAtStart loads
    absl::StatusOr<ModelSetup> setup = SetupOf(scan, name, repo->options_.cpu_cores);
    if (setup.ok()) {
      model.config_ok = true;
      model.setup = std::move(*setup);
    } else {
      model.config_error = std::string(setup.status().message());
      LogError("model '", name, "' is unavailable: ", model.config_error);
    }
    if (!model.asked) {
      model.reason = kNotLoadedReason;
      continue;
    }
    // Listed LOADING now, so that readiness waits for them (Note [health before load]).
    const std::set<int64_t> versions = model.config_ok
                                           ? ServedVersions(model.setup.config.version_policy(), Keys(scan.versions))
                                           : Keys(scan.versions);
    for (int64_t number : versions) {
      Version& version = model.versions[number];
      version.number = number;
      if (!model.config_ok) {
        version.phase = VersionPhase::kFailed;
        version.reason = model.config_error;
      }
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
    if (it->second.versions.empty()) it->second.reason = kUnloadedReason;
    PublishRoutes();  // readiness no longer counts it
  }
  LogInfo("unloading model '", name, "'");
  for (int64_t number : serving) Retire(name, number);
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
    for (const auto& [name, model] : models_) synced[name] = model.synced;
  }
  for (const PollChange& change : PollChanges(last_poll_, scans, synced)) {
    LogInfo("repository poll: model '", change.name, "' ", change.what);
    Sync(change.name, change.scan, /*background=*/true).IgnoreError();
  }
  last_poll_ = std::move(scans);
}

void ModelRepository::StartPolling(absl::Duration every) {
  poller_ = std::make_unique<PeriodicThread>(every, [this] { Poll(); });
}

void ModelRepository::RecordConfigFailure(Model& model, const std::string& name, const ModelScan& scan,
                                          const std::string& error) {
  bool serving = false;
  for (const auto& [number, version] : model.versions) serving |= version.executor != nullptr;
  LogError("model '", name, "': ", error, serving ? "; the versions loaded before keep serving" : "");
  for (auto& [number, version] : model.versions) {
    if (version.executor != nullptr) {
      version.reason = absl::StrCat("its model's new files failed (", error, "); this load keeps serving");
    } else {
      version.phase = VersionPhase::kFailed;
      version.reason = error;
    }
  }
  if (!serving) {
    model.config_ok = false;
    model.config_error = error;
    for (int64_t number : Keys(scan.versions)) {
      Version& version = model.versions[number];
      version.number = number;
      version.phase = VersionPhase::kFailed;
      version.reason = error;
    }
  }
  PublishRoutes();
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
    for (int64_t number : serving) Retire(name, number);
    MutexLock lock(&mu_);
    models_.erase(name);
    PublishRoutes();
    return absl::OkStatus();
  }
  absl::StatusOr<ModelSetup> parsed = SetupOf(*scan, name, options_.cpu_cores);
  std::set<int64_t> served;
  if (parsed.ok()) {
    served = ServedVersions(parsed->config.version_policy(), Keys(scan->versions));
    if (served.empty()) {
      parsed = absl::NotFoundError(absl::StrCat("no version directory with its model file (e.g. ", name, "/1/",
                                                parsed->config.default_model_filename(), ") in ", scan->dir));
    }
  }
  std::shared_ptr<const ModelSetup> setup;
  {
    MutexLock lock(&mu_);
    Model& model = models_[name];
    model.dir = scan->dir;
    model.asked = true;
    model.reason.clear();
    model.synced = *scan;
    if (parsed.ok()) {
      model.config_ok = true;
      model.config_error.clear();
      model.setup = *parsed;
      setup = std::make_shared<const ModelSetup>(std::move(*parsed));
    } else {
      RecordConfigFailure(model, name, *scan, std::string(parsed.status().message()));
    }
  }
  if (setup == nullptr) {
    NotifyChange();
    return parsed.status();
  }

  absl::Status result;
  bool served_ready = false;
  for (int64_t number : served) {
    auto folder = scan->versions.find(number);
    {
      MutexLock lock(&mu_);
      Version& version = models_.at(name).versions[number];
      version.number = number;
      if (folder == scan->versions.end()) {  // a `specific` version without a complete folder
        const std::string why = absl::StrCat("version_policy serves version ", number, " but ", scan->dir, "/", number,
                                             "/", setup->config.default_model_filename(), " does not exist");
        if (version.executor == nullptr) {
          version.phase = VersionPhase::kFailed;
          version.reason = why;
          if (result.ok()) result = absl::NotFoundError(why);
        }
        PublishRoutes();
        continue;
      }
      if (version.executor != nullptr && version.fingerprint == folder->second &&
          version.config_text == scan->config_text) {
        version.reason.clear();  // unchanged: keeps serving
        served_ready = true;
        continue;
      }
      if (version.executor == nullptr) {
        version.phase = VersionPhase::kLoading;
        version.reason.clear();
        PublishRoutes();
      }
    }
    const absl::Time start = absl::Now();
    VersionLoad load;
    load.model = name;
    load.number = number;
    load.version_dir = (fs::path(scan->dir) / std::to_string(number)).string();
    load.setup = setup.get();
    load.cpu_memory = options_.cpu_memory;
    if (background) load.background_nice = options_.background_load_nice;
    load.abort = &abort_loading_;
    absl::StatusOr<LoadedVersion> loaded = abort_loading_.cancelled()
                                               ? absl::CancelledError("not loaded: the server is shutting down")
                                               : LoadVersion(loader_, load);
    RecordLoad(name, loaded.ok(), absl::Now() - start);
    std::shared_ptr<ModelExecutor> replaced;
    {
      MutexLock lock(&mu_);
      Version& version = models_.at(name).versions.at(number);
      if (loaded.ok()) {
        replaced = std::move(version.executor);
        version.executor = OwningItsConfig(setup, std::move(loaded->executor));
        version.text = std::move(loaded->text);
        version.phase = VersionPhase::kReady;
        version.reason.clear();
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
          version.reason =
              absl::StrCat("a new load failed (", loaded.status().message(), "); the earlier load keeps serving");
          served_ready |= version.phase == VersionPhase::kReady;
        } else {
          version.phase = VersionPhase::kFailed;
          version.reason = std::string(loaded.status().message());
        }
        LogError(
            "model '", name, "' version ", number,
            version.executor != nullptr ? ": a new load failed, the earlier one keeps serving: " : " is unavailable: ",
            loaded.status().message());
        if (result.ok()) result = absl::Status(loaded.status().code(), absl::StrCat("model '", name, "' ", error));
      }
      PublishRoutes();  // no request reaches `replaced` after this
    }
    if (replaced != nullptr) {
      replaced->Stop();  // finishes what it accepted; its runners go
      replaced.reset();  // the last reference: the routing tables that held it are gone
    }
    NotifyChange(/*runners_destroyed=*/replaced != nullptr);
  }

  // Retire what the policy no longer serves, once something it serves is ready (Note [swap]).
  std::vector<int64_t> retiring;
  {
    MutexLock lock(&mu_);
    Model& model = models_.at(name);
    for (auto it = model.versions.begin(); it != model.versions.end();) {
      Version& version = it->second;
      const bool kept = served.count(it->first) != 0;
      if (!kept && version.executor != nullptr) {
        if (served_ready) {
          retiring.push_back(it->first);
        } else {
          version.reason = "no version the policy serves is ready; this one keeps serving";
          LogWarning("model '", name, "': no version its policy serves is ready; version ", it->first,
                     " keeps serving");
        }
      }
      // Forget versions that neither serve nor are listed by the policy, unless unloaded on purpose.
      const bool forget = !kept && version.executor == nullptr && version.phase != VersionPhase::kUnloaded;
      it = forget ? model.versions.erase(it) : std::next(it);
    }
    PublishRoutes();
  }
  for (int64_t number : retiring) Retire(name, number);
  return result;
}

void ModelRepository::Retire(const std::string& name, int64_t number) {
  std::shared_ptr<ModelExecutor> executor;
  {
    MutexLock lock(&mu_);
    Version& version = models_.at(name).versions.at(number);
    executor = version.executor;
    version.phase = VersionPhase::kUnloading;
    version.reason.clear();
    PublishRoutes();  // no request reaches it after this
  }
  LogInfo("model '", name, "' version ", number, " is unloading: finishing the requests it accepted");
  executor->Stop();
  {
    MutexLock lock(&mu_);
    Version& version = models_.at(name).versions.at(number);
    version.executor.reset();
    version.phase = VersionPhase::kUnloaded;
    version.reason = kUnloadedReason;
    PublishRoutes();
  }
  executor.reset();  // the last reference, outside the lock
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
  auto table = std::make_shared<RoutingTable>();
  for (const auto& [name, model] : models_) {
    ModelRoutes& routes = (*table)[name];
    routes.config_ok = model.config_ok;
    routes.config_error = model.config_error;
    routes.reason = model.reason;
    for (const auto& [number, version] : model.versions) {
      const bool ready = version.phase == VersionPhase::kReady;
      routes.versions[number] = Route{StateOf(version.phase), version.reason, ready ? version.executor : nullptr,
                                      ready ? version.text : nullptr};
    }
  }
  router_.Publish(std::move(table));
}

void ModelRepository::Shutdown() {
  poller_.reset();                  // stops polling
  abort_loading_.Cancel();          // a load in progress ends at its next warm-up batch ...
  MutexLock control(&control_mu_);  // ... and is waited for
  std::vector<std::shared_ptr<ModelExecutor>> executors;
  {
    MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [name, model] : models_) {
      for (const auto& [number, version] : model.versions) {
        if (version.executor != nullptr) executors.push_back(version.executor);
      }
    }
  }
  for (const std::shared_ptr<ModelExecutor>& e : executors) e->Stop();
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
  for (const auto& [number, version] : model.versions) info.versions.push_back(version.Status());
  return info;
}

bool ModelRepository::AllReady() const {
  MutexLock lock(&mu_);
  for (const auto& [name, model] : models_) {
    if (!model.asked) continue;
    bool any_ready = false;
    for (const auto& [number, version] : model.versions) {
      if (version.phase == VersionPhase::kLoading) return false;
      any_ready |= version.phase == VersionPhase::kReady;
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
