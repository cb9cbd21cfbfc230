// HttpServer: one HTTP/1.1 listener on libmicrohttpd, for seqserve's REST port and its metrics
// port. A handler sees each request once its headers and body are in, and answers it through an
// HttpReply — at once, or later from any thread (an inference finishes on a runtime thread):
// the connection is suspended meanwhile and costs no thread. Thread-safe.
//
// Note [HTTP library]: libmicrohttpd (Debian's libmicrohttpd-dev 0.9.75), chosen over
// cpp-httplib and Boost.Beast by the measurements in benchmarks/RESULTS.md ("HTTP library").
// What decided it: an epoll event loop, so a connection that trickles bytes holds a file
// descriptor and at most its memory limit, never a thread — with cpp-httplib's thread pool 200
// slow connections left no thread for /metrics; suspend/resume for answers made elsewhere; limits
// on connections, per-connection memory (headers) and idle time built in; TLS through GnuTLS;
// its threads get the system's default stack size, which holds libtorch's static TLS (the
// failure that ruled out civetweb). Boost.Beast could do all of this, but as a server we would
// write and keep ourselves.
//
// Note [slow senders]: a connection silent for idle_timeout is closed (libmicrohttpd); a body
// must arrive within body_timeout of its headers (the connection is closed after). Headers
// that trickle in are bounded not in time but in bytes (each connection's memory is at most
// 2 x max_header_bytes) and in number (max_connections). Measured: 200 such connections on
// each port left every scrape and REST infer under 1 s (2-3 ms and 5-7 ms) and grew RSS by
// 2.4 MB (tests/python/test_http_slow_clients.py).
//
// Bodies are charged to `body_memory` (Note [request bytes] in server/admission/request_memory.h): from
// Content-Length before the body is read, a chunked body as it grows; a body that does not fit
// is answered 429 at once and the rest of it discarded. A client that hangs up while its answer
// is being made elsewhere has its request's `cancel` flag set (Note [REST hang-ups] in
// server/http/hangup_watcher.h).
#ifndef SEQSERVE_SERVER_HTTP_HTTP_SERVER_H_
#define SEQSERVE_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/execution/inference_request.h"
#include "server/admission/request_memory.h"
#include "server/http/hangup_watcher.h"

struct MHD_Connection;
struct MHD_Daemon;

namespace seqserve {

struct HttpServerOptions {
  // Names the server in logs and errors ("REST", "metrics").
  std::string name = "HTTP";
  // Address and port to listen on (port 0 picks a free one).
  std::string address = "0.0.0.0";
  int port = 0;
  // Event-loop threads (libmicrohttpd's thread pool). Default 2. Handlers run on them, so
  // handlers must not block; answers made elsewhere cost these threads only their encoding.
  int threads = 2;
  // Most open connections; beyond, new ones are closed at once. Default 1024.
  int max_connections = 1024;
  // A connection with no traffic for this long is closed. Default 30 s.
  absl::Duration idle_timeout = absl::Seconds(30);
  // A request body must be complete this long after its headers, else the connection is
  // closed. Default 30 s.
  absl::Duration body_timeout = absl::Seconds(30);
  // Most bytes of request line and headers (libmicrohttpd answers 431 beyond). Default 32 KiB.
  int64_t max_header_bytes = 32 << 10;
  // Most bytes of a request body (413 beyond). Default 256 MiB.
  int64_t max_body_bytes = int64_t{256} << 20;
  // Where request bodies are charged while they live (not owned); null: not counted.
  RequestMemory* body_memory = nullptr;
  // Counts clients that hung up while their answer was being made (not owned); may be null.
  std::atomic<int64_t>* hangups = nullptr;
  // TLS: PEM texts (not paths). With cert and key the port speaks HTTPS only; with a client CA
  // as well, clients must present a certificate it signed (else 403). Default: plain HTTP.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string tls_client_ca_pem;
};

// A request whose headers and body have arrived. `Header` works only during the handler's call;
// `body` stays valid (and unchanged) until the reply has been sent, so work answered later may
// point into it, and so does `charge`.
class HttpRequest {
 public:
  using HeaderList = std::vector<std::pair<std::string, std::string>>;

