// seqserve: serves the TorchScript and AOTInductor models of a model repository over gRPC and
// KServe v2 REST.
//
// Startup order, made for Kubernetes probes: listen first (liveness answers at once, readiness
// says NOT_SERVING), then load and warm up every model, then report SERVING. On SIGTERM/SIGINT:
// readiness goes NOT_SERVING and new requests are refused with UNAVAILABLE; after
// --drain-grace the listeners close; accepted requests finish (bounded by --drain-timeout);
// then the process exits 0.
#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "memory/torch_cpu_allocator.h"
#ifdef SEQSERVE_WITH_CUDA_POOL
#include "memory/cuda_backend.h"
#include "memory/torch_cuda_allocator.h"
#endif
#include "runtime/base/logging.h"
#include "runtime/repository/model_repository.h"
#include "runtime/resources/host_cpu.h"
#include "runtime/resources/host_memory.h"
#include "runtime/resources/memory_gate.h"
#include "runtime/torch/torch_loader.h"
#include "runtime/torch/torch_model.h"
#include "server/admission/memory_metrics.h"
#include "server/admission/pod_memory.h"
#include "server/admission/request_memory.h"
#include "server/api/kserve_rest.h"
#include "server/api/kserve_service.h"
#include "server/api/predict_service.h"
#include "server/api/text_rest.h"
#include "server/http/http_endpoints.h"
#include "server/http/http_server.h"
#include "server/http/net_address.h"
#include "server/observability/metrics_collector.h"
#include "server/observability/version.h"
#include "server/server_options.h"
#include "server/serving/readiness.h"
#include "server/serving/repository_control.h"
#include "server/serving/request_path.h"

