#include "server/http/http_server.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "runtime/base/logging.h"
#include "server/http/net_address.h"

namespace seqserve {

// One request on one connection, from its headers to the end of its response. Shared by
// libmicrohttpd's per-request pointer and the HttpReply; the event-loop fields are only touched
// by the thread serving the connection (libmicrohttpd never runs one connection on two threads).
struct HttpServer::Exchange {
  MHD_Connection* connection = nullptr;
  HangupWatcher* hangups = nullptr;
  absl::Time headers_at;
  std::string body;
  RequestMemory::Charge charge;         // the body's capacity, then what the handler decoded
  bool answered_early = false;          // refused before the body was in (the rest is discarded)
  std::optional<HttpResponse> refusal;  // to queue once the refused body is in
  bool dispatched = false;              // handed to the handler (counted in in_flight_)
  const std::shared_ptr<CancellationFlag> cancel = std::make_shared<CancellationFlag>();

  absl::Mutex mu;
  bool suspended ABSL_GUARDED_BY(mu) = false;
  uint64_t hangup_watch ABSL_GUARDED_BY(mu) = 0;  // while suspended (Note [REST hang-ups])
  bool has_answer ABSL_GUARDED_BY(mu) = false;
  absl::AnyInvocable<HttpResponse()> make ABSL_GUARDED_BY(mu);
};

struct HttpReply::State {
  explicit State(std::shared_ptr<HttpServer::Exchange> exchange) : exchange(std::move(exchange)) {}
  explicit State(absl::AnyInvocable<void(HttpResponse)> done) : done(std::move(done)) {}
  // Unanswered: the handler lost its reply. Answer rather than leave the connection suspended.
  ~State() {
    Deliver([] { return JsonErrorResponse(500, "internal error: no response was made"); });
  }

  void Deliver(absl::AnyInvocable<HttpResponse()> make) {
    if (answered.exchange(true)) return;
    if (exchange == nullptr) {  // HttpReply::ToCallback
      done(make());
      return;
    }
    HttpServer::Exchange& ex = *exchange;
    absl::MutexLock lock(&ex.mu);
    ex.make = std::move(make);
    ex.has_answer = true;
    if (ex.suspended) {  // the event loop comes back to it and queues the answer
      ex.suspended = false;
      ex.hangups->Unwatch(ex.hangup_watch);  // before libmicrohttpd may close the socket
      ex.hangup_watch = 0;
      MHD_resume_connection(ex.connection);
    }
  }

