#include "runtime/execution/model_executor.h"

#include <atomic>
#include <cstring>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "memory/caching_allocator.h"
#include "memory/host_backend.h"

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

// y = x + 1 for every request of `batch`, padding removed: what the fake runners answer.
void PlusOneOutputs(const ModelSignature& sig, const Batch& batch, std::vector<InferenceResponse>& responses) {
  std::vector<int32_t> buffer(batch.rows * batch.padded_length);
  AssembleInput(sig, 0, batch, reinterpret_cast<char*>(buffer.data()));
  for (int32_t& v : buffer) v += 1;
  int64_t row = 0;
  for (size_t i = 0; i < batch.requests.size(); ++i) {
    responses[i].outputs.push_back(
        ExtractOutput(sig, 0, batch, reinterpret_cast<const char*>(buffer.data()), row, *batch.requests[i]));
    row += batch.requests[i]->rows;
  }
}

class PlusOneRunner : public BatchRunner {
 public:
  explicit PlusOneRunner(const ModelSignature& sig, absl::Duration compute) : sig_(sig), compute_(compute) {}
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    absl::SleepFor(compute_);
    PlusOneOutputs(sig_, batch, responses);
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
                  .Start(
                      [&sig](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                        return std::make_unique<PlusOneRunner>(sig, absl::Milliseconds(1));
                      },
                      warmup)
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
          bool ok =
              result.ok() && result->outputs.size() == 1 && result->outputs[0].shape == std::vector<int64_t>{1, length};
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
                  .Start(
                      [&sig](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                        return std::make_unique<PlusOneRunner>(sig, absl::ZeroDuration());
                      },
                      WarmupOptions{})
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
    absl::Status Run(const Batch&, std::vector<InferenceResponse>&) override { return absl::InternalError("boom"); }
  };
  WarmupOptions warmup;
  warmup.lengths = {8};
  absl::Status status = executor.Start(
      [](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> { return std::make_unique<Failing>(); }, warmup);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("warm-up at 1 rows x length 8 failed: boom"), std::string::npos) << status;
}

// Plus-one, except that a batch holding the value 13 anywhere fails as a whole with `error`,
// and (when rows_that_fit > 0) a batch of more rows fails RESOURCE_EXHAUSTED, like a pool.
class PoisonRunner : public BatchRunner {
 public:
  PoisonRunner(const ModelSignature& sig, absl::Status error, int64_t rows_that_fit = 0)
      : sig_(sig), error_(std::move(error)), rows_that_fit_(rows_that_fit) {}
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    if (rows_that_fit_ > 0 && batch.rows > rows_that_fit_) return absl::ResourceExhaustedError("pool refused");
    std::vector<int32_t> buffer(batch.rows * batch.padded_length);
    AssembleInput(sig_, 0, batch, reinterpret_cast<char*>(buffer.data()));
    for (int32_t v : buffer) {
      if (v == 13) return error_;
    }
    PlusOneOutputs(sig_, batch, responses);
    return absl::OkStatus();
  }

 private:
  const ModelSignature& sig_;
  const absl::Status error_;
  const int64_t rows_that_fit_;
};

struct Outcome {
  absl::StatusCode code = absl::StatusCode::kUnknown;
  std::string message;
  std::vector<int32_t> y;
};

// Submits one single-row request per value (length 4, all elements that value) while the queue
// holds them (60 s delay), then Stop() hands them out as one batch. Returns each one's outcome.
std::vector<Outcome> RunAsOneBatch(ModelExecutor& executor, const std::vector<int32_t>& values) {
  std::vector<Outcome> outcomes(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->rows = 1;
    r->sequence_length = 4;
    r->output_indices = {0};
    std::vector<int32_t> x(4, values[i]);
    r->inputs.push_back({"x", DataType::kInt32, {1, 4}, std::string(reinterpret_cast<const char*>(x.data()), 16)});
    r->done = [&outcomes, i](absl::StatusOr<InferenceResponse> result) {
      outcomes[i].code = result.status().code();
      outcomes[i].message = std::string(result.status().message());
      if (result.ok()) {
        outcomes[i].y.resize(4);
        std::memcpy(outcomes[i].y.data(), result->outputs[0].data.data(), 16);
      }
    };
    EXPECT_TRUE(executor.Submit(r).ok());
  }
  executor.Stop();
  return outcomes;
}

