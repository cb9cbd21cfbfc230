#include "runtime/execution/model_executor.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "memory/allocation_scope.h"
#include "runtime/base/logging.h"
#include "runtime/execution/row_chunks.h"

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

// Runs `iterations` batches of rows x length; the last one's peak pool bytes go to `points`.
absl::Status WarmUpShape(BatchRunner& runner, const ModelSignature& sig, int64_t rows, int64_t length, int iterations,
                         const CancellationFlag* abort, std::vector<MemoryPoint>* points) {
  Batch batch;
  batch.requests.push_back(OnesRequest(sig, rows, length));
  batch.rows = rows;
  batch.padded_length = batch.requests[0]->sequence_length;
  for (int i = 0; i < iterations; ++i) {
    if (abort != nullptr && abort->cancelled()) {
      return absl::CancelledError("warm-up stopped: the server is shutting down");
    }
    std::vector<InferenceResponse> responses(1);
    memory::AllocationScope scope;
    absl::Status status = runner.Run(batch, responses);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("warm-up at ", rows, " rows x length ", length, " failed: ", status.message()));
    }
    // The last iteration: the first ones may still allocate for the executor's own sake.
    if (points != nullptr && i + 1 == iterations) {
      points->push_back({rows, std::max<int64_t>(batch.padded_length, 1), scope.peak()});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WarmUp(BatchRunner& runner, const ModelSignature& sig, const WarmupOptions& warmup,
                    const CancellationFlag* abort, std::vector<MemoryPoint>* points) {
  std::vector<int64_t> lengths = sig.has_sequence() ? warmup.lengths : std::vector<int64_t>{1};
  for (int64_t length : lengths) {
    int64_t most_rows = sig.max_batch_size;
    if (warmup.max_batch_tokens > 0 && sig.has_sequence()) {
      most_rows = std::max<int64_t>(1, std::min(most_rows, warmup.max_batch_tokens / length));
    }
    for (int64_t rows : most_rows > 1 ? std::vector<int64_t>{1, most_rows} : std::vector<int64_t>{1}) {
      // Under a tight pool budget the largest batch may not fit: halve it until it does, so the
      // cost model still gets a point at this length (batches that large will not be formed).
      while (true) {
        absl::Status status = WarmUpShape(runner, sig, rows, length, warmup.iterations, abort, points);
        if (absl::IsResourceExhausted(status) && rows / 2 > 1) {
          LogWarning("warm-up at ", rows, " rows x length ", length, " ran out of memory; trying ", rows / 2, " rows");
          rows /= 2;
          continue;
        }
        if (absl::IsResourceExhausted(status)) {
          LogWarning("warm-up at ", rows, " rows x length ", length, " ran out of memory; skipped: ", status.message());
        } else if (!status.ok()) {
          return status;
        }
        break;
      }
    }
  }
  return absl::OkStatus();
}

ModelExecutor::ModelExecutor(ModelSignature signature, BatcherOptions batcher_options, int instances, std::string name,
                             MemoryGate* gate)
    : signature_(std::move(signature)),
      instances_(instances),
      name_(std::move(name)),
      gate_(gate),
      batcher_(std::move(batcher_options), signature_.has_sequence()),
      clock_(batcher_.options().clock) {}

ModelExecutor::~ModelExecutor() { Stop(); }

absl::Status ModelExecutor::Start(const BatchRunnerFactory& factory, const WarmupOptions& warmup,
                                  const CancellationFlag* abort) {
  {
    MutexLock lock(&start_mu_);
    pending_ = instances_;
  }
  for (int i = 0; i < instances_; ++i) {
    threads_.emplace_back([&factory, &warmup, abort, i, this] { InstanceMain(factory, warmup, abort, i); });
  }
  absl::Status result;
  {
    MutexLock lock(&start_mu_);
    while (pending_ != 0) start_cv_.Wait(&start_mu_);
    result = first_error_;
  }
  if (!result.ok()) Stop();
  return result;
}

void ModelExecutor::InstanceMain(const BatchRunnerFactory& factory, const WarmupOptions& warmup,
                                 const CancellationFlag* abort, int instance) {
  std::vector<MemoryPoint> points;
  absl::StatusOr<std::unique_ptr<BatchRunner>> runner = absl::UnknownError("not made");
  absl::Status status;
  auto make_and_warm_up = [&] {
    runner = factory(instance);
    status = runner.ok() ? WarmUp(**runner, signature_, warmup, abort, &points) : runner.status();
  };
  if (warmup.background_nice > 0) {  // Note [background load]
    std::thread loading([&] {
      if (setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), warmup.background_nice) != 0) {
        LogWarning(name_, ": cannot lower the loading thread's priority: ", std::strerror(errno));
      }
      make_and_warm_up();
    });
    loading.join();
    if (runner.ok()) (*runner)->AdoptThread();
  } else {
    make_and_warm_up();
  }
  {
    // `factory` and `warmup` belong to Start(), which may return once pending_ is 0: not used below.
    MutexLock lock(&start_mu_);
    if (!status.ok() && first_error_.ok()) first_error_ = status;
    warmup_points_.insert(warmup_points_.end(), points.begin(), points.end());
    if (--pending_ == 0) {
      if (first_error_.ok()) cost_ = MemoryCostModel::Fit(warmup_points_);
      start_cv_.SignalAll();
    } else {
      while (pending_ != 0) start_cv_.Wait(&start_mu_);
    }
  }
  if (status.ok()) Serve(**runner);
}

