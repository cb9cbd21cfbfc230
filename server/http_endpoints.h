// HttpEndpoints: the metrics port. Serves exactly three read-only paths — /metrics (Prometheus
// text format, collected at scrape time), /healthz (200 while the process can work) and /readyz
// (200 when ready, 503 otherwise) — to GET and HEAD; anything else gets 404 or 405. No files,
// no request bodies. Thread-safe; owns one serving thread.
//
// Note [own HTTP server]: civetweb (and prometheus-cpp's Exposer, built on it) cannot start in
// a process that loads libtorch: it creates its threads with a fixed 100 KiB stack
// (pthread_attr_setstacksize(0x19000) in Debian's libcivetweb 1.15), and glibc refuses
// (EINVAL, no syscall made) because the static TLS of libtorch and the CUDA libraries does not
// fit in it. Probes and scrapes are rare, small and read-only, so a minimal HTTP/1.1 responder
// on one thread, with bounded reads and socket timeouts, does the job.
#ifndef SEQSERVE_SERVER_HTTP_ENDPOINTS_H_
#define SEQSERVE_SERVER_HTTP_ENDPOINTS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/metrics_collector.h"

namespace seqserve {

class HttpEndpoints {
 public:
  // Listens on address:port (port 0 picks a free one). `ready` answers /readyz.
  static absl::StatusOr<std::unique_ptr<HttpEndpoints>> Start(const std::string& address, int port,
                                                             const MetricsCollector& collector,
                                                             std::function<bool()> ready);
  // Stops serving and joins the thread.
  ~HttpEndpoints();

  int port() const { return port_; }

 private:
  HttpEndpoints(const MetricsCollector& collector, std::function<bool()> ready)
      : collector_(collector), ready_(std::move(ready)) {}
  void Serve();
  void HandleConnection(int fd);

  const MetricsCollector& collector_;
  const std::function<bool()> ready_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_HTTP_ENDPOINTS_H_