BatcherOptions OneBatchOptions() {
  BatcherOptions options;
  options.max_queue_delay = absl::Seconds(60);  // only Stop() releases the requests, all at once
  options.bucket_edges = DefaultBucketEdges(64);
  return options;
}

absl::Status StartWith(ModelExecutor& executor, const ModelSignature& sig, absl::Status error, int64_t rows_that_fit) {
  return executor.Start(
      [&sig, error, rows_that_fit](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
        return std::make_unique<PoisonRunner>(sig, error, rows_that_fit);
      },
      WarmupOptions{});
}

TEST(ModelExecutorTest, OnePoisonRequestFailsAloneAndItsCompanionsGetTheirAnswers) {
  const ModelSignature sig = EchoSignature();
  ModelExecutor executor(sig, OneBatchOptions(), 1);
  ASSERT_TRUE(StartWith(executor, sig, absl::InternalError("model execution failed: poison"), 0).ok());
  const std::vector<int32_t> values = {1, 2, 3, 13, 5, 6, 7};
  const std::vector<Outcome> outcomes = RunAsOneBatch(executor, values);
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == 13) {
      EXPECT_EQ(outcomes[i].code, absl::StatusCode::kInternal);
      EXPECT_EQ(outcomes[i].message, "model execution failed: poison");
    } else {
      EXPECT_EQ(outcomes[i].code, absl::StatusCode::kOk) << i << ": " << outcomes[i].message;
      EXPECT_EQ(outcomes[i].y, std::vector<int32_t>(4, values[i] + 1)) << i;
    }
  }
  const ExecutionStats stats = executor.execution_stats();
  EXPECT_EQ(stats.success_count, 6);
  EXPECT_EQ(stats.fail_count - stats.oom_failures, 1);  // the model's own failures
  EXPECT_EQ(stats.fail_count, 1);
  EXPECT_GE(stats.batch_bisections, 3);  // 7 -> 3 + 4 -> ... down to the poison request alone
  EXPECT_EQ(stats.batch_splits, 0);
  EXPECT_EQ(stats.oom_failures, 0);
}

TEST(ModelExecutorTest, OutOfMemorySplitsAndEveryRequestSucceeds) {
  const ModelSignature sig = EchoSignature();
  ModelExecutor executor(sig, OneBatchOptions(), 1);
  ASSERT_TRUE(StartWith(executor, sig, absl::OkStatus(), /*rows_that_fit=*/2).ok());
  const std::vector<Outcome> outcomes = RunAsOneBatch(executor, {1, 2, 3, 4, 5, 6, 7});
  for (const Outcome& o : outcomes) EXPECT_EQ(o.code, absl::StatusCode::kOk) << o.message;
  const ExecutionStats stats = executor.execution_stats();
  EXPECT_EQ(stats.success_count, 7);
  EXPECT_GE(stats.batch_splits, 3);
  EXPECT_EQ(stats.batch_bisections, 0);
}

// The executor goes by the status code the runner chose (by type, memory/allocation_refusal.h),
// never by the words: a model error that says "out of memory" is bisected, not split, and the
// request that fails alone gets INTERNAL, not RESOURCE_EXHAUSTED.
TEST(ModelExecutorTest, AModelErrorThatSaysOutOfMemoryIsNotTakenForOne) {
  const ModelSignature sig = EchoSignature();
  ModelExecutor executor(sig, OneBatchOptions(), 1);
  ASSERT_TRUE(StartWith(executor, sig, absl::InternalError("CUDA out of memory. Tried to allocate"), 0).ok());
  const std::vector<Outcome> outcomes = RunAsOneBatch(executor, {13, 2, 3, 4});
  EXPECT_EQ(outcomes[0].code, absl::StatusCode::kInternal);
  for (size_t i = 1; i < outcomes.size(); ++i) EXPECT_EQ(outcomes[i].code, absl::StatusCode::kOk);
  const ExecutionStats stats = executor.execution_stats();
  EXPECT_EQ(stats.batch_splits, 0);
  EXPECT_GE(stats.batch_bisections, 1);
  EXPECT_EQ(stats.oom_failures, 0);
  EXPECT_EQ(stats.fail_count - stats.oom_failures, 1);  // the model's own failures
}

