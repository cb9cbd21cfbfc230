// The demo encoder in-process, through seqserve's length-bucketed batcher and executor, with
// either libtorch's native CUDA caching allocator or seqserve's pool as its CUDA allocator. One
// configuration per process: libtorch's allocator is chosen before the first CUDA tensor and
// cannot change afterwards. benchmarks/gpu/check.sh runs the whole grid and prints the table.
//
//   gpu_encoder_bench --repository=DIR --lengths=FILE [--device=cuda|cpu]
//                     [--allocator=native|pool|pool-lean]
//                     [--dtype=fp32|fp16|bf16] [--requests=4000] [--concurrency=256]
//                     [--instances=2] [--max-batch-tokens=8192] [--memory-cap-mib=0]
//
// pool-lean is the pool with release_idle_before_growing (memory/allocator_options.h).
//
// Load: a closed loop keeping --concurrency requests outstanding, lengths taken in order (and
// cycled) from --lengths. Before the timed run every instance is warmed up (the config's warm-up
// lengths), then the allocator's statistics are reset, so the numbers describe serving only.
//
// --memory-cap-mib=M (CUDA only) leaves the allocator M MiB of device memory: after warm-up the
// allocator's cache is emptied and a ballast cudaMalloc takes everything else, so both allocators
// meet real cudaMalloc failures and the executor's split-and-retry (Note [split on OOM]) is
// exercised on genuine device OOMs.
//
// --device=cpu (the CPU dry run that CI runs) uses the same code with the CPU pool (or libtorch's
// default CPU allocator); --memory-cap-mib is refused there.
//
// Prints one JSON object (one line) with the results; check.sh collects them.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "benchmarks/common/encoder_workload.h"
#include "memory/caching_allocator.h"
#include "memory/torch_cpu_allocator.h"
#include "memory/torch_cuda_allocator.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/model_executor.h"
#include "runtime/execution/request_validator.h"
#include "runtime/torch/torch_model.h"

namespace seqserve {
namespace {

struct Flags {
  std::string repository = "build/model_repository";
  std::string lengths = "../shared/data/seq_lengths.txt";
  std::string device = "cuda";
  std::string allocator = "pool";
  std::string dtype = "fp32";
  int requests = 4000;
  int concurrency = 256;
  int instances = 2;
  int64_t max_batch_tokens = 8192;
  int64_t memory_cap_mib = 0;
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("expected --name=value, got '", arg, "'"));
    }
    const std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
    bool ok = true;
    if (name == "repository")
      f.repository = value;
    else if (name == "lengths")
      f.lengths = value;
    else if (name == "device")
      f.device = value;
    else if (name == "allocator")
      f.allocator = value;
    else if (name == "dtype")
      f.dtype = value;
    else if (name == "requests")
      ok = absl::SimpleAtoi(value, &f.requests);
    else if (name == "concurrency")
      ok = absl::SimpleAtoi(value, &f.concurrency);
    else if (name == "instances")
      ok = absl::SimpleAtoi(value, &f.instances);
    else if (name == "max-batch-tokens")
      ok = absl::SimpleAtoi(value, &f.max_batch_tokens);
    else if (name == "memory-cap-mib")
      ok = absl::SimpleAtoi(value, &f.memory_cap_mib);
    else
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a number, got '", value, "'"));
  }
  if (f.device != "cuda" && f.device != "cpu") return absl::InvalidArgumentError("--device must be cuda or cpu");
  if (f.allocator != "native" && f.allocator != "pool" && f.allocator != "pool-lean") {
    return absl::InvalidArgumentError("--allocator must be native, pool or pool-lean");
  }
  if (f.dtype != "fp32" && f.dtype != "fp16" && f.dtype != "bf16") {
    return absl::InvalidArgumentError("--dtype must be fp32, fp16 or bf16");
  }
  if (f.requests < 1 || f.concurrency < 1 || f.instances < 1 || f.max_batch_tokens < 1 || f.memory_cap_mib < 0) {
    return absl::InvalidArgumentError("--requests, --concurrency, --instances, --max-batch-tokens must be positive");
  }
  if (f.device == "cpu" && f.memory_cap_mib > 0) {
    return absl::InvalidArgumentError("--memory-cap-mib applies to --device=cuda only");
  }
  return f;
}

