#include "runtime/config/model_manifest.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/config/model_config.h"
#include "runtime/repository/model_repository.h"
#include "tests/testing/fake_loader.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

// A model of token ids -> one score per row: the sum of its unmasked ids, and the row's length.
constexpr char kConfig[] = R"pb(
  max_batch_size: 4
  input { name: "ids" data_type: INT64 dims: [-1] }
  input { name: "mask" data_type: INT64 dims: [-1] }
  output { name: "score" data_type: FP32 dims: [2] }
  sequence { axis: 0 max_length: 16 }
  instance { count: 1 }
)pb";

class SumRunner : public BatchRunner {
 public:
  explicit SumRunner(float bias = 0) : bias_(bias) {}
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    for (size_t j = 0; j < batch.requests.size(); ++j) {
      const InferenceRequest& r = *batch.requests[j];
      const auto* ids = reinterpret_cast<const int64_t*>(r.inputs[0].data.data());
      const auto* mask = reinterpret_cast<const int64_t*>(r.inputs[1].data.data());
      Tensor out{"score", DataType::kFp32, {r.rows, 2}, std::string(static_cast<size_t>(r.rows) * 8, '\0')};
      for (int64_t row = 0; row < r.rows; ++row) {
        float sum = bias_, length = 0;
        for (int64_t t = 0; t < r.sequence_length; ++t) {
          const int64_t i = row * r.sequence_length + t;
          sum += static_cast<float>(ids[i] * mask[i]);
          length += static_cast<float>(mask[i]);
        }
        std::memcpy(&out.data[row * 8], &sum, 4);
        std::memcpy(&out.data[row * 8 + 4], &length, 4);
      }
      responses[j].outputs = {std::move(out)};
    }
    return absl::OkStatus();
  }

 private:
  const float bias_;
};

// The manifest of SumRunner's model: two references, one row and two padded rows.
v1::ModelManifest SumManifest(const std::string& sha256) {
  v1::ModelManifest m;
  m.set_manifest_version(1);
  m.set_format("torchscript");
  m.set_model_file("model.pt");
  m.set_sha256(sha256);
  m.set_pytorch_version("2.11.0+cu130");
  m.mutable_batch()->set_min(1);
  m.mutable_batch()->set_max(4);
  m.mutable_sequence()->set_min(1);
  m.mutable_sequence()->set_max(16);
  auto add = [&](std::vector<int64_t> shape, std::vector<int64_t> ids, std::vector<int64_t> mask,
                 std::vector<double> score) {
    v1::Reference& ref = *m.add_references();
    ref.set_text("synthetic");
    for (auto [name, values] : {std::pair{"ids", ids}, std::pair{"mask", mask}}) {
      v1::ReferenceTensor& t = *ref.add_inputs();
      t.set_name(name);
      for (int64_t d : shape) t.add_shape(d);
      for (int64_t v : values) t.add_int64_data(v);
    }
    v1::ReferenceTensor& out = *ref.add_outputs();
    out.set_name("score");
    out.add_shape(shape[0]);
    out.add_shape(2);
    for (double v : score) out.add_float_data(v);
  };
  add({1, 3}, {5, 6, 7}, {1, 1, 1}, {18, 3});
  add({2, 2}, {1, 2, 3, 0}, {1, 1, 1, 0}, {3, 2, 3, 1});
  return m;
}

class ModelManifestTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("seqserve_manifest_test_" + std::to_string(getpid()) + "_" +
                                         testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("rm -rf '" + root_.string() + "'").c_str()), 0);
    fs::create_directories(root_ / "sum" / "1");
    std::ofstream(root_ / "sum" / "config.pbtxt") << kConfig;
    std::ofstream(root_ / "sum" / "1" / "model.pt") << "abc";
    setup_ = *ParseModelConfig(kConfig, "sum", /*cpu_cores=*/1);
  }
  // Not fs::remove_all (see model_repository_test.cc).
  void TearDown() override { ASSERT_EQ(std::system(("rm -rf '" + root_.string() + "'").c_str()), 0); }

  std::string ModelFile() const { return (root_ / "sum" / "1" / "model.pt").string(); }
  absl::Status Check(const v1::ModelManifest& m, bool pt2 = false) const {
    return CheckManifest(m, setup_.signature, ModelFile(), pt2, "2.11.0");
  }
  void WriteManifest(const std::string& json) const { std::ofstream(root_ / "sum" / "1" / kManifestFileName) << json; }

  fs::path root_;
  ModelSetup setup_;
};

constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST_F(ModelManifestTest, Sha256IsTheStandardDigest) {
  EXPECT_EQ(Sha256OfFile(ModelFile()).value_or(""), kAbcSha256);
  EXPECT_EQ(Sha256OfFile((root_ / "missing").string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelManifestTest, DefaultTolerancesByType) {
  EXPECT_DOUBLE_EQ(DefaultTolerance(DataType::kFp32).atol, 1e-4);
  EXPECT_DOUBLE_EQ(DefaultTolerance(DataType::kFp32).rtol, 1e-3);
  EXPECT_DOUBLE_EQ(DefaultTolerance(DataType::kBf16).atol, 1e-2);
  EXPECT_DOUBLE_EQ(DefaultTolerance(DataType::kInt64).atol, 0);
  EXPECT_DOUBLE_EQ(setup_.reference_tolerances.at(0).atol, 1e-4);
  ModelSetup loose = *ParseModelConfig(
      absl::StrCat(kConfig, "output { name: \"z\" data_type: FP32 dims: [1] reference_tolerance { atol: 0.5 } }"),
      "sum", /*cpu_cores=*/1);
  EXPECT_DOUBLE_EQ(loose.reference_tolerances.at(1).atol, 0.5);
  EXPECT_DOUBLE_EQ(loose.reference_tolerances.at(1).rtol, 0);
}

TEST_F(ModelManifestTest, ReadsJsonAndTellsAbsentFromBroken) {
  absl::StatusOr<std::optional<v1::ModelManifest>> none = ReadManifest((root_ / "sum" / "1").string());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  WriteManifest(R"({"format": "pt2", "sha256": "00", "batch": {"min": 1, "max": 8}, "future_field": 3,
                    "references": [{"inputs": [{"name": "ids", "shape": [1, 2], "int64_data": [4, 5]}]}]})");
  absl::StatusOr<std::optional<v1::ModelManifest>> read = ReadManifest((root_ / "sum" / "1").string());
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->format(), "pt2");
  EXPECT_EQ((*read)->batch().max(), 8);
  EXPECT_EQ((*read)->references(0).inputs(0).int64_data(1), 5);

  WriteManifest("{\"format\": ");
  EXPECT_EQ(ReadManifest((root_ / "sum" / "1").string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelManifestTest, AcceptsTheFileItDescribes) { EXPECT_TRUE(Check(SumManifest(kAbcSha256)).ok()); }

TEST_F(ModelManifestTest, RefusesAnotherFile) {
  absl::Status s = Check(SumManifest(std::string(64, '0')));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("does not match its manifest: SHA-256 " + std::string(kAbcSha256)), std::string::npos)
      << s;
}

TEST_F(ModelManifestTest, RefusesAnUnknownPrecision) {
  v1::ModelManifest m = SumManifest(kAbcSha256);
  m.set_precision("BF16");
  EXPECT_TRUE(Check(m).ok());  // whether it matches the config is the loader's rule
  m.set_precision("INT4");
  absl::Status s = Check(m);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("precision 'INT4'"), std::string::npos) << s;
}

TEST_F(ModelManifestTest, RefusesAPt2FromAnotherPyTorchRelease) {
  v1::ModelManifest m = SumManifest(kAbcSha256);
  m.set_format("pt2");
  m.set_model_file("");
  EXPECT_TRUE(Check(m, /*pt2=*/true).ok());  // 2.11.0+cu130 is release 2.11.0
  m.set_pytorch_version("2.10.0+cpu");
  absl::Status s = Check(m, /*pt2=*/true);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("compiled by PyTorch 2.10.0+cpu but this server runs libtorch 2.11.0"), std::string::npos)
      << s;
  // TorchScript from another release may load; its references decide.
  m.set_format("torchscript");
  EXPECT_TRUE(Check(m).ok());
}

TEST_F(ModelManifestTest, RefusesFormatAndLimitsTheExportDoesNotCover) {
  v1::ModelManifest m = SumManifest(kAbcSha256);
  m.set_format("pt2");
  EXPECT_NE(Check(m).message().find("format 'pt2'"), std::string::npos);
  m = SumManifest(kAbcSha256);
  m.mutable_sequence()->set_max(8);
  EXPECT_NE(Check(m).message().find("sequences (sequence.max_length) up to 16 but model.pt was exported for at most 8"),
            std::string::npos)
      << Check(m);
  m = SumManifest(kAbcSha256);
  m.mutable_batch()->set_max(2);
  EXPECT_NE(Check(m).message().find("max_batch_size"), std::string::npos);
}

TEST_F(ModelManifestTest, RefusesReferencesThatDoNotFitTheConfig) {
  v1::ModelManifest m = SumManifest(kAbcSha256);
  m.mutable_references(0)->mutable_inputs(1)->set_name("attention");
  EXPECT_NE(Check(m).message().find("reference 0 lacks input 'mask'"), std::string::npos) << Check(m);
  m = SumManifest(kAbcSha256);
  m.mutable_references(1)->mutable_outputs(0)->add_float_data(0);
  EXPECT_NE(Check(m).message().find("reference 1 has 'score' of shape [2, 2] with 5 values"), std::string::npos)
      << Check(m);
}

TEST_F(ModelManifestTest, RefusesPt2RangesItCannotTrust) {
  v1::ModelManifest m = SumManifest(kAbcSha256);
  m.set_format("pt2");
  m.set_model_file("");
  m.mutable_sequence()->set_min(2);
  EXPECT_NE(Check(m, true).message().find("from 2 only"), std::string::npos) << Check(m, true);
  m.clear_sequence();
  EXPECT_NE(Check(m, true).message().find("does not record its exported range of sequences"), std::string::npos)
      << Check(m, true);
  m.set_format("torchscript");
  EXPECT_TRUE(Check(m).ok());  // TorchScript takes any size; the ranges are what the packer checked
}

