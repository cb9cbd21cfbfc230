// Runs the exported demo models through libtorch, as the server does, against the reference
// values computed in Python by the same PyTorch version.
#include "runtime/torch_model.h"

#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "runtime/model_config.h"
#include "runtime/request_validator.h"
#include "tests/testing/reference.h"

namespace seqserve {
namespace {

const std::string kRepo = SEQSERVE_DEMO_REPOSITORY;

struct Loaded {
  ModelSetup setup;
  std::unique_ptr<BatchRunner> runner;
};

Loaded Load(const std::string& name) {
  Loaded loaded;
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(kRepo + "/" + name);
  EXPECT_TRUE(setup.ok()) << setup.status();
  loaded.setup = std::move(*setup);
  TorchModelOptions options;
  options.path = kRepo + "/" + name + "/1/model.pt";
  absl::StatusOr<std::unique_ptr<BatchRunner>> runner = LoadTorchModel(loaded.setup.signature, options);
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (runner.ok()) loaded.runner = std::move(*runner);
  return loaded;
}

// Runs requests as one batch; returns each request's outputs.
std::vector<std::vector<Tensor>> RunBatch(Loaded& model, std::vector<std::unique_ptr<InferenceRequest>> requests) {
  Batch batch;
  for (auto& r : requests) {
    EXPECT_TRUE(ValidateRequest(model.setup.signature, *r).ok());
    batch.rows += r->rows;
    batch.padded_length = std::max(batch.padded_length, r->sequence_length);
    batch.requests.push_back(std::move(r));
  }
  std::vector<InferenceResponse> responses(batch.requests.size());
  absl::Status status = model.runner->Run(batch, responses);
  EXPECT_TRUE(status.ok()) << status;
  std::vector<std::vector<Tensor>> out;
  for (auto& r : responses) out.push_back(std::move(r.outputs));
  return out;
}

std::unique_ptr<InferenceRequest> FromInputs(const std::string& model, const std::vector<Tensor>& inputs) {
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = model;
  r->inputs = inputs;
  return r;
}

TEST(TorchModelTest, MatchesPythonReferenceValues) {
  Loaded encoder = Load("encoder");
  Loaded linear = Load("linear");
  ASSERT_TRUE(encoder.runner && linear.runner);
  const auto cases = testing::LoadReference(SEQSERVE_DEMO_REFERENCE);
  ASSERT_GE(cases.size(), 6u);
  for (const auto& [name, c] : cases) {
    Loaded& model = c.model == "encoder" ? encoder : linear;
    std::vector<std::vector<Tensor>> outputs;
    {
      std::vector<std::unique_ptr<InferenceRequest>> one;
      one.push_back(FromInputs(c.model, c.inputs));
      outputs = RunBatch(model, std::move(one));
    }
    ASSERT_EQ(outputs[0].size(), c.outputs.size()) << name;
    for (size_t k = 0; k < c.outputs.size(); ++k) {
      EXPECT_LE(testing::MaxAbsDiff(outputs[0][k], c.outputs[k]), 1e-4) << name << " " << c.outputs[k].name;
    }
  }
}

TEST(TorchModelTest, PaddedBatchEqualsEachRequestAlone) {
  Loaded encoder = Load("encoder");
  ASSERT_TRUE(encoder.runner);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::vector<Tensor>> inputs;
    for (int i = 0; i < 5; ++i) {
      const int64_t length = std::uniform_int_distribution<int64_t>(1, 96)(rng);
      Tensor ids{"input_ids", DataType::kInt64, {1, length}, std::string(length * 8, '\0')};
      Tensor mask{"attention_mask", DataType::kInt64, {1, length}, std::string(length * 8, '\0')};
      for (int64_t j = 0; j < length; ++j) {
        const int64_t id = std::uniform_int_distribution<int64_t>(0, 999)(rng), one = 1;
        std::memcpy(ids.data.data() + 8 * j, &id, 8);
        std::memcpy(mask.data.data() + 8 * j, &one, 8);
      }
      inputs.push_back({ids, mask});
    }
    std::vector<std::unique_ptr<InferenceRequest>> together;
    for (const auto& in : inputs) together.push_back(FromInputs("encoder", in));
    const auto batched = RunBatch(encoder, std::move(together));
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::vector<std::unique_ptr<InferenceRequest>> one;
      one.push_back(FromInputs("encoder", inputs[i]));
      const auto alone = RunBatch(encoder, std::move(one));
      for (size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(batched[i][k].shape, alone[0][k].shape);
        EXPECT_LE(testing::MaxAbsDiff(batched[i][k], alone[0][k]), 1e-5) << "request " << i << " output " << k;
      }
    }
  }
}

TEST(TorchModelTest, LoadFailuresAreStatuses) {
  ModelSignature sig;
  TorchModelOptions options;
  options.path = "/nonexistent/model.pt";
  EXPECT_EQ(LoadTorchModel(sig, options).status().code(), absl::StatusCode::kNotFound);

  options.path = ::testing::TempDir() + "/not_torchscript.pt";
  std::ofstream(options.path) << "this is not a zip archive";
  absl::StatusOr<std::unique_ptr<BatchRunner>> bad = LoadTorchModel(sig, options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("cannot load TorchScript"), std::string::npos) << bad.status();

  if (!CudaAvailable()) {
    options.path = kRepo + "/linear/1/model.pt";
    options.device = Device::kCuda;
    EXPECT_EQ(LoadTorchModel(sig, options).status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST(TorchModelTest, ModelDisagreeingWithItsConfigIsAnError) {
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(kRepo + "/linear");
  ASSERT_TRUE(setup.ok());
  ModelSignature sig = setup->signature;
  sig.outputs[0].dims = {11};  // the module returns 10
  TorchModelOptions options;
  options.path = kRepo + "/linear/1/model.pt";
  auto runner = LoadTorchModel(sig, options);
  ASSERT_TRUE(runner.ok());
  auto r = std::make_unique<InferenceRequest>();
  r->rows = 1;
  r->output_indices = {0};
  r->inputs.push_back({"input", DataType::kFp32, {1, 1000}, std::string(4000, '\0')});
  Batch batch;
  batch.rows = 1;
  batch.requests.push_back(std::move(r));
  std::vector<InferenceResponse> responses(1);
  absl::Status status = (*runner)->Run(batch, responses);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("config.pbtxt"), std::string::npos) << status;
}

}  // namespace
}  // namespace seqserve
