// ModelRouter: where an inference request goes. It holds the routing table — per model its
// config error or, per version, its state and the executor serving it — finds the version a
// request asks for, validates the request against that version's signature and queues it.
// The model repository (runtime/repository/model_repository.h) builds a new table whenever a version
// changes state and publishes it here; nothing else writes it.
//
// Note [routing table]: a request reads the table without a lock (runtime/base/published.h), so
// routing never waits for a load, a swap or a drain. A request that read a table from before a
// swap may reach an executor stopped since; the executor refuses it (UNAVAILABLE) and Infer()
// retries on the current table. A replaced table is freed once no request can still read it,
// and with it the last reference to a stopped executor (Note [grace period]).
//
// Thread-safe: Infer() and ResolveVersion() from any thread, lock-free; Publish() from the
// repository's control thread, one at a time.
#ifndef SEQSERVE_RUNTIME_REPOSITORY_MODEL_ROUTER_H_
#define SEQSERVE_RUNTIME_REPOSITORY_MODEL_ROUTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/base/published.h"
#include "runtime/execution/inference_request.h"
#include "runtime/execution/model_executor.h"
#include "runtime/repository/version_state.h"
#include "runtime/text/text_model.h"

namespace seqserve {

// What a request needs to know of one version.
struct Route {
  VersionState state = VersionState::kLoading;
  std::string reason;                       // why it is not READY
  std::shared_ptr<ModelExecutor> executor;  // set when READY
  std::shared_ptr<const TextModel> text;    // set when READY and it takes text
};

// The version a text request goes to, and what that version computes from text.
struct TextRoute {
  int64_t version = 0;
  std::shared_ptr<const TextModel> model;
};

// ... and of one model.
struct ModelRoutes {
  bool config_ok = false;
  std::string config_error;  // when the config did not parse
  std::string reason;        // when no version is listed ("not loaded", "unloaded")
  std::map<int64_t, Route> versions;
};

using RoutingTable = std::map<std::string, ModelRoutes>;

class ModelRouter {
 public:
  ModelRouter() : table_(std::make_shared<const RoutingTable>()) {}

  // Finds the version (`request->model_version`, 0: the highest READY one), validates the
  // request against its signature and queues it; sets `request->model_version` to the version
  // it went to. On OK the request is owned by the runtime and `request->done` will be called
  // once. Otherwise (NOT_FOUND, UNAVAILABLE, INVALID_ARGUMENT, RESOURCE_EXHAUSTED) it is not.
  absl::Status Infer(std::unique_ptr<InferenceRequest>& request) const;
  // Infer for requests of one model and version (the rows of a text request, all for the version
  // ResolveText gave): all are validated and queued, or none (ModelExecutor::SubmitAll). Not
  // retried after a swap: the version is pinned, so its tokenizer made the rows.
  absl::Status InferAll(std::vector<std::unique_ptr<InferenceRequest>>& requests) const;

  // The version a request for (name, version) would run now; NOT_FOUND / UNAVAILABLE with the
  // reason otherwise.
  absl::StatusOr<int64_t> ResolveVersion(const std::string& name, int64_t version) const;

  // ResolveVersion, with the version's TextModel; FAILED_PRECONDITION when that version was
  // packed without a tokenizer (it takes token ids only).
  absl::StatusOr<TextRoute> ResolveText(const std::string& name, int64_t version) const;

  // The models whose highest READY version takes text, with that version, by name.
  std::map<std::string, TextRoute> TextModels() const;

  // Makes `table` current; returns once no request reads the table it replaced.
  void Publish(std::shared_ptr<const RoutingTable> table) { table_.Publish(std::move(table)); }

 private:
  // The executor a request for (name, version) goes to in `table`, and the version it resolved
  // to; the NOT_FOUND / UNAVAILABLE answer otherwise.
  static absl::StatusOr<const Route*> Find(const RoutingTable& table, const std::string& name, int64_t version,
                                           int64_t* resolved);
  // Infer() on the current table. `refused_on`: the table an executor just refused the request
  // on (`refusal`), still held by the caller; when it is still current there was no swap and
  // the refusal stands. Up to `retries` more tables.
  absl::Status InferOn(std::unique_ptr<InferenceRequest>& request, int64_t asked_version,
                       const RoutingTable* refused_on, absl::Status refusal, int retries) const;

  Published<RoutingTable> table_;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_MODEL_ROUTER_H_
