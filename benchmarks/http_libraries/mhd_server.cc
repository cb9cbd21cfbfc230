// Minimal KServe-v2-shaped server on libmicrohttpd (Debian 12: 0.9.75), for the HTTP library
// comparison in this folder. Usage: mhd_server PORT   (listens on 127.0.0.1 only)
//   GET  /v2/health/ready     -> 200, empty body
//   POST /v2/models/m/infer   -> sums inputs[0].data (INT64), answers {"outputs":[...]}
// Concurrency: MHD's internal polling with epoll and a pool of 2 threads.
#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "infer_json.h"

namespace {

constexpr size_t kMaxBody = 1 << 20;  // MHD has no body limit of its own; enforce one here.

MHD_Result Reply(MHD_Connection* c, unsigned status, const std::string& body, const char* type) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  if (type != nullptr) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

// Per-request state: the request body collected so far.
struct RequestState {
  std::string body;
  bool too_large = false;
};

MHD_Result Handle(void*, MHD_Connection* c, const char* url, const char* method, const char*, const char* upload_data,
                  size_t* upload_data_size, void** con_cls) {
  auto* st = static_cast<RequestState*>(*con_cls);
  if (st == nullptr) {
    // First call: headers only. Answer on a later call, once the whole request is read:
    // a response queued here (before the request is complete) makes 0.9.75 close the
    // connection ("Connection: close"), even for a GET without body.
    *con_cls = new RequestState();
    return MHD_YES;
  }
  if (*upload_data_size != 0) {  // a piece of the body
    if (st->body.size() + *upload_data_size > kMaxBody)
      st->too_large = true;
    else
      st->body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  // Request complete.
  if (std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 && std::strcmp(url, "/v2/health/ready") == 0) {
    return Reply(c, MHD_HTTP_OK, "", nullptr);
  }
  if (std::strcmp(method, MHD_HTTP_METHOD_POST) != 0 || std::strcmp(url, "/v2/models/m/infer") != 0) {
    return Reply(c, MHD_HTTP_NOT_FOUND, "", nullptr);
  }
  if (st->too_large) return Reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "", nullptr);
  std::string out;
  if (!Infer(st->body, &out)) return Reply(c, MHD_HTTP_BAD_REQUEST, "{\"error\":\"bad request\"}", "application/json");
  return Reply(c, MHD_HTTP_OK, out, "application/json");
}

void Completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<RequestState*>(*con_cls);
  *con_cls = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t sigs;
  const int port = PortAndStopSignals(argc, argv, &sigs);  // before any thread starts

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

  MHD_Daemon* d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, static_cast<uint16_t>(port), nullptr,
      nullptr, &Handle, nullptr, MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_THREAD_POOL_SIZE,
      2u, MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED,
      &Completed, nullptr, MHD_OPTION_END);
  if (d == nullptr) {
    std::fprintf(stderr, "mhd_server: MHD_start_daemon failed on 127.0.0.1:%d\n", port);
    return 1;
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  MHD_stop_daemon(d);
  return 0;
}
