#include "runtime/torch/torch_model.h"

#include <ATen/Parallel.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "memory/allocation_refusal.h"
#include "runtime/base/logging.h"
#include "runtime/base/model_error.h"
#include "runtime/resources/host_cpu.h"

namespace seqserve {
namespace {

c10::ScalarType ToScalarType(DataType type) {
  switch (type) {
    case DataType::kBool: return c10::kBool;
    case DataType::kUint8: return c10::kByte;
    case DataType::kInt8: return c10::kChar;
    case DataType::kInt16: return c10::kShort;
    case DataType::kInt32: return c10::kInt;
    case DataType::kInt64: return c10::kLong;
    case DataType::kFp16: return c10::kHalf;
    case DataType::kBf16: return c10::kBFloat16;
    case DataType::kFp32: return c10::kFloat;
    case DataType::kFp64: return c10::kDouble;
    case DataType::kInvalid: break;
  }
  return c10::ScalarType::Undefined;
}

// A libtorch failure as a status for the client: RESOURCE_EXHAUSTED when the memory pool
// refused an allocation (Note [OOM by type] in memory/allocation_refusal.h) or libtorch threw
// its own OutOfMemoryError, INTERNAL otherwise; the message is one line (SummarizeModelError).
// The full text (interpreter traceback and all) goes to the log, at most once per
// kFullErrorLogInterval per model instance.
constexpr absl::Duration kFullErrorLogInterval = absl::Seconds(10);

absl::Status FromTorchError(const std::exception& e, absl::string_view what, absl::string_view who, bool opaque_errors,
                            LogRateLimiter& full_text_log) {
  const auto* error = dynamic_cast<const c10::Error*>(&e);
  const std::string message = error != nullptr ? error->what_without_backtrace() : e.what();
  // Note [pt2 errors]: an AOTInductor package reports every failure as the same "API call
  // failed" line (its C shim prints the cause to stderr, unthrottled), so there the pool's record
  // that it refused an allocation during this batch is taken alone as out of memory.
  const bool refused =
      memory::TakeAllocationRefused() && (opaque_errors || absl::StrContains(message, memory::kRefusalMarker));
  const bool oom = refused || dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr;
  int64_t suppressed = 0;
  if (full_text_log.Allow(absl::Now(), &suppressed)) {
    LogWarning(who, ": ", what, " (", oom ? "out of memory" : "model error", "; full text follows",
               suppressed > 0 ? absl::StrCat(", ", suppressed, " more held back since the last") : "", "):\n", message);
  }
  const std::string summary =
      opaque_errors ? "the compiled model (.pt2) failed; the server log has its error" : SummarizeModelError(message);
  if (oom) return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory: ", summary));
  return absl::InternalError(absl::StrCat(what, ": ", summary));
}

// What a TorchModel runs: a TorchScript module or an AOTInductor package. Forward throws on
// failure (c10::Error, std::runtime_error), like libtorch itself.
class Program {
 public:
  virtual ~Program() = default;
  // `cuda_stream` is the instance's cudaStream_t (nullptr on CPU).
  virtual std::vector<torch::Tensor> Forward(std::vector<torch::Tensor> inputs, void* cuda_stream) = 0;
  // Whether failures come without their cause (see FromTorchError).
  virtual bool opaque_errors() const = 0;
};

class ScriptProgram final : public Program {
 public:
  explicit ScriptProgram(torch::jit::Module module) : module_(std::move(module)) {}

  std::vector<torch::Tensor> Forward(std::vector<torch::Tensor> inputs, void* /*cuda_stream*/) override {
    std::vector<c10::IValue> args(std::make_move_iterator(inputs.begin()), std::make_move_iterator(inputs.end()));
    c10::IValue result = module_.forward(std::move(args));
    std::vector<torch::Tensor> outputs;
    if (result.isTensor()) {
      outputs.push_back(result.toTensor());
    } else if (result.isTuple()) {
      for (const c10::IValue& v : result.toTupleRef().elements()) {
        TORCH_CHECK(v.isTensor(), "model returned a tuple holding a non-tensor");
        outputs.push_back(v.toTensor());
      }
    } else if (result.isTensorList()) {
      outputs = result.toTensorVector();
    } else {
      TORCH_CHECK(false, "model returned ", result.tagKind(), "; expected a tensor or a tuple of tensors");
    }
    return outputs;
  }
  bool opaque_errors() const override { return false; }

