// RepositoryControl: the KServe repository extension's load and unload requests (gRPC
// RepositoryModelLoad / RepositoryModelUnload, REST POST /v2/repository/models/{m}/load|unload),
// carried out off the RPC threads: a load warms a model up and an unload drains it, which takes
// seconds, and gRPC's callback threads and the REST event loop must never wait on that. Each
// request runs ModelRepository::Load / Unload (runtime/repository/model_repository.h: the rules, the modes,
// the zero-downtime swap) on a thread of its own; the repository runs one change at a time.
// Thread-safe; the repository must outlive it.
#ifndef SEQSERVE_SERVER_SERVING_REPOSITORY_CONTROL_H_
#define SEQSERVE_SERVER_SERVING_REPOSITORY_CONTROL_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "memory/mutex.h"
#include "runtime/repository/model_repository.h"

namespace seqserve {

class RepositoryControl {
 public:
  explicit RepositoryControl(ModelRepository& repository) : repository_(repository) {}
  ~RepositoryControl() { WaitIdle(); }
  RepositoryControl(const RepositoryControl&) = delete;
  RepositoryControl& operator=(const RepositoryControl&) = delete;

  enum class Action { kLoad, kUnload };
  // Runs `action` on model `name` and calls `done` with its result, on another thread.
  // `parameters`: the names of the request's parameters. Triton's load overrides (config, files)
  // are refused with INVALID_ARGUMENT at once; an unload's `unload_dependents` is accepted and
  // has no effect (no ensembles).
  void Run(Action action, std::string name, const std::vector<std::string>& parameters,
           std::function<void(const absl::Status&)> done);

  // Waits until every request has called its `done`. Call after ModelRepository::Shutdown() (which
  // ends a load in progress at its next warm-up batch) and before the RPC servers go.
  void WaitIdle();

 private:
  ModelRepository& repository_;
  Mutex mu_;
  CondVar idle_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_SERVING_REPOSITORY_CONTROL_H_