// A client that gives up while its batch fails is answered CANCELLED, not computed again.
TEST(ModelExecutorTest, RequestsThatDieWhileTheirBatchFailsAreNotRetried) {
  const ModelSignature sig = EchoSignature();
  ModelExecutor executor(sig, OneBatchOptions(), 1);
  auto gives_up = std::make_shared<CancellationFlag>();
  class CancelsOnFailure : public PoisonRunner {
   public:
    CancelsOnFailure(const ModelSignature& sig, std::shared_ptr<CancellationFlag> flag)
        : PoisonRunner(sig, absl::InternalError("poison")), flag_(std::move(flag)) {}
    absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
      absl::Status status = PoisonRunner::Run(batch, responses);
      if (!status.ok()) flag_->Cancel();  // the client of value 2 hangs up meanwhile
      return status;
    }

   private:
    std::shared_ptr<CancellationFlag> flag_;
  };
  ASSERT_TRUE(executor
                  .Start(
                      [&](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                        return std::make_unique<CancelsOnFailure>(sig, gives_up);
                      },
                      WarmupOptions{})
                  .ok());
  const std::vector<int32_t> values = {1, 2, 13, 4};
  std::vector<absl::StatusCode> codes(values.size(), absl::StatusCode::kUnknown);
  for (size_t i = 0; i < values.size(); ++i) {
    auto r = std::make_unique<InferenceRequest>();
    r->rows = 1;
    r->sequence_length = 4;
    r->output_indices = {0};
    if (values[i] == 2) r->cancel = gives_up;
    std::vector<int32_t> x(4, values[i]);
    r->inputs.push_back({"x", DataType::kInt32, {1, 4}, std::string(reinterpret_cast<const char*>(x.data()), 16)});
    r->done = [&codes, i](absl::StatusOr<InferenceResponse> result) { codes[i] = result.status().code(); };
    ASSERT_TRUE(executor.Submit(r).ok());
  }
  executor.Stop();
  EXPECT_EQ(codes, (std::vector<absl::StatusCode>{absl::StatusCode::kOk, absl::StatusCode::kCancelled,
                                                  absl::StatusCode::kInternal, absl::StatusCode::kOk}));
  const ExecutionStats stats = executor.execution_stats();
  EXPECT_EQ(stats.cancelled_in_retry, 1);
  EXPECT_EQ(stats.success_count, 2);
}