 private:
  torch::jit::Module module_;
};

// One loader, built with as many runners as instances will call it at once (Note [one copy of
// the weights] in torch_model.h).
class AotiProgram final : public Program {
 public:
  explicit AotiProgram(std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader) : loader_(std::move(loader)) {}

  std::vector<torch::Tensor> Forward(std::vector<torch::Tensor> inputs, void* cuda_stream) override {
    return loader_->boxed_run(std::move(inputs), cuda_stream);
  }
  bool opaque_errors() const override { return true; }

 private:
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
};

// Note [CUDA execution]: each instance runs on a CUDA stream of its own (from libtorch's pool),
// so instances overlap on the device. Inputs are assembled (padded) once per batch into pinned
// host memory and copied to the device asynchronously on that stream; outputs come back with
// one blocking copy per output, which also waits for the batch's kernels.
class TorchModel final : public BatchRunner {
 public:
  TorchModel(const ModelSignature& signature, std::shared_ptr<Program> program, c10::Device device,
             bool convert_outputs, std::string log_name, int intra_op_threads)
      : signature_(signature),
        program_(std::move(program)),
        device_(device),
        convert_outputs_(convert_outputs),
        log_name_(std::move(log_name)),
        intra_op_threads_(intra_op_threads) {
    if (device_.is_cuda()) stream_.emplace(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index()));
  }

  // at::set_num_threads sizes the calling thread's OpenMP team (and MKL's): Note [inter-op threads].
  void AdoptThread() override { at::set_num_threads(intra_op_threads_); }

  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    memory::TakeAllocationRefused();  // forget refusals from before this batch
    try {
      return RunOrThrow(batch, responses);
    } catch (const std::exception& e) {
      return FromTorchError(e, "model execution failed", log_name_, program_->opaque_errors(), full_text_log_);
    }
  }

 private:
  absl::Status RunOrThrow(const Batch& batch, std::vector<InferenceResponse>& responses) {
    c10::InferenceMode inference_mode;
    std::optional<c10::cuda::CUDAStreamGuard> stream_guard;
    if (stream_.has_value()) stream_guard.emplace(*stream_);
    std::vector<torch::Tensor> inputs;
    inputs.reserve(signature_.inputs.size());
    for (size_t i = 0; i < signature_.inputs.size(); ++i) {
      const TensorSpec& spec = signature_.inputs[i];
      torch::Tensor t =
          torch::empty(BatchedShape(signature_, spec, batch.rows, batch.padded_length),
                       torch::TensorOptions().dtype(ToScalarType(spec.dtype)).pinned_memory(device_.is_cuda()));
      AssembleInput(signature_, static_cast<int>(i), batch, static_cast<char*>(t.data_ptr()));
      inputs.push_back(device_.is_cpu() ? std::move(t) : t.to(device_, /*non_blocking=*/true));
    }
    std::vector<torch::Tensor> outputs =
        program_->Forward(std::move(inputs), stream_.has_value() ? static_cast<void*>(stream_->stream()) : nullptr);
    if (outputs.size() != signature_.outputs.size()) {
      return absl::InternalError(absl::StrCat("model returned ", outputs.size(),
                                              " outputs but its config.pbtxt declares ", signature_.outputs.size()));
    }
    for (size_t k = 0; k < outputs.size(); ++k) {
      const TensorSpec& spec = signature_.outputs[k];
      torch::Tensor& t = outputs[k];
      if (convert_outputs_ && t.is_floating_point() && IsFloatingPoint(spec.dtype)) t = t.to(ToScalarType(spec.dtype));
      if (t.scalar_type() != ToScalarType(spec.dtype)) {
        return absl::InternalError(absl::StrCat("model returned ", c10::toString(t.scalar_type()), " for output '",
                                                spec.name, "' declared ", DataTypeName(spec.dtype)));
      }
      t = t.to(torch::kCPU).contiguous();
      const std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
      absl::Status status = CheckOutputShape(signature_, static_cast<int>(k), batch, shape);
      if (!status.ok()) return status;
    }
    int64_t row = 0;
    for (size_t j = 0; j < batch.requests.size(); ++j) {
      const InferenceRequest& request = *batch.requests[j];
      responses[j].outputs.clear();
      for (int k : request.output_indices) {
        responses[j].outputs.push_back(
            ExtractOutput(signature_, k, batch, static_cast<const char*>(outputs[k].data_ptr()), row, request));
      }
      row += request.rows;
    }
    return absl::OkStatus();
  }

