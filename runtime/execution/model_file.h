// What a model version's file is and where it runs: plain enums shared by the configuration
// (runtime/config/model_config.h), the repository and the libtorch runner (runtime/torch/torch_model.h), so
// that none of them needs another's header for two names.
#ifndef SEQSERVE_RUNTIME_EXECUTION_MODEL_FILE_H_
#define SEQSERVE_RUNTIME_EXECUTION_MODEL_FILE_H_

namespace seqserve {

// Where a model runs (config `instance_group.kind`).
enum class Device { kCpu, kCuda };

// What a model file holds: a TorchScript module (torch.jit.save) or an AOTInductor package
// (torch.export + torch._inductor.aoti_compile_and_package, a `.pt2` zip of compiled kernels).
enum class ModelFormat { kTorchScript, kAotInductor };

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_MODEL_FILE_H_
