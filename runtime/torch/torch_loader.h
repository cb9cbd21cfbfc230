// TorchLoader: the server's ModelLoader (runtime/repository/model_loader.h). Each version's file is loaded
// with libtorch once per device and shared by the version's instances (Note [one copy of the
// weights] in runtime/torch/torch_model.h). Plain C++: libtorch itself stays in torch_model.cc.
#ifndef SEQSERVE_RUNTIME_TORCH_TORCH_LOADER_H_
#define SEQSERVE_RUNTIME_TORCH_TORCH_LOADER_H_

#include <memory>

#include "runtime/repository/model_loader.h"

namespace seqserve {

// Thread-safe; holds no state of its own.
std::unique_ptr<ModelLoader> NewTorchLoader();

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_TORCH_TORCH_LOADER_H_
