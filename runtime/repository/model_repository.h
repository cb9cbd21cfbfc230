// ModelRepository: the models of a repository directory, their versions and each version's
// lifecycle — load, warm up, self-check (runtime/repository/version_loader.h), swap in, drain, retire — and
// the control API that changes them. Requests never come here: they go through the routing
// table the repository publishes to its ModelRouter (runtime/repository/model_router.h).
//
// Layout and what counts as a model: runtime/repository/repository_scan.h. Which versions of a model are
// served: its config's version_policy (default: the highest version folder only), a request
// without a version runs the highest READY one. A version that fails to load is UNAVAILABLE with
// its reason, the others serve. Only names found in the repository are addressable: request
// strings never reach the file system.
//
// Model control (Triton's --model-control-mode):
//   kNone      every model loads at start; the set never changes.
//   kExplicit  the models named at start load; Load() / Unload() change the set at run time.
//   kPoll      every model loads at start; Poll() (every --repository-poll-seconds) picks up
//              new, changed and removed models and versions (Note [atomic pickup] in
//              runtime/repository/repository_scan.h).
//
// Note [swap]: a new or changed version is loaded and warmed up (and self-checked against its
// manifest) while the version it replaces keeps serving; requests move with one publication of
// the routing table once it is READY; the old executor then finishes every request it accepted,
// its runners are destroyed (their memory returns to the pool) and it is UNAVAILABLE "unloaded".
// A new version that fails to load leaves the versions serving before it serving — also ones its
// policy would retire — with the failure as its reason. A version's lifecycle is its
// VersionPhase (runtime/repository/version_state.h).
#ifndef SEQSERVE_RUNTIME_REPOSITORY_MODEL_REPOSITORY_H_
#define SEQSERVE_RUNTIME_REPOSITORY_MODEL_REPOSITORY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memory/mutex.h"
#include "runtime/base/histogram.h"
#include "runtime/base/periodic_thread.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/model_executor.h"
#include "runtime/repository/model_control.h"
#include "runtime/repository/model_loader.h"
#include "runtime/repository/model_router.h"
#include "runtime/repository/repository_scan.h"
#include "runtime/repository/version_state.h"

namespace seqserve {

// A snapshot of one version's state.
struct VersionStatus {
  int64_t version = 0;
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it is unavailable; for a READY one, why a newer load did not replace it
};

// What clients may learn about a model.
struct ModelInfo {
  std::string name;
  bool config_ok = false;
  std::string config_error;             // when the config did not parse
  ModelSetup setup;                     // valid when config_ok: the newest config loaded
  std::vector<VersionStatus> versions;  // ascending
  bool asked = false;                   // to be served: always, except in explicit mode when not
                                        // loaded or unloaded
  std::string reason;                   // when no version is listed: why ("not loaded", ...)
};

// Per model: version loads so far and their durations (metrics).
struct LoadStats {
  int64_t succeeded = 0;
  int64_t failed = 0;
  HistogramSnapshot seconds;  // each load, from start to READY or UNAVAILABLE
};

// Thread-safe. Open() scans; LoadAtStart(), Load(), Unload() and Poll() load and unload (slow:
// they warm up and drain; one runs at a time, the others wait); router() and the accessors may
// be used concurrently with all of them (versions not yet ready answer UNAVAILABLE).
class ModelRepository {
 public:
  struct Options {
    // How the set of loaded models may change; see the top of this file. Default kNone.
    ModelControlMode mode = ModelControlMode::kNone;
    // kExplicit only: the models LoadAtStart() loads ("*": all). Default none.
    std::vector<std::string> load_at_start;
    // The CPU pool's gate (may be null), given to every CPU model's executor (memory-aware
    // batching, runtime/resources/memory_gate.h). Not owned; must outlive the repository. Default null.
    MemoryGate* cpu_memory = nullptr;
    // Nice value of the threads that load and warm up a version after start-up, beside serving
    // traffic (Note [background load] in runtime/execution/model_executor.h); 0 = full priority.
    // Default 10.
    int background_load_nice = 10;
    // CPU cores that CPU models without instance settings are laid out on (Note [cores from
    // the pod] in runtime/resources/host_cpu.h); the server passes ProcessCpuBudget().cores. Default 1.
    int cpu_cores = 1;
  };

  // Scans `path` for model directories. NOT_FOUND when `path` is not a directory.
  // `loader` turns versions into runners (the server's: NewTorchLoader() in
  // runtime/torch/torch_loader.h); not owned, must outlive the repository.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Open(const std::string& path, ModelLoader& loader,
                                                               Options options);
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Open(const std::string& path, ModelLoader& loader) {
    return Open(path, loader, Options());
  }
  ~ModelRepository();

  ModelControlMode mode() const { return options_.mode; }

  // Loads and warms up what start-up asks for, one version after the other: every model, or in
  // explicit mode Options::load_at_start. After AbortLoading() it stops at the next warm-up
  // batch; versions it did not load are UNAVAILABLE.
  void LoadAtStart();

  // `changed` runs (on the thread making the change, outside the repository's locks) after each
  // version becomes READY, UNAVAILABLE or unloaded, e.g. to republish health; its argument is
  // true when a version's runners were destroyed (an unload, or a load that replaced one), so
  // their memory is free in the pool. Set it before LoadAtStart(). Thread-safe.
  void OnChange(std::function<void(bool runners_destroyed)> changed) {
    MutexLock lock(&mu_);
    on_change_ = std::move(changed);
  }

  // Makes a running or later load stop soon (for SIGTERM during start-up). Thread-safe.
  void AbortLoading() { abort_loading_.Cancel(); }

