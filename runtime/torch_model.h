// TorchModel: one instance of a TorchScript module or an AOTInductor (.pt2) package, computing
// batches with libtorch.
// This header is plain C++; torch_model.cc is the only translation unit of runtime/ that
// includes libtorch (its bundled protobuf headers clash with Debian's, see CMakeLists.txt).
#ifndef SEQSERVE_RUNTIME_TORCH_MODEL_H_
#define SEQSERVE_RUNTIME_TORCH_MODEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/batch_runner.h"
#include "runtime/data_type.h"
#include "runtime/model_signature.h"

namespace seqserve {

enum class Device { kCpu, kCuda };

// What a model file holds: a TorchScript module (torch.jit.save) or an AOTInductor package
// (torch.export + torch._inductor.aoti_compile_and_package, a `.pt2` zip of compiled kernels).
enum class ModelFormat { kTorchScript, kAotInductor };

struct TorchModelOptions {
  // Model file (`<repo>/<model>/<version>/model.pt` or `model.pt2`).
  std::string path;
  ModelFormat format = ModelFormat::kTorchScript;
  // How log lines name this instance, e.g. "model 'encoder' version 1". Default: the path.
  std::string log_name;
  Device device = Device::kCpu;
  // CUDA device index (kCuda only); UNAVAILABLE at load when the machine has no such device.
  int device_index = 0;
  // Intra-op threads of the calling thread; applied when the model is loaded (on its thread).
  int intra_op_threads = 1;
  // When kFp16 or kBf16 (or kFp32/kFp64): the module's floating-point parameters and buffers
  // are cast to it after loading, to serve an fp32 export in reduced precision. Its
  // floating-point outputs then come in that type, so the signature's outputs must declare it.
  // Default kInvalid: run the module as saved.
  DataType parameter_dtype = DataType::kInvalid;
};

// Loads the model file and returns it as a BatchRunner. Must be called on the thread that will
// run it (the intra-op thread count is per thread). libtorch errors become absl::Status:
// NOT_FOUND for a missing file; INVALID_ARGUMENT for a file that is not TorchScript / a .pt2 or
// was saved by an incompatible PyTorch, and for parameter_dtype with a .pt2; UNAVAILABLE for
// CUDA without that device, and for a .pt2 compiled for another device, GPU architecture or
// CPU instruction set.
absl::StatusOr<std::unique_ptr<BatchRunner>> LoadTorchModel(const ModelSignature& signature,
                                                            const TorchModelOptions& options);

// Version of the linked libtorch, e.g. "2.11.0".
std::string TorchVersion();

// Whether libtorch sees a usable CUDA device.
bool CudaAvailable();

// Process-wide libtorch settings; call once at startup, before any model loads.
void ConfigureTorchProcess();

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_TORCH_MODEL_H_
