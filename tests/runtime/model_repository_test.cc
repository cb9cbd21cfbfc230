#include "runtime/repository/model_repository.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
constexpr char kAllVersions[] = "version_policy { all {} }\n";

// While held, runners wait in Run() (so requests stay accepted and unanswered).
class Gate {
 public:
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = false;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [this] { return !held_; });  // bounded
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
};

// y = x * version, so an answer tells which version computed it. Counts live runners.
class VersionRunner : public BatchRunner {
 public:
  VersionRunner(int64_t version, std::atomic<int>* live, Gate* gate) : version_(version), live_(live), gate_(gate) {
    live_->fetch_add(1);
  }
  ~VersionRunner() override { live_->fetch_sub(1); }
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    gate_->Pass();
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
  Gate* const gate_;
};

// Runners for every version except those in `failing` (their load fails with "no such op").
class Loader {
 public:
  explicit Loader(std::set<int64_t> failing = {})
      : failing_(std::move(failing)),
        fake_([this](const VersionToLoad& v, int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
          const int64_t number = std::stoll(fs::path(v.version_dir).filename().string());
          if (failing_.count(number) != 0) return absl::InvalidArgumentError("no such op: aten::frobnicate");
          return std::make_unique<VersionRunner>(number, &live_, &gate_);
        }) {}
  FakeLoader& get() { return fake_; }
  int live() const { return live_.load(); }
  Gate& gate() { return gate_; }

 private:
  const std::set<int64_t> failing_;
  Gate gate_;
  std::atomic<int> live_{0};
  FakeLoader fake_;
};

using Answer = std::future<absl::StatusOr<InferenceResponse>>;

// Submits one request of x = {1, 2}: its answer once the repository accepted it (Infer
// returned OK), else the refusal.
absl::StatusOr<Answer> Submit(ModelRepository& repo, const std::string& model, int64_t version = 0) {
  auto request = std::make_unique<InferenceRequest>();
  request->model_name = model;
  request->model_version = version;
  const float x[2] = {1, 2};
  request->inputs.push_back({"x", DataType::kFp32, {1, 2}, std::string(reinterpret_cast<const char*>(x), sizeof x)});
  auto answer = std::make_shared<std::promise<absl::StatusOr<InferenceResponse>>>();
  Answer result = answer->get_future();
  request->done = [answer](absl::StatusOr<InferenceResponse> r) { answer->set_value(std::move(r)); };
  absl::Status submitted = repo.router().Infer(request);
  if (!submitted.ok()) return submitted;
  return result;
}

// Waits (at most 10 s) for an accepted request's answer.
absl::StatusOr<InferenceResponse> Await(Answer& answer) {
  if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return absl::DeadlineExceededError("no answer in 10 s");
  }
  return answer.get();
}