  const ModelSignature& signature_;
  const std::shared_ptr<Program> program_;  // shared with the version's other instances
  const c10::Device device_;
  // Reduced precision: floating-point outputs are converted to their declared type.
  const bool convert_outputs_;
  std::optional<c10::cuda::CUDAStream> stream_;  // CUDA models only
  const std::string log_name_;
  const int intra_op_threads_;
  LogRateLimiter full_text_log_{kFullErrorLogInterval};
};

// Whether this CPU has the vector instruction set an AOTInductor package's kernels were written
// for (its metadata's AOTI_CPU_ISA, e.g. "AVX512 AVX512_VNNI"); names the first missing one.
// Note [pt2 and the CPU]: Inductor compiles a CPU package with -march=native on the packing
// machine, so it may use any instruction set of that CPU, and a CPU without one dies of SIGILL
// running it. AOTI_CPU_ISA names only the vector ISA Inductor chose: this check is coarse, for
// packages without a manifest. The manifest's cpu_flags (the packing CPU's flags, checked by
// CheckManifest before the package loads) is the precise one.
std::optional<std::string> MissingCpuIsa(const std::string& isa_list) {
  // Inductor's ISA names -> the /proc/cpuinfo flags each needs (HostCpuFlags, runtime/resources/host_cpu.h).
  static const auto* const kNeeds = new std::map<std::string, std::vector<std::string>, std::less<>>{
      {"AVX2", {"avx2", "fma"}},        {"AVX512", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}},
      {"AVX512_VNNI", {"avx512_vnni"}}, {"AVX512_BF16", {"avx512_bf16"}},
      {"INVALID_VEC_ISA", {}},  // Inductor found no vector ISA: plain scalar code
  };
  const std::set<std::string>& host = HostCpuFlags();
  for (absl::string_view isa : absl::StrSplit(isa_list, ' ', absl::SkipEmpty())) {
    std::vector<std::string> needs;
    if (auto it = kNeeds->find(isa); it != kNeeds->end()) {
      needs = it->second;
    } else if (absl::StartsWith(isa, "AMX")) {
      needs = {"amx_tile", "amx_bf16", "amx_int8"};
    } else {
      return absl::StrCat(isa, " (an instruction set this server does not know how to check)");
    }
    for (const std::string& flag : needs) {
      if (host.count(flag) == 0) return std::string(isa);
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Program>> LoadAotiPackage(const std::string& path, c10::Device device, int runners) {
  try {
    const std::unordered_map<std::string, std::string> metadata =
        torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, "model");
    auto get = [&](const std::string& key) {
      auto it = metadata.find(key);
      return it == metadata.end() ? std::string() : it->second;
    };
    const std::string compiled_for = get("AOTI_DEVICE_KEY");
    if (!compiled_for.empty() && compiled_for != (device.is_cuda() ? "cuda" : "cpu")) {
      return absl::UnavailableError(absl::StrCat(path, " was compiled for ", compiled_for, " but config asks for ",
                                                 device.is_cuda() ? "CUDA" : "CPU",
                                                 "; re-pack it for this device or change instance.device"));
    }
    if (device.is_cuda()) {
      const cudaDeviceProp* prop = at::cuda::getDeviceProperties(device.index());
      const std::string have = absl::StrCat(prop->major, prop->minor);
      const std::string want = get("AOTI_COMPUTE_CAPABILITY");
      if (!want.empty() && want != have) {
        return absl::UnavailableError(absl::StrCat(path, " was compiled for GPUs of compute capability ", want,
                                                   " but CUDA device ", device.index(), " is ", have,
                                                   "; re-pack it on this kind of GPU"));
      }
    }
    if (device.is_cpu()) {
      if (std::optional<std::string> missing = MissingCpuIsa(get("AOTI_CPU_ISA"))) {
        return absl::UnavailableError(absl::StrCat(path, " was compiled for CPUs with ", get("AOTI_CPU_ISA"),
                                                   " and this CPU lacks ", *missing,
                                                   "; pack it on a machine like this one"));
      }
    }
    auto loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        path, "model", /*run_single_threaded=*/false, /*num_runners=*/static_cast<size_t>(std::max(1, runners)),
        device.is_cuda() ? device.index() : static_cast<c10::DeviceIndex>(-1));
    return std::make_unique<AotiProgram>(std::move(loader));
  } catch (const std::exception& e) {
    const auto* error = dynamic_cast<const c10::Error*>(&e);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load AOTInductor package ", path,
                     " (is it a torch._inductor.aoti_compile_and_package .pt2 from PyTorch ", TORCH_VERSION,
                     "?): ", error != nullptr ? error->what_without_backtrace() : e.what()));
  }
}