int64_t ModelExecutor::MostRowsPerBatch(int64_t length) const {
  const BatcherOptions& options = batcher_.options();
  int64_t rows = options.max_batch_size;
  if (signature_.has_sequence() && options.max_batch_tokens > 0) {
    rows = std::min(rows, std::max<int64_t>(1, options.max_batch_tokens / std::max<int64_t>(length, 1)));
  }
  if (gate_ != nullptr && cost_.valid() && gate_->budget() != MemoryGate::kUnlimited) {
    rows = std::min(rows, cost_.MostRowsWithin(signature_.has_sequence() ? length : 1, gate_->budget()));
  }
  return rows;
}

absl::Status ModelExecutor::RowTooLarge(int64_t sequence_length) {
  {
    MutexLock lock(&stats_mu_);
    ++stats_.memory_refusals;
  }
  const int64_t length = signature_.has_sequence() ? sequence_length : 1;
  return absl::ResourceExhaustedError(absl::StrFormat(
      "one row%s needs about %.1f MiB of memory at its peak, more than this server's memory budget for batches "
      "(%.1f MiB, from its memory limit); send shorter inputs or give the server more memory",
      signature_.has_sequence() ? absl::StrCat(" of ", length, " tokens") : "", cost_.Predict(1, length) / 1048576.0,
      gate_->budget() / 1048576.0));
}

absl::Status ModelExecutor::Submit(std::unique_ptr<InferenceRequest>& request) {
  const int64_t most = MostRowsPerBatch(request->sequence_length);
  if (most < 1) return RowTooLarge(request->sequence_length);
  if (request->rows <= most) return batcher_.Enqueue(request);
  RowChunks chunks = RowChunks::Split(request, most);
  const int64_t parts = static_cast<int64_t>(chunks.parts().size());
  if (absl::Status queued = batcher_.EnqueueAll(chunks.parts()); !queued.ok()) {
    request = chunks.Abandon();
    return queued;
  }
  MutexLock lock(&stats_mu_);
  ++stats_.chunked_requests;
  stats_.row_chunks += parts;
  return absl::OkStatus();
}

absl::Status ModelExecutor::SubmitAll(std::vector<std::unique_ptr<InferenceRequest>>& requests) {
  for (const std::unique_ptr<InferenceRequest>& request : requests) {
    const int64_t most = MostRowsPerBatch(request->sequence_length);
    if (most < 1) return RowTooLarge(request->sequence_length);
    if (request->rows > most) {
      return absl::InvalidArgumentError(absl::StrCat("a request of ", request->rows, " rows does not fit one batch (",
                                                     most, " rows at most); Submit cuts it into row chunks"));
    }
  }
  return batcher_.EnqueueAll(requests);
}

void ModelExecutor::Serve(BatchRunner& runner) {
  const bool gated = gate_ != nullptr && cost_.valid();
  DynamicBatcher::BatchFits fits;
  if (gated) {
    fits = [this](int64_t rows, int64_t padded) {
      return cost_.Predict(rows, std::max<int64_t>(padded, 1)) <= gate_->Available();
    };
  }
  while (std::optional<Batch> batch = batcher_.NextBatch(fits)) {
    bool waited = false;
    MemoryGate::Ticket ticket;
    if (gated) ticket = gate_->Admit(cost_.Predict(batch->rows, std::max<int64_t>(batch->padded_length, 1)), &waited);
    if (waited) {
      MutexLock lock(&stats_mu_);
      ++stats_.memory_waits;
    }
    RunAndComplete(runner, std::move(*batch));
  }
}

