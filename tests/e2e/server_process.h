// Runs the real seqserve binary for end-to-end tests: 127.0.0.1, an ephemeral port, its log in
// a file, bounded waits everywhere.
#ifndef SEQSERVE_TESTS_E2E_SERVER_PROCESS_H_
#define SEQSERVE_TESTS_E2E_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace seqserve::testing {

// Not thread-safe; one owner. The destructor kills the server if it is still running.
class ServerProcess {
 public:
  // Starts `binary --model-repository=repository --grpc-address=127.0.0.1 --grpc-port=0 ...
  // extra_flags` and waits (at most `timeout`) until it listens. Returns null on failure.
  static std::unique_ptr<ServerProcess> Start(const std::string& repository,
                                              const std::vector<std::string>& extra_flags = {},
                                              absl::Duration timeout = absl::Seconds(60));
  ~ServerProcess();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  std::shared_ptr<grpc::Channel> Channel() const;

  // Polls grpc.health.v1 for `service` until SERVING or `timeout`; returns whether it served.
  bool WaitForServing(const std::string& service = "", absl::Duration timeout = absl::Seconds(120)) const;
  // The current grpc.health.v1 status of `service` ("SERVING", "NOT_SERVING", or the error).
  std::string HealthStatus(const std::string& service = "") const;

  // The HTTP status code of GET `path` on the metrics port (127.0.0.1), or -1 when it fails.
  int HttpStatus(const std::string& path) const;

  // Sends `signal` and waits for exit; returns the exit code, or -1 on a timeout or crash.
  int Stop(int signal, absl::Duration timeout = absl::Seconds(30));
  // The server's log so far.
  std::string Log() const;
  // Polls the log until it holds `text` or `timeout`; returns whether it appeared.
  bool WaitForLog(const std::string& text, absl::Duration timeout = absl::Seconds(60)) const;

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::string dir_;
};

// A fresh temporary directory (under the test's TMPDIR).
std::string MakeTempDir(const std::string& prefix);

}  // namespace seqserve::testing

#endif  // SEQSERVE_TESTS_E2E_SERVER_PROCESS_H_
