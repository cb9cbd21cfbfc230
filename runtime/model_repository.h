// ModelRepository: the models of a repository directory, their versions, their loading state,
// and the one request path both wire APIs share (find model -> validate -> batcher).
//
// Layout (familiar to Triton users):
//   <repository>/<model>/config.pbtxt
//   <repository>/<model>/<version>/model.pt     versions are positive integers
// Entries that are not models (lost+found, dot-folders, Kubernetes' ConfigMap layout, stray
// files; Note [what is a model] in the .cc) are skipped with a log line.
// Every version found is loaded; a request without a version runs the highest READY one.
// A model or version that fails to load is UNAVAILABLE with its reason, the others serve.
// Only names found in the repository are addressable: request strings never reach the
// filesystem.
#ifndef SEQSERVE_RUNTIME_MODEL_REPOSITORY_H_
#define SEQSERVE_RUNTIME_MODEL_REPOSITORY_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/mutex.h"
#include "runtime/model_config.h"
#include "runtime/model_executor.h"
#include "runtime/model_loader.h"

namespace seqserve {

enum class VersionState { kLoading, kReady, kUnavailable };
absl::string_view VersionStateName(VersionState state);

// A snapshot of one version's state.
struct VersionStatus {
  int64_t version = 0;
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it is unavailable
};

// What clients may learn about a model.
struct ModelInfo {
  std::string name;
  bool config_ok = false;
  std::string config_error;             // when the config did not parse
  ModelSetup setup;                     // valid when config_ok
  std::vector<VersionStatus> versions;  // ascending
};

// Thread-safe. Open() scans; LoadAll() loads (slow: runs warm-up); Infer() and the accessors may
// be called concurrently with LoadAll() (versions not yet ready answer UNAVAILABLE).
class ModelRepository {
 public:
  // Scans `path` for model directories. NOT_FOUND when `path` is not a directory.
  // `loader` turns versions into runners (the server's: NewTorchLoader() in
  // runtime/torch_loader.h). `cpu_memory` (may be null): the CPU pool's gate, given to every CPU
  // model's executor (memory-aware batching, runtime/memory_gate.h). Neither is owned; both must
  // outlive the repository.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Open(const std::string& path, ModelLoader& loader,
                                                               MemoryGate* cpu_memory = nullptr);
  ~ModelRepository();

  // Loads and warms up every version of every model, one after the other. After AbortLoading()
  // it stops at the next warm-up batch; versions it did not load are UNAVAILABLE.
  // `after_each` (optional) runs after each version is READY or UNAVAILABLE.
  void LoadAll(const std::function<void()>& after_each = nullptr);

  // Makes a running or later LoadAll() stop soon (for SIGTERM during start-up). Thread-safe.
  void AbortLoading() { abort_loading_.Cancel(); }

  // The shared request path: finds the version, validates the request, and queues it.
  // On OK the request is owned by the runtime and request->done will be called once.
  // Otherwise (NOT_FOUND, UNAVAILABLE, INVALID_ARGUMENT, RESOURCE_EXHAUSTED) it is not.
  absl::Status Infer(std::unique_ptr<InferenceRequest>& request);

  // Stops every executor after completing what it accepted.
  void Shutdown();

  std::vector<std::string> ModelNames() const;
  // NOT_FOUND for a model the repository does not have.
  absl::StatusOr<ModelInfo> GetModelInfo(const std::string& name) const;
  // The version a request for (name, version) would run; NOT_FOUND / UNAVAILABLE otherwise.
  absl::StatusOr<int64_t> ResolveVersion(const std::string& name, int64_t version) const;
  // True when every model has at least one READY version and nothing is still loading.
  bool AllReady() const;
  // Counters of each version that has been ready, keyed by (model, version).
  struct VersionStats {
    BatcherStats batcher;
    ExecutionStats execution;
    int instances = 0;
    int intra_op_threads = 0;
  };
  std::map<std::pair<std::string, int64_t>, VersionStats> StatsSnapshot() const;

 private:
  struct Version {
    VersionStatus status;
    std::unique_ptr<ModelExecutor> executor;  // set once READY
  };
  struct Model {
    std::string dir;
    bool config_ok = false;
    std::string config_error;
    ModelSetup setup;
    std::map<int64_t, Version> versions;
  };

  // Note [routing table]: what a request needs to reach its executor (per model the config
  // error or, per version, its state and executor) is an immutable RoutingTable, rebuilt under
  // mu_ and published with one atomic store whenever a version changes state; Infer() reads
  // it with one atomic load and takes no lock. Tables are few (one per state change, a few
  // hundred bytes each) and are kept until the repository goes, so a reader never holds a
  // table that was freed; executors live until Shutdown() likewise.
  struct Route {
    VersionState state = VersionState::kLoading;
    std::string reason;
    ModelExecutor* executor = nullptr;  // set when READY
  };
  struct ModelRoutes {
    bool config_ok = false;
    std::string config_error;
    std::map<int64_t, Route> versions;
  };
  using RoutingTable = std::map<std::string, ModelRoutes>;

  ModelRepository(std::string path, ModelLoader& loader, MemoryGate* cpu_memory)
      : path_(std::move(path)), loader_(loader), cpu_memory_(cpu_memory) {}
  // The executor a request for (name, version) goes to in `table`, and the version it resolved
  // to; the NOT_FOUND / UNAVAILABLE answer otherwise. Lock-free: reads only the published table.
  static absl::StatusOr<ModelExecutor*> FindInRoutes(const RoutingTable& table, const std::string& name,
                                                     int64_t version, int64_t* resolved);
  // Builds a table from models_ and makes it current.
  void PublishRoutes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const RoutingTable& routes() const { return *routes_.load(std::memory_order_acquire); }

  const std::string path_;
  ModelLoader& loader_;
  MemoryGate* const cpu_memory_;
  CancellationFlag abort_loading_;
  mutable Mutex mu_;  // guards the maps' contents, not the executors' own work
  std::map<std::string, Model> models_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<const RoutingTable>> tables_ ABSL_GUARDED_BY(mu_);  // every one published
  std::atomic<const RoutingTable*> routes_{nullptr};                              // the newest of tables_
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_MODEL_REPOSITORY_H_
