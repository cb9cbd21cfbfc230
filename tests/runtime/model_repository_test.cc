#include "runtime/model_repository.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/testing/fake_loader.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr char kConfig[] = R"pb(
  max_batch_size: 4
  input { name: "x" data_type: FP32 dims: [2] }
  output { name: "y" data_type: FP32 dims: [2] }
)pb";

// y = x * version, so an answer tells which version computed it. Counts live runners.
class VersionRunner : public BatchRunner {
 public:
  VersionRunner(int64_t version, std::atomic<int>* live) : version_(version), live_(live) { live_->fetch_add(1); }
  ~VersionRunner() override { live_->fetch_sub(1); }
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    for (size_t i = 0; i < batch.requests.size(); ++i) {
      const InferenceRequest& r = *batch.requests[i];
      Tensor y{"y", DataType::kFp32, r.inputs[0].shape, std::string(r.inputs[0].bytes())};
      for (size_t k = 0; k < y.data.size(); k += sizeof(float)) {
        float v;
        std::memcpy(&v, y.data.data() + k, sizeof v);
        v *= static_cast<float>(version_);
        std::memcpy(y.data.data() + k, &v, sizeof v);
      }
      responses[i].outputs.push_back(std::move(y));
    }
    return absl::OkStatus();
  }

 private:
  const int64_t version_;
  std::atomic<int>* const live_;
};

// Runners for every version except those in `failing` (their load fails with "no such op").
class Loader {
 public:
  explicit Loader(std::set<int64_t> failing = {})
      : failing_(std::move(failing)),
        fake_([this](const VersionToLoad& v, int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
          const int64_t number = std::stoll(fs::path(v.version_dir).filename().string());
          if (failing_.count(number) != 0) return absl::InvalidArgumentError("no such op: aten::frobnicate");
          return std::make_unique<VersionRunner>(number, &live_);
        }) {}
  FakeLoader& get() { return fake_; }
  int live() const { return live_.load(); }

 private:
  const std::set<int64_t> failing_;
  std::atomic<int> live_{0};
  FakeLoader fake_;
};

// Sends one request of x = {1, 2} and waits for its answer (at most 10 s).
absl::StatusOr<InferenceResponse> InferOnce(ModelRepository& repo, const std::string& model, int64_t version = 0) {
  auto request = std::make_unique<InferenceRequest>();
  request->model_name = model;
  request->model_version = version;
  const float x[2] = {1, 2};
  request->inputs.push_back({"x", DataType::kFp32, {1, 2}, std::string(reinterpret_cast<const char*>(x), sizeof x)});
  auto answer = std::make_shared<std::promise<absl::StatusOr<InferenceResponse>>>();
  std::future<absl::StatusOr<InferenceResponse>> result = answer->get_future();
  request->done = [answer](absl::StatusOr<InferenceResponse> r) { answer->set_value(std::move(r)); };
  absl::Status submitted = repo.Infer(request);
  if (!submitted.ok()) return submitted;
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return absl::DeadlineExceededError("no answer in 10 s");
  }
  return result.get();
}

float FirstOutput(const InferenceResponse& response) {
  float v;
  std::memcpy(&v, response.outputs.at(0).data.data(), sizeof v);
  return v;
}

class ModelRepositoryTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("seqserve_repo_test_" + std::to_string(getpid()) + "_" +
                                         testing::UnitTest::GetInstance()->current_test_info()->name());
    RemoveTree();
    fs::create_directories(root_);
  }
  void TearDown() override { RemoveTree(); }

  // Not fs::remove_all: in a binary that links libtorch that symbol resolves to libtorch's own
  // copy, which crashes here.
  void RemoveTree() { ASSERT_EQ(std::system(("rm -rf '" + root_.string() + "'").c_str()), 0); }

  static void AddModel(const fs::path& dir, std::set<int64_t> versions = {1}) {
    for (int64_t v : versions) fs::create_directories(dir / std::to_string(v));
    std::ofstream(dir / "config.pbtxt") << kConfig;
  }

  std::unique_ptr<ModelRepository> Open() {
    absl::StatusOr<std::unique_ptr<ModelRepository>> repo = ModelRepository::Open(root_.string(), loader_->get());
    EXPECT_TRUE(repo.ok()) << repo.status();
    return repo.ok() ? std::move(*repo) : nullptr;
  }

  fs::path root_;
  std::unique_ptr<Loader> loader_ = std::make_unique<Loader>();
};