  const std::shared_ptr<HttpServer::Exchange> exchange;  // null for ToCallback
  absl::AnyInvocable<void(HttpResponse)> done;
  std::atomic<bool> answered{false};
};

HttpReply HttpReply::ToCallback(absl::AnyInvocable<void(HttpResponse)> done) {
  return HttpReply(std::make_shared<State>(std::move(done)));
}

void HttpReply::Send(HttpResponse response) {
  state_->Deliver([response = std::move(response)]() mutable { return std::move(response); });
}

void HttpReply::Make(absl::AnyInvocable<HttpResponse()> make) { state_->Deliver(std::move(make)); }

std::optional<absl::string_view> HttpRequest::Header(const char* name) const {
  if (headers_ != nullptr) {
    for (const auto& [key, value] : *headers_) {
      if (absl::EqualsIgnoreCase(key, name)) return absl::string_view(value);
    }
    return std::nullopt;
  }
  const char* value = MHD_lookup_connection_value(connection_, MHD_HEADER_KIND, name);
  if (value == nullptr) return std::nullopt;
  return absl::string_view(value);
}

void HttpRequest::ReleaseBody() const {
  const int64_t held = static_cast<int64_t>(body_storage_->capacity());
  std::string().swap(*body_storage_);
  charge->GiveBack(held);
}

HttpResponse JsonErrorResponse(int status, absl::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartObject();
  out.Key("error");
  out.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  out.EndObject();
  return {status, "application/json", std::string(buffer.GetString(), buffer.GetSize()), {}};
}

namespace {

void FreeBody(void* body) { delete static_cast<std::string*>(body); }

}  // namespace

struct HttpServer::Callbacks {
  static MHD_Result Access(void* cls, MHD_Connection* connection, const char* url, const char* method,
                           const char* /*version*/, const char* upload_data, size_t* upload_data_size, void** con_cls) {
    HttpServer& server = *static_cast<HttpServer*>(cls);
    auto** slot = reinterpret_cast<std::shared_ptr<Exchange>**>(con_cls);
    if (*slot == nullptr) return Begin(server, connection, slot);
    Exchange& ex = ***slot;
    if (*upload_data_size > 0) {
      const size_t n = *upload_data_size;
      *upload_data_size = 0;
      if (ex.answered_early) {  // discarding the rest of a refused body
        if (absl::Now() - ex.headers_at > server.options_.body_timeout) return MHD_NO;
        return MHD_YES;
      }
      if (static_cast<int64_t>(ex.body.size() + n) > server.options_.max_body_bytes) {
        // A body without Content-Length grew past the limit. libmicrohttpd takes no answer while
        // a body arrives: drop what came, discard the rest (bounded by body_timeout), answer 413.
        return Refuse(ex, JsonErrorResponse(413, absl::StrCat("request body over ", server.options_.max_body_bytes,
                                                              " bytes, the server's limit (--max-message-bytes)")));
      }
      if (absl::Status charged = Reserve(ex, n); !charged.ok()) return Refuse(ex, Busy(charged));
      if (absl::Now() - ex.headers_at > server.options_.body_timeout) {
        // libmicrohttpd takes no answer while a body is arriving: close instead.
        LogWarning(server.options_.name, " HTTP: closing a connection whose body was not in after ",
                   absl::FormatDuration(server.options_.body_timeout), " (--http-body-timeout)");
        return MHD_NO;
      }
      ex.body.append(upload_data, n);
      return MHD_YES;
    }
    if (ex.refusal.has_value()) {
      HttpResponse refusal = std::move(*ex.refusal);
      ex.refusal.reset();
      return server.Queue(connection, std::move(refusal)) ? MHD_YES : MHD_NO;
    }
    if (ex.answered_early) return MHD_YES;
    if (!ex.dispatched) {
      ex.dispatched = true;
      server.in_flight_.fetch_add(1, std::memory_order_relaxed);
      absl::string_view path(url);
      path = path.substr(0, path.find('?'));
      server.handler_(HttpRequest(connection, method, path, &ex.body, &ex.charge, ex.cancel),
                      HttpReply(std::make_shared<HttpReply::State>(**slot)));
    }
    absl::AnyInvocable<HttpResponse()> make;
    {
      absl::MutexLock lock(&ex.mu);
      if (!ex.has_answer) {  // answered later, from another thread: wait without a thread
        ex.suspended = true;
        const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info != nullptr) ex.hangup_watch = ex.hangups->Watch(info->connect_fd, ex.cancel);
        MHD_suspend_connection(connection);
        return MHD_YES;
      }
      make = std::move(ex.make);
    }
    return server.Queue(connection, make()) ? MHD_YES : MHD_NO;
  }

  // 429 for a body that does not fit the request memory now: others' requests hold it, so a
  // retry soon may fit.
  static HttpResponse Busy(const absl::Status& refused) {
    HttpResponse busy = JsonErrorResponse(429, refused.message());
    busy.headers.emplace_back("Retry-After", "1");
    return busy;
  }

  // Refuses the body being received: drops what came (and its charge), discards the rest
  // (bounded by body_timeout), and answers `response` once it is in (libmicrohttpd takes no
  // answer while a body arrives).
  static MHD_Result Refuse(Exchange& ex, HttpResponse response) {
    ex.refusal = std::move(response);
    ex.answered_early = true;
    std::string().swap(ex.body);
    ex.charge.Reset();
    return MHD_YES;
  }

