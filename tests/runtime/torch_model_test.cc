// Runs the exported demo models through libtorch, as the server does, against the reference
// values computed in Python by the same PyTorch version.
#include "runtime/torch/torch_model.h"

#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "runtime/config/model_config.h"
#include "runtime/execution/request_validator.h"
#include "runtime/resources/host_cpu.h"
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
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(kRepo + "/" + name, ProcessCpuBudget().cores);
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

// Note [one copy of the weights]: instances share one loaded module and run it at once.
TEST(TorchModelTest, InstancesShareOneLoadAndRunItConcurrently) {
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(kRepo + "/encoder", ProcessCpuBudget().cores);
  ASSERT_TRUE(setup.ok());
  TorchModelOptions options;
  options.path = kRepo + "/encoder/1/model.pt";
  SharedTorchModel shared(options);
  const auto cases = testing::LoadReference(SEQSERVE_DEMO_REFERENCE);
  constexpr int kInstances = 3;
  std::vector<double> worst(kInstances, 0);
  std::vector<int> runs(kInstances, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<BatchRunner>> runner = shared.NewRunner(setup->signature, 0, 1, "instance");
      ASSERT_TRUE(runner.ok()) << runner.status();
      Loaded model{*setup, std::move(*runner)};
      for (int round = 0; round < 5; ++round) {
        for (const auto& [name, c] : cases) {
          if (c.model != "encoder") continue;
          std::vector<std::unique_ptr<InferenceRequest>> one;
          one.push_back(FromInputs(c.model, c.inputs));
          const auto outputs = RunBatch(model, std::move(one));
          for (size_t k = 0; k < c.outputs.size(); ++k) {
            worst[i] = std::max(worst[i], testing::MaxAbsDiff(outputs[0][k], c.outputs[k]));
          }
          ++runs[i];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(shared.loads(), 1);
  for (int i = 0; i < kInstances; ++i) {
    EXPECT_GT(runs[i], 0);
    EXPECT_LE(worst[i], 1e-4) << "instance " << i;
  }
}

bool CpuHasBf16() { return HostCpuFlags().count("avx512_bf16") > 0 || HostCpuFlags().count("amx_bf16") > 0; }

TEST(TorchModelTest, Bf16CastsAnUnfrozenModuleAndAnswersInTheDeclaredType) {
  Loaded fp32 = Load("encoder");
  ASSERT_TRUE(fp32.runner);
  TorchModelOptions options;
  options.path = kRepo + "/encoder/1/model.pt";
  options.precision = Precision::kBf16;
  absl::StatusOr<std::unique_ptr<BatchRunner>> runner = LoadTorchModel(fp32.setup.signature, options);
  if (!CpuHasBf16()) {
    EXPECT_EQ(runner.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(runner.status().message().find("avx512_bf16"), std::string::npos) << runner.status();
    return;
  }
  ASSERT_TRUE(runner.ok()) << runner.status();
  Loaded bf16{fp32.setup, std::move(*runner)};
  const auto cases = testing::LoadReference(SEQSERVE_DEMO_REFERENCE);
  int compared = 0;
  for (const auto& [name, c] : cases) {
    if (c.model != "encoder") continue;
    std::vector<std::unique_ptr<InferenceRequest>> a, b;
    a.push_back(FromInputs(c.model, c.inputs));
    b.push_back(FromInputs(c.model, c.inputs));
    const auto reduced = RunBatch(bf16, std::move(a));
    const auto full = RunBatch(fp32, std::move(b));
    for (size_t k = 0; k < full[0].size(); ++k) {
      EXPECT_EQ(reduced[0][k].dtype, full[0][k].dtype);  // declared FP32, converted back
      const double diff = testing::MaxAbsDiff(reduced[0][k], full[0][k]);
      EXPECT_GT(diff, 0) << "computed in bf16, it cannot equal fp32 exactly";
      EXPECT_LE(diff, 0.1) << name;
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

TEST(TorchModelTest, PrecisionTheFileCannotTakeIsRefusedWithWhatToDo) {
  ModelSignature sig;
  TorchModelOptions options;
  // A frozen module (the packer freezes) has no parameters to cast.
  options.path = kRepo + "/minilm/1/model.pt";
  options.precision = Precision::kBf16;
  absl::Status frozen = LoadTorchModel(sig, options).status();
  if (CpuHasBf16()) {
    EXPECT_EQ(frozen.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(frozen.message().find("seqserve-pack --precision bf16"), std::string::npos) << frozen;
  } else {
    EXPECT_EQ(frozen.code(), absl::StatusCode::kUnavailable);
  }
  // INT8 cannot be made at load: it is packed.
  options.path = kRepo + "/encoder/1/model.pt";
  options.precision = Precision::kInt8Dynamic;
  absl::Status int8 = LoadTorchModel(sig, options).status();
  EXPECT_EQ(int8.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(int8.message().find("--precision int8_dynamic"), std::string::npos) << int8;
  // A file packed in BF16 (its manifest says so) served as FP32: refused, not silently converted.
  options.precision = Precision::kFp32;
  options.precision_of_file = Precision::kBf16;
  absl::Status packed = LoadTorchModel(sig, options).status();
  EXPECT_EQ(packed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(packed.message().find("packed in BF16"), std::string::npos) << packed;
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
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(kRepo + "/linear", ProcessCpuBudget().cores);
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
