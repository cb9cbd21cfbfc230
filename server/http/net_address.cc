#include "server/http/net_address.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace seqserve {
namespace {

// The host without brackets: "[::1]" -> "::1".
absl::string_view Unbracketed(absl::string_view host) {
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) return host.substr(1, host.size() - 2);
  return host;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

std::string HostPort(absl::string_view host, int port) {
  const absl::string_view bare = Unbracketed(host);
  if (absl::StrContains(bare, ':')) return absl::StrCat("[", bare, "]:", port);
  return absl::StrCat(bare, ":", port);
}

absl::StatusOr<ListeningSocket> ListenTcp(const std::string& host, int port, int backlog) {
  const std::string bare(Unbracketed(host));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(bare.empty() ? nullptr : bare.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("address '", host, "' does not resolve: ", gai_strerror(rc)));
  }
  // IPv4 first for a name: "localhost" then serves clients that dial 127.0.0.1 as well as
  // those that try each address of the name.
  std::vector<addrinfo*> order;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) order.push_back(a);
  std::stable_partition(order.begin(), order.end(), [](addrinfo* a) { return a->ai_family == AF_INET; });
  std::string error = "no address";
  for (addrinfo* a : order) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    const int zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // "::" takes IPv4 too (dual-stack), whatever the system's bindv6only default says.
    if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
      freeaddrinfo(found);
      return ListeningSocket{fd, BoundPort(fd)};
    }
    error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  // "::" on a host without IPv6 (some containers): the IPv4 wildcard serves the same clients.
  if (bare == "::") return ListenTcp("0.0.0.0", port, backlog);
  return absl::UnavailableError(absl::StrCat("cannot listen on ", HostPort(host, port), ": ", error));
}

}  // namespace seqserve
