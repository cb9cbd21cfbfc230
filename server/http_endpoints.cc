#include "server/http_endpoints.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/net_address.h"

namespace seqserve {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kSocketTimeoutSeconds = 2;

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::string Response(int code, absl::string_view reason, absl::string_view content_type, const std::string& body,
                     bool head) {
  return absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", head ? "" : body);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoints>> HttpEndpoints::Start(const std::string& address, int port,
                                                                   const MetricsCollector& collector,
                                                                   std::function<bool()> ready) {
  std::unique_ptr<HttpEndpoints> http(new HttpEndpoints(collector, std::move(ready)));
  absl::StatusOr<ListeningSocket> socket = ListenTcp(address, port, /*backlog=*/16);
  if (!socket.ok()) {
    return absl::Status(socket.status().code(), absl::StrCat("metrics endpoint: ", socket.status().message()));
  }
  http->listen_fd_ = socket->fd;
  http->port_ = socket->port;
  http->thread_ = std::thread([raw = http.get()] { raw->Serve(); });
  return http;
}

HttpEndpoints::~HttpEndpoints() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void HttpEndpoints::Serve() {
  while (!stop_.load()) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;  // wake up regularly to notice stop_
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    timeval timeout{kSocketTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    HandleConnection(fd);
    close(fd);
  }
}

void HttpEndpoints::HandleConnection(int fd) {
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
  }
  const std::string line = request.substr(0, request.find("\r\n"));
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || parts[2].rfind("HTTP/1.", 0) != 0) {
    WriteAll(fd, Response(400, "Bad Request", "text/plain", "bad request\n", false));
    return;
  }
  const std::string& method = parts[0];
  const std::string path = parts[1].substr(0, parts[1].find('?'));
  const bool head = method == "HEAD";
  if (path != "/metrics" && path != "/healthz" && path != "/readyz") {
    WriteAll(fd, Response(404, "Not Found", "text/plain", "not found; paths: /metrics /healthz /readyz\n", head));
    return;
  }
  if (method != "GET" && !head) {
    WriteAll(fd, Response(405, "Method Not Allowed", "text/plain", "read-only: GET or HEAD\n", false));
    return;
  }
  if (path == "/metrics") {
    WriteAll(fd, Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                          SerializeMetrics(collector_.Collect()), head));
  } else if (path == "/healthz") {
    WriteAll(fd, Response(200, "OK", "text/plain", "ok\n", head));
  } else if (ready_()) {
    WriteAll(fd, Response(200, "OK", "text/plain", "ready\n", head));
  } else {
    WriteAll(fd, Response(503, "Service Unavailable", "text/plain", "not ready\n", head));
  }
}

}  // namespace seqserve
