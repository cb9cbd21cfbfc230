// SharedTorchModel: one model version's TorchScript module or AOTInductor (.pt2) package,
// loaded once and shared by the version's instances, each of which computes batches with
// libtorch through a BatchRunner of its own.
// This header is plain C++; torch_model.cc is the only translation unit of runtime/ that
// includes libtorch (its bundled protobuf headers clash with Debian's, see CMakeLists.txt).
#ifndef SEQSERVE_RUNTIME_TORCH_TORCH_MODEL_H_
#define SEQSERVE_RUNTIME_TORCH_TORCH_MODEL_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "memory/mutex.h"
#include "runtime/base/data_type.h"
#include "runtime/base/precision.h"
#include "runtime/execution/batch_runner.h"
#include "runtime/execution/model_file.h"
#include "runtime/execution/model_signature.h"

namespace seqserve {

// How one model version's file is loaded.
struct TorchModelOptions {
  // Model file (`<repo>/<model>/<version>/model.pt` or `model.pt2`).
  std::string path;
  ModelFormat format = ModelFormat::kTorchScript;
  // How LoadTorchModel's runner names itself in log lines. Default: the path. (SharedTorchModel
  // names each runner in NewRunner.)
  std::string log_name;
  Device device = Device::kCpu;
  // What the model computes in (runtime/base/precision.h); refused (UNAVAILABLE) where the device
  // cannot run it. kBf16 / kFp16 with an FP32 TorchScript file (`precision_of_file` kFp32)
  // cast its floating-point parameters and buffers at load, which a frozen module (its weights
  // are graph constants) cannot: INVALID_ARGUMENT, re-pack it in that precision. Floating-point
  // outputs come back in the type the signature declares.
  Precision precision = Precision::kFp32;
  // What the file computes in as packed (the manifest's precision); a file without a manifest is
  // taken to be FP32 for TorchScript and already in `precision` for a .pt2.
  std::optional<Precision> precision_of_file;
  // How many instances on each device will run it at once: a .pt2 gets that many runners over
  // one copy of its weights.
  int concurrent_runs = 1;
};

// Note [one copy of the weights]: every instance of a model version runs the same loaded
// module (one per CUDA device), so N instances hold the weights once and add only their
// activations. That is safe because a forward call changes no state of the module: TorchScript
// runs each call in an interpreter frame of its own, and an AOTInductor package built with N
// runners keeps N copies of its activation state over one shared constants map, handing each
// call a free one (read in the wheel's aoti_runtime/model_container.h; TorchScript's graph
// executor was not audited here: TorchModelTest.InstancesShareOneLoadAndRunItConcurrently runs
// one module from 3 threads, and the e2e tests run 2-4 instances). A TorchScript module that
// mutates its own attributes in forward() (a call counter, a cache) would race; models exported
// for inference do not.

// One model version's file, loaded at most once per device and shared by its instances.
// Thread-safe: instances call NewRunner from their own threads at the same time.
class SharedTorchModel {
 public:
  explicit SharedTorchModel(TorchModelOptions options);
  ~SharedTorchModel();
  SharedTorchModel(const SharedTorchModel&) = delete;
  SharedTorchModel& operator=(const SharedTorchModel&) = delete;

  // A runner over the file loaded on `device_index` (CUDA; ignored on CPU), loading it first if
  // this is the first instance there. Must be called on the thread that will run it: it sets
  // that thread's intra-op thread count. `signature` must outlive the runner. libtorch errors
  // become absl::Status: NOT_FOUND for a missing file; INVALID_ARGUMENT for a file that is not
  // TorchScript / a .pt2 or was saved by an incompatible PyTorch; UNAVAILABLE for CUDA without
  // that device, for a .pt2 compiled for another device, GPU architecture or CPU instruction
  // set, and for a precision the device cannot run. A failed load is remembered: every instance
  // on that device gets the same status.
  absl::StatusOr<std::unique_ptr<BatchRunner>> NewRunner(const ModelSignature& signature, int device_index,
                                                         int intra_op_threads, const std::string& instance_name);

  // Distinct loads so far (one per device used): the number of copies of the weights.
  int loads() const;

 private:
  struct Loaded;
  std::shared_ptr<Loaded> Load(int device_index) const;

  const TorchModelOptions options_;
  mutable Mutex mu_;
  std::map<int, std::shared_ptr<Loaded>> loaded_ ABSL_GUARDED_BY(mu_);  // by device index
};

// Loads the file and returns one runner over it (a SharedTorchModel of one instance): for
// tools and tests. Call on the thread that will run it.
absl::StatusOr<std::unique_ptr<BatchRunner>> LoadTorchModel(const ModelSignature& signature,
                                                            const TorchModelOptions& options, int device_index = 0,
                                                            int intra_op_threads = 1);

// Version of the linked libtorch, e.g. "2.11.0".
std::string TorchVersion();

// Whether libtorch sees a usable CUDA device.
bool CudaAvailable();

// Process-wide libtorch settings; call once at startup, before any model loads.
void ConfigureTorchProcess();

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_TORCH_TORCH_MODEL_H_
