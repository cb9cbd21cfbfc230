// Readiness: the server's one rule for "ready", asked by every interface that reports it —
// gRPC health (grpc.health.v1, overall and per model), KServe ServerReady / ModelReady,
// seqserve's ServerMetadata / ModelMetadata, and the HTTP /readyz probe — so they can never
// disagree.
//
// The rule:
//   - the server is ready when it is not draining and, with --strict-readiness (the default,
//     as in Triton), every model asked for (ModelRepository::AllReady: all of them, or in
//     explicit model control those loaded and not unloaded) has a READY version and nothing is
//     still loading; without it, as soon as it is not draining (models answer UNAVAILABLE until
//     they are loaded);
//   - a model (or one version of it) is ready when the server is not draining and a request
//     for it would run now (ModelRouter::ResolveVersion succeeds).
// Thread-safe; the repository and state must outlive it.
#ifndef SEQSERVE_SERVER_SERVING_READINESS_H_
#define SEQSERVE_SERVER_SERVING_READINESS_H_

#include <cstdint>
#include <string>

#include "runtime/repository/model_repository.h"
#include "server/serving/serving_state.h"

namespace seqserve {

class Readiness {
 public:
  Readiness(const ModelRepository& repository, const ServingState& state, bool strict)
      : repository_(repository), state_(state), strict_(strict) {}

  bool ServerReady() const { return !state_.draining() && (!strict_ || repository_.AllReady()); }

  // `version` 0: any version (the one a request without a version would run).
  bool ModelReady(const std::string& name, int64_t version) const {
    return !state_.draining() && repository_.router().ResolveVersion(name, version).ok();
  }

 private:
  const ModelRepository& repository_;
  const ServingState& state_;
  const bool strict_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_SERVING_READINESS_H_
