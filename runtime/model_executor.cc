#include "runtime/model_executor.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/logging.h"

namespace seqserve {
namespace {

// A request of `rows` rows of all-ones inputs at sequence length `length` (an input whose
// valid_range excludes 1 gets the range's lowest value).
std::unique_ptr<InferenceRequest> OnesRequest(const ModelSignature& sig, int64_t rows, int64_t length) {
  return SyntheticRequest(sig, rows, length, [](const TensorSpec& spec, std::string& data) {
    const bool one_is_valid = !spec.has_range || (spec.range_begin <= 1 && 1 < spec.range_end);
    const double value = one_is_valid ? 1.0 : static_cast<double>(spec.range_begin);
    const std::string one = EncodeScalar(spec.dtype, value);
    for (size_t i = 0; i + one.size() <= data.size(); i += one.size()) data.replace(i, one.size(), one);
  });
}

}  // namespace

absl::Status WarmUp(BatchRunner& runner, const ModelSignature& sig, const WarmupOptions& warmup,
                    const CancellationFlag* abort) {
  std::vector<int64_t> lengths = sig.has_sequence() ? warmup.lengths : std::vector<int64_t>{1};
  for (int64_t length : lengths) {
    int64_t most_rows = std::min<int64_t>(4, sig.max_batch_size);
    if (warmup.max_batch_tokens > 0 && sig.has_sequence()) {
      most_rows = std::max<int64_t>(1, std::min(most_rows, warmup.max_batch_tokens / length));
    }
    for (int64_t rows : most_rows > 1 ? std::vector<int64_t>{1, most_rows} : std::vector<int64_t>{1}) {
      Batch batch;
      batch.requests.push_back(OnesRequest(sig, rows, length));
      batch.rows = rows;
      batch.padded_length = batch.requests[0]->sequence_length;
      for (int i = 0; i < warmup.iterations; ++i) {
        if (abort != nullptr && abort->cancelled()) {
          return absl::CancelledError("warm-up stopped: the server is shutting down");
        }
        std::vector<InferenceResponse> responses(1);
        absl::Status status = runner.Run(batch, responses);
        if (!status.ok()) {
          return absl::Status(status.code(), absl::StrCat("warm-up at ", rows, " rows x length ",
                                                          length, " failed: ", status.message()));
        }
      }
    }
  }
  return absl::OkStatus();
}

ModelExecutor::ModelExecutor(ModelSignature signature, BatcherOptions batcher_options, int instances,
                             std::string name)
    : signature_(std::move(signature)),
      instances_(instances),
      name_(std::move(name)),
      batcher_(std::move(batcher_options), signature_.has_sequence()) {}

ModelExecutor::~ModelExecutor() { Stop(); }

absl::Status ModelExecutor::Start(const BatchRunnerFactory& factory, const WarmupOptions& warmup,
                                  const CancellationFlag* abort) {
  std::mutex mu;
  std::condition_variable cv;
  int pending = instances_;
  absl::Status first_error;
  for (int i = 0; i < instances_; ++i) {
    threads_.emplace_back([&, i, this] {
      absl::StatusOr<std::unique_ptr<BatchRunner>> runner = factory(i);
      absl::Status status = runner.ok() ? WarmUp(**runner, signature_, warmup, abort) : runner.status();
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!status.ok() && first_error.ok()) first_error = status;
        --pending;
        cv.notify_all();  // under the lock: Start() may return and destroy `cv` right after
      }
      if (status.ok()) Serve(**runner);
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return pending == 0; });
  absl::Status result = first_error;
  lock.unlock();
  if (!result.ok()) Stop();
  return result;
}

void ModelExecutor::Serve(BatchRunner& runner) {
  while (std::optional<Batch> batch = batcher_.NextBatch()) RunAndComplete(runner, std::move(*batch));
}