  // Explicit mode: (re)loads model `name` from the files as they are now — the versions its
  // policy serves that are new or whose files changed (all of them when config.pbtxt changed) —
  // swapping them in with zero downtime (Note [swap]); returns when done. OK when every served
  // version is READY. INVALID_ARGUMENT for a path-like name, NOT_FOUND for a name the
  // repository does not hold, FAILED_PRECONDITION in another mode, UNAVAILABLE after Shutdown();
  // a failed load's own error (naming the version) otherwise.
  absl::Status Load(const std::string& name);
  // Explicit mode: stops serving `name`; returns once its versions finished every accepted
  // request and were destroyed. Errors as Load(); OK for a model that is not loaded.
  absl::Status Unload(const std::string& name);
  // Poll mode: rescans the repository and loads, reloads and unloads what changed and was
  // scanned the same way by the previous poll (Note [atomic pickup]). Called by the poller
  // thread (StartPolling) and by tests.
  void Poll();
  // Poll mode: runs Poll() every `every` on a thread of its own until Shutdown().
  void StartPolling(absl::Duration every);

  // Where requests go: the versions READY now (Note [routing table]).
  const ModelRouter& router() const { return router_; }

  // Stops polling and loading, then every executor after completing what it accepted.
  void Shutdown();

  std::vector<std::string> ModelNames() const;
  // NOT_FOUND for a model the repository does not have.
  absl::StatusOr<ModelInfo> GetModelInfo(const std::string& name) const;
  // True when every model asked for (ModelInfo::asked) has a READY version and nothing is still
  // loading.
  bool AllReady() const;
  // Counters of each version serving or draining now, keyed by (model, version).
  struct VersionStats {
    BatcherStats batcher;
    ExecutionStats execution;
    int instances = 0;
    int intra_op_threads = 0;
  };
  std::map<std::pair<std::string, int64_t>, VersionStats> StatsSnapshot() const;
  // Every model that has been loaded or tried.
  std::map<std::string, LoadStats> LoadStatsSnapshot() const;

 private:
  struct Version {
    int64_t number = 0;
    VersionPhase phase = VersionPhase::kLoading;
    // Why it is not serving; for a READY one, why a newer load did not replace it.
    std::string reason;
    // Serving (READY) or draining (UNLOADING). Shared with the routing tables that route to it
    // (runtime/repository/model_router.h); it owns the config its runners were made from.
    std::shared_ptr<ModelExecutor> executor;
    // What it computes from text; null without a tokenizer. Set with the executor.
    std::shared_ptr<const TextModel> text;
    std::string fingerprint;  // of the files it was loaded from (repository_scan.h)
    std::string config_text;  // the config it was loaded with
    int instances = 0;        // of that config
    int intra_op_threads = 0;

    VersionStatus Status() const { return {number, StateOf(phase), reason}; }
  };
  struct Model {
    std::string dir;
    bool config_ok = false;
    std::string config_error;
    ModelSetup setup;  // of the newest config that parsed
    std::map<int64_t, Version> versions;
    bool asked = false;
    std::string reason;  // when no version is listed
    // The scan the model was opened or last loaded with (poll mode compares); none after Unload().
    std::optional<ModelScan> synced;
  };

  ModelRepository(std::string path, ModelLoader& loader, Options options)
      : path_(std::move(path)), loader_(loader), options_(std::move(options)) {}
  // Builds a routing table from models_ and publishes it; returns once no request reads the
  // one before (Note [grace period] in runtime/base/published.h).
  void PublishRoutes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Brings model `name` in line with `scan` (nullopt: its folder is gone): loads the served
  // versions that are new or changed, then retires the ones no longer served (Note [swap]).
  // `background`: loads run at Options::background_load_nice (not at start-up).
  absl::Status Sync(const std::string& name, const std::optional<ModelScan>& scan, bool background)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Sync() when the new config did not parse: the versions serving keep serving, the others
  // are FAILED with the error.
  void RecordConfigFailure(Model& model, const std::string& name, const ModelScan& scan, const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `number` of `name` out of the routes (UNLOADING), finishes its requests, destroys its
  // runners, and marks it UNLOADED.
  void Retire(const std::string& name, int64_t number) ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // FAILED_PRECONDITION unless in explicit mode; the name check; UNAVAILABLE once shut down.
  absl::Status CheckControl(const std::string& name) const;
  void RecordLoad(const std::string& name, bool ok, absl::Duration took);
  // Runs on_change_ (outside mu_).
  void NotifyChange(bool runners_destroyed = false);

  const std::string path_;
  ModelLoader& loader_;
  const Options options_;
  CancellationFlag abort_loading_;
  ModelRouter router_;
  // Serialises LoadAtStart, Load, Unload, Poll: one change at a time. Held for as long as loads
  // and drains take; never taken by requests or the accessors.
  Mutex control_mu_;  // taken before mu_, never after
  std::map<std::string, ModelScan> last_poll_ ABSL_GUARDED_BY(control_mu_);
  mutable Mutex mu_;  // guards the maps' contents, not the executors' own work
  std::map<std::string, Model> models_ ABSL_GUARDED_BY(mu_);
  struct LoadCounters {
    explicit LoadCounters(const std::vector<double>& bounds) : seconds(bounds) {}
    int64_t succeeded = 0;
    int64_t failed = 0;
    Histogram seconds;
  };
  std::map<std::string, std::unique_ptr<LoadCounters>> loads_ ABSL_GUARDED_BY(mu_);  // per model
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(bool)> on_change_ ABSL_GUARDED_BY(mu_);
  // The poller: StartPolling() starts it, Shutdown() stops it.
  std::unique_ptr<PeriodicThread> poller_;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_MODEL_REPOSITORY_H_