void ModelExecutor::RunAndComplete(BatchRunner& runner, Batch batch) {
  const absl::Time started = clock_->Now();
  std::vector<InferenceResponse> responses(batch.requests.size());
  memory::AllocationScope scope;
  absl::Status status = runner.Run(batch, responses);
  const absl::Time done = clock_->Now();
  if (status.ok() && cost_.valid()) {
    const int64_t predicted = cost_.Predict(batch.rows, std::max<int64_t>(batch.padded_length, 1));
    if (predicted > 0) memory_ratio_.Observe(static_cast<double>(scope.peak()) / static_cast<double>(predicted));
  }
  const bool oom = absl::IsResourceExhausted(status);
  if (!status.ok() && batch.requests.size() > 1) {
    {
      MutexLock lock(&stats_mu_);
      ++(oom ? stats_.batch_splits : stats_.batch_bisections);
    }
    int64_t suppressed = 0;
    if (split_log_.Allow(done, &suppressed)) {
      LogWarning(name_, ": batch of ", batch.requests.size(), " requests (", batch.rows, " rows x ",
                 batch.padded_length, " tokens) ", oom ? "ran out of memory" : "failed",
                 "; splitting it to isolate the failure",
                 suppressed > 0 ? absl::StrCat(" (", suppressed, " more splits since the last line)") : "");
    }
    std::pair<Batch, Batch> halves = SplitBatch(std::move(batch));
    RetryPart(runner, std::move(halves.first));
    RetryPart(runner, std::move(halves.second));
    return;
  }
  if (oom && batch.rows > 1) {
    // Note [split on OOM], within one request: its rows are cut in two row chunks (Note [row
    // chunks]) and each is retried, so only a single row that cannot fit fails. The cost model
    // under-predicted this batch: rare, and the way back under the budget.
    {
      MutexLock lock(&stats_mu_);
      ++stats_.batch_splits;
    }
    RowChunks halves = RowChunks::Split(batch.requests[0], (batch.rows + 1) / 2);
    for (std::unique_ptr<InferenceRequest>& part : halves.parts()) {
      Batch half;
      half.rows = part->rows;
      half.padded_length = part->sequence_length;
      half.requests.push_back(std::move(part));
      RetryPart(runner, std::move(half));
    }
    return;
  }
  if (oom) {
    MutexLock lock(&stats_mu_);
    ++stats_.oom_failures;
  }
  RecordBatch(batch, status.ok(), started, done);
  for (size_t i = 0; i < batch.requests.size(); ++i) {
    InferenceRequest& request = *batch.requests[i];
    if (!status.ok()) {
      request.done(status);
      continue;
    }
    responses[i].model_version = request.model_version;
    request.done(std::move(responses[i]));
  }
}

void ModelExecutor::RetryPart(BatchRunner& runner, Batch part) {
  // Never computed in vain: a request whose client gave up while the failed batch ran is
  // answered now, like one that died in the queue.
  const absl::Time now = clock_->Now();
  std::vector<std::unique_ptr<InferenceRequest>> dead;
  RemoveDead(part, now, dead);
  if (!dead.empty()) {
    MutexLock lock(&stats_mu_);
    for (const auto& r : dead) {
      ++(r->cancel != nullptr && r->cancel->cancelled() ? stats_.cancelled_in_retry : stats_.expired_in_retry);
    }
  }
  CompleteDead(dead, now, "for its batch to be retried");
  if (!part.requests.empty()) RunAndComplete(runner, std::move(part));
}

void ModelExecutor::RecordBatch(const Batch& batch, bool ok, absl::Time started, absl::Time done) {
  MutexLock lock(&stats_mu_);
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
    MutexLock lock(&stats_mu_);
    stats = stats_;
  }
  stats.queue_seconds = queue_seconds_.Snapshot();
  stats.compute_seconds = compute_seconds_.Snapshot();
  stats.memory_actual_over_predicted = memory_ratio_.Snapshot();
  stats.recent_queue_seconds = recent_queue_seconds_.Mean(clock_->Now());
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
