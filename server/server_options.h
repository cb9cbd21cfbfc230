// Command-line configuration of the seqserve binary. Flag names follow Triton's where the
// meaning is the same (--model-repository, --grpc-port, --metrics-port, ...).
#ifndef SEQSERVE_SERVER_SERVER_OPTIONS_H_
#define SEQSERVE_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/repository/model_control.h"
#include "server/http/http_server.h"

namespace seqserve {

struct ServerOptions {
  // Directory holding <model>/config.pbtxt and <model>/<version>/model.pt. Required.
  std::string model_repository;
  // Address the gRPC services listen on. Default 0.0.0.0 (all interfaces, as in a pod).
  std::string grpc_address = "0.0.0.0";
  // gRPC port; 0 picks a free one (see port_file). Default 8001.
  int grpc_port = 8001;
  // Port of the HTTP metrics and health endpoints (/metrics, /healthz, /readyz). Default 8002.
  int metrics_port = 8002;
  // Address of the metrics port. Empty (default): the same as grpc_address.
  std::string metrics_address;
  // KServe v2 REST port (server/api/kserve_rest.h); 0 picks a free one, -1 = no REST. Default 8000,
  // like Triton's.
  int http_port = 8000;
  // Address of the REST port. Empty (default): the same as grpc_address.
  std::string http_address;
  // Limits of the HTTP ports (REST and metrics): threads, connections, idle and body timeouts,
  // header bytes (server/http/http_server.h says each default). The body limit is max_message_bytes;
  // address, port and TLS come from the fields above.
  HttpServerOptions http;
  // If set, written once the server listens: "grpc_port=N\nmetrics_port=M\nhttp_port=H\n"
  // (H = -1 without REST).
  std::string port_file;
  // Largest gRPC message accepted or sent, and largest REST request body. Default -1
  // (--max-message-bytes=auto): half the request memory, within [4 MiB, 256 MiB]
  // (Note [budget from the pod] in runtime/resources/host_memory.h: 31 MiB in a 1000 MiB pod, 256 MiB on
  // a machine of 8 GiB or more without a limit). ResolveMemoryDefaults sets it.
  int64_t max_message_bytes = -1;
  // Most bytes requests in flight may hold at once: bodies and messages, their decoded tensors,
  // requests waiting in queues (Note [request bytes] in server/admission/request_memory.h); a request that
  // does not fit is refused RESOURCE_EXHAUSTED / 429. Default -1 (auto): a sixteenth of the
  // cgroup memory limit, of RAM without one. 0 = unlimited. ResolveMemoryDefaults sets it.
  int64_t request_memory_bytes = -1;
  // Most elements (over all inputs) in one inference request; beyond, INVALID_ARGUMENT before
  // anything is queued. Default 16M (128 MiB of int64): bounds what one request can make the
  // server allocate, whatever its message size.
  int64_t max_request_elements = int64_t{1} << 24;
  // Deadline given to requests that arrive without one; 0 = none. Default 60 s, so a request
  // can never wait forever in an overloaded queue.
  absl::Duration default_deadline = absl::Seconds(60);
  // Text requests (server/api/text_rest.h, KServe BYTES text): most texts in one request;
  // beyond, INVALID_ARGUMENT. Default 256 (OpenAI takes 2,048, TEI 32 by default; every text
  // runs as its own row, so this bounds the rows one request queues at once).
  int64_t max_client_batch_size = 256;
  // Text requests: cut texts longer than the model takes to its max length even when the
  // request does not ask for truncation. Default false: such texts are refused, naming their
  // token count and the limit.
  bool auto_truncate = false;
  // Most concurrent gRPC streams (calls) per client connection. Default 256.
  int max_concurrent_streams = 256;
  // TLS: PEM files. With cert and key the gRPC port speaks TLS only; with a client CA as well,
  // clients must present a certificate signed by it (mutual TLS). Default: plaintext.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Ready only when every model asked for has a ready version (Triton's --strict-readiness):
  // every model of the repository, or in explicit mode those loaded and not unloaded. Default true.
  bool strict_readiness = true;
  // How the set of loaded models may change at run time (runtime/repository/model_control.h). Default kNone.
  ModelControlMode model_control = ModelControlMode::kNone;
  // Explicit mode: the models to load at start (--load-model, repeatable; "*" = all). Default none.
  std::vector<std::string> load_models;
  // Poll mode: seconds between repository scans (Note [atomic pickup]: a change is picked up one
  // to two intervals after its files stop changing). Default 15 s, as Triton's.
  absl::Duration repository_poll = absl::Seconds(15);
  // Nice value (0..19) of the threads that load a model version beside serving traffic (after
  // start-up); 0 = full priority. Default 10 (Note [background load] in runtime/execution/model_executor.h).
  int background_load_nice = 10;
  // Longest a SIGTERM drain waits for accepted requests before exiting. Default 25 s: below
  // Kubernetes' default 30 s grace period.
  absl::Duration drain_timeout = absl::Seconds(25);
  // On SIGTERM, time between readiness going NOT_SERVING (new requests already refused with
  // UNAVAILABLE) and the listener closing, so health-watching clients move away first.
  // Default 0: in Kubernetes the chart's preStop pause does this job.
  absl::Duration drain_grace = absl::ZeroDuration();
  // Allocator of CPU tensors: true (default) = seqserve's caching pool (memory/), false =
  // libtorch's default allocator. Both can be measured side by side.
  bool cpu_pool = true;
  // Most bytes the CPU pool may hold. Default -1 (--memory-budget-bytes=auto): from the process's cgroup memory limit
  // (the pod's), Note [budget from the pod] in runtime/resources/host_memory.h; unlimited when there is none. 0 =
  // unlimited. Batches are formed to fit it (runtime/resources/memory_gate.h); a batch that does not fit after all is
  // split and retried; a single row that cannot fit fails RESOURCE_EXHAUSTED.
  int64_t memory_budget_bytes = -1;
  // Whether the CPU pool gives back free pages rather than raise its footprint past its previous
  // peak (CachingAllocatorOptions::decommit_free_pages). Default true.
  bool memory_footprint_ceiling = true;
  // If set, the CPU pool records every allocation and free to this file, for replay.
  std::string memory_trace;
  // Allocator of CUDA tensors, when libtorch sees a GPU: true (default) = seqserve's pool, one
  // per device, installed through CUDAPluggableAllocator before any model loads; false =
  // libtorch's CUDA caching allocator. Ignored without a GPU or a CUDA build.
  bool cuda_pool = true;
  // Most bytes each device's pool may hold; 0 (default) = unlimited (headroom is then measured
  // against the device's memory). Beyond it, batches are split as on CPU.
  int64_t cuda_memory_budget_bytes = 0;
  // If > 0, connections are closed (gracefully) after this age, so clients behind a plain
  // Kubernetes Service reconnect and rebalance across pods. Default 0 (never).
  absl::Duration max_connection_age = absl::ZeroDuration();
};

// Parses argv ("--name=value" or "--name value"; booleans also as "--name"/"--name=false").
// INVALID_ARGUMENT naming the flag for unknown flags or bad values. "--help" and "--version"
// yield a CANCELLED status whose message is the usage text or "seqserve <version>".
absl::StatusOr<ServerOptions> ParseServerOptions(int argc, char** argv);

// The flags as docs/operations.md's table: flag, default, meaning (Note [flags declared once]
// in the .cc). `seqserve --help=markdown` prints it.
std::string FlagsMarkdown();
// Every flag with a default value, as it would be written on the command line ("8001",
// "auto", "true", "25"); flags without one (e.g. --port-file) are left out.
std::vector<std::pair<std::string, std::string>> FlagDefaults();
// Flag `name`'s value in `options`, as it would be written; nullopt when unset or unknown.
std::optional<std::string> ShowFlag(const ServerOptions& options, absl::string_view name);

// Replaces the "auto" (-1) of request_memory_bytes and max_message_bytes by Note [budget from
// the pod]'s values for `limit` (the pod's memory limit, else the machine's memory).
void ResolveMemoryDefaults(uint64_t limit, ServerOptions& options);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_SERVER_OPTIONS_H_
