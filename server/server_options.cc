#include "server/server_options.h"

#include <functional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "runtime/host_memory.h"
#include "server/version.h"

namespace seqserve {
namespace {

struct Flag {
  const char* name;
  const char* help;
  bool is_bool;
  std::function<bool(ServerOptions&, absl::string_view)> set;
};

bool SetInt(int& out, absl::string_view v, int lo, int hi) {
  int x;
  if (!absl::SimpleAtoi(v, &x) || x < lo || x > hi) return false;
  out = x;
  return true;
}

bool SetBool(bool& out, absl::string_view v) { return absl::SimpleAtob(v, &out); }

// --cpu-allocator / --cuda-allocator: "pool" (seqserve's) or "default" (libtorch's).
bool SetAllocatorChoice(bool& use_pool, absl::string_view v) {
  if (v != "pool" && v != "default") return false;
  use_pool = v == "pool";
  return true;
}

// A byte count in [lo, hi], or "auto" (stored as -1: the rule decides later).
bool SetBytesOrAuto(int64_t& out, absl::string_view v, int64_t lo, int64_t hi) {
  int64_t x;
  if (v == "auto") {
    out = -1;
    return true;
  }
  if (!absl::SimpleAtoi(v, &x) || x < lo || x > hi) return false;
  out = x;
  return true;
}

bool SetSeconds(absl::Duration& out, absl::string_view v) {
  double s;
  if (!absl::SimpleAtod(v, &s) || s < 0) return false;
  out = absl::Seconds(s);
  return true;
}

const std::vector<Flag>& Flags() {
  static const auto* flags = new std::vector<Flag>{
      {"model-repository", "Model repository directory (required).", false,
       [](ServerOptions& o, absl::string_view v) {
         o.model_repository = std::string(v);
         return !v.empty();
       }},
      {"grpc-address", "Address for the gRPC services (default 0.0.0.0).", false,
       [](ServerOptions& o, absl::string_view v) {
         o.grpc_address = std::string(v);
         return !v.empty();
       }},
      {"grpc-port", "gRPC port; 0 picks a free one (default 8001).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.grpc_port, v, 0, 65535); }},
      {"metrics-port", "HTTP port for /metrics, /healthz, /readyz (default 8002).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.metrics_port, v, 0, 65535); }},
      {"metrics-address", "Address of the metrics port (default: --grpc-address).", false,
       [](ServerOptions& o, absl::string_view v) {
         o.metrics_address = std::string(v);
         return !v.empty();
       }},
      {"http-port", "KServe v2 REST port; 0 picks a free one, -1 turns it off (default 8000).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.http_port, v, -1, 65535); }},
      {"http-address", "Address of the REST port (default: --grpc-address).", false,
       [](ServerOptions& o, absl::string_view v) {
         o.http_address = std::string(v);
         return !v.empty();
       }},
      {"http-threads", "Event-loop threads of the REST port (default 2).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.http.threads, v, 1, 256); }},
      {"http-max-connections", "Most open connections on each HTTP port (default 1024).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.http.max_connections, v, 1, 1 << 20); }},
      {"http-idle-timeout", "Seconds after which a silent HTTP connection is closed (default 30).", false,
       [](ServerOptions& o, absl::string_view v) {
         return SetSeconds(o.http.idle_timeout, v) && o.http.idle_timeout >= absl::Seconds(1);
       }},
      {"http-body-timeout", "Seconds a REST request body may take to arrive after its headers (default 30).", false,
       [](ServerOptions& o, absl::string_view v) { return SetSeconds(o.http.body_timeout, v); }},
      {"http-max-header-bytes", "Most bytes of an HTTP request's line and headers (default 32768).", false,
       [](ServerOptions& o, absl::string_view v) {
         int x = 0;
         if (!SetInt(x, v, 1024, 1 << 24)) return false;
         o.http.max_header_bytes = x;
         return true;
       }},
      {"port-file", "Write the chosen ports to this file once listening.", false,
       [](ServerOptions& o, absl::string_view v) {
         o.port_file = std::string(v);
         return true;
       }},
      {"max-message-bytes",
       "Largest gRPC message and REST request body, in bytes: auto (default) = half the request memory, "
       "within [4 MiB, 256 MiB], or a byte count.",
       false,
       [](ServerOptions& o, absl::string_view v) {
         return SetBytesOrAuto(o.max_message_bytes, v, 1024, (int64_t{1} << 31) - 1);
       }},
      {"request-memory-bytes",
       "Most bytes requests in flight may hold at once (bodies, messages, decoded tensors, queued requests): auto "
       "(default) = a sixteenth of the cgroup memory limit (of RAM without one), 0 = unlimited, or a byte count; "
       "gRPC may buffer twice that of messages still arriving.",
       false,
       [](ServerOptions& o, absl::string_view v) { return SetBytesOrAuto(o.request_memory_bytes, v, 0, INT64_MAX); }},
      {"max-request-elements", "Most tensor elements in one request (default 16777216).", false,
       [](ServerOptions& o, absl::string_view v) {
         return absl::SimpleAtoi(v, &o.max_request_elements) && o.max_request_elements > 0;
       }},
      {"default-deadline", "Seconds of deadline for requests that carry none; 0 = none (default 60).", false,
       [](ServerOptions& o, absl::string_view v) { return SetSeconds(o.default_deadline, v); }},
      {"max-concurrent-streams", "Most concurrent calls per client connection (default 256).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.max_concurrent_streams, v, 1, 1 << 20); }},
      {"tls-cert", "PEM certificate chain of the server; with --tls-key enables TLS.", false,
       [](ServerOptions& o, absl::string_view v) {
         o.tls_cert = std::string(v);
         return !v.empty();
       }},
      {"tls-key", "PEM private key of the server.", false,
       [](ServerOptions& o, absl::string_view v) {
         o.tls_key = std::string(v);
         return !v.empty();
       }},
      {"tls-client-ca", "PEM CA bundle; clients must present a certificate it signed (mutual TLS).", false,
       [](ServerOptions& o, absl::string_view v) {
         o.tls_client_ca = std::string(v);
         return !v.empty();
       }},
      {"strict-readiness",
       "Ready only when every model asked for is ready: all, or in explicit mode those loaded (default true).", true,
       [](ServerOptions& o, absl::string_view v) { return SetBool(o.strict_readiness, v); }},
      {"model-control-mode",
       "none (default: load every model at start), explicit (load --load-model models; load/unload requests), "
       "poll (load every model; rescan the repository every --repository-poll-seconds).",
       false,
       [](ServerOptions& o, absl::string_view v) {
         for (ModelControlMode mode : {ModelControlMode::kNone, ModelControlMode::kExplicit, ModelControlMode::kPoll}) {
           if (v == ModelControlModeName(mode)) {
             o.model_control = mode;
             return true;
           }
         }
         return false;
       }},
      {"load-model", "Explicit mode: a model to load at start; repeatable; * loads all.", false,
       [](ServerOptions& o, absl::string_view v) {
         o.load_models.emplace_back(v);
         return !v.empty();
       }},
      {"background-load-nice",
       "Nice value (0-19) of threads loading a model beside serving traffic; 0 = full priority (default 10).", false,
       [](ServerOptions& o, absl::string_view v) { return SetInt(o.background_load_nice, v, 0, 19); }},
      {"repository-poll-seconds", "Poll mode: seconds between repository scans (default 15).", false,
       [](ServerOptions& o, absl::string_view v) {
         return SetSeconds(o.repository_poll, v) && o.repository_poll > absl::ZeroDuration();
       }},
      {"drain-timeout", "Seconds a SIGTERM drain waits for accepted requests (default 25).", false,
       [](ServerOptions& o, absl::string_view v) { return SetSeconds(o.drain_timeout, v); }},
      {"drain-grace", "Seconds between readiness NOT_SERVING and closing the listener on SIGTERM (default 0).", false,
       [](ServerOptions& o, absl::string_view v) { return SetSeconds(o.drain_grace, v); }},
      {"cpu-allocator", "Allocator of CPU tensors: pool (default) or default (libtorch's own).", false,
       [](ServerOptions& o, absl::string_view v) { return SetAllocatorChoice(o.cpu_pool, v); }},
      {"memory-budget-bytes",
       "Most bytes the CPU pool may hold: auto (default) = from the cgroup memory limit (unlimited without one), 0 = "
       "unlimited, or a byte count.",
       false,
       [](ServerOptions& o, absl::string_view v) { return SetBytesOrAuto(o.memory_budget_bytes, v, 0, INT64_MAX); }},
      {"memory-footprint-ceiling", "CPU pool: give back free pages rather than pass the previous peak (default true).",
       false, [](ServerOptions& o, absl::string_view v) { return SetBool(o.memory_footprint_ceiling, v); }},
      {"memory-trace", "Record every CPU pool allocation and free to this file (for replay).", false,
       [](ServerOptions& o, absl::string_view v) {
         o.memory_trace = std::string(v);
         return !v.empty();
       }},
      {"cuda-allocator", "Allocator of CUDA tensors when there is a GPU: pool (default) or default (libtorch's own).",
       false, [](ServerOptions& o, absl::string_view v) { return SetAllocatorChoice(o.cuda_pool, v); }},
      {"cuda-memory-budget-bytes", "Most bytes each GPU's pool may hold; 0 = unlimited (default).", false,
       [](ServerOptions& o, absl::string_view v) {
         return absl::SimpleAtoi(v, &o.cuda_memory_budget_bytes) && o.cuda_memory_budget_bytes >= 0;
       }},
      {"max-connection-age", "Seconds after which connections are closed gracefully; 0 = never (default).", false,
       [](ServerOptions& o, absl::string_view v) { return SetSeconds(o.max_connection_age, v); }},
  };
  return *flags;
}

std::string Usage() {
  std::string usage = "Usage: seqserve --model-repository=DIR [flags]\n\nFlags:\n";
  for (const Flag& f : Flags()) absl::StrAppend(&usage, "  --", f.name, "\n      ", f.help, "\n");
  return usage;
}

}  // namespace

absl::StatusOr<ServerOptions> ParseServerOptions(int argc, char** argv) {
  ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return absl::CancelledError(Usage());
    if (arg == "--version") return absl::CancelledError(absl::StrCat("seqserve ", kSeqserveVersion));
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'\n", Usage()));
    }
    absl::string_view name = arg, value;
    const size_t eq = arg.find('=');
    const bool has_value = eq != absl::string_view::npos;
    if (has_value) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Flag* flag = nullptr;
    for (const Flag& f : Flags()) {
      if (name == f.name) flag = &f;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, "\n", Usage()));
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (!flag->set(options, value)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value '", value, "' for --", name, ": ", flag->help));
    }
  }
  if (options.metrics_address.empty()) options.metrics_address = options.grpc_address;
  if (options.http_address.empty()) options.http_address = options.grpc_address;
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
  }
  if (!options.load_models.empty() && options.model_control != ModelControlMode::kExplicit) {
    return absl::InvalidArgumentError(
        "--load-model needs --model-control-mode=explicit (other modes load every model)");
  }
  if (options.model_repository.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--model-repository is required\n", Usage()));
  }
  return options;
}

void ResolveMemoryDefaults(uint64_t limit, ServerOptions& options) {
  if (options.request_memory_bytes < 0) options.request_memory_bytes = static_cast<int64_t>(RequestMemoryBudget(limit));
  if (options.max_message_bytes < 0) {
    // Unlimited request memory: the largest message as if the machine's memory were the limit.
    const uint64_t requests = options.request_memory_bytes > 0 ? static_cast<uint64_t>(options.request_memory_bytes)
                                                               : RequestMemoryBudget(limit);
    options.max_message_bytes = static_cast<int64_t>(DefaultMaxMessageBytes(requests));
  }
}

}  // namespace seqserve
