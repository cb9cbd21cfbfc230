#include "runtime/model_repository.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr char kConfig[] = R"pb(
  max_batch_size: 4
  input { name: "x" data_type: FP32 dims: [2] }
  output { name: "y" data_type: FP32 dims: [2] }
)pb";

class NoopRunner : public BatchRunner {
 public:
  absl::Status Run(const Batch&, std::vector<InferenceResponse>&) override { return absl::OkStatus(); }
};

ModelRepository::RunnerFactory NoopFactory() {
  return [](const ModelSetup&, const std::string&, int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
    return std::make_unique<NoopRunner>();
  };
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

  static void AddModel(const fs::path& dir) {
    fs::create_directories(dir / "1");
    std::ofstream(dir / "config.pbtxt") << kConfig;
  }

  fs::path root_;
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

  absl::StatusOr<std::unique_ptr<ModelRepository>> repo = ModelRepository::Open(root_.string(), NoopFactory());
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ((*repo)->ModelNames(), (std::vector<std::string>{"cm_model", "plain"}));
  (*repo)->LoadAll();
  EXPECT_TRUE((*repo)->AllReady());
  EXPECT_EQ((*repo)->ResolveVersion("cm_model", 0).value_or(-1), 1);
}

// A folder with a version but no config is a model that is broken, not something to skip.
TEST_F(ModelRepositoryTest, AVersionFolderWithoutConfigIsABrokenModel) {
  fs::create_directories(root_ / "broken" / "1");
  AddModel(root_ / "good");
  absl::StatusOr<std::unique_ptr<ModelRepository>> repo = ModelRepository::Open(root_.string(), NoopFactory());
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ((*repo)->ModelNames(), (std::vector<std::string>{"broken", "good"}));
  (*repo)->LoadAll();
  EXPECT_FALSE((*repo)->AllReady());
  absl::StatusOr<ModelInfo> info = (*repo)->GetModelInfo("broken");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->config_ok);
  EXPECT_NE(info->config_error.find("has no config.pbtxt"), std::string::npos) << info->config_error;
}

TEST_F(ModelRepositoryTest, AbortedLoadingLeavesTheRestUnavailableWithTheReason) {
  AddModel(root_ / "a");
  AddModel(root_ / "b");
  absl::StatusOr<std::unique_ptr<ModelRepository>> repo = ModelRepository::Open(root_.string(), NoopFactory());
  ASSERT_TRUE(repo.ok()) << repo.status();
  (*repo)->AbortLoading();
  (*repo)->LoadAll();
  EXPECT_FALSE((*repo)->AllReady());
  for (const char* name : {"a", "b"}) {
    absl::StatusOr<ModelInfo> info = (*repo)->GetModelInfo(name);
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->versions.size(), 1u);
    EXPECT_EQ(info->versions[0].state, VersionState::kUnavailable);
    EXPECT_EQ(info->versions[0].reason, "not loaded: the server is shutting down");
  }
}

}  // namespace
}  // namespace seqserve
