#include "runtime/repository/model_router.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/execution/request_validator.h"

namespace seqserve {

absl::StatusOr<const Route*> ModelRouter::Find(const RoutingTable& table, const std::string& name, int64_t version,
                                               int64_t* resolved) {
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
                                               model.reason.empty() ? kNotLoadedReason : model.reason,
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
    return &v->second;
  }
  for (auto v = model.versions.rbegin(); v != model.versions.rend(); ++v) {
    if (v->second.state == VersionState::kReady) {
      *resolved = v->first;
      return &v->second;
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

absl::Status ModelRouter::Infer(std::unique_ptr<InferenceRequest>& request) const {
  return InferOn(request, request->model_version, /*refused_on=*/nullptr, absl::OkStatus(), /*retries=*/3);
}

absl::Status ModelRouter::InferOn(std::unique_ptr<InferenceRequest>& request, int64_t asked_version,
                                  const RoutingTable* refused_on, absl::Status refusal, int retries) const {
  Published<RoutingTable>::Reader table(table_);
  if (table.get() == refused_on) return refusal;  // no swap since: the server is shutting down
  absl::StatusOr<const Route*> found = Find(*table, request->model_name, asked_version, &request->model_version);
  if (!found.ok()) return found.status();
  ModelExecutor* executor = (*found)->executor.get();
  absl::Status status = ValidateRequest(executor->signature(), *request);
  if (!status.ok()) return status;
  status = executor->Submit(request);
  if (status.ok() || status.code() != absl::StatusCode::kUnavailable || retries == 0) return status;
  // Note [routing table]: stopped since this table was read; the table published after the
  // stop routes elsewhere. `table` stays held, so its address cannot be reused meanwhile.
  request->model_version = asked_version;
  return InferOn(request, asked_version, table.get(), std::move(status), retries - 1);
}

absl::Status ModelRouter::InferAll(std::vector<std::unique_ptr<InferenceRequest>>& requests) const {
  if (requests.empty()) return absl::OkStatus();
  Published<RoutingTable>::Reader table(table_);
  int64_t resolved = 0;
  absl::StatusOr<const Route*> found = Find(*table, requests[0]->model_name, requests[0]->model_version, &resolved);
  if (!found.ok()) return found.status();
  ModelExecutor& executor = *(*found)->executor;
  for (std::unique_ptr<InferenceRequest>& request : requests) {
    request->model_version = resolved;
    if (absl::Status valid = ValidateRequest(executor.signature(), *request); !valid.ok()) return valid;
  }
  return executor.SubmitAll(requests);
}

absl::StatusOr<int64_t> ModelRouter::ResolveVersion(const std::string& name, int64_t version) const {
  Published<RoutingTable>::Reader table(table_);
  int64_t resolved = 0;
  absl::StatusOr<const Route*> found = Find(*table, name, version, &resolved);
  if (!found.ok()) return found.status();
  return resolved;
}

absl::StatusOr<TextRoute> ModelRouter::ResolveText(const std::string& name, int64_t version) const {
  Published<RoutingTable>::Reader table(table_);
  TextRoute route;
  absl::StatusOr<const Route*> found = Find(*table, name, version, &route.version);
  if (!found.ok()) return found.status();
  if ((*found)->text == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name, "' version ", route.version,
                     " takes token ids, not text: it was packed without a tokenizer (scripts/seqserve-pack packs "
                     "the checkpoint's tokenizer.json)"));
  }
  route.model = (*found)->text;
  return route;
}

std::map<std::string, TextRoute> ModelRouter::TextModels() const {
  Published<RoutingTable>::Reader table(table_);
  std::map<std::string, TextRoute> models;
  for (const auto& [name, routes] : *table) {
    for (auto v = routes.versions.rbegin(); v != routes.versions.rend(); ++v) {
      if (v->second.state != VersionState::kReady) continue;
      if (v->second.text != nullptr) models[name] = TextRoute{v->first, v->second.text};
      break;
    }
  }
  return models;
}

}  // namespace seqserve