// What a repository looks like when Kubernetes mounts it: an ext4 volume's lost+found, dot-folders,
// a ConfigMap's `..data` -> `..<timestamp>` layout with each model a symlink through `..data`,
// and stray files. Only the real models count, and the server becomes ready.
TEST_F(ModelRepositoryTest, VolumeLayoutsServeTheirModelsAndSkipTheRest) {
  const fs::path stamp = root_ / "..2026_12_01_00_00_00.123456789";
  AddModel(stamp / "cm_model");
  fs::create_directory_symlink(stamp.filename(), root_ / "..data");
  fs::create_directory_symlink(fs::path("..data") / "cm_model", root_ / "cm_model");
  AddModel(root_ / "plain");
  fs::create_directories(root_ / "lost+found");
  fs::create_directories(root_ / ".git" / "objects");
  fs::create_directories(root_ / ".snapshot" / "1");
  fs::create_directories(root_ / "docs");  // neither config nor version folder
  std::ofstream(root_ / "README.md") << "models for the pod\n";
  fs::create_directory_symlink("does-not-exist", root_ / "dangling");

  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(repo->ModelNames(), (std::vector<std::string>{"cm_model", "plain"}));
  repo->LoadAtStart();
  EXPECT_TRUE(repo->AllReady());
  EXPECT_EQ(repo->ResolveVersion("cm_model", 0).value_or(-1), 1);
}

// A folder with a version but no config is a model that is broken, not something to skip.
TEST_F(ModelRepositoryTest, AVersionFolderWithoutConfigIsABrokenModel) {
  fs::create_directories(root_ / "broken" / "1");
  AddModel(root_ / "good");
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  EXPECT_EQ(repo->ModelNames(), (std::vector<std::string>{"broken", "good"}));
  repo->LoadAtStart();
  EXPECT_FALSE(repo->AllReady());
  absl::StatusOr<ModelInfo> info = repo->GetModelInfo("broken");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->config_ok);
  EXPECT_NE(info->config_error.find("has no config.pbtxt"), std::string::npos) << info->config_error;
}

TEST_F(ModelRepositoryTest, AbortedLoadingLeavesTheRestUnavailableWithTheReason) {
  AddModel(root_ / "a");
  AddModel(root_ / "b");
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  repo->AbortLoading();
  repo->LoadAtStart();
  EXPECT_FALSE(repo->AllReady());
  for (const char* name : {"a", "b"}) {
    absl::StatusOr<ModelInfo> info = repo->GetModelInfo(name);
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->versions.size(), 1u);
    EXPECT_EQ(info->versions[0].state, VersionState::kUnavailable);
    EXPECT_EQ(info->versions[0].reason, "not loaded: the server is shutting down");
  }
}

// Versions resolve to the highest READY one; a named version must exist and be READY; errors
// say which and why.
TEST_F(ModelRepositoryTest, RequestsGoToTheHighestReadyVersionOrTheOneNamed) {
  AddModel(root_ / "m", {1, 2, 3});
  loader_ = std::make_unique<Loader>(std::set<int64_t>{3});
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  // Before loading: nothing is ready, and the answer says so rather than "not found".
  EXPECT_EQ(repo->ResolveVersion("m", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(repo->ResolveVersion("m", 0).status().message().find("no ready version yet"), std::string::npos);
  repo->LoadAtStart();
  EXPECT_EQ(repo->ResolveVersion("m", 0).value_or(-1), 2);
  EXPECT_EQ(repo->ResolveVersion("m", 1).value_or(-1), 1);
  absl::Status failed = repo->ResolveVersion("m", 3).status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("version 3 is UNAVAILABLE: no such op: aten::frobnicate"), std::string::npos)
      << failed;
  EXPECT_EQ(repo->ResolveVersion("m", 4).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->ResolveVersion("nope", 0).status().code(), absl::StatusCode::kNotFound);

  // The answers come from the versions asked for (y = x * version).
  absl::StatusOr<InferenceResponse> latest = InferOnce(*repo, "m");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->model_version, 2);
  EXPECT_EQ(FirstOutput(*latest), 2.0f);
  absl::StatusOr<InferenceResponse> first = InferOnce(*repo, "m", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->model_version, 1);
  EXPECT_EQ(FirstOutput(*first), 1.0f);
  EXPECT_EQ(InferOnce(*repo, "m", 3).status().code(), absl::StatusCode::kUnavailable);
}

