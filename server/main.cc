// seqserve: serves the TorchScript models of a model repository over gRPC.
//
// Startup order, made for Kubernetes probes: listen first (liveness answers at once, readiness
// says NOT_SERVING), then load and warm up every model, then report SERVING. On SIGTERM/SIGINT:
// readiness goes NOT_SERVING, new requests are refused with UNAVAILABLE, accepted ones finish
// (bounded by --drain-timeout), then the process exits 0.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/logging.h"
#include "runtime/model_repository.h"
#include "runtime/torch_model.h"
#include "server/kserve_service.h"
#include "server/predict_service.h"
#include "server/server_options.h"
#include "server/version.h"

namespace seqserve {
namespace {

// Blocks SIGINT/SIGTERM in every thread (call before starting any), so WaitForSignal can take
// them synchronously.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void SetHealth(grpc::Server& server, ModelRepository& repository, bool strict, bool draining) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  bool all = !draining;
  for (const std::string& name : repository.ModelNames()) {
    const bool ready = !draining && repository.ResolveVersion(name, 0).ok();
    health->SetServingStatus(name, ready);
    all = all && (ready || !strict);
  }
  health->SetServingStatus("", all);
}

int Run(const ServerOptions& options) {
  const sigset_t signals = BlockShutdownSignals();
  ConfigureTorchProcess();
  absl::StatusOr<std::unique_ptr<ModelRepository>> repository = ModelRepository::Open(options.model_repository);
  if (!repository.ok()) {
    LogError(repository.status().message());
    return 1;
  }
  ServingState state;
  PredictService predict(**repository, state);
  KServeService kserve(**repository, state, options.strict_readiness);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::StrCat(options.grpc_address, ":", options.grpc_port),
                           grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(&predict);
  builder.RegisterService(&kserve);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    LogError("cannot listen on ", options.grpc_address, ":", options.grpc_port);
    return 1;
  }
  SetHealth(*server, **repository, options.strict_readiness, /*draining=*/false);
  LogInfo("seqserve ", kSeqserveVersion, " (libtorch ", TorchVersion(), ", CUDA ",
          CudaAvailable() ? "available" : "not available", ") listening for gRPC on ",
          options.grpc_address, ":", port);
  if (!options.port_file.empty()) {
    std::ofstream(options.port_file) << "grpc_port=" << port << "\n";
  }

  // Load in the background so a signal during a long warm-up still stops the process promptly.
  std::thread loader([&] {
    (*repository)->LoadAll();
    if (!state.draining()) SetHealth(*server, **repository, options.strict_readiness, false);
    LogInfo((*repository)->AllReady() ? "all models ready" : "loading finished; some models are unavailable");
  });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogInfo("received signal ", signal_number, "; draining for at most ",
          absl::FormatDuration(options.drain_timeout));
  state.StartDraining();
  SetHealth(*server, **repository, options.strict_readiness, /*draining=*/true);
  // In-flight RPCs finish (their executors keep running); after the deadline the rest are
  // cancelled. Then stop the executors, which completes anything still queued.
  server->Shutdown(absl::ToChronoTime(absl::Now() + options.drain_timeout));
  loader.join();
  (*repository)->Shutdown();
  server->Wait();
  LogInfo("drained; exiting");
  return 0;
}

}  // namespace
}  // namespace seqserve

int main(int argc, char** argv) {
  absl::StatusOr<seqserve::ServerOptions> options = seqserve::ParseServerOptions(argc, argv);
  if (!options.ok()) {
    const bool help = absl::IsCancelled(options.status());
    std::fprintf(help ? stdout : stderr, "%s\n", std::string(options.status().message()).c_str());
    return help ? 0 : 2;
  }
  return seqserve::Run(*options);
}