// Sends one request of x = {1, 2} and waits for its answer (at most 10 s).
absl::StatusOr<InferenceResponse> InferOnce(ModelRepository& repo, const std::string& model, int64_t version = 0) {
  absl::StatusOr<Answer> answer = Submit(repo, model, version);
  if (!answer.ok()) return answer.status();
  return Await(*answer);
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

  // A model of `versions` (each folder with its model.pt) and kConfig plus `config_extra`.
  static void AddModel(const fs::path& dir, std::set<int64_t> versions = {1}, const std::string& config_extra = "") {
    for (int64_t v : versions) AddVersion(dir, v);
    std::ofstream(dir / "config.pbtxt") << kConfig << config_extra;
  }
  static void AddVersion(const fs::path& dir, int64_t version) {
    fs::create_directories(dir / std::to_string(version));
    std::ofstream(dir / std::to_string(version) / "model.pt") << "fake model " << version;
  }

  std::unique_ptr<ModelRepository> Open(ModelRepository::Options options = {}) {
    absl::StatusOr<std::unique_ptr<ModelRepository>> repo =
        ModelRepository::Open(root_.string(), loader_->get(), std::move(options));
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
  EXPECT_EQ(repo->router().ResolveVersion("cm_model", 0).value_or(-1), 1);
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
  AddModel(root_ / "m", {1, 2, 3}, kAllVersions);
  loader_ = std::make_unique<Loader>(std::set<int64_t>{3});
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  // Before loading: nothing is ready, and the answer says so rather than "not found".
  EXPECT_EQ(repo->router().ResolveVersion("m", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(repo->router().ResolveVersion("m", 0).status().message().find("no ready version yet"), std::string::npos);
  repo->LoadAtStart();
  EXPECT_EQ(repo->router().ResolveVersion("m", 0).value_or(-1), 2);
  EXPECT_EQ(repo->router().ResolveVersion("m", 1).value_or(-1), 1);
  absl::Status failed = repo->router().ResolveVersion("m", 3).status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("version 3 is UNAVAILABLE: no such op: aten::frobnicate"), std::string::npos)
      << failed;
  EXPECT_EQ(repo->router().ResolveVersion("m", 4).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->router().ResolveVersion("nope", 0).status().code(), absl::StatusCode::kNotFound);

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
  AddModel(root_ / "b", {1, 2}, kAllVersions);
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  EXPECT_FALSE(repo->AllReady());
  for (const char* name : {"a", "b"}) {
    const ModelInfo info = *repo->GetModelInfo(name);
    for (const VersionStatus& v : info.versions) EXPECT_EQ(v.state, VersionState::kLoading);
  }
  std::vector<bool> ready_after_each;
  repo->OnChange([&](bool) { ready_after_each.push_back(repo->AllReady()); });
  repo->LoadAtStart();
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
  AddModel(root_ / "a", {1, 2}, kAllVersions);
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
    ASSERT_TRUE(repo->router().Infer(request).ok());
  }
  repo->Shutdown();
  EXPECT_EQ(answered.load(), 20);
  EXPECT_EQ(loader_->live(), 0);
  EXPECT_EQ(InferOnce(*repo, "a").status().code(), absl::StatusCode::kUnavailable);
}

// The state of (model, version), or "absent".
std::string StateOf(const ModelRepository& repo, const std::string& model, int64_t version) {
  absl::StatusOr<ModelInfo> info = repo.GetModelInfo(model);
  if (!info.ok()) return "absent";
  for (const VersionStatus& v : info->versions) {
    if (v.version == version) return std::string(VersionStateName(v.state));
  }
  return "absent";
}

ModelRepository::Options Explicit(std::vector<std::string> load_at_start) {
  ModelRepository::Options options;
  options.mode = ModelControlMode::kExplicit;
  options.load_at_start = std::move(load_at_start);
  return options;
}

ModelRepository::Options Polling() {
  ModelRepository::Options options;
  options.mode = ModelControlMode::kPoll;
  return options;
}

// version_policy: the highest folder by default, the N highest, a list, or all; a request
// without a version goes to the highest one served; others are not loaded at all.
TEST_F(ModelRepositoryTest, TheVersionPolicyDecidesWhichFoldersAreServed) {
  AddModel(root_ / "default", {1, 2, 3});
  AddModel(root_ / "latest2", {1, 2, 3}, "version_policy { latest { num_versions: 2 } }");
  AddModel(root_ / "specific", {1, 2, 3}, "version_policy { specific { versions: [1, 3] } }");
  AddModel(root_ / "all", {1, 2, 3}, kAllVersions);
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  EXPECT_TRUE(repo->AllReady());
  auto served = [&](const std::string& model) {
    std::vector<int64_t> out;
    const ModelInfo info = *repo->GetModelInfo(model);
    for (const VersionStatus& v : info.versions) {
      if (v.state == VersionState::kReady) out.push_back(v.version);
    }
    return out;
  };
  EXPECT_EQ(served("default"), (std::vector<int64_t>{3}));
  EXPECT_EQ(served("latest2"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(served("specific"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(served("all"), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(loader_->get().prepared(), 1 + 2 + 2 + 3);
  EXPECT_EQ(repo->router().ResolveVersion("default", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->router().ResolveVersion("specific", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->router().ResolveVersion("specific", 0).value_or(-1), 3);
  absl::StatusOr<InferenceResponse> answer = InferOnce(*repo, "latest2");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->model_version, 3);
  EXPECT_EQ(FirstOutput(*answer), 3.0f);
}

TEST_F(ModelRepositoryTest, AVersionPolicyThatMakesNoSenseIsAConfigError) {
  AddModel(root_ / "m", {1}, "version_policy { specific { versions: [0] } }");
  std::unique_ptr<ModelRepository> repo = Open();
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  ModelInfo info = *repo->GetModelInfo("m");
  EXPECT_FALSE(info.config_ok);
  EXPECT_NE(info.config_error.find("version_policy.specific: version 0"), std::string::npos) << info.config_error;
}

// Explicit mode: only the models asked for load, and readiness counts only them; a model is
// loaded and unloaded by name; names that look like paths, and names the repository does not
// hold, are refused; other modes refuse load and unload.
TEST_F(ModelRepositoryTest, ExplicitModeLoadsAndUnloadsByNameOnly) {
  AddModel(root_ / "a");
  AddModel(root_ / "b");
  std::unique_ptr<ModelRepository> repo = Open(Explicit({"a"}));
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  EXPECT_TRUE(repo->AllReady());  // b was not asked for
  ModelInfo b = *repo->GetModelInfo("b");
  EXPECT_FALSE(b.asked);
  EXPECT_TRUE(b.versions.empty());
  EXPECT_EQ(b.reason, "not loaded");
  absl::Status refused = InferOnce(*repo, "b").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("not loaded"), std::string::npos) << refused;

  ASSERT_TRUE(repo->Load("b").ok());
  absl::StatusOr<InferenceResponse> answer = InferOnce(*repo, "b");
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(repo->Unload("b").ok());
  EXPECT_EQ(StateOf(*repo, "b", 1), "UNAVAILABLE");
  EXPECT_EQ(repo->GetModelInfo("b")->versions[0].reason, "unloaded");
  EXPECT_EQ(InferOnce(*repo, "b").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(repo->AllReady());                                         // b is no longer asked for
  EXPECT_EQ(loader_->live(), repo->GetModelInfo("a")->setup.instances);  // b's runners are gone
  ASSERT_TRUE(repo->Load("b").ok());                                     // and it comes back
  EXPECT_TRUE(InferOnce(*repo, "b").ok());

  for (const char* bad : {"../a", "a/1", "..", ".", ".hidden", "a\\b", ""}) {
    EXPECT_EQ(repo->Load(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(repo->Unload(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(repo->Load(std::string("a\0b", 3)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repo->Load("zz").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->Unload("zz").code(), absl::StatusCode::kNotFound);

  loader_ = std::make_unique<Loader>();
  for (ModelRepository::Options options : {ModelRepository::Options(), Polling()}) {
    std::unique_ptr<ModelRepository> other = Open(options);
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->Load("a").code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(other->Unload("a").code(), absl::StatusCode::kFailedPrecondition);
  }
}

// An unload takes the version out of the routes at once (UNLOADING: new requests refused) and
// returns only after every request it had accepted was answered. The five requests are
// accepted on this thread before the unload starts (Submit returns once Infer did), so the
// order the test is about is forced, not raced: each of them must be answered by version 1.
TEST_F(ModelRepositoryTest, UnloadFinishesEveryAcceptedRequestFirst) {
  AddModel(root_ / "m");
  std::unique_ptr<ModelRepository> repo = Open(Explicit({"m"}));
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  loader_->gate().Hold();
  std::vector<Answer> accepted;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Answer> answer = Submit(*repo, "m");
    ASSERT_TRUE(answer.ok()) << answer.status();
    accepted.push_back(std::move(*answer));
  }
  std::future<absl::Status> unloaded = std::async(std::launch::async, [&] { return repo->Unload("m"); });
  for (int i = 0; i < 1000 && StateOf(*repo, "m", 1) != "UNLOADING"; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(StateOf(*repo, "m", 1), "UNLOADING");
  EXPECT_EQ(InferOnce(*repo, "m").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(unloaded.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);  // still draining
  loader_->gate().Release();
  ASSERT_TRUE(unloaded.get().ok());
  for (Answer& answer : accepted) {
    absl::StatusOr<InferenceResponse> r = Await(answer);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(FirstOutput(*r), 1.0f);
  }
  EXPECT_EQ(loader_->live(), 0);
}

// Note [swap]: under steady traffic a new version is loaded beside the old one, requests move
// once it is READY, the old one drains and goes; no request fails, and every answer comes from
// exactly the version it says (y = x * version). Ten swaps in a row (versions 2..11), so that
// requests racing a swap (they read the routing table just before it changed and reach the
// stopped executor: Note [routing table]) happen too.
TEST_F(ModelRepositoryTest, SwapsUnderTrafficFailNoRequest) {
  AddModel(root_ / "m");
  std::unique_ptr<ModelRepository> repo = Open(Explicit({"m"}));
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  const int instances = repo->GetModelInfo("m")->setup.instances;
  constexpr int kLast = 11;
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, mismatched{0}, answered{0}, stale{0};
  std::atomic<int64_t> serving{1};  // the newest version Load() has returned for
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 1000000 && !stop.load(); ++i) {
        const int64_t newest_done = serving.load();
        absl::StatusOr<InferenceResponse> r = InferOnce(*repo, "m");
        if (!r.ok()) {
          if (failed.fetch_add(1) < 5) ADD_FAILURE() << r.status();
          continue;
        }
        answered.fetch_add(1);
        if (FirstOutput(*r) != static_cast<float>(r->model_version)) mismatched.fetch_add(1);
        if (r->model_version < newest_done) stale.fetch_add(1);  // a version that had unloaded
      }
    });
  }
  auto wait_answers = [&](int n) {
    const int target = answered.load() + n;
    for (int i = 0; i < 2000 && answered.load() < target; ++i) absl::SleepFor(absl::Milliseconds(5));
  };
  for (int v = 2; v <= kLast; ++v) {
    wait_answers(100);
    AddVersion(root_ / "m", v);
    ASSERT_TRUE(repo->Load("m").ok());  // returns once the version before drained and went
    serving.store(v);
  }
  wait_answers(100);
  stop.store(true);
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(mismatched.load(), 0);
  EXPECT_EQ(stale.load(), 0);
  EXPECT_GE(answered.load(), 100 * kLast);
  for (int v = 1; v < kLast; ++v) EXPECT_EQ(StateOf(*repo, "m", v), "UNAVAILABLE") << v;
  EXPECT_EQ(StateOf(*repo, "m", kLast), "READY");
  EXPECT_EQ(InferOnce(*repo, "m")->model_version, kLast);
  EXPECT_EQ(loader_->live(), instances);  // only the last version's runners remain
  const LoadStats loads = repo->LoadStatsSnapshot().at("m");
  EXPECT_EQ(loads.succeeded, kLast);
  EXPECT_EQ(loads.failed, 0);
  EXPECT_EQ(loads.seconds.count, static_cast<uint64_t>(kLast));
}

// The same version number with new files is reloaded in place, again without downtime.
TEST_F(ModelRepositoryTest, ChangedFilesReloadAVersionInPlace) {
  AddModel(root_ / "m");
  std::unique_ptr<ModelRepository> repo = Open(Explicit({"m"}));
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  ASSERT_TRUE(repo->Load("m").ok());  // nothing changed: nothing loads
  EXPECT_EQ(loader_->get().prepared(), 1);
  std::ofstream(root_ / "m" / "1" / "model.pt") << "retrained, and longer than before";
  ASSERT_TRUE(repo->Load("m").ok());
  EXPECT_EQ(loader_->get().prepared(), 2);
  EXPECT_EQ(StateOf(*repo, "m", 1), "READY");
  EXPECT_EQ(loader_->live(), repo->GetModelInfo("m")->setup.instances);  // the first load's runners went
  EXPECT_TRUE(InferOnce(*repo, "m").ok());
}

// A new version that fails to load leaves the one before it serving, with the failure reported.
TEST_F(ModelRepositoryTest, ABrokenNewVersionLeavesTheOldOneServing) {
  AddModel(root_ / "m");
  loader_ = std::make_unique<Loader>(std::set<int64_t>{2});
  std::unique_ptr<ModelRepository> repo = Open(Explicit({"m"}));
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  AddVersion(root_ / "m", 2);
  absl::Status load = repo->Load("m");
  EXPECT_FALSE(load.ok());
  EXPECT_NE(load.message().find("version 2: no such op: aten::frobnicate"), std::string::npos) << load;
  EXPECT_EQ(StateOf(*repo, "m", 1), "READY");
  EXPECT_EQ(StateOf(*repo, "m", 2), "UNAVAILABLE");
  absl::StatusOr<InferenceResponse> answer = InferOnce(*repo, "m");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->model_version, 1);
  EXPECT_TRUE(repo->AllReady());
  EXPECT_EQ(repo->LoadStatsSnapshot().at("m").failed, 1);
}

// Note [atomic pickup]: poll mode acts on a change only once two polls in a row scanned it the
// same way, and a version folder counts only once its model file exists.
TEST_F(ModelRepositoryTest, PollingPicksUpOnlyCompleteUnchangedVersions) {
  AddModel(root_ / "m");
  std::unique_ptr<ModelRepository> repo = Open(Polling());
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  fs::create_directories(root_ / "m" / "2");  // being copied: no model file yet
  std::ofstream(root_ / "m" / "2" / "README") << "copy in progress";
  repo->Poll();
  repo->Poll();
  EXPECT_EQ(StateOf(*repo, "m", 2), "absent");
  std::ofstream(root_ / "m" / "2" / "model.pt") << "first half";
  repo->Poll();  // first seen: not yet
  EXPECT_EQ(StateOf(*repo, "m", 2), "absent");
  std::ofstream(root_ / "m" / "2" / "model.pt", std::ios::app) << " and the second half";
  repo->Poll();  // changed since the last poll: not yet
  EXPECT_EQ(StateOf(*repo, "m", 2), "absent");
  EXPECT_EQ(loader_->get().prepared(), 1);
  repo->Poll();  // unchanged across two polls: loaded, and version 1 gives way
  EXPECT_EQ(StateOf(*repo, "m", 2), "READY");
  EXPECT_EQ(StateOf(*repo, "m", 1), "UNAVAILABLE");
  EXPECT_EQ(InferOnce(*repo, "m")->model_version, 2);
  repo->Poll();  // nothing changed: nothing loads again
  EXPECT_EQ(loader_->get().prepared(), 2);

  AddModel(root_ / "n");  // a new model
  repo->Poll();
  EXPECT_EQ(repo->ModelNames(), (std::vector<std::string>{"m"}));
  repo->Poll();
  EXPECT_EQ(repo->ModelNames(), (std::vector<std::string>{"m", "n"}));
  EXPECT_TRUE(InferOnce(*repo, "n").ok());
  ASSERT_EQ(std::system(("rm -rf '" + (root_ / "n").string() + "'").c_str()), 0);  // a model removed
  repo->Poll();
  repo->Poll();
  EXPECT_EQ(repo->ModelNames(), (std::vector<std::string>{"m"}));
  EXPECT_EQ(loader_->live(), repo->GetModelInfo("m")->setup.instances);
}

// Kubernetes updates a ConfigMap volume by writing a new `..<timestamp>` folder and renaming a
// new `..data` symlink over the old one; the models, symlinks through `..data`, change at once.
TEST_F(ModelRepositoryTest, PollingFollowsAConfigMapSymlinkSwap) {
  AddModel(root_ / "..ts1" / "m");
  fs::create_directory_symlink("..ts1", root_ / "..data");
  fs::create_directory_symlink(fs::path("..data") / "m", root_ / "m");
  std::unique_ptr<ModelRepository> repo = Open(Polling());
  ASSERT_NE(repo, nullptr);
  repo->LoadAtStart();
  EXPECT_EQ(InferOnce(*repo, "m")->model_version, 1);
  AddModel(root_ / "..ts2" / "m", {1, 2});
  fs::create_directory_symlink("..ts2", root_ / "..data_tmp");
  fs::rename(root_ / "..data_tmp", root_ / "..data");  // atomic, as kubelet does it
  ASSERT_EQ(std::system(("rm -rf '" + (root_ / "..ts1").string() + "'").c_str()), 0);
  repo->Poll();
  repo->Poll();
  EXPECT_EQ(StateOf(*repo, "m", 2), "READY");
  EXPECT_EQ(InferOnce(*repo, "m")->model_version, 2);
}

}  // namespace
}  // namespace seqserve
