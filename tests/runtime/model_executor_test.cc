#include "runtime/model_executor.h"

#include <atomic>
#include <cstring>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace seqserve {
namespace {

// x: [rows, L] INT32 -> y: [rows, L] INT32 = x + 1. Records the batches it saw.
ModelSignature EchoSignature() {
  ModelSignature sig;
  sig.sequence_axis = 0;
  sig.max_sequence_length = 64;
  sig.max_batch_size = 8;
  sig.inputs.push_back({"x", DataType::kInt32, {-1}, true, EncodeScalar(DataType::kInt32, 0)});
  sig.outputs.push_back({"y", DataType::kInt32, {-1}, true, ""});
  return sig;
}

class PlusOneRunner : public BatchRunner {
 public:
  explicit PlusOneRunner(const ModelSignature& sig, absl::Duration compute) : sig_(sig), compute_(compute) {}
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    std::vector<int32_t> buffer(batch.rows * batch.padded_length);
    AssembleInput(sig_, 0, batch, reinterpret_cast<char*>(buffer.data()));
    for (int32_t& v : buffer) v += 1;
    absl::SleepFor(compute_);
    int64_t row = 0;
    for (size_t i = 0; i < batch.requests.size(); ++i) {
      responses[i].outputs.push_back(
          ExtractOutput(sig_, 0, batch, reinterpret_cast<const char*>(buffer.data()), row, *batch.requests[i]));
      row += batch.requests[i]->rows;
    }
    batches_.fetch_add(1);
    return absl::OkStatus();
  }
  static std::atomic<int> batches_;

 private:
  const ModelSignature& sig_;
  const absl::Duration compute_;
};
std::atomic<int> PlusOneRunner::batches_{0};

TEST(ModelExecutorTest, WarmsUpThenServesConcurrentRequestsToTheRightCallers) {
  const ModelSignature sig = EchoSignature();
  BatcherOptions options;
  options.max_batch_size = 8;
  options.max_queue_delay = absl::Milliseconds(2);
  options.bucket_edges = DefaultBucketEdges(64);
  ModelExecutor executor(sig, options, /*instances=*/2);
  WarmupOptions warmup;
  warmup.lengths = {1, 64};
  PlusOneRunner::batches_ = 0;
  ASSERT_TRUE(executor
                  .Start([&sig](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                    return std::make_unique<PlusOneRunner>(sig, absl::Milliseconds(1));
                  }, warmup)
                  .ok());
  EXPECT_GE(PlusOneRunner::batches_.load(), 2 * 2 * 2 * 2);  // instances x lengths x rows x iterations

  // 4 client threads x 50 requests, each tagged by its contents; every answer must be its own.
  constexpr int kThreads = 4, kPerThread = 50;
  std::atomic<int> correct{0}, finished{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int32_t tag = t * 1000 + i;
        const int64_t length = 1 + (tag * 7) % 64;
        auto r = std::make_unique<InferenceRequest>();
        r->model_name = "echo";
        r->rows = 1;
        r->sequence_length = length;
        r->output_indices = {0};
        Tensor x{"x", DataType::kInt32, {1, length}, ""};
        std::vector<int32_t> values(length, tag);
        x.data.assign(reinterpret_cast<const char*>(values.data()), length * 4);
        r->inputs.push_back(std::move(x));
        r->done = [&, tag, length](absl::StatusOr<InferenceResponse> result) {
          bool ok = result.ok() && result->outputs.size() == 1 &&
                    result->outputs[0].shape == std::vector<int64_t>{1, length};
          if (ok) {
            std::vector<int32_t> y(length);
            std::memcpy(y.data(), result->outputs[0].data.data(), length * 4);
            for (int32_t v : y) ok = ok && v == tag + 1;
          }
          correct += ok;
          ++finished;
        };
        while (true) {
          absl::Status status = executor.Submit(r);
          if (status.ok()) break;
          ASSERT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
          absl::SleepFor(absl::Milliseconds(1));
        }
      }
    });
  }
  for (std::thread& c : clients) c.join();
  const absl::Time limit = absl::Now() + absl::Seconds(30);
  while (finished.load() < kThreads * kPerThread && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(finished.load(), kThreads * kPerThread);
  EXPECT_EQ(correct.load(), kThreads * kPerThread);
  const ExecutionStats stats = executor.execution_stats();
  EXPECT_EQ(stats.success_count, kThreads * kPerThread);
  EXPECT_LE(stats.execution_count, kThreads * kPerThread);
}

TEST(ModelExecutorTest, StopCompletesEveryAcceptedRequest) {
  const ModelSignature sig = EchoSignature();
  BatcherOptions options;
  options.max_queue_delay = absl::Seconds(60);  // only Stop() can release a lone request
  options.bucket_edges = DefaultBucketEdges(64);
  ModelExecutor executor(sig, options, 1);
  ASSERT_TRUE(executor
                  .Start([&sig](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                    return std::make_unique<PlusOneRunner>(sig, absl::ZeroDuration());
                  }, WarmupOptions{})
                  .ok());
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->rows = 1;
    r->sequence_length = 4;
    r->output_indices = {0};
    r->inputs.push_back({"x", DataType::kInt32, {1, 4}, std::string(16, '\0')});
    r->done = [&ok](absl::StatusOr<InferenceResponse> result) { ok += result.ok(); };
    ASSERT_TRUE(executor.Submit(r).ok());
  }
  executor.Stop();
  EXPECT_EQ(ok.load(), 3);
  auto late = std::make_unique<InferenceRequest>();
  EXPECT_EQ(executor.Submit(late).code(), absl::StatusCode::kUnavailable);
}

TEST(ModelExecutorTest, FailedWarmUpReportsTheReason) {
  const ModelSignature sig = EchoSignature();
  ModelExecutor executor(sig, BatcherOptions{}, 1);
  class Failing : public BatchRunner {
   public:
    absl::Status Run(const Batch&, std::vector<InferenceResponse>&) override {
      return absl::InternalError("boom");
    }
  };
  WarmupOptions warmup;
  warmup.lengths = {8};
  absl::Status status = executor.Start(
      [](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> { return std::make_unique<Failing>(); }, warmup);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("warm-up at 1 rows x length 8 failed: boom"), std::string::npos) << status;
}

}  // namespace
}  // namespace seqserve
