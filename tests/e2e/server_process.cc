#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace seqserve::testing {

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  char* dir = mkdtemp(pattern.data());
  return dir != nullptr ? std::string(dir) : std::string();
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::string& repository,
                                                    const std::vector<std::string>& extra_flags,
                                                    absl::Duration timeout) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->dir_ = MakeTempDir("seqserve_e2e_");
  const std::string port_file = server->dir_ + "/ports";
  const std::string log_file = server->dir_ + "/server.log";
  std::vector<std::string> args = {SEQSERVE_BINARY,
                                   "--model-repository=" + repository,
                                   "--grpc-address=127.0.0.1",
                                   "--grpc-port=0",
                                   "--metrics-port=0",
                                   "--http-port=0",
                                   "--port-file=" + port_file};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  server->pid_ = fork();
  if (server->pid_ == 0) {
    const int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const absl::Time limit = absl::Now() + timeout;
  while (absl::Now() < limit) {
    std::ifstream in(port_file);  // the server writes it whole (rename)
    std::string grpc, metrics;
    if (std::getline(in, grpc) && std::getline(in, metrics) && absl::StartsWith(grpc, "grpc_port=") &&
        absl::StartsWith(metrics, "metrics_port=") && absl::SimpleAtoi(grpc.substr(10), &server->grpc_port_) &&
        absl::SimpleAtoi(metrics.substr(13), &server->metrics_port_) && server->grpc_port_ > 0) {
      return server;
    }
    int status;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->pid_ = -1;
      std::fprintf(stderr, "seqserve exited during startup:\n%s\n", server->Log().c_str());
      return nullptr;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::fprintf(stderr, "seqserve did not listen within %s:\n%s\n", absl::FormatDuration(timeout).c_str(),
               server->Log().c_str());
  return nullptr;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::shared_ptr<grpc::Channel> ServerProcess::Channel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  return grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
}

std::string ServerProcess::HealthStatus(const std::string& service) const {
  auto stub = grpc::health::v1::Health::NewStub(Channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return "error: " + status.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

bool ServerProcess::WaitForServing(const std::string& service, absl::Duration timeout) const {
  const absl::Time limit = absl::Now() + timeout;
  while (absl::Now() < limit) {
    if (HealthStatus(service) == "SERVING") return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

int ServerProcess::HttpStatus(const std::string& path) const {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(metrics_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int code = -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char reply[64] = {};
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()) &&
        recv(fd, reply, sizeof(reply) - 1, MSG_WAITALL) > 12 && absl::StartsWith(reply, "HTTP/1.1 ")) {
      (void)absl::SimpleAtoi(absl::string_view(reply + 9, 3), &code);
    }
  }
  close(fd);
  return code;
}

int ServerProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const absl::Time limit = absl::Now() + timeout;
  while (absl::Now() < limit) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1;
}

std::string ServerProcess::Log() const {
  std::ifstream in(dir_ + "/server.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ServerProcess::WaitForLog(const std::string& text, absl::Duration timeout) const {
  const absl::Time limit = absl::Now() + timeout;
  while (Log().find(text) == std::string::npos) {
    if (absl::Now() >= limit) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

}  // namespace seqserve::testing