  HttpRequest(MHD_Connection* connection, absl::string_view method, absl::string_view path, std::string* body,
              RequestMemory::Charge* charge, std::shared_ptr<CancellationFlag> cancel)
      : connection_(connection),
        body_storage_(body),
        method(method),
        path(path),
        body(*body),
        charge(charge),
        cancel(std::move(cancel)) {}
  // A request that did not come through libmicrohttpd (a handler's unit tests): its headers are
  // `headers` (not owned; names compared case-insensitively).
  HttpRequest(const HeaderList* headers, absl::string_view method, absl::string_view path, std::string* body,
              RequestMemory::Charge* charge, std::shared_ptr<CancellationFlag> cancel)
      : HttpRequest(static_cast<MHD_Connection*>(nullptr), method, path, body, charge, std::move(cancel)) {
    headers_ = headers;
  }

  // The value of header `name` (case-insensitive), if the request has it.
  std::optional<absl::string_view> Header(const char* name) const;

  // Frees the body and gives back its charge, for a handler that has decoded it into something
  // else and keeps nothing pointing into it (a JSON body whose tensors were copied out): what a
  // request waiting in a queue holds is then only what was decoded. `body` must not be read
  // after. During the handler's call only.
  void ReleaseBody() const;

 private:
  MHD_Connection* connection_;
  const HeaderList* headers_ = nullptr;
  std::string* const body_storage_;

 public:
  const absl::string_view method;
  const absl::string_view path;  // without the query string
  const absl::string_view body;
  // What the body is charged to request memory, held until the reply has been sent; a handler
  // grows it by what it decodes from the body. Never null (holds nothing without body_memory).
  RequestMemory::Charge* const charge;
  // Cancelled when the client hangs up before its answer (Note [REST hang-ups]).
  const std::shared_ptr<CancellationFlag> cancel;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type/-Length
};

// {"error": message} with `status`: how every error on the REST port looks (KServe v2).
HttpResponse JsonErrorResponse(int status, absl::string_view message);

// The answer to one request, given once from any thread; copies share it. The response is made
// by `make` on one of the server's threads (so encoding never runs on the caller's). A request
// whose every HttpReply is dropped unanswered gets a 500, so no connection waits forever.
class HttpReply {
 public:
  struct State;
  explicit HttpReply(std::shared_ptr<State> state) : state_(std::move(state)) {}
  // A reply that is not sent on a connection: the response is made on the answering thread and
  // given to `done` (a handler's unit tests). The same once-only and 500-if-dropped rules hold.
  static HttpReply ToCallback(absl::AnyInvocable<void(HttpResponse)> done);

  void Send(HttpResponse response);
  void Make(absl::AnyInvocable<HttpResponse()> make);

 private:
  std::shared_ptr<State> state_;
};

using HttpHandler = std::function<void(const HttpRequest& request, HttpReply reply)>;

class HttpServer {
 public:
  // Listens and serves with `handler`. UNAVAILABLE when the address cannot be bound,
  // INVALID_ARGUMENT for TLS material libmicrohttpd refuses.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  // Stops accepting, waits (bounded by 5 s) for answers still being made, and stops. Call
  // after everything that holds an HttpReply has answered (the repository has shut down).
  ~HttpServer();

  int port() const { return port_; }

  // Stops accepting connections; open ones are served, and answers say "Connection: close"
  // so that keep-alive clients go elsewhere. Idempotent.
  void StopAccepting();
  // Waits until every request handed to the handler has been answered and sent, or until
  // `deadline`; true if none is left.
  bool WaitIdle(absl::Time deadline);

 private:
  struct Exchange;
  struct Callbacks;  // libmicrohttpd's callbacks (http_server.cc)
  friend struct HttpReply::State;

  HttpServer(const HttpServerOptions& options, HttpHandler handler) : options_(options), handler_(std::move(handler)) {}

  // Queues `response` on `connection`; whether libmicrohttpd took it.
  bool Queue(MHD_Connection* connection, HttpResponse response);
  bool ClientCertificateOk(MHD_Connection* connection) const;

  const HttpServerOptions options_;
  const HttpHandler handler_;
  std::unique_ptr<HangupWatcher> hangups_;
  MHD_Daemon* daemon_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> closing_{false};
  std::atomic<int64_t> in_flight_{0};  // handed to the handler, not yet sent
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_HTTP_HTTP_SERVER_H_