// Loads a TorchScript module with its floating-point parameters cast to `cast_to` (kFp32: as
// saved).
absl::StatusOr<std::unique_ptr<Program>> LoadScript(const std::string& path, c10::Device device, Precision cast_to) {
  try {
    torch::jit::Module module = torch::jit::load(path, device);
    module.eval();
    if (cast_to != Precision::kFp32) {
      bool floating_parameters = false;
      for (const torch::Tensor& p : module.parameters()) floating_parameters |= p.is_floating_point();
      if (!floating_parameters) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, " has no floating-point parameters to cast to ", PrecisionName(cast_to),
                         " (a frozen module keeps its weights as graph constants); pack it in that precision: "
                         "scripts/seqserve-pack --precision ",
                         absl::AsciiStrToLower(PrecisionName(cast_to))));
      }
      module.to(cast_to == Precision::kBf16 ? c10::kBFloat16 : c10::kHalf);
    }
    return std::make_unique<ScriptProgram>(std::move(module));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load TorchScript from ", path,
                                                   " (is it a torch.jit.save'd module from a PyTorch no newer than ",
                                                   TORCH_VERSION, "?): ", e.what_without_backtrace()));
  }
}

// The device a model runs on; UNAVAILABLE when the machine has no such device.
absl::StatusOr<c10::Device> ResolveDevice(Device kind, int index) {
  if (kind == Device::kCpu) return c10::Device(c10::kCPU);
  if (!torch::cuda::is_available())
    return absl::UnavailableError("config asks for a CUDA device but libtorch sees none");
  const int count = static_cast<int>(torch::cuda::device_count());
  if (index < 0 || index >= count) {
    return absl::UnavailableError(absl::StrCat("config asks for CUDA device ", index, " but libtorch sees ", count,
                                               " (indices 0..", count - 1, ")"));
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace

struct SharedTorchModel::Loaded {
  absl::StatusOr<std::shared_ptr<Program>> program;
  c10::Device device{c10::kCPU};
  bool convert_outputs = false;
};

SharedTorchModel::SharedTorchModel(TorchModelOptions options) : options_(std::move(options)) {}
SharedTorchModel::~SharedTorchModel() = default;

int SharedTorchModel::loads() const {
  MutexLock lock(&mu_);
  return static_cast<int>(loaded_.size());
}

absl::StatusOr<std::unique_ptr<BatchRunner>> SharedTorchModel::NewRunner(const ModelSignature& signature,
                                                                         int device_index, int intra_op_threads,
                                                                         const std::string& instance_name) {
  at::set_num_threads(std::max(1, intra_op_threads));
  const int key = options_.device == Device::kCuda ? device_index : -1;
  std::shared_ptr<Loaded> loaded;
  {
    MutexLock lock(&mu_);  // the first instance on a device loads; the others wait for it
    std::shared_ptr<Loaded>& slot = loaded_[key];
    if (slot == nullptr) slot = Load(device_index);
    loaded = slot;
  }
  if (!loaded->program.ok()) return loaded->program.status();
  return std::make_unique<TorchModel>(signature, *loaded->program, loaded->device, loaded->convert_outputs,
                                      instance_name.empty() ? options_.path : instance_name,
                                      std::max(1, intra_op_threads));
}

std::shared_ptr<SharedTorchModel::Loaded> SharedTorchModel::Load(int device_index) const {
  auto loaded = std::make_shared<Loaded>();
  const TorchModelOptions& o = options_;
  if (!std::filesystem::is_regular_file(o.path)) {
    const std::filesystem::path pt2 = std::filesystem::path(o.path).replace_extension(".pt2");
    const bool hint = o.format == ModelFormat::kTorchScript && std::filesystem::is_regular_file(pt2);
    loaded->program = absl::NotFoundError(absl::StrCat(
        "model file ", o.path, " does not exist",
        hint ? absl::StrCat("; for ", pt2.filename().string(), " set platform: \"pytorch_aoti\" in config.pbtxt")
             : ""));
    return loaded;
  }
  absl::StatusOr<c10::Device> device = ResolveDevice(o.device, device_index);
  if (!device.ok()) {
    loaded->program = device.status();
    return loaded;
  }
  loaded->device = *device;
  std::optional<int> compute_capability;
  if (device->is_cuda()) {
    const cudaDeviceProp* prop = at::cuda::getDeviceProperties(device->index());
    compute_capability = prop->major * 10 + prop->minor;
  }
  if (absl::Status s = CheckPrecisionSupported(o.precision, HostCpuFlags(), compute_capability); !s.ok()) {
    loaded->program = s;
    return loaded;
  }
  // What the file computes in, and whether it must be cast here (see TorchModelOptions).
  const Precision in_file =
      o.precision_of_file.value_or(o.format == ModelFormat::kAotInductor ? o.precision : Precision::kFp32);
  const bool cast = in_file == Precision::kFp32 && o.format == ModelFormat::kTorchScript &&
                    (o.precision == Precision::kBf16 || o.precision == Precision::kFp16);
  if (in_file != o.precision && !cast) {
    loaded->program = absl::InvalidArgumentError(absl::StrCat(
        o.path, " was packed in ", PrecisionName(in_file), " but config.pbtxt asks for optimization.precision ",
        PrecisionName(o.precision), "; pack it in that precision: scripts/seqserve-pack --precision ",
        absl::AsciiStrToLower(PrecisionName(o.precision))));
    return loaded;
  }
  loaded->convert_outputs = o.precision == Precision::kBf16 || o.precision == Precision::kFp16;
  loaded->program = o.format == ModelFormat::kAotInductor
                        ? LoadAotiPackage(o.path, *device, o.concurrent_runs)
                        : LoadScript(o.path, *device, cast ? o.precision : Precision::kFp32);
  return loaded;
}

absl::StatusOr<std::unique_ptr<BatchRunner>> LoadTorchModel(const ModelSignature& signature,
                                                            const TorchModelOptions& options, int device_index,
                                                            int intra_op_threads) {
  // The runner keeps the loaded program alive; the SharedTorchModel itself may go.
  SharedTorchModel model(options);
  return model.NewRunner(signature, device_index, intra_op_threads, options.log_name);
}

std::string TorchVersion() { return TORCH_VERSION; }

bool CudaAvailable() { return torch::cuda::is_available(); }

void ConfigureTorchProcess() {
  // Note [inter-op threads]: seqserve runs one batch per instance thread; TorchScript's
  // inter-op pool would only add threads competing for the same cores, so it is 1. Intra-op
  // threads are set on each instance thread when its runner is made (at::set_num_threads sets
  // that thread's OpenMP team size and MKL's), from config or the CPU budget
  // (runtime/resources/host_cpu.h); OMP_NUM_THREADS / MKL_NUM_THREADS in the environment are overridden
  // there. A .pt2 runs the thread count compiled into it.
  try {
    at::set_num_interop_threads(1);
  } catch (const c10::Error&) {
    // Already set or the pool already started: keep libtorch's setting.
  }
}

}  // namespace seqserve
