// Reading a model's config.pbtxt (schema: proto/seqserve/v1/model_config.proto): parsing,
// defaults, validation, and conversion into the plain types the request path uses.
#ifndef SEQSERVE_RUNTIME_CONFIG_MODEL_CONFIG_H_
#define SEQSERVE_RUNTIME_CONFIG_MODEL_CONFIG_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/base/data_type.h"
#include "runtime/base/precision.h"
#include "runtime/base/tolerance.h"
#include "runtime/config/data_type_proto.h"
#include "runtime/execution/batcher.h"
#include "runtime/execution/model_file.h"
#include "runtime/execution/model_signature.h"
#include "runtime/execution/warmup_options.h"
#include "runtime/resources/host_cpu.h"
#include "seqserve/v1/model_config.pb.h"

namespace seqserve {

// Everything the runtime takes from one config.pbtxt, validated and with defaults filled in.
struct ModelSetup {
  v1::ModelConfig config;  // as written, with every default made explicit
  ModelSignature signature;
  BatcherOptions batcher;
  WarmupOptions warmup;
  // Instances and intra-op threads of each; unset in config, from the process's CPU budget
  // (DefaultInstanceLayout in runtime/resources/host_cpu.h).
  int instances = 1;
  int intra_op_threads = 1;
  Device device = Device::kCpu;
  // CUDA device of each instance: instance i runs on gpus[i % gpus.size()]. [0] by default.
  std::vector<int> gpus;
  // What the model file is (config `platform`).
  ModelFormat format = ModelFormat::kTorchScript;
  // What it computes in (config optimization.precision).
  Precision precision = Precision::kFp32;
  // Per output, in config order: how close it must come to the manifest's reference outputs.
  std::vector<Tolerance> reference_tolerances;
};

// Values of config `platform`.
inline constexpr char kPlatformTorchScript[] = "pytorch_libtorch";
inline constexpr char kPlatformAoti[] = "pytorch_aoti";

// Parses config text for the model in directory `model_name`. INVALID_ARGUMENT with the reason
// (and the offending field) for text that does not parse or a config that makes no sense.
// `cpu_cores` is the budget that unset instance settings are derived from (the server's:
// ProcessCpuBudget().cores, runtime/resources/host_cpu.h; passed in, never read here).
absl::StatusOr<ModelSetup> ParseModelConfig(absl::string_view text, absl::string_view model_name, int cpu_cores);

// The versions `policy` serves, given the version folders present: for `latest` the highest
// num_versions folders, for `all` every folder, for `specific` its list (a listed version may lack
// a folder; the repository reports it UNAVAILABLE).
std::set<int64_t> ServedVersions(const v1::VersionPolicy& policy, const std::set<int64_t>& folders);

// Reads and parses `<model_dir>/config.pbtxt`; the model name is the directory's name.
absl::StatusOr<ModelSetup> LoadModelConfig(const std::string& model_dir, int cpu_cores);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_CONFIG_MODEL_CONFIG_H_