TEST(ModelExecutorTest, AbortedWarmUpStopsBetweenBatches) {
  const ModelSignature sig = EchoSignature();
  ModelExecutor executor(sig, BatcherOptions{}, 1);
  CancellationFlag abort;
  std::atomic<int> runs{0};
  class Counting : public BatchRunner {
   public:
    Counting(std::atomic<int>& runs, CancellationFlag& abort) : runs_(runs), abort_(abort) {}
    absl::Status Run(const Batch&, std::vector<InferenceResponse>&) override {
      if (++runs_ == 3) abort_.Cancel();  // SIGTERM arrives during the third warm-up batch
      return absl::OkStatus();
    }

   private:
    std::atomic<int>& runs_;
    CancellationFlag& abort_;
  };
  WarmupOptions warmup;
  warmup.lengths = {8, 16, 32};
  warmup.iterations = 100;
  absl::Status status = executor.Start(
      [&](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> { return std::make_unique<Counting>(runs, abort); },
      warmup, &abort);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(runs.load(), 3);
}

// Row chunks and memory-aware batching ------------------------------------------------------------

// Plus-one that holds `bytes_per_token` x rows x padded length of pool memory while it runs (a
// model's activations, as the executor's AllocationScope sees them) and records the largest
// batch it ran and whether any batch exceeded `most_tokens` (0: no check).
class ActivationsRunner : public BatchRunner {
 public:
  ActivationsRunner(const ModelSignature& sig, memory::CachingAllocator* pool, int64_t bytes_per_token)
      : sig_(sig), pool_(pool), bytes_per_token_(bytes_per_token) {}
  absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) override {
    absl::StatusOr<void*> activations = pool_->Allocate(bytes_per_token_ * batch.rows * batch.padded_length);
    if (!activations.ok()) return activations.status();
    PlusOneOutputs(sig_, batch, responses);
    int64_t seen = largest_tokens.load();
    while (seen < batch.rows * batch.padded_length &&
           !largest_tokens.compare_exchange_weak(seen, batch.rows * batch.padded_length)) {
    }
    return pool_->Free(*activations);
  }
  static std::atomic<int64_t> largest_tokens;

 private:
  const ModelSignature& sig_;
  memory::CachingAllocator* const pool_;
  const int64_t bytes_per_token_;
};
std::atomic<int64_t> ActivationsRunner::largest_tokens{0};

ModelSignature WideSignature() {
  ModelSignature sig = EchoSignature();
  sig.max_batch_size = 64;
  return sig;
}

// One request of `rows` x `length`, element (r, t) = seed + r * 100 + t.
std::unique_ptr<InferenceRequest> RowsRequest(int64_t rows, int64_t length, int32_t seed,
                                              absl::StatusOr<InferenceResponse>* out, std::atomic<int>* done) {
  auto r = std::make_unique<InferenceRequest>();
  r->rows = rows;
  r->sequence_length = length;
  r->output_indices = {0};
  std::vector<int32_t> x(rows * length);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t t = 0; t < length; ++t) x[i * length + t] = seed + static_cast<int32_t>(i * 100 + t);
  }
  r->inputs.push_back(
      {"x", DataType::kInt32, {rows, length}, std::string(reinterpret_cast<const char*>(x.data()), x.size() * 4)});
  r->done = [out, done](absl::StatusOr<InferenceResponse> result) {
    *out = std::move(result);
    done->fetch_add(1);
  };
  return r;
}

struct Shape {
  int64_t rows, length;
};
const std::vector<Shape> kMixedShapes = {{7, 5}, {13, 33}, {32, 64}, {1, 2}, {64, 10}, {3, 64}, {50, 17}};

// Runs kMixedShapes through an executor with `options` (and `gate`), returning each output's bytes.
std::vector<std::string> RunShapes(BatcherOptions options, MemoryGate* gate, memory::CachingAllocator* pool,
                                   ExecutionStats* stats = nullptr) {
  const ModelSignature sig = WideSignature();
  options.bucket_edges = DefaultBucketEdges(64);
  ModelExecutor executor(sig, options, /*instances=*/2, "chunks", gate);
  WarmupOptions warmup;
  warmup.lengths = {1, 16, 64};
  warmup.max_batch_tokens = options.max_batch_tokens;
  EXPECT_TRUE(executor
                  .Start(
                      [&](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                        return std::make_unique<ActivationsRunner>(sig, pool, 4096);
                      },
                      warmup)
                  .ok());
  ActivationsRunner::largest_tokens = 0;
  std::vector<absl::StatusOr<InferenceResponse>> results(kMixedShapes.size(), absl::UnknownError("not done"));
  std::atomic<int> done{0};
  for (size_t i = 0; i < kMixedShapes.size(); ++i) {
    auto r =
        RowsRequest(kMixedShapes[i].rows, kMixedShapes[i].length, static_cast<int32_t>(i * 10000), &results[i], &done);
    EXPECT_TRUE(executor.Submit(r).ok());
    EXPECT_EQ(r, nullptr);
  }
  executor.Stop();
  EXPECT_EQ(done.load(), static_cast<int>(kMixedShapes.size()));
  std::vector<std::string> outputs;
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    if (!results[i].ok()) return {};
    const Tensor& y = results[i]->outputs[0];
    EXPECT_EQ(y.shape, (std::vector<int64_t>{kMixedShapes[i].rows, kMixedShapes[i].length}));
    outputs.push_back(y.data);
  }
  if (stats != nullptr) *stats = executor.execution_stats();
  return outputs;
}