// One model failing to load leaves the others serving; the server is not "all ready", and the
// failed model's newest version carries the loader's reason.
TEST_F(ModelRepositoryTest, AModelThatFailsToLoadLeavesTheOthersServing) {
  AddModel(root_ / "good");
  AddModel(root_ / "bad", {7});
  loader_ = std::make_unique<Loader>(std::set<int64_t>{7});
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  EXPECT_FALSE(repo->AllReady());
  absl::StatusOr<InferenceResponse> good = InferOnce(*repo, "good");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(FirstOutput(*good), 1.0f);
  absl::Status bad = InferOnce(*repo, "bad").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(bad.message().find("version 7 is unavailable: no such op: aten::frobnicate"), std::string::npos) << bad;
  ModelInfo info = *repo->GetModelInfo("bad");
  ASSERT_EQ(info.versions.size(), 1u);
  EXPECT_EQ(info.versions[0].state, VersionState::kUnavailable);
  EXPECT_EQ(info.versions[0].reason, "no such op: aten::frobnicate");
}

// Readiness moves with each version: LOADING until its load ends, and "all ready" only once
// nothing is loading and every model has a READY version.
TEST_F(ModelRepositoryTest, ReadinessFollowsEachVersionsLoad) {
  AddModel(root_ / "a");
  AddModel(root_ / "b", {1, 2});
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  EXPECT_FALSE(repo->AllReady());
  for (const char* name : {"a", "b"}) {
    const ModelInfo info = *repo->GetModelInfo(name);
    for (const VersionStatus& v : info.versions) EXPECT_EQ(v.state, VersionState::kLoading);
  }
  std::vector<bool> ready_after_each;
  repo->LoadAtStart([&] { ready_after_each.push_back(repo->AllReady()); });
  EXPECT_EQ(ready_after_each, (std::vector<bool>{false, false, true}));  // a/1, b/1, b/2
  EXPECT_EQ(loader_->get().prepared(), 3);
  for (const char* name : {"a", "b"}) {
    const ModelInfo info = *repo->GetModelInfo(name);
    for (const VersionStatus& v : info.versions) EXPECT_EQ(v.state, VersionState::kReady);
  }
}

// Shutdown answers every accepted request, then unloads: each instance's runner is destroyed,
// and later requests are refused rather than lost.
TEST_F(ModelRepositoryTest, ShutdownFinishesAcceptedRequestsThenUnloadsEveryRunner) {
  AddModel(root_ / "a", {1, 2});
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  EXPECT_EQ(loader_->live(), 2 * repo->GetModelInfo("a")->setup.instances);  // two versions
  EXPECT_GT(loader_->live(), 0);
  std::atomic<int> answered{0};
  for (int i = 0; i < 20; ++i) {
    auto request = std::make_unique<InferenceRequest>();
    request->model_name = "a";
    const float x[2] = {1, 2};
    request->inputs.push_back({"x", DataType::kFp32, {1, 2}, std::string(reinterpret_cast<const char*>(x), sizeof x)});
    request->done = [&answered](absl::StatusOr<InferenceResponse> r) {
      if (r.ok()) answered.fetch_add(1);
    };
    ASSERT_TRUE(repo->Infer(request).ok());
  }
  repo->Shutdown();
  EXPECT_EQ(answered.load(), 20);
  EXPECT_EQ(loader_->live(), 0);
  EXPECT_EQ(InferOnce(*repo, "a").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace seqserve
