// Minimal KServe-v2-shaped server on cpp-httplib (Debian 12: 0.11.4), for the HTTP library
// comparison in this folder. Usage: httplib_server PORT   (listens on 127.0.0.1 only)
//   GET  /v2/health/ready     -> 200, empty body
//   POST /v2/models/m/infer   -> sums inputs[0].data (INT64), answers {"outputs":[...]}
// Concurrency: the library's ThreadPool with 2 threads (new_task_queue); a worker owns a
// connection for its whole keep-alive life. Timeouts and keep-alive limits are the defaults
// (read timeout 5 s, keep-alive timeout 5 s, at most 5 requests per connection).
// Note: Debian ships cpp-httplib as a compiled library (libcpp-httplib.so, built with
// OpenSSL/zlib/brotli): build with `pkg-config --cflags --libs cpp-httplib`, because the
// CPPHTTPLIB_OPENSSL_SUPPORT define changes the layout of httplib::Request.
#include <httplib.h>

#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <thread>
#include "infer_json.h"

int main(int argc, char** argv) {
  sigset_t sigs;
  const int port = PortAndStopSignals(argc, argv, &sigs);  // before any thread starts

  httplib::Server svr;
  svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
  svr.set_payload_max_length(1 << 20);  // default is unlimited
  // Default is off (CPPHTTPLIB_TCP_NODELAY false): the response goes out in two writes
  // (headers, then body), and Nagle + the client's delayed ACK then add ~40 ms to every
  // response with a body (measured: ~75 POST/s instead of tens of thousands).
  svr.set_tcp_nodelay(true);
  // 0.11's default_socket_options sets only SO_REUSEPORT, which does not let bind() succeed
  // while old connections on the port are in TIME_WAIT (a restart fails for up to 60 s).
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  svr.Get("/v2/health/ready", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  svr.Post("/v2/models/m/infer", [](const httplib::Request& req, httplib::Response& res) {
    std::string out;
    if (!Infer(req.body, &out)) {
      res.status = 400;
      res.set_content("{\"error\":\"bad request\"}", "application/json");
      return;
    }
    res.status = 200;
    res.set_content(out, "application/json");
  });

  if (!svr.bind_to_port("127.0.0.1", port)) {
    std::fprintf(stderr, "httplib_server: cannot bind 127.0.0.1:%d\n", port);
    return 1;
  }
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    svr.stop();
  });
  const bool ok = svr.listen_after_bind();
  if (!ok) {
    std::fprintf(stderr, "httplib_server: listen failed\n");
    // Unblock the stopper thread so the process can exit.
    pthread_kill(stopper.native_handle(), SIGTERM);
  }
  stopper.join();
  return ok ? 0 : 1;
}