// Times every batch of the runner it wraps (Run ends with the outputs on the host, so this is
// the whole batch: copies in, kernels, copies out).
class TimedRunner final : public BatchRunner {
 public:
  TimedRunner(std::unique_ptr<BatchRunner> inner, std::mutex& mu, std::vector<double>& ms)
      : inner_(std::move(inner)), mu_(mu), ms_(ms) {}
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    const absl::Time start = absl::Now();
    absl::Status status = inner_->Run(batch, responses);
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
    std::lock_guard<std::mutex> lock(mu_);
    ms_.push_back(ms);
    return status;
  }

 private:
  std::unique_ptr<BatchRunner> inner_;
  std::mutex& mu_;
  std::vector<double>& ms_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// The allocator under test: peaks and counters over the timed run only.
struct MemoryNumbers {
  uint64_t peak_reserved = 0, peak_allocated = 0, device_allocations = 0, ooms = 0;
};

class AllocatorProbe {
 public:
  // Installs the pool when asked; must run before the first tensor on `device`.
  absl::Status Install(const Flags& f) {
    cuda_ = f.device == "cuda";
    if (f.allocator == "native") return absl::OkStatus();
    if (cuda_) {
      memory::TorchCudaPoolOptions options;
      options.release_idle_before_growing = f.allocator == "pool-lean";
      absl::StatusOr<std::vector<memory::CachingAllocator*>> pools = memory::InstallTorchCudaPool(options);
      if (!pools.ok()) return pools.status();
      pool_ = (*pools)[0];
    } else {
      // pool-lean is the plain pool on CPU: the host pool grows one arena in place instead
      // (Note [expandable segments]), which release_idle_before_growing would not improve.
      absl::StatusOr<memory::CachingAllocator*> pool = memory::InstallTorchCpuPool({});
      if (!pool.ok()) return pool.status();
      pool_ = *pool;
    }
    return absl::OkStatus();
  }

  // Returns cached memory to the backend (before a ballast takes the rest of the device).
  absl::Status EmptyCache() {
    if (pool_ != nullptr) {
      pool_->EmptyCache();
      return absl::OkStatus();
    }
    return memory::EmptyNativeCudaCache();
  }

  // Starts the measured interval. libtorch's default CPU allocator keeps no statistics.
  absl::Status Reset() {
    if (pool_ != nullptr) {
      pool_->ResetPeaks();
      start_ = Read();
      return absl::OkStatus();
    }
    if (!cuda_) return absl::OkStatus();
    if (absl::Status s = memory::ResetNativeCudaPeaks(0); !s.ok()) return s;
    start_ = Read();
    return absl::OkStatus();
  }

  MemoryNumbers SinceReset() const {
    MemoryNumbers now = Read();
    now.device_allocations -= start_.device_allocations;
    now.ooms -= start_.ooms;
    return now;
  }

  bool has_stats() const { return pool_ != nullptr || cuda_; }

 private:
  MemoryNumbers Read() const {
    MemoryNumbers n;
    if (pool_ != nullptr) {
      const memory::PoolStats s = pool_->stats();
      n = {s.peak_reserved_bytes, s.peak_allocated_bytes, s.backend_allocations, s.oom_count};
    } else if (cuda_) {
      absl::StatusOr<memory::NativeCudaStats> s = memory::ReadNativeCudaStats(0);
      if (s.ok()) n = {s->peak_reserved_bytes, s->peak_allocated_bytes, s->device_allocations, s->oom_count};
    }
    return n;
  }

  bool cuda_ = false;
  memory::CachingAllocator* pool_ = nullptr;
  MemoryNumbers start_;
};

