// Listening addresses as users write them: IPv4 ("0.0.0.0", "127.0.0.1"), IPv6 ("::", "::1",
// also bracketed "[::1]") and host names ("localhost"). "::" listens on both IPv6 and IPv4
// (dual-stack), as a pod with either family expects; on a host without IPv6 it falls back to
// the IPv4 wildcard. Thread-safe (pure functions).
#ifndef SEQSERVE_SERVER_HTTP_NET_ADDRESS_H_
#define SEQSERVE_SERVER_HTTP_NET_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace seqserve {

// "host:port", an IPv6 literal in brackets ("[::]:8001"): the form gRPC and log readers take.
std::string HostPort(absl::string_view host, int port);

// A bound, listening TCP socket.
struct ListeningSocket {
  int fd = -1;
  int port = 0;  // the bound port (the one picked when 0 was asked for)
};

// Listens on host:port (port 0 picks a free one). A host name binds the first of its addresses
// that can be bound, IPv4 ones first. INVALID_ARGUMENT for a host that does not resolve, UNAVAILABLE when no
// address can be bound.
absl::StatusOr<ListeningSocket> ListenTcp(const std::string& host, int port, int backlog);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_HTTP_NET_ADDRESS_H_
