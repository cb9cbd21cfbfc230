#include "server/http/http_endpoints.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {

absl::StatusOr<std::unique_ptr<HttpEndpoints>> HttpEndpoints::Start(HttpServerOptions options,
                                                                    const MetricsCollector& collector,
                                                                    std::function<bool()> ready) {
  std::unique_ptr<HttpEndpoints> http(new HttpEndpoints(collector, std::move(ready)));
  options.max_body_bytes = 4096;  // read-only paths take no body; a small one still gets its 405
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      options, [raw = http.get()](const HttpRequest& request, HttpReply reply) { reply.Send(raw->Handle(request)); });
  if (!server.ok()) return server.status();
  http->server_ = std::move(*server);
  return http;
}

HttpResponse HttpEndpoints::Handle(const HttpRequest& request) const {
  // libmicrohttpd answers HEAD with the headers of the GET response and no body.
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (request.path != "/metrics" && request.path != "/healthz" && request.path != "/readyz") {
    return {404, "text/plain", "not found; paths: /metrics /healthz /readyz\n", {}};
  }
  if (!read) return {405, "text/plain", "read-only: GET or HEAD\n", {{"Allow", "GET, HEAD"}}};
  if (request.path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", SerializeMetrics(collector_.Collect()), {}};
  }
  if (request.path == "/healthz") return {200, "text/plain", "ok\n", {}};
  if (ready_()) return {200, "text/plain", "ready\n", {}};
  return {503, "text/plain", "not ready\n", {}};
}

}  // namespace seqserve