  // Makes room for `n` more body bytes, charging the body's new capacity before it is taken.
  // Capacity grows as std::string's does (doubling), so a chunked body costs at most twice
  // itself; a body announced by Content-Length was reserved (and charged) whole in Begin.
  static absl::Status Reserve(Exchange& ex, size_t n) {
    const size_t needed = ex.body.size() + n;
    if (needed <= ex.body.capacity()) return absl::OkStatus();
    const size_t capacity = std::max(needed, 2 * ex.body.capacity());
    absl::Status charged =
        ex.charge.Grow(static_cast<int64_t>(capacity) - ex.charge.bytes(), "a request body (sent in chunks)");
    if (charged.ok()) ex.body.reserve(capacity);
    return charged;
  }

  // Headers are in: check what can be checked before the body.
  static MHD_Result Begin(HttpServer& server, MHD_Connection* connection, std::shared_ptr<Exchange>** slot) {
    auto ex = std::make_shared<Exchange>();
    ex->connection = connection;
    ex->hangups = server.hangups_.get();
    ex->charge = RequestMemory::Charge(server.options_.body_memory);
    ex->headers_at = absl::Now();
    *slot = new std::shared_ptr<Exchange>(ex);
    if (!server.options_.tls_client_ca_pem.empty() && !server.ClientCertificateOk(connection)) {
      return Early(server, connection, *ex,
                   JsonErrorResponse(403, "a client certificate signed by the server's CA is required"));
    }
    const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t announced = 0;
    if (length != nullptr && absl::SimpleAtoi(length, &announced)) {
      if (announced > server.options_.max_body_bytes) {
        return Early(server, connection, *ex,
                     JsonErrorResponse(413, absl::StrCat("request body of ", announced, " bytes is over ",
                                                         server.options_.max_body_bytes,
                                                         " bytes, the server's limit (--max-message-bytes)")));
      }
      // The announced body is charged whole before a byte of it is read, and reserved whole:
      // one buffer, never copied as it grows (pages a client announces but never sends are
      // charged, not touched).
      if (absl::Status charged = ex->charge.Grow(std::max<int64_t>(announced, 0), "a request body"); !charged.ok()) {
        return Early(server, connection, *ex, Busy(charged));
      }
      ex->body.reserve(static_cast<size_t>(std::max<int64_t>(announced, 0)));
    }
    return MHD_YES;
  }

  // Answers before the body is complete; libmicrohttpd then closes the connection.
  static MHD_Result Early(HttpServer& server, MHD_Connection* connection, Exchange& ex, HttpResponse response) {
    ex.answered_early = true;
    std::string().swap(ex.body);
    ex.charge.Reset();
    return server.Queue(connection, std::move(response)) ? MHD_YES : MHD_NO;
  }

  static void Completed(void* cls, MHD_Connection* /*connection*/, void** con_cls,
                        MHD_RequestTerminationCode /*code*/) {
    auto* slot = static_cast<std::shared_ptr<Exchange>*>(*con_cls);
    if (slot == nullptr) return;
    if ((*slot)->dispatched) static_cast<HttpServer*>(cls)->in_flight_.fetch_sub(1, std::memory_order_relaxed);
    delete slot;
    *con_cls = nullptr;
  }

