// FakeRepository: a real ModelRepository over a temporary directory holding one model, "echo"
// (input x: FP32 [2] per row, output y = x, up to 8 rows a batch), whose runners come from a
// FakeLoader, so the server's request path, streams and metrics are tested without libtorch.
// Tests steer the runner: hold batches until released, fail them, and read what it saw.
// Thread-safe (runners run on executor threads).
#ifndef SEQSERVE_TESTS_TESTING_FAKE_REPOSITORY_H_
#define SEQSERVE_TESTS_TESTING_FAKE_REPOSITORY_H_

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "memory/mutex.h"
#include "runtime/execution/inference_request.h"
#include "runtime/repository/model_repository.h"
#include "tests/testing/fake_loader.h"

namespace seqserve {

inline constexpr char kEchoConfig[] = R"pb(
  max_batch_size: 8
  input { name: "x" data_type: FP32 dims: [2] }
  output { name: "y" data_type: FP32 dims: [2] }
  batching { max_queue_delay_microseconds: 1000 }
)pb";

class FakeRepository {
 public:
  explicit FakeRepository(const std::string& config = kEchoConfig)
      : root_(std::filesystem::temp_directory_path() /
              ("seqserve_fake_repo_" + std::to_string(getpid()) + "_" + std::to_string(counter_++))),
        loader_([this](const VersionToLoad&, int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
          return std::make_unique<Runner>(*this);
        }) {
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "echo" / "1");
    std::ofstream(root_ / "echo" / "1" / "model.pt") << "fake";
    std::ofstream(root_ / "echo" / "config.pbtxt") << config;
    absl::StatusOr<std::unique_ptr<ModelRepository>> opened = ModelRepository::Open(root_.string(), loader_);
    EXPECT_TRUE(opened.ok()) << opened.status();
    repository_ = std::move(*opened);
    repository_->LoadAtStart();
    EXPECT_TRUE(repository_->AllReady());
    ready_.store(true);
  }
  ~FakeRepository() {
    Release();
    repository_->Shutdown();
    repository_.reset();
    std::filesystem::remove_all(root_);
  }

  ModelRepository& repository() { return *repository_; }

  // Batches from now on wait in the runner until Release().
  void Hold() {
    MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    MutexLock lock(&mu_);
    held_ = false;
    cv_.SignalAll();
  }
  // Batches from now on fail with `status` (OK: succeed again).
  void FailWith(absl::Status status) {
    MutexLock lock(&mu_);
    failure_ = std::move(status);
  }
  // Batches the runner began since the repository was ready (warm-up excluded).
  int batches() const { return batches_.load(); }
  // Waits (at most 10 s) until at least `n` batches have begun; false on timeout.
  bool WaitForBatches(int n) const {
    for (int i = 0; i < 1000 && batches() < n; ++i) absl::SleepFor(absl::Milliseconds(10));
    return batches() >= n;
  }
  // The deadline of every request the runner saw, in order (warm-up excluded).
  std::vector<absl::Time> deadlines() const {
    MutexLock lock(&mu_);
    return deadlines_;
  }

  // A request for "echo" of `rows` rows of x = {1, 2}; `done` unset.
  static std::unique_ptr<InferenceRequest> EchoRequest(int64_t rows = 1) {
    auto request = std::make_unique<InferenceRequest>();
    request->model_name = "echo";
    std::vector<float> x;
    for (int64_t r = 0; r < rows; ++r) x.insert(x.end(), {1.0f, 2.0f});
    request->inputs.push_back({"x",
                               DataType::kFp32,
                               {rows, 2},
                               std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float))});
    return request;
  }

 private:
  class Runner : public BatchRunner {
   public:
    explicit Runner(FakeRepository& owner) : owner_(owner) {}
    absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
      const bool warmup = !owner_.ready_.load();
      if (!warmup) owner_.batches_.fetch_add(1);
      absl::Status failure;
      {
        MutexLock lock(&owner_.mu_);
        if (!warmup) {
          for (const auto& r : batch.requests) owner_.deadlines_.push_back(r->deadline);
        }
        while (owner_.held_) owner_.cv_.Wait(&owner_.mu_);
        failure = owner_.failure_;
      }
      if (!failure.ok()) return failure;
      for (size_t i = 0; i < batch.requests.size(); ++i) {
        const Tensor& x = batch.requests[i]->inputs[0];
        responses[i].outputs.push_back({"y", DataType::kFp32, x.shape, std::string(x.bytes())});
      }
      return absl::OkStatus();
    }

   private:
    FakeRepository& owner_;
  };

  static inline std::atomic<int> counter_{0};
  const std::filesystem::path root_;
  FakeLoader loader_;
  std::unique_ptr<ModelRepository> repository_;
  std::atomic<bool> ready_{false};  // loaded: batches from now on are requests', not warm-up's
  std::atomic<int> batches_{0};

  mutable Mutex mu_;
  CondVar cv_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve

#endif  // SEQSERVE_TESTS_TESTING_FAKE_REPOSITORY_H_