TEST_F(ModelManifestTest, Pt2NeedsEveryInstructionSetOfThePackingCpu) {
  v1::ModelManifest m = SumManifest(kAbcSha256);
  m.add_cpu_flags("avx2");
  m.add_cpu_flags("avx512_bf16");
  m.add_cpu_flags("amx_tile");
  EXPECT_TRUE(CheckCpuFlags(m, {"avx2", "avx512_bf16", "amx_tile", "sse4a"}).ok());
  absl::Status s = CheckCpuFlags(m, {"avx2", "fma"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("on a CPU with avx512_bf16, amx_tile, which this CPU lacks"), std::string::npos) << s;
  EXPECT_TRUE(CheckCpuFlags(SumManifest(kAbcSha256), {}).ok());  // nothing recorded, nothing required
#if defined(__x86_64__)
  EXPECT_EQ(HostCpuFlags().count("sse2"), 1u);  // every x86-64 CPU has SSE2: /proc/cpuinfo was read
#endif
}

// A runner that answers with the wrong shape: refused, not read past its data.
class ShortRunner : public BatchRunner {
 public:
  absl::Status Run(const Batch&, std::vector<InferenceResponse>& responses) override {
    responses[0].outputs = {Tensor{"score", DataType::kFp32, {1, 1}, std::string(4, '\0')}};
    return absl::OkStatus();
  }
};

TEST_F(ModelManifestTest, ReferencesRefuseOutputsOfTheWrongShape) {
  ShortRunner runner;
  absl::Status s = CheckReferences(runner, setup_.signature, SumManifest(kAbcSha256), setup_.reference_tolerances);
  EXPECT_NE(s.message().find("output 'score' came back as [1, 1], not [1, 2]"), std::string::npos) << s;
}

TEST_F(ModelManifestTest, ReferencesPassWithinToleranceAndFailBeyond) {
  const v1::ModelManifest m = SumManifest(kAbcSha256);
  SumRunner exact, close(5e-5f), off(0.5f);
  EXPECT_TRUE(CheckReferences(exact, setup_.signature, m, setup_.reference_tolerances).ok());
  EXPECT_TRUE(CheckReferences(close, setup_.signature, m, setup_.reference_tolerances).ok());
  absl::Status s = CheckReferences(off, setup_.signature, m, setup_.reference_tolerances);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("reference 0 (synthetic) output 'score' element 0 is 18.5 but was 18 when packed"),
            std::string::npos)
      << s;
}

// Through the repository: a version whose reference outputs changed is UNAVAILABLE with the
// reason; the model file's SHA-256 is checked before the runner is even created.
TEST_F(ModelManifestTest, RepositoryMakesAFailingVersionUnavailableWithItsReason) {
  std::ofstream(root_ / "sum" / "config.pbtxt") << kConfig << "version_policy { all {} }\n";  // both versions
  fs::create_directories(root_ / "sum" / "2");
  std::ofstream(root_ / "sum" / "2" / "model.pt") << "abc";
  std::string json;
  v1::ModelManifest tampered = SumManifest(kAbcSha256);
  tampered.mutable_references(1)->mutable_outputs(0)->set_float_data(2, 4);
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(SumManifest(kAbcSha256), &json).ok());
  std::ofstream(root_ / "sum" / "1" / kManifestFileName) << json;
  json.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(tampered, &json).ok());
  std::ofstream(root_ / "sum" / "2" / kManifestFileName) << json;
  FakeLoader loader([](const VersionToLoad&, int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
    return std::make_unique<SumRunner>();
  });
  auto repo = ModelRepository::Open(root_.string(), loader);
  ASSERT_TRUE(repo.ok()) << repo.status();
  (*repo)->LoadAtStart();
  ModelInfo info = *(*repo)->GetModelInfo("sum");
  ASSERT_EQ(info.versions.size(), 2u);
  EXPECT_EQ(info.versions[0].state, VersionState::kReady) << info.versions[0].reason;
  EXPECT_EQ(info.versions[1].state, VersionState::kUnavailable);
  EXPECT_NE(info.versions[1].reason.find("reference 1 (synthetic) output 'score' element 2 is 3 but was 4"),
            std::string::npos)
      << info.versions[1].reason;
  EXPECT_EQ(loader.runners(), 2);

  std::ofstream(root_ / "sum" / "2" / "model.pt") << "abd";  // same size, other bytes
  auto again = ModelRepository::Open(root_.string(), loader);
  (*again)->LoadAtStart();
  info = *(*again)->GetModelInfo("sum");
  EXPECT_NE(info.versions[1].reason.find("SHA-256"), std::string::npos) << info.versions[1].reason;
  EXPECT_EQ(loader.runners(), 3);  // version 2 never reached its runner
}

}  // namespace
}  // namespace seqserve