  static void Log(void* cls, const char* format, va_list args) {
    char message[512];
    std::vsnprintf(message, sizeof(message), format, args);
    absl::string_view text(message);
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    LogWarning(static_cast<HttpServer*>(cls)->options_.name, " HTTP: ", text);
  }
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler) {
  std::unique_ptr<HttpServer> server(new HttpServer(options, std::move(handler)));
  absl::StatusOr<std::unique_ptr<HangupWatcher>> hangups = HangupWatcher::Start(options.hangups);
  if (!hangups.ok()) return hangups.status();
  server->hangups_ = std::move(*hangups);
  absl::StatusOr<ListeningSocket> socket = ListenTcp(options.address, options.port, /*backlog=*/128);
  if (!socket.ok()) {
    return absl::Status(socket.status().code(), absl::StrCat(options.name, " port: ", socket.status().message()));
  }
  server->listen_fd_ = socket->fd;
  server->port_ = socket->port;

  const bool tls = !options.tls_cert_pem.empty();
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (tls) flags |= MHD_USE_TLS;
  // libmicrohttpd keeps request line, headers and its read/write buffers in one per-connection
  // pool; twice the header limit leaves room for the buffers.
  const size_t connection_memory = static_cast<size_t>(std::max<int64_t>(options.max_header_bytes, 4096)) * 2;
  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_LISTEN_SOCKET, socket->fd, nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, std::max(options.max_connections, 1), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT,
       static_cast<intptr_t>(std::max<int64_t>(absl::ToInt64Seconds(options.idle_timeout), 1)), nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(connection_memory), nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Callbacks::Completed), server.get()},
  };
  if (options.threads > 1) items.push_back({MHD_OPTION_THREAD_POOL_SIZE, options.threads, nullptr});
  if (tls) {
    items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(server->options_.tls_cert_pem.c_str())});
    items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(server->options_.tls_key_pem.c_str())});
    if (!options.tls_client_ca_pem.empty()) {
      items.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, const_cast<char*>(server->options_.tls_client_ca_pem.c_str())});
    }
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  server->daemon_ =
      MHD_start_daemon(flags, 0, nullptr, nullptr, &Callbacks::Access, server.get(), MHD_OPTION_EXTERNAL_LOGGER,
                       &Callbacks::Log, server.get(), MHD_OPTION_ARRAY, items.data(), MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    close(server->listen_fd_);
    server->listen_fd_ = -1;
    return absl::InvalidArgumentError(absl::StrCat(options.name, " port: libmicrohttpd did not start",
                                                   tls ? " (check the TLS certificate and key)" : ""));
  }
  return server;
}

HttpServer::~HttpServer() {
  if (daemon_ != nullptr) {
    StopAccepting();
    // Stopping with a suspended connection is undefined in libmicrohttpd; every reply should
    // have been given by now, so this waits only for the last bytes to go out.
    if (WaitIdle(absl::Now() + absl::Seconds(5))) {
      MHD_stop_daemon(daemon_);
    } else {
      LogError(options_.name, " HTTP: ", in_flight_.load(),
               " request(s) still unanswered at shutdown; not stopping the "
               "event loop under them");
    }
  }
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpServer::StopAccepting() {
  if (closing_.exchange(true)) return;
  MHD_quiesce_daemon(daemon_);  // the listening socket stays ours to close
}

bool HttpServer::WaitIdle(absl::Time deadline) {
  // Polled: drains are rare, and the request path stays free of a lock for them.
  while (in_flight_.load(std::memory_order_relaxed) > 0) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

bool HttpServer::Queue(MHD_Connection* connection, HttpResponse response) {
  auto* body = new std::string(std::move(response.body));
  MHD_Response* r = MHD_create_response_from_buffer_with_free_callback_cls(body->size(), body->data(), &FreeBody, body);
  if (r == nullptr) {
    delete body;
    return false;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  for (const auto& [name, value] : response.headers) MHD_add_response_header(r, name.c_str(), value.c_str());
  if (closing_.load(std::memory_order_relaxed)) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  const MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned int>(response.status), r);
  MHD_destroy_response(r);
  return queued == MHD_YES;
}

bool HttpServer::ClientCertificateOk(MHD_Connection* connection) const {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (info == nullptr || info->tls_session == nullptr) return false;
  unsigned int status = 0;
  const int result = gnutls_certificate_verify_peers2(static_cast<gnutls_session_t>(info->tls_session), &status);
  return result == GNUTLS_E_SUCCESS && status == 0;
}

}  // namespace seqserve
