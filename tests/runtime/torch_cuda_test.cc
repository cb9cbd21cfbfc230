// libtorch on CUDA with seqserve's pool installed as its CUDA allocator (CUDAPluggableAllocator):
// the demo encoder's outputs match the Python reference, and the pool served the tensors.
// Its own binary: the pool must be installed before the first CUDA tensor of the process.
// Skips cleanly without a CUDA device.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "memory/cuda_backend.h"
#include "memory/torch_cuda_allocator.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/request_validator.h"
#include "runtime/torch/torch_model.h"
#include "tests/testing/reference.h"

namespace seqserve {
namespace {

TEST(TorchCudaTest, EncoderOnTheGpuWithThePoolMatchesTheReference) {
  if (memory::CudaBackend::DeviceCount() == 0) {
    // Without a device the adapter must refuse, not crash.
    EXPECT_EQ(memory::InstallTorchCudaPool({}).status().code(), absl::StatusCode::kFailedPrecondition);
    GTEST_SKIP() << "no CUDA device";
  }
  absl::StatusOr<std::vector<memory::CachingAllocator*>> pools = memory::InstallTorchCudaPool({});
  ASSERT_TRUE(pools.ok()) << pools.status();
  // The GPU check runs this binary from a bundle (benchmarks/gpu/check.sh): the demo models are
  // then elsewhere than at build time.
  const char* moved_repository = std::getenv("SEQSERVE_DEMO_REPOSITORY");
  const char* moved_reference = std::getenv("SEQSERVE_DEMO_REFERENCE");
  const std::string repository = moved_repository != nullptr ? moved_repository : SEQSERVE_DEMO_REPOSITORY;
  const std::string reference = moved_reference != nullptr ? moved_reference : SEQSERVE_DEMO_REFERENCE;
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(repository + "/encoder", ProcessCpuBudget().cores);
  ASSERT_TRUE(setup.ok());
  TorchModelOptions options;
  options.path = repository + "/encoder/1/model.pt";
  options.device = Device::kCuda;
  auto runner = LoadTorchModel(setup->signature, options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  const auto cases = testing::LoadReference(reference);
  for (const auto& [name, c] : cases) {
    if (c.model != "encoder") continue;
    auto request = std::make_unique<InferenceRequest>();
    request->model_name = "encoder";
    request->inputs = c.inputs;
    ASSERT_TRUE(ValidateRequest(setup->signature, *request).ok());
    Batch batch;
    batch.rows = request->rows;
    batch.padded_length = request->sequence_length;
    batch.requests.push_back(std::move(request));
    std::vector<InferenceResponse> responses(1);
    absl::Status status = (*runner)->Run(batch, responses);
    ASSERT_TRUE(status.ok()) << status;
    for (size_t k = 0; k < c.outputs.size(); ++k) {
      // TF32 and different kernels on the GPU: a looser bound than on CPU.
      EXPECT_LE(testing::MaxAbsDiff(responses[0].outputs[k], c.outputs[k]), 2e-2) << name;
    }
  }
  EXPECT_GT((*pools)[0]->stats().backend_allocations, 0u);
  EXPECT_GT((*pools)[0]->stats().cache_hits, 0u);
}

}  // namespace
}  // namespace seqserve
