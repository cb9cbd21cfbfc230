#include "server/server_options.h"

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "runtime/resources/host_memory.h"
#include "server/observability/metric_catalog.h"
#include "server/observability/version.h"

namespace seqserve {
namespace {

// Note [flags declared once]: each flag is one entry below — its name, its meaning (what
// `--help` prints and the docs' flag table says), how a value is set, and how the value in a
// ServerOptions is shown. Defaults are never written here: `--help` and the table show
// `show(ServerOptions{})`, the struct's own initializers. docs/operations.md holds the table as
// `seqserve --help=markdown` prints it; the ctest `flags_documented` fails when they differ, and
// ServerOptionsTest checks that every shown default parses back to itself.
struct Flag {
  const char* name;
  const char* help;  // Markdown: the docs' table holds it verbatim
  bool is_bool;
  std::function<bool(ServerOptions&, absl::string_view)> set;
  // The value as a flag would be written; nullopt when unset (then `unset` is shown).
  std::function<std::optional<std::string>(ServerOptions)> show;
  const char* unset = "—";
};

template <typename T>
using Field = T& (*)(ServerOptions&);

// `v` as an integer in [lo, hi] into `out`; false (and `out` untouched) otherwise.
template <typename T>
bool SetInRange(T& out, absl::string_view v, T lo, T hi) {
  T x;
  if (!absl::SimpleAtoi(v, &x) || x < lo || x > hi) return false;
  out = x;
  return true;
}

Flag String(const char* name, const char* help, Field<std::string> field, const char* unset = "—") {
  return {name,
          help,
          false,
          [field](ServerOptions& o, absl::string_view v) {
            field(o) = std::string(v);
            return !v.empty();
          },
          [field](ServerOptions o) -> std::optional<std::string> {
            if (field(o).empty()) return std::nullopt;
            return field(o);
          },
          unset};
}

// An integer in [lo, hi] (int or int64_t fields).
template <typename T>
Flag Int(const char* name, const char* help, Field<T> field, T lo, T hi) {
  return {name, help, false, [=](ServerOptions& o, absl::string_view v) { return SetInRange(field(o), v, lo, hi); },
          [field](ServerOptions o) -> std::optional<std::string> { return std::to_string(field(o)); }};
}

// A byte count in [lo, hi], or "auto" (stored as -1: the rule decides later).
Flag BytesOrAuto(const char* name, const char* help, Field<int64_t> field, int64_t lo, int64_t hi) {
  return {name, help, false,
          [=](ServerOptions& o, absl::string_view v) {
            if (v != "auto") return SetInRange(field(o), v, lo, hi);
            field(o) = -1;
            return true;
          },
          [field](ServerOptions o) -> std::optional<std::string> {
            return field(o) < 0 ? "auto" : std::to_string(field(o));
          }};
}

Flag Bool(const char* name, const char* help, Field<bool> field) {
  return {name, help, true, [field](ServerOptions& o, absl::string_view v) { return absl::SimpleAtob(v, &field(o)); },
          [field](ServerOptions o) -> std::optional<std::string> { return field(o) ? "true" : "false"; }};
}

// Seconds (fractions allowed), at least `least`.
Flag Seconds(const char* name, const char* help, Field<absl::Duration> field,
             absl::Duration least = absl::ZeroDuration()) {
  return {
      name, help, false,
      [=](ServerOptions& o, absl::string_view v) {
        double s;
        if (!absl::SimpleAtod(v, &s) || absl::Seconds(s) < least) return false;
        field(o) = absl::Seconds(s);
        return true;
      },
      [field](ServerOptions o) -> std::optional<std::string> { return absl::StrCat(absl::ToDoubleSeconds(field(o))); }};
}

// "pool" (seqserve's) or "default" (libtorch's).
Flag Allocator(const char* name, const char* help, Field<bool> use_pool) {
  return {name, help, false,
          [use_pool](ServerOptions& o, absl::string_view v) {
            if (v != "pool" && v != "default") return false;
            use_pool(o) = v == "pool";
            return true;
          },
          [use_pool](ServerOptions o) -> std::optional<std::string> { return use_pool(o) ? "pool" : "default"; }};
}

const std::vector<Flag>& Flags() {
  static const auto* flags = new std::vector<Flag>{
      String(
          "model-repository", "model repository directory",
          [](ServerOptions& o) -> std::string& { return o.model_repository; }, "(required)"),
      String("grpc-address",
             "address of the gRPC services: IPv4, IPv6 (`::` listens on IPv6 and IPv4 alike, `::1`) or a host name "
             "(`localhost`)",
             [](ServerOptions& o) -> std::string& { return o.grpc_address; }),
      Int<int>(
          "grpc-port", "gRPC port; `0` picks a free one", [](ServerOptions& o) -> int& { return o.grpc_port; }, 0,
          65535),
      Int<int>(
          "metrics-port", "HTTP port for `/metrics`, `/healthz`, `/readyz`; `0` picks a free one",
          [](ServerOptions& o) -> int& { return o.metrics_port; }, 0, 65535),
      String(
          "metrics-address", "address of the metrics port",
          [](ServerOptions& o) -> std::string& { return o.metrics_address; }, "`--grpc-address`"),
      Int<int>(
          "http-port", "KServe v2 REST port; `0` picks a free one, `-1` turns REST off",
          [](ServerOptions& o) -> int& { return o.http_port; }, -1, 65535),
      String(
          "http-address", "address of the REST port", [](ServerOptions& o) -> std::string& { return o.http_address; },
          "`--grpc-address`"),
      Int<int>(
          "http-threads", "event-loop threads of the REST port (a waiting request holds no thread)",
          [](ServerOptions& o) -> int& { return o.http.threads; }, 1, 256),
      Int<int>(
          "http-max-connections", "most open connections on each HTTP port (REST, metrics)",
          [](ServerOptions& o) -> int& { return o.http.max_connections; }, 1, 1 << 20),
      Seconds(
          "http-idle-timeout", "seconds after which a silent HTTP connection is closed",
          [](ServerOptions& o) -> absl::Duration& { return o.http.idle_timeout; }, absl::Seconds(1)),
      Seconds("http-body-timeout",
              "seconds a REST request body may take after its headers; then the connection is closed",
              [](ServerOptions& o) -> absl::Duration& { return o.http.body_timeout; }),
      Int<int64_t>(
          "http-max-header-bytes", "most bytes of an HTTP request line and headers (431 beyond)",
          [](ServerOptions& o) -> int64_t& { return o.http.max_header_bytes; }, 1024, 1 << 24),
      String("port-file", "file to write `grpc_port=N`, `metrics_port=M` and `http_port=H` into once listening",
             [](ServerOptions& o) -> std::string& { return o.port_file; }),
      BytesOrAuto(
          "max-message-bytes",
          "largest gRPC message received or sent, and largest REST request body (413 beyond, before it is "
          "read): `auto` = half the request memory, within [4 MiB, 256 MiB] (256 MiB without a memory limit "
          "on a machine of 8 GiB or more), or bytes",
          [](ServerOptions& o) -> int64_t& { return o.max_message_bytes; }, 1024, (int64_t{1} << 31) - 1),
      BytesOrAuto(
          "request-memory-bytes",
          "most bytes requests in flight may hold at once (bodies and messages, decoded tensors, queued "
          "requests; 429 / `RESOURCE_EXHAUSTED` beyond): `auto` = a sixteenth of the cgroup memory limit (of "
          "RAM without one), `0` = unlimited, or bytes; gRPC may buffer twice that (at least four of the "
          "largest messages) of messages still arriving (its resource quota)",
          [](ServerOptions& o) -> int64_t& { return o.request_memory_bytes; }, 0, INT64_MAX),
      Bool("strict-readiness",
           "ready only when every model asked for (all, or in explicit mode those loaded) has a ready version",
           [](ServerOptions& o) -> bool& { return o.strict_readiness; }),
      {"model-control-mode", "`none`, `explicit` or `poll` ([model-control.md](model-control.md))", false,
       [](ServerOptions& o, absl::string_view v) {
         for (ModelControlMode mode : {ModelControlMode::kNone, ModelControlMode::kExplicit, ModelControlMode::kPoll}) {
           if (v == ModelControlModeName(mode)) {
             o.model_control = mode;
             return true;
           }
         }
         return false;
       },
       [](ServerOptions o) -> std::optional<std::string> {
         return std::string(ModelControlModeName(o.model_control));
       }},
      {"load-model", "explicit mode: a model to load at start; repeatable; `*` = all", false,
       [](ServerOptions& o, absl::string_view v) {
         o.load_models.emplace_back(v);
         return !v.empty();
       },
       [](ServerOptions o) -> std::optional<std::string> {
         if (o.load_models.empty()) return std::nullopt;
         return absl::StrJoin(o.load_models, ",");
       }},
      Seconds(
          "repository-poll-seconds", "poll mode: seconds between repository scans",
          [](ServerOptions& o) -> absl::Duration& { return o.repository_poll; }, absl::Milliseconds(1)),
      Int<int>(
          "background-load-nice",
          "nice value (0-19) of the threads that load a version beside serving traffic (loads after start-up); `0` = "
          "full priority",
          [](ServerOptions& o) -> int& { return o.background_load_nice; }, 0, 19),
      Int<int64_t>(
          "max-request-elements", "most tensor elements in one request (`INVALID_ARGUMENT` beyond)",
          [](ServerOptions& o) -> int64_t& { return o.max_request_elements; }, 1, INT64_MAX),
      Int<int64_t>(
          "max-client-batch-size", "most texts in one text request (`INVALID_ARGUMENT` / 400 beyond)",
          [](ServerOptions& o) -> int64_t& { return o.max_client_batch_size; }, 1, 1 << 20),
      Bool("auto-truncate",
           "cut texts longer than the model takes to its max length even when the request does not ask for "
           "truncation (otherwise they are refused, naming their token count and the limit)",
           [](ServerOptions& o) -> bool& { return o.auto_truncate; }),
      Seconds("default-deadline", "seconds of deadline for requests that carry none; `0` = none",
              [](ServerOptions& o) -> absl::Duration& { return o.default_deadline; }),
      Int<int>(
          "max-concurrent-streams", "most concurrent calls per client connection",
          [](ServerOptions& o) -> int& { return o.max_concurrent_streams; }, 1, 1 << 20),
      String("tls-cert",
             "PEM certificate chain; with `--tls-key` the gRPC and REST ports speak TLS only (the metrics port stays "
             "plain HTTP, read-only)",
             [](ServerOptions& o) -> std::string& { return o.tls_cert; }),
      String("tls-key", "PEM private key of `--tls-cert`", [](ServerOptions& o) -> std::string& { return o.tls_key; }),
      String("tls-client-ca",
             "PEM CA bundle: clients must present a certificate it signed (mutual TLS; REST answers 403 without one)",
             [](ServerOptions& o) -> std::string& { return o.tls_client_ca; }),
      Seconds("drain-timeout", "seconds a SIGTERM drain waits for accepted requests",
              [](ServerOptions& o) -> absl::Duration& { return o.drain_timeout; }),
      Seconds("drain-grace", "seconds between readiness going NOT_SERVING and the listener closing",
              [](ServerOptions& o) -> absl::Duration& { return o.drain_grace; }),
      Seconds("max-connection-age",
              "close connections after this many seconds so clients behind a plain Service rebalance; `0` = never",
              [](ServerOptions& o) -> absl::Duration& { return o.max_connection_age; }),
      Allocator("cpu-allocator",
                "allocator of CPU tensors: `pool` (seqserve's caching pool) or `default` (libtorch's own)",
                [](ServerOptions& o) -> bool& { return o.cpu_pool; }),
      BytesOrAuto(
          "memory-budget-bytes",
          "most bytes the CPU pool may hold: `auto` = from the cgroup memory limit (unlimited without one), "
          "`0` = unlimited, or bytes; batches are formed to fit, a row that cannot fit alone gets "
          "`RESOURCE_EXHAUSTED`",
          [](ServerOptions& o) -> int64_t& { return o.memory_budget_bytes; }, 0, INT64_MAX),
      Allocator("cuda-allocator",
                "allocator of CUDA tensors when there is a GPU: `pool` (one seqserve pool per device, through "
                "`CUDAPluggableAllocator`) or `default` (libtorch's caching allocator)",
                [](ServerOptions& o) -> bool& { return o.cuda_pool; }),
      Int<int64_t>(
          "cuda-memory-budget-bytes",
          "most bytes each GPU's pool may hold, `0` = unlimited; beyond it batches are split as on CPU",
          [](ServerOptions& o) -> int64_t& { return o.cuda_memory_budget_bytes; }, 0, INT64_MAX),
      Bool("memory-footprint-ceiling",
           "the CPU pool gives back free pages (holes between live tensors) rather than raise its footprint past its "
           "previous peak; `false` keeps every page it ever took",
           [](ServerOptions& o) -> bool& { return o.memory_footprint_ceiling; }),
      String("memory-trace",
             "record every CPU pool allocation and free to a file, for `benchmarks/memory/replay_trace`",
             [](ServerOptions& o) -> std::string& { return o.memory_trace; }),
  };
  return *flags;
}

// What `--help` and the docs' table show as a flag's default.
std::string DefaultOf(const Flag& flag) {
  std::optional<std::string> shown = flag.show(ServerOptions());
  return shown.has_value() ? absl::StrCat("`", *shown, "`") : flag.unset;
}

std::string Usage() {
  std::string usage =
      "Usage: seqserve --model-repository=DIR [flags]\n\nFlags (--help=markdown: as a table; --help=metrics: the "
      "metrics exported):\n";
  for (const Flag& f : Flags()) {
    const std::string shown = absl::StrReplaceAll(DefaultOf(f), {{"`", ""}});
    absl::StrAppend(&usage, "  --", f.name, "\n      ", f.help,
                    shown == "—" ? ""
                                 : absl::StrCat(shown == "(required)" ? " " : " (default: ", shown,
                                                shown == "(required)" ? "" : ")"),
                    "\n");
  }
  return usage;
}

}  // namespace

absl::StatusOr<ServerOptions> ParseServerOptions(int argc, char** argv) {
  ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return absl::CancelledError(Usage());
    if (arg == "--help=markdown") return absl::CancelledError(FlagsMarkdown());
    if (arg == "--help=metrics") return absl::CancelledError(MetricsMarkdown());
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

std::string FlagsMarkdown() {
  std::string table = "| flag | default | meaning |\n|---|---|---|\n";
  for (const Flag& f : Flags()) absl::StrAppend(&table, "| `--", f.name, "` | ", DefaultOf(f), " | ", f.help, " |\n");
  return table;
}

std::vector<std::pair<std::string, std::string>> FlagDefaults() {
  std::vector<std::pair<std::string, std::string>> defaults;
  for (const Flag& f : Flags()) {
    if (std::optional<std::string> shown = f.show(ServerOptions()); shown.has_value())
      defaults.emplace_back(f.name, *shown);
  }
  return defaults;
}

std::optional<std::string> ShowFlag(const ServerOptions& options, absl::string_view name) {
  for (const Flag& f : Flags()) {
    if (name == f.name) return f.show(options);
  }
  return std::nullopt;
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