std::unique_ptr<memory::CachingAllocator> TestPool(memory::HostBackend& backend) {
  return *memory::CachingAllocator::Create(&backend);
}

TEST(RowChunksTest, ChunkedRequestsReturnExactlyTheUnchunkedOutputs) {
  memory::HostBackend backend;
  auto pool = TestPool(backend);
  BatcherOptions whole;
  whole.max_batch_size = 64;
  whole.max_batch_tokens = 64 * 64;  // every request fits one batch
  ExecutionStats whole_stats;
  const std::vector<std::string> expected = RunShapes(whole, nullptr, pool.get(), &whole_stats);
  ASSERT_EQ(expected.size(), kMixedShapes.size());
  EXPECT_EQ(whole_stats.chunked_requests, 0);

  BatcherOptions small = whole;
  small.max_batch_tokens = 100;  // 32 x 64 becomes 32 chunks of one row; 64 x 10, 7 chunks of 10
  ExecutionStats chunked_stats;
  const std::vector<std::string> chunked = RunShapes(small, nullptr, pool.get(), &chunked_stats);
  ASSERT_EQ(chunked.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(chunked[i], expected[i]) << "request " << i;
  EXPECT_LE(ActivationsRunner::largest_tokens.load(), 100);
  // 13x33 -> 5 of 3 rows; 32x64 -> 32 of 1; 64x10 -> 7 of 10; 3x64 -> 3 of 1; 50x17 -> 10 of 5 (and 7x5 fits)
  EXPECT_EQ(chunked_stats.chunked_requests, 5);
  EXPECT_EQ(chunked_stats.row_chunks, 5 + 32 + 7 + 3 + 10);
  EXPECT_EQ(chunked_stats.success_count, chunked_stats.row_chunks + 2);  // each chunk is a request to the runtime
}

TEST(RowChunksTest, AFailingChunkFailsItsRequestAlone) {
  const ModelSignature sig = WideSignature();
  BatcherOptions options = OneBatchOptions();
  options.max_batch_size = 64;
  options.max_batch_tokens = 8;  // 2 rows of 4 per chunk
  ModelExecutor executor(sig, options, 1);
  ASSERT_TRUE(StartWith(executor, sig, absl::InternalError("model execution failed: poison"), 0).ok());
  // Request A: 6 rows, the third holding 13. Request B: 2 clean rows.
  std::vector<absl::StatusOr<InferenceResponse>> results(2, absl::UnknownError("not done"));
  std::atomic<int> done{0};
  auto a = RowsRequest(6, 4, 0, &results[0], &done);
  std::vector<int32_t> x(24, 1);
  x[2 * 4 + 1] = 13;
  a->inputs[0].data.assign(reinterpret_cast<const char*>(x.data()), x.size() * 4);
  auto b = RowsRequest(2, 4, 500, &results[1], &done);
  ASSERT_TRUE(executor.Submit(a).ok());
  ASSERT_TRUE(executor.Submit(b).ok());
  executor.Stop();
  ASSERT_EQ(done.load(), 2);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kInternal) << results[0].status();
  EXPECT_EQ(results[0].status().message(), "model execution failed: poison");
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(results[1]->outputs[0].shape, (std::vector<int64_t>{2, 4}));
}