// Takes all but `leave_bytes` of the device's free memory with one cudaMalloc.
absl::StatusOr<void*> AllocateBallast(size_t leave_bytes) {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return absl::UnavailableError("cudaMemGetInfo failed");
  if (free_bytes <= leave_bytes) return nullptr;
  void* ballast = nullptr;
  if (cudaMalloc(&ballast, free_bytes - leave_bytes) != cudaSuccess) {
    return absl::ResourceExhaustedError("the ballast cudaMalloc failed");
  }
  return ballast;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "gpu_encoder_bench: %s\n", status.ToString().c_str());
  return 1;
}

int Main(int argc, char** argv) {
  absl::StatusOr<Flags> parsed = ParseFlags(argc, argv);
  if (!parsed.ok()) return Fail(parsed.status());
  const Flags& f = *parsed;

  // The allocator first: libtorch must not have made a tensor on the device yet.
  AllocatorProbe probe;
  if (absl::Status s = probe.Install(f); !s.ok()) return Fail(s);
  ConfigureTorchProcess();

  absl::StatusOr<ModelSetup> setup = LoadModelConfig(f.repository + "/encoder", ProcessCpuBudget().cores);
  if (!setup.ok()) return Fail(setup.status());
  // Reduced precision: the parameters are cast at load; outputs come back as declared (FP32).
  const DataType dtype = *DataTypeFromName(absl::AsciiStrToUpper(f.dtype));
  const Precision precision = dtype == DataType::kFp16   ? Precision::kFp16
                              : dtype == DataType::kBf16 ? Precision::kBf16
                                                         : Precision::kFp32;
  BatcherOptions batcher = setup->batcher;
  batcher.mode = BatchingMode::kLengthBucketed;
  batcher.max_batch_tokens = f.max_batch_tokens;
  batcher.max_queue_size = std::max<int64_t>(batcher.max_queue_size, f.concurrency);
  WarmupOptions warmup = setup->warmup;
  warmup.max_batch_tokens = f.max_batch_tokens;

  absl::StatusOr<std::vector<int64_t>> lengths =
      bench::ReadLengths(f.lengths, std::numeric_limits<size_t>::max(), setup->signature.max_sequence_length);
  if (!lengths.ok()) return Fail(lengths.status());

  std::mutex batch_mu;
  std::vector<double> batch_ms;
  const ModelSignature& signature = setup->signature;
  auto factory = [&](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
    TorchModelOptions options;
    options.path = f.repository + "/encoder/1/model.pt";
    options.device = f.device == "cuda" ? Device::kCuda : Device::kCpu;
    options.precision = precision;
    absl::StatusOr<std::unique_ptr<BatchRunner>> runner = LoadTorchModel(signature, options);
    if (!runner.ok()) return runner.status();
    return std::make_unique<TimedRunner>(std::move(*runner), batch_mu, batch_ms);
  };
  ModelExecutor executor(signature, batcher, f.instances);
  if (absl::Status s = executor.Start(factory, warmup); !s.ok()) return Fail(s);

  void* ballast = nullptr;
  if (f.memory_cap_mib > 0) {
    if (absl::Status s = probe.EmptyCache(); !s.ok()) return Fail(s);
    absl::StatusOr<void*> b = AllocateBallast(static_cast<size_t>(f.memory_cap_mib) << 20);
    if (!b.ok()) return Fail(b.status());
    ballast = *b;
  }
  if (absl::Status s = probe.Reset(); !s.ok()) return Fail(s);
  const BatcherStats batcher_before = executor.batcher_stats();
  const ExecutionStats exec_before = executor.execution_stats();
  {
    std::lock_guard<std::mutex> lock(batch_mu);
    batch_ms.clear();
  }

  // Requests are built before the clock starts, so the timed loop only submits.
  std::mt19937 rng(7);
  std::vector<std::unique_ptr<InferenceRequest>> requests;
  requests.reserve(f.requests);
  for (int i = 0; i < f.requests; ++i) {
    requests.push_back(bench::EncoderRequest((*lengths)[i % lengths->size()], rng));
    if (absl::Status s = ValidateRequest(signature, *requests.back()); !s.ok()) return Fail(s);
  }

  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  std::map<absl::StatusCode, int> outcomes;
  std::map<absl::StatusCode, std::string> first_error;  // one message per kind, for the log
  std::vector<double> latency_ms(f.requests, 0);
  const absl::Time start = absl::Now();
  for (int i = 0; i < f.requests; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return outstanding < f.concurrency; });
      ++outstanding;
    }
    const absl::Time submitted = absl::Now();
    requests[i]->done = [&, i, submitted](absl::StatusOr<InferenceResponse> result) {
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - submitted);
      std::lock_guard<std::mutex> lock(mu);
      latency_ms[i] = ms;
      ++outcomes[result.status().code()];
      if (!result.ok()) first_error.emplace(result.status().code(), result.status().ToString());
      --outstanding;
      cv.notify_all();
    };
    if (absl::Status s = executor.Submit(requests[i]); !s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      ++outcomes[s.code()];
      first_error.emplace(s.code(), s.ToString());
      --outstanding;
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return outstanding == 0; });
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const MemoryNumbers memory = probe.SinceReset();
  const BatcherStats batcher_after = executor.batcher_stats();
  const ExecutionStats exec_after = executor.execution_stats();
  executor.Stop();
  if (ballast != nullptr) cudaFree(ballast);

  for (const auto& [code, message] : first_error) {
    std::fprintf(stderr, "gpu_encoder_bench: %d request(s) failed; the first: %s\n", outcomes[code], message.c_str());
  }
  const int ok = outcomes[absl::StatusCode::kOk];
  const int oom = outcomes[absl::StatusCode::kResourceExhausted];
  const int other = f.requests - ok - oom;
  const int64_t batches = batcher_after.batches - batcher_before.batches;
  const int64_t rows = batcher_after.batch_rows - batcher_before.batch_rows;
  const int64_t real = batcher_after.real_tokens - batcher_before.real_tokens;
  const int64_t padded = batcher_after.padded_tokens - batcher_before.padded_tokens;
  std::vector<double> batch_copy;
  {
    std::lock_guard<std::mutex> lock(batch_mu);
    batch_copy = batch_ms;
  }
  std::printf(
      "{\"device\": \"%s\", \"allocator\": \"%s\", \"dtype\": \"%s\", \"instances\": %d, \"memory_cap_mib\": %lld, "
      "\"requests\": %d, \"ok\": %d, \"resource_exhausted\": %d, \"other_errors\": %d, "
      "\"seconds\": %.3f, \"throughput\": %.1f, \"request_p50_ms\": %.3f, \"request_p99_ms\": %.3f, "
      "\"batches\": %lld, \"mean_batch_size\": %.2f, \"padding_efficiency\": %.3f, "
      "\"batch_p50_ms\": %.3f, \"batch_p99_ms\": %.3f, \"batch_splits\": %lld, \"oom_failures\": %lld, "
      "\"has_memory_stats\": %s, \"peak_reserved_bytes\": %llu, \"peak_allocated_bytes\": %llu, "
      "\"reserved_over_allocated\": %.4f, \"device_allocations\": %llu, \"allocator_ooms\": %llu}\n",
      f.device.c_str(), f.allocator.c_str(), f.dtype.c_str(), f.instances, static_cast<long long>(f.memory_cap_mib),
      f.requests, ok, oom, other, seconds, ok / seconds, Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.99),
      static_cast<long long>(batches), batches > 0 ? static_cast<double>(rows) / batches : 0.0,
      padded > 0 ? static_cast<double>(real) / padded : 0.0, Percentile(batch_copy, 0.5), Percentile(batch_copy, 0.99),
      static_cast<long long>(exec_after.batch_splits - exec_before.batch_splits),
      static_cast<long long>(exec_after.oom_failures - exec_before.oom_failures), probe.has_stats() ? "true" : "false",
      static_cast<unsigned long long>(memory.peak_reserved), static_cast<unsigned long long>(memory.peak_allocated),
      memory.peak_allocated > 0 ? static_cast<double>(memory.peak_reserved) / memory.peak_allocated : 0.0,
      static_cast<unsigned long long>(memory.device_allocations), static_cast<unsigned long long>(memory.ooms));
  return 0;
}

}  // namespace
}  // namespace seqserve

int main(int argc, char** argv) { return seqserve::Main(argc, argv); }
