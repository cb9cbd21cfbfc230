// KServeRest: KServe v2 REST (the Open Inference Protocol's HTTP/JSON binding, with Triton's
// binary tensor extension) on the REST port, so that curl, browsers, gateways and
// tritonclient.http work. Routes:
//   GET  /v2                                     server metadata
//   GET  /v2/health/live, /v2/health/ready       200, or 503 when not ready
//   GET  /v2/models/{m}[/versions/{v}]           model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready     200, or 503
//   GET  /v2/models/{m}[/versions/{v}]/config    model configuration (Triton's)
//   GET  /v2/models[/{m}[/versions/{v}]]/stats   statistics (Triton's)
//   POST /v2/models/{m}[/versions/{v}]/infer     inference (server/api/kserve_json.h)
//   POST /v2/repository/index                    every model version and its state
//   POST /v2/repository/models/{m}/load|unload   model control (server/serving/repository_control.h);
//                                                200 {} once done
// Inference takes the same request path as gRPC (server/serving/request_path.h: limits, batcher,
// metrics with api="rest", drain); answers about models come from server/api/kserve_info.h.
// Errors are {"error": "..."} with the status of HttpStatusFor. Thread-safe.
#ifndef SEQSERVE_SERVER_API_KSERVE_REST_H_
#define SEQSERVE_SERVER_API_KSERVE_REST_H_

#include "absl/status/status.h"
#include "server/api/kserve_info.h"
#include "server/http/http_server.h"
#include "server/serving/readiness.h"
#include "server/serving/repository_control.h"
#include "server/serving/request_path.h"

namespace seqserve {

// The HTTP status of a canonical error: INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE
// 400, NOT_FOUND 404, RESOURCE_EXHAUSTED 429 (queue full, or the request cannot fit in memory),
// UNAVAILABLE 503 (not ready, draining), DEADLINE_EXCEEDED 504, CANCELLED 499, UNIMPLEMENTED
// 501, PERMISSION_DENIED 403, UNAUTHENTICATED 401, the rest 500.
int HttpStatusFor(absl::StatusCode code);

// `path`, `readiness` and `control` (may be null: load/unload answer 501) must outlive it.
class KServeRest {
 public:
  KServeRest(RequestPath& path, const Readiness& readiness, RepositoryControl* control = nullptr)
      : path_(path), readiness_(readiness), control_(control), info_(path.repository(), readiness) {}

  // The HttpHandler of the REST port.
  void Handle(const HttpRequest& request, HttpReply reply);

 private:
  void Infer(const HttpRequest& request, const std::string& model, const std::string& version_text, HttpReply reply);
  void Control(const HttpRequest& request, absl::string_view model, absl::string_view action, HttpReply reply);

  RequestPath& path_;
  const Readiness& readiness_;
  RepositoryControl* const control_;
  const KServeInfo info_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_REST_H_