TEST(MemoryAwareBatchingTest, BatchesFitTheBudgetAndARowThatCannotFitIsRefused) {
  memory::HostBackend backend;
  auto pool = TestPool(backend);
  BatcherOptions options;
  options.max_batch_size = 64;
  options.max_batch_tokens = 64 * 64;
  // Warm-up measures 4096 B per token; batches may hold 200 tokens' worth at once in total.
  MemoryGate gate;
  gate.SetBudget(4096 * 200);
  ExecutionStats stats;
  const std::vector<std::string> gated = RunShapes(options, &gate, pool.get(), &stats);
  ASSERT_EQ(gated.size(), kMixedShapes.size());
  EXPECT_LE(ActivationsRunner::largest_tokens.load(), 200);
  EXPECT_GT(stats.chunked_requests, 0);
  // Measured / predicted is recorded per batch, and the envelope does not under-predict.
  EXPECT_GT(stats.memory_actual_over_predicted.count, 0u);
  EXPECT_LE(stats.memory_actual_over_predicted.sum / stats.memory_actual_over_predicted.count, 1.0001);
  BatcherOptions whole = options;
  EXPECT_EQ(gated, RunShapes(whole, nullptr, pool.get()));  // same answers as without the gate

  // A budget below one row of 64 tokens: that request is refused, saying what it needs.
  const ModelSignature sig = WideSignature();
  options.bucket_edges = DefaultBucketEdges(64);
  ModelExecutor executor(sig, options, 1, "tight", &gate);
  WarmupOptions warmup;
  warmup.lengths = {1, 64};
  ASSERT_TRUE(executor
                  .Start(
                      [&](int) -> absl::StatusOr<std::unique_ptr<BatchRunner>> {
                        return std::make_unique<ActivationsRunner>(sig, pool.get(), 4096);
                      },
                      warmup)
                  .ok());
  gate.SetBudget(4096 * 32);
  absl::StatusOr<InferenceResponse> result = absl::UnknownError("not done");
  std::atomic<int> done{0};
  auto r = RowsRequest(1, 64, 0, &result, &done);
  const absl::Status refused = executor.Submit(r);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("memory budget"), std::string::npos) << refused;
  ASSERT_NE(r, nullptr);                              // left with the caller
  auto small = RowsRequest(4, 8, 0, &result, &done);  // 32 tokens fit: served
  EXPECT_TRUE(executor.Submit(small).ok());
  executor.Stop();
  EXPECT_EQ(done.load(), 1);
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(executor.execution_stats().memory_refusals, 1);
}

TEST(RowChunksTest, ARequestThatRunsOutOfMemoryAloneIsCutInRowChunksAndSucceeds) {
  // The pool takes 3 rows at most (a cost model that under-predicted): an 8-row request, alone
  // in its batch, is halved until its chunks fit, and gets every row's answer in order.
  const ModelSignature sig = WideSignature();
  BatcherOptions options = OneBatchOptions();
  options.max_batch_size = 64;
  ModelExecutor executor(sig, options, 1);
  ASSERT_TRUE(StartWith(executor, sig, absl::InternalError("unused"), /*rows_that_fit=*/3).ok());
  absl::StatusOr<InferenceResponse> result = absl::UnknownError("not done");
  std::atomic<int> done{0};
  auto r = RowsRequest(8, 4, 100, &result, &done);
  ASSERT_TRUE(executor.Submit(r).ok());
  executor.Stop();
  ASSERT_EQ(done.load(), 1);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<int32_t> y(8 * 4);
  ASSERT_EQ(result->outputs[0].data.size(), y.size() * 4);
  std::memcpy(y.data(), result->outputs[0].data.data(), y.size() * 4);
  for (int64_t i = 0; i < 8; ++i) {
    for (int64_t t = 0; t < 4; ++t) EXPECT_EQ(y[i * 4 + t], 100 + i * 100 + t + 1) << i << "," << t;
  }
  const ExecutionStats stats = executor.execution_stats();
  EXPECT_EQ(stats.batch_splits, 3);  // 8 -> 4 + 4 -> 2 + 2 + 2 + 2
  EXPECT_EQ(stats.oom_failures, 0);
}

}  // namespace
}  // namespace seqserve