namespace seqserve {
namespace {

// Blocks SIGINT/SIGTERM in every thread (call before starting any), so that the main thread can
// take them synchronously with sigwait.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// gRPC health's statuses, overall ("") and per model, from the one readiness rule. Called from
// the loader and the signal-handling thread; serialized, so that the last call's (freshest)
// view is the one that stays, never a stale SERVING published after the drain began.
void PublishHealth(grpc::Server& server, const ModelRepository& repository, const Readiness& readiness) {
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  for (const std::string& name : repository.ModelNames()) health->SetServingStatus(name, readiness.ModelReady(name, 0));
  health->SetServingStatus("", readiness.ServerReady());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The REST port's options: the HTTP limits, the REST address and port, the body limit of
// --max-message-bytes, the request memory bodies are charged to, the hang-up count and the gRPC
// port's TLS files.
absl::StatusOr<HttpServerOptions> RestServerOptions(const ServerOptions& options, RequestMemory* memory,
                                                    std::atomic<int64_t>* hangups) {
  HttpServerOptions rest = options.http;
  rest.name = "REST";
  rest.address = options.http_address;
  rest.port = options.http_port;
  rest.max_body_bytes = options.max_message_bytes;
  rest.body_memory = memory;
  rest.hangups = hangups;
  for (auto [path, pem] :
       {std::pair{&options.tls_cert, &rest.tls_cert_pem}, std::pair{&options.tls_key, &rest.tls_key_pem},
        std::pair{&options.tls_client_ca, &rest.tls_client_ca_pem}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = ReadFile(*path);
    if (!text.ok()) return text.status();
    *pem = std::move(*text);
  }
  return rest;
}

// Plaintext, TLS (--tls-cert/--tls-key) or mutual TLS (plus --tls-client-ca).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const ServerOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadFile(options.tls_cert);
  absl::StatusOr<std::string> key = ReadFile(options.tls_key);
  if (!cert.ok()) return cert.status();
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(options.tls_client_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// Makes seqserve's pool libtorch's CUDA allocator on every visible GPU (one pool per device),
// when the build has the CUDA pool, there is a GPU and --cuda-allocator=pool; appends them to
// `pools` for the metrics. Must run before the first CUDA tensor.
absl::Status InstallCudaPools(const ServerOptions& options, std::vector<PoolSource>& pools) {
#ifdef SEQSERVE_WITH_CUDA_POOL
  if (!options.cuda_pool || memory::CudaBackend::DeviceCount() == 0) return absl::OkStatus();
  memory::TorchCudaPoolOptions pool_options;
  pool_options.capacity_bytes = static_cast<size_t>(options.cuda_memory_budget_bytes);
  absl::StatusOr<std::vector<memory::CachingAllocator*>> installed = memory::InstallTorchCudaPool(pool_options);
  if (!installed.ok()) return installed.status();
  for (size_t device = 0; device < installed->size(); ++device) {
    const uint64_t capacity = options.cuda_memory_budget_bytes > 0
                                  ? static_cast<uint64_t>(options.cuda_memory_budget_bytes)
                                  : memory::CudaBackend::DeviceMemoryBytes(static_cast<int>(device));
    pools.push_back({absl::StrCat("cuda:", device), (*installed)[device], [capacity] { return capacity; }});
  }
#else
  (void)options;
  (void)pools;
#endif
  return absl::OkStatus();
}

int Run(ServerOptions options) {
  const sigset_t signals = BlockShutdownSignals();
  // Note [budget from the pod]: the bytes kept for requests and the largest request follow from
  // the pod's limit alone, so they are known before anything loads.
  const MemoryLimit limit = DetectMemoryLimit();
  ResolveMemoryDefaults(limit.bytes.value_or(PhysicalMemoryBytes()), options);
  const uint64_t grpc_receive_bytes = options.request_memory_bytes > 0
                                          ? GrpcReceiveBytes(static_cast<uint64_t>(options.request_memory_bytes),
                                                             static_cast<uint64_t>(options.max_message_bytes))
                                          : 0;
  RequestMemory request_memory(options.request_memory_bytes);
  std::atomic<int64_t> rest_hangups{0};  // Note [REST hang-ups]
  LogInfo("request memory: ",
          options.request_memory_bytes > 0
              ? absl::StrCat(options.request_memory_bytes >> 20, " MiB for requests in flight and ",
                             grpc_receive_bytes >> 20, " MiB for gRPC's receive buffers")
              : "unlimited",
          ", largest request ", options.max_message_bytes >> 20, " MiB (--request-memory-bytes, --max-message-bytes)");
  // The pools must be libtorch's allocators before the first tensor exists.
  memory::CachingAllocator* pool = nullptr;
  std::vector<PoolSource> pools;
  if (options.cpu_pool) {
    memory::TorchCpuPoolOptions pool_options;
    // PodMemory sets the budget (Note [budget from the pod]); unlimited until then.
    pool_options.trace_path = options.memory_trace;
    pool_options.decommit_free_pages = options.memory_footprint_ceiling;
    absl::StatusOr<memory::CachingAllocator*> installed = memory::InstallTorchCpuPool(pool_options);
    if (!installed.ok()) {
      LogError("cannot install the CPU memory pool: ", installed.status().message());
      return 1;
    }
    pool = *installed;
  }
  MemoryGate cpu_memory;  // the CPU pool's budget for batches
  // Without a limit the pool is unlimited and nothing is set aside from it.
  PodMemory pod_memory(
      options.memory_budget_bytes,
      limit.bytes.has_value() ? static_cast<uint64_t>(options.request_memory_bytes) + grpc_receive_bytes : 0, pool,
      &cpu_memory, limit, ResidentBytes);
  pod_memory.PlanBeforeLoading();
  if (pool != nullptr) pools.push_back({"cpu", pool, [&pod_memory] { return pod_memory.CapacityBytes(); }});
  if (absl::Status cuda = InstallCudaPools(options, pools); !cuda.ok()) {
    LogError("cannot install the CUDA memory pool: ", cuda.message());
    return 1;
  }
  ConfigureTorchProcess();
  const std::unique_ptr<ModelLoader> torch_loader = NewTorchLoader();
  ModelRepository::Options repository_options;
  repository_options.mode = options.model_control;
  repository_options.load_at_start = options.load_models;
  repository_options.cpu_memory = pool != nullptr ? &cpu_memory : nullptr;
  repository_options.background_load_nice = options.background_load_nice;
  repository_options.cpu_cores = ProcessCpuBudget().cores;
  absl::StatusOr<std::unique_ptr<ModelRepository>> opened =
      ModelRepository::Open(options.model_repository, *torch_loader, repository_options);
  if (!opened.ok()) {
    LogError(opened.status().message());
    return 1;
  }
  ModelRepository& repository = **opened;
  ServingState state;
  RequestMetrics request_metrics(repository.ModelNames());
  RequestPath path(repository, state, request_metrics,
                   {options.max_request_elements, options.default_deadline, &request_memory,
                    options.max_client_batch_size, options.auto_truncate});
  const Readiness readiness(repository, state, options.strict_readiness);
  const BuildInfo build{kSeqserveVersion, TorchVersion(), CudaAvailable() ? "cuda" : "cpu"};
  PredictService predict(path, readiness, build);
  RepositoryControl control(repository);
  KServeService kserve(path, readiness, &control);

  MetricsCollector collector(repository, request_metrics, build);
  if (!pools.empty()) collector.AddProvider(MemoryPoolMetrics(pools));
  collector.AddProvider(pod_memory.Metrics());
  collector.AddProvider(RequestMemoryMetrics(request_memory, rest_hangups));
  HttpServerOptions metrics_http = options.http;
  metrics_http.name = "metrics";
  metrics_http.address = options.metrics_address;
  metrics_http.port = options.metrics_port;
  metrics_http.threads = 1;  // scrapes and probes are rare; slow clients cost no thread
  absl::StatusOr<std::unique_ptr<HttpEndpoints>> http =
      HttpEndpoints::Start(metrics_http, collector, [&] { return readiness.ServerReady(); });
  if (!http.ok()) {
    LogError(http.status().message());
    return 1;
  }
  KServeRest rest_routes(path, readiness, &control);
  TextRest text_routes(path);
  std::unique_ptr<HttpServer> rest;
  if (options.http_port >= 0) {
    absl::StatusOr<HttpServerOptions> rest_options = RestServerOptions(options, &request_memory, &rest_hangups);
    absl::StatusOr<std::unique_ptr<HttpServer>> started =
        rest_options.ok() ? HttpServer::Start(*rest_options,
                                              [&](const HttpRequest& request, HttpReply reply) {
                                                if (TextRest::Serves(request.path)) {
                                                  text_routes.Handle(request, std::move(reply));
                                                } else {
                                                  rest_routes.Handle(request, std::move(reply));
                                                }
                                              })
                          : absl::StatusOr<std::unique_ptr<HttpServer>>(rest_options.status());
    if (!started.ok()) {
      LogError(started.status().message());
      return 1;
    }
    rest = std::move(*started);
  }

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentials(options);
  if (!credentials.ok()) {
    LogError(credentials.status().message());
    return 1;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(HostPort(options.grpc_address, options.grpc_port), *credentials, &port);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // Note [gRPC receive memory]: gRPC 1.51 receives a message whole before it checks it against
  // the receive-size limit (a 100 MB message over a 32 MiB limit grew the process by 101 MB
  // before it was refused, and one of 1 GB would take the pod down), and a message is charged to
  // RequestMemory only once gRPC hands it over. What bounds it before that is gRPC's resource
  // quota: past it, gRPC resets streams (the client sees RESOURCE_EXHAUSTED "Received
  // RST_STREAM with error code 11", a message we cannot word). What it cannot do is choose the
  // stream: under pressure gRPC resets or closes ("Buffers full") streams and idle connections
  // of any client, so ordinary requests beside the large ones fail too. Sized at Note [budget
  // from the pod]'s `gRPC receive` (125 MiB in a 1000 MiB pod), two 100 MB and four 60 MB
  // messages at once left every ordinary request beside them answered in the measured rounds,
  // but not always: beside two busy loops, 2 of 38 were reset in one of 20 runs of
  // py_request_flood; at half that, one or two ordinary requests of ~75 failed in 7 of 10 rounds
  // of two 100 MB messages (RESULTS.md, "Request bytes in a 1000 MiB pod"). A message far over
  // --max-message-bytes can thus still cost a neighbour its request over gRPC; REST refuses it
  // from its Content-Length and touches no one.
  if (grpc_receive_bytes > 0) {
    grpc::ResourceQuota quota("seqserve-grpc-receive");
    quota.Resize(static_cast<size_t>(grpc_receive_bytes));
    builder.SetResourceQuota(quota);
  }
  if (options.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(options.drain_timeout)));
  }
  builder.RegisterService(&predict);
  builder.RegisterService(&kserve);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    LogError("cannot listen on ", HostPort(options.grpc_address, options.grpc_port));
    return 1;
  }
  // Note [health before load]: gRPC's default health service starts SERVING; flip it before
  // anything loads, so probes see NOT_SERVING until warm-up is done.
  PublishHealth(*server, repository, readiness);
  LogInfo("seqserve ", kSeqserveVersion, " (libtorch ", TorchVersion(), ", CUDA ",
          CudaAvailable() ? "available" : "not available",
          ", CPU allocator: ", pool != nullptr ? "seqserve pool" : "libtorch default",
          ", CUDA pools: ", pools.size() - (pool != nullptr ? 1 : 0), "): gRPC on ",
          HostPort(options.grpc_address, port), ", REST ",
          rest != nullptr ? HostPort(options.http_address, rest->port()) : std::string("off"), ", metrics on ",
          HostPort(options.metrics_address, (*http)->port()));
  const CpuBudget& cpu = ProcessCpuBudget();
  const InstanceLayout layout = DefaultInstanceLayout(cpu.cores);
  LogInfo("CPU budget: ", cpu.cores, " core", cpu.cores == 1 ? "" : "s", " (", cpu.source,
          "); CPU models without instance "
          "settings run ",
          layout.instances, " instance", layout.instances == 1 ? "" : "s", " x ", layout.intra_op_threads,
          " intra-op thread", layout.intra_op_threads == 1 ? "" : "s");
  if (!options.port_file.empty()) {
    // Written whole, then renamed: a reader never sees half of it.
    const std::string partial = options.port_file + ".partial";
    std::ofstream(partial) << "grpc_port=" << port << "\nmetrics_port=" << (*http)->port()
                           << "\nhttp_port=" << (rest != nullptr ? rest->port() : -1) << "\n";
    std::rename(partial.c_str(), options.port_file.c_str());
  }

  // Load in the background so that a signal during a long warm-up is still taken at once;
  // health follows each model as it becomes ready.
  absl::Notification loaded;
  // Each version loaded or unloaded changes what the pool keeps and what the process holds
  // beside it, and what health says.
  repository.OnChange([&](bool runners_destroyed) {
    request_metrics.AddModels(repository.ModelNames());  // models that appeared are counted by name
    // Note [unload gives memory back]: an unloaded version's weights and its warm-up's batch
    // memory are free in the pool but cached, mostly inside segments that other live tensors
    // keep (segments grow in place). Handing back the wholly free segments and the free pages of
    // the others brings the pool's reserved bytes back below where they were before the load
    // (MiniLM swap: 142 MiB before, 232 at the peak, 104-109 after; it stayed at 232 without
    // this; RESULTS.md, "Model swaps under traffic"); the next batches commit what they need.
    if (runners_destroyed && pool != nullptr) {
      pool->EmptyCache();
      pool->DecommitFreePages();  // with --memory-footprint-ceiling (default)
    }
    pod_memory.PlanAfterLoading();
    PublishHealth(*server, repository, readiness);
  });
  std::thread loader([&] {
    repository.LoadAtStart();
    LogInfo(repository.AllReady() ? "all models ready" : "loading finished; some models are unavailable");
    if (options.model_control == ModelControlMode::kPoll) repository.StartPolling(options.repository_poll);
    loaded.Notify();
  });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogInfo("received signal ", signal_number, "; draining (grace ", absl::FormatDuration(options.drain_grace),
          ", timeout ", absl::FormatDuration(options.drain_timeout), ")");
  state.StartDraining();
  repository.AbortLoading();  // a model still loading stops at its next warm-up batch
  PublishHealth(*server, repository, readiness);
  absl::SleepFor(options.drain_grace);
  // Shutdown stops accepting calls and waits for the in-flight ones (their executors keep
  // running) until the deadline, then cancels the rest. Then the executors stop, completing
  // anything still queued.
  const absl::Time deadline = absl::Now() + options.drain_timeout;
  if (rest != nullptr) rest->StopAccepting();
  server->Shutdown(absl::ToChronoTime(deadline));
  if (rest != nullptr && !rest->WaitIdle(deadline)) LogWarning("REST requests still in flight at the drain deadline");
  // Note [exit during load]: a load or a single warm-up batch cannot be interrupted inside
  // libtorch. If one is still running at the drain deadline, nothing accepted is lost by leaving
  // (the model never served), so the process exits at once, with 0 as for any drain, rather than
  // overrun Kubernetes' grace period and be killed.
  if (!loaded.WaitForNotificationWithDeadline(deadline)) {
    LogWarning("a model is still loading at the drain deadline; exiting without waiting for it");
    (void)memory::CloseTorchCpuPoolTrace();
    std::fflush(stderr);
    std::_Exit(0);
  }
  loader.join();
  repository.Shutdown();  // also ends polling, and a load request's load at its next warm-up batch
  control.WaitIdle();     // every load / unload request has been answered
  server->Wait();
  rest.reset();  // every reply has been given: the repository completed what was queued
  absl::Status trace = memory::CloseTorchCpuPoolTrace();
  if (!trace.ok()) LogError("memory trace: ", trace.message());
  LogInfo("drained; exiting. Requests answered since start: OK=", request_metrics.Total(absl::StatusCode::kOk),
          " UNAVAILABLE=", request_metrics.Total(absl::StatusCode::kUnavailable),
          " CANCELLED=", request_metrics.Total(absl::StatusCode::kCancelled),
          " DEADLINE_EXCEEDED=", request_metrics.Total(absl::StatusCode::kDeadlineExceeded),
          "; still in flight: ", request_metrics.inflight_now());
  return 0;
}

}  // namespace
}  // namespace seqserve

int main(int argc, char** argv) {
  // Note [large blocks go back]: glibc raises its mmap threshold (up to 32 MiB) each time a block
  // allocated with mmap is freed, so after one large request, later large blocks (gRPC's receive
  // buffers, request messages, REST bodies) come from the heap, and the heap keeps them when they
  // are freed: in a 1000 MiB pod the cgroup's usage climbed from 346 to 615 MiB over a dozen
  // rounds of large requests, none of it in use. A fixed threshold keeps every block of 1 MiB or
  // more on its own mapping, given back to the system when freed (RESULTS.md, "Request bytes in
  // a 1000 MiB pod"). Small blocks are unaffected; tensors live in seqserve's pool (memory/).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  absl::StatusOr<seqserve::ServerOptions> options = seqserve::ParseServerOptions(argc, argv);
  if (!options.ok()) {
    const bool help = absl::IsCancelled(options.status());  // --help, --version
    std::fprintf(help ? stdout : stderr, "%s\n", std::string(options.status().message()).c_str());
    return help ? 0 : 2;
  }
  return seqserve::Run(*options);
}
