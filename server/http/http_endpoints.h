// HttpEndpoints: the metrics port. Serves exactly three read-only paths — /metrics (Prometheus
// text format, collected at scrape time), /healthz (200 while the process can work) and /readyz
// (200 when ready, 503 otherwise) — to GET and HEAD; anything else gets 404 or 405. No files,
// no request bodies. Runs on server/http/http_server.h (libmicrohttpd, Note [HTTP library]) with its
// own connection limits, apart from the REST port: Triton's 8000/8002 split, so that clients of
// the REST port can never crowd out the probes and scrapes. Thread-safe.
#ifndef SEQSERVE_SERVER_HTTP_HTTP_ENDPOINTS_H_
#define SEQSERVE_SERVER_HTTP_HTTP_ENDPOINTS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/http_server.h"
#include "server/observability/metrics_collector.h"

namespace seqserve {

class HttpEndpoints {
 public:
  // Listens on options.address:port (port 0 picks a free one). `ready` answers /readyz.
  static absl::StatusOr<std::unique_ptr<HttpEndpoints>> Start(HttpServerOptions options,
                                                              const MetricsCollector& collector,
                                                              std::function<bool()> ready);

  int port() const { return server_->port(); }

 private:
  HttpEndpoints(const MetricsCollector& collector, std::function<bool()> ready)
      : collector_(collector), ready_(std::move(ready)) {}
  HttpResponse Handle(const HttpRequest& request) const;

  const MetricsCollector& collector_;
  const std::function<bool()> ready_;
  std::unique_ptr<HttpServer> server_;  // last: stops before the members it calls
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_HTTP_HTTP_ENDPOINTS_H_