void ModelExecutor::RunAndComplete(BatchRunner& runner, Batch batch) {
  const absl::Time started = absl::Now();
  std::vector<InferenceResponse> responses(batch.requests.size());
  absl::Status status = runner.Run(batch, responses);
  const absl::Time done = absl::Now();
  const bool oom = absl::IsResourceExhausted(status);
  if (!status.ok() && batch.requests.size() > 1) {
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++(oom ? stats_.batch_splits : stats_.batch_bisections);
    }
    int64_t suppressed = 0;
    if (split_log_.Allow(done, &suppressed)) {
      LogWarning(name_, ": batch of ", batch.requests.size(), " requests (", batch.rows, " rows x ", batch.padded_length,
                 " tokens) ", oom ? "ran out of memory" : "failed", "; splitting it to isolate the failure",
                 suppressed > 0 ? absl::StrCat(" (", suppressed, " more splits since the last line)") : "");
    }
    std::pair<Batch, Batch> halves = SplitBatch(std::move(batch));
    RetryPart(runner, std::move(halves.first));
    RetryPart(runner, std::move(halves.second));
    return;
  }
  if (oom) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.oom_failures;
  }
  RecordBatch(batch, status.ok(), started, done);
  for (size_t i = 0; i < batch.requests.size(); ++i) {
    InferenceRequest& request = *batch.requests[i];
    request.timing.batch_started = started;
    request.timing.compute_done = done;
    request.timing.batch_rows = batch.rows;
    request.timing.padded_length = batch.padded_length;
    if (!status.ok()) {
      request.done(status);
      continue;
    }
    responses[i].model_version = request.model_version;
    responses[i].timing = request.timing;
    request.done(std::move(responses[i]));
  }
}

void ModelExecutor::RetryPart(BatchRunner& runner, Batch part) {
  // Never computed in vain: a request whose client gave up while the failed batch ran is
  // answered now, like one that died in the queue.
  const absl::Time now = absl::Now();
  std::vector<std::unique_ptr<InferenceRequest>> dead;
  RemoveDead(part, now, dead);
  if (!dead.empty()) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    for (const auto& r : dead) {
      ++(r->cancel != nullptr && r->cancel->cancelled() ? stats_.cancelled_in_retry : stats_.expired_in_retry);
    }
  }
  CompleteDead(dead, now, "for its batch to be retried");
  if (!part.requests.empty()) RunAndComplete(runner, std::move(part));
}

void ModelExecutor::RecordBatch(const Batch& batch, bool ok, absl::Time started, absl::Time done) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  const int64_t compute = absl::ToInt64Nanoseconds(done - started);
  ++stats_.execution_count;
  stats_.batch_compute_ns += compute;
  stats_.last_inference_ms = absl::ToUnixMillis(done);
  for (const auto& r : batch.requests) {
    const int64_t total = absl::ToInt64Nanoseconds(done - r->timing.received);
    const absl::Duration queued = started - r->timing.received;
    stats_.queue_ns += absl::ToInt64Nanoseconds(queued);
    queue_seconds_.Observe(absl::ToDoubleSeconds(queued));
    compute_seconds_.Observe(absl::ToDoubleSeconds(done - started));
    recent_queue_seconds_.Add(absl::ToDoubleSeconds(queued), done);
    stats_.compute_ns += compute;
    if (ok) {
      ++stats_.success_count;
      stats_.success_ns += total;
      stats_.inference_count += r->rows;
    } else {
      ++stats_.fail_count;
      stats_.fail_ns += total;
    }
  }
}

ExecutionStats ModelExecutor::execution_stats() const {
  ExecutionStats stats;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats = stats_;
  }
  stats.queue_seconds = queue_seconds_.Snapshot();
  stats.compute_seconds = compute_seconds_.Snapshot();
  stats.recent_queue_seconds = recent_queue_seconds_.Mean(absl::Now());
  return stats;
}

void ModelExecutor::Stop() {
  batcher_.Close();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace seqserve
