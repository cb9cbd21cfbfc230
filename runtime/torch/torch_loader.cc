#include "runtime/torch/torch_loader.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/base/precision.h"
#include "runtime/torch/torch_model.h"

namespace seqserve {
namespace {

TorchModelOptions TorchOptions(const VersionToLoad& version) {
  const ModelSetup& setup = *version.setup;
  TorchModelOptions options;
  options.path = version.model_file;
  options.format = setup.format;
  options.device = setup.device;
  options.precision = setup.precision;
  if (version.manifest != nullptr) {  // CheckManifest refused unknown names; empty is FP32
    options.precision_of_file = PrecisionFromName(version.manifest->precision()).value_or(Precision::kFp32);
  }
  // Instances on the busiest device run at once.
  std::map<int, int> per_device;
  int most = 1;
  for (int i = 0; i < setup.instances; ++i) {
    most = std::max(most, ++per_device[setup.gpus.empty() ? 0 : setup.gpus[i % setup.gpus.size()]]);
  }
  options.concurrent_runs = most;
  return options;
}

class TorchLoader final : public ModelLoader {
 public:
  std::string FrameworkVersion() const override { return TorchVersion(); }

  BatchRunnerFactory Prepare(const VersionToLoad& version) override {
    // Shared by the instances' calls; goes once they all hold their runners.
    auto shared = std::make_shared<SharedTorchModel>(TorchOptions(version));
    const ModelSetup* setup = version.setup;
    return [shared, setup, name = version.name](int instance) {
      const int device = setup->gpus.empty() ? 0 : setup->gpus[instance % setup->gpus.size()];
      return shared->NewRunner(setup->signature, device, setup->intra_op_threads,
                               absl::StrCat(name, " instance ", instance));
    };
  }
};

}  // namespace

std::unique_ptr<ModelLoader> NewTorchLoader() { return std::make_unique<TorchLoader>(); }

}  // namespace seqserve
