// ModelExecutor: one model version being served: a DynamicBatcher feeding a fixed set of
// instance threads, each computing batches with its own BatchRunner.
//
// Memory: warm-up measures each batch's peak pool bytes (memory/allocation_scope.h) and fits a
// MemoryCostModel to them. With a MemoryGate (the pool's budget for batches), a request is cut
// into row chunks that fit one batch (Note [row chunks] in runtime/execution/row_chunks.h), batches are
// formed and admitted by their predicted peak (runtime/resources/memory_gate.h), and only a single row that
// cannot fit alone is refused. Without a gate only the row and token limits cut requests.
#ifndef SEQSERVE_RUNTIME_EXECUTION_MODEL_EXECUTOR_H_
#define SEQSERVE_RUNTIME_EXECUTION_MODEL_EXECUTOR_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memory/mutex.h"
#include "runtime/base/histogram.h"
#include "runtime/base/logging.h"
#include "runtime/base/windowed_mean.h"
#include "runtime/execution/batch_runner.h"
#include "runtime/execution/batcher.h"
#include "runtime/execution/model_signature.h"
#include "runtime/execution/warmup_options.h"
#include "runtime/resources/memory_cost_model.h"
#include "runtime/resources/memory_gate.h"

namespace seqserve {

// Cumulative counters of one executor, for ModelStatistics and metrics. Durations in ns.
struct ExecutionStats {
  int64_t success_count = 0;  // requests completed OK
  int64_t success_ns = 0;     // their time from acceptance to compute done
  int64_t fail_count = 0;     // requests failed by the model or by memory, alone (a failing
                              // batch of several is split first); minus oom_failures: the
                              // model's own failures
  int64_t fail_ns = 0;
  int64_t queue_ns = 0;               // time requests waited in the queue (all that reached compute)
  int64_t compute_ns = 0;             // batch compute time, charged to each request of the batch
  int64_t inference_count = 0;        // rows computed successfully
  int64_t execution_count = 0;        // batches run
  int64_t batch_compute_ns = 0;       // batch compute time, counted once per batch
  int64_t last_inference_ms = 0;      // wall time of the last batch, ms since the epoch
  int64_t batch_splits = 0;           // batches split in two after running out of memory
  int64_t oom_failures = 0;           // requests failed RESOURCE_EXHAUSTED: out of memory even alone
  int64_t batch_bisections = 0;       // batches split in two after the model failed on them otherwise
  int64_t expired_in_retry = 0;       // deadline passed while a failed batch of theirs ran: not retried
  int64_t cancelled_in_retry = 0;     // cancelled likewise
  int64_t chunked_requests = 0;       // requests cut into row chunks (Note [row chunks])
  int64_t row_chunks = 0;             // the chunks they were cut into
  int64_t memory_refusals = 0;        // requests refused: one of their rows alone exceeds the memory budget
  int64_t memory_waits = 0;           // batches that waited at the memory gate for others to finish
  HistogramSnapshot queue_seconds;    // per request: acceptance to batch start
  HistogramSnapshot compute_seconds;  // per request: its batch's compute time
  double recent_queue_seconds = 0;    // mean queue wait over the last 30 s (0 if idle)
  // Per successful batch with a prediction: measured peak pool bytes / predicted.
  HistogramSnapshot memory_actual_over_predicted;
};

// Thread-safe. Start() creates the runners on their threads and warms them up; Submit() may be
// called from any thread once Start() succeeded; Stop() (also run by the destructor) finishes
// every accepted request, then joins the threads.
class ModelExecutor {
 public:
  // `name` says in log lines which model version this is (e.g. "model 'encoder' version 1").
  // `gate` (may be null; not owned, must outlive the executor): the memory pool's budget for
  // batches, shared with the other executors of that pool.
  ModelExecutor(ModelSignature signature, BatcherOptions batcher_options, int instances, std::string name = "model",
                MemoryGate* gate = nullptr);
  ~ModelExecutor();

  ModelExecutor(const ModelExecutor&) = delete;
  ModelExecutor& operator=(const ModelExecutor&) = delete;

  // Creates one runner per instance (on its thread) and runs warm-up batches through each.
  // Blocks until every instance is ready or one failed; on failure the executor is stopped.
  // When `abort` (may be null) is set meanwhile, warm-up stops after the batch it is running
  // and Start returns CANCELLED.
  absl::Status Start(const BatchRunnerFactory& factory, const WarmupOptions& warmup,
                     const CancellationFlag* abort = nullptr);

  // Queues a request that ValidateRequest accepted, as row chunks when it has more rows than
  // one batch may hold (MostRowsPerBatch). See DynamicBatcher::Enqueue for ownership. Also
  // RESOURCE_EXHAUSTED when one row alone is predicted to exceed the memory budget.
  absl::Status Submit(std::unique_ptr<InferenceRequest>& request);
  // Queues all of `requests` (validated, each fitting one batch: the text path's one-row
  // requests) or, with Submit's errors, none; on OK the vector is left empty.
  absl::Status SubmitAll(std::vector<std::unique_ptr<InferenceRequest>>& requests);

  // The most rows of sequence length `length` one batch may hold: max_batch_size, the token
  // budget and, with a gate and a measured cost model, the memory budget; 0 when not one row fits.
  int64_t MostRowsPerBatch(int64_t length) const;

  // Refuses new requests, completes the queued ones, joins the instance threads. Idempotent.
  void Stop();

  const ModelSignature& signature() const { return signature_; }
  // Fitted at the end of Start(); invalid before, or when warm-up measured nothing.
  const MemoryCostModel& memory_cost_model() const { return cost_; }
  BatcherStats batcher_stats() const { return batcher_.stats(); }
  ExecutionStats execution_stats() const;

 private:
  // RESOURCE_EXHAUSTED: one row of `sequence_length` alone exceeds the memory budget (counted).
  absl::Status RowTooLarge(int64_t sequence_length);
  void Serve(BatchRunner& runner);
  // Runs `batch` and completes its requests. When the runner fails on a batch of several
  // requests, the batch is split in two and each half is retried, down to single requests, so
  // that only a request that fails alone gets an error and no request's failure touches
  // another's:
  //   - Note [split on OOM]: RESOURCE_EXHAUSTED (out of memory; the runner decides by type, see
  //     memory/allocation_refusal.h) counts as a split. Memory per batch grows with rows x padded
  //     length, so halving it is the cheapest way back under a memory budget without failing
  //     anyone; a request that does not fit alone fails with RESOURCE_EXHAUSTED.
  //   - Note [bisect on failure]: any other error counts as a bisection. One poison request
  //     (an input the model raises on) among n costs about 2 log2(n) extra batches, all its
  //     companions get their answers, and it alone gets the error. A model that fails on every
  //     input costs 2n - 1 runs per batch of n instead of 1; that is the price of isolation, paid
  //     only by a model that is broken anyway.
  void RunAndComplete(BatchRunner& runner, Batch batch);
  // The instance thread: creates its runner, warms it up, waits for the others (the cost model
  // is fitted by the last), then serves.
  void InstanceMain(const BatchRunnerFactory& factory, const WarmupOptions& warmup, const CancellationFlag* abort,
                    int instance);
  // Retries one half of a failed batch, first answering (DEADLINE_EXCEEDED / CANCELLED) the
  // requests that died meanwhile.
  void RetryPart(BatchRunner& runner, Batch part);
  void RecordBatch(const Batch& batch, bool ok, absl::Time started, absl::Time done);

  const ModelSignature signature_;
  const int instances_;
  const std::string name_;
  MemoryGate* const gate_;
  DynamicBatcher batcher_;
  const Clock* const clock_;  // batcher_'s (BatcherOptions::clock)
  std::vector<std::thread> threads_;
  // Start-up: the instance threads and Start() meet here before anything is served.
  Mutex start_mu_;
  CondVar start_cv_;
  int pending_ ABSL_GUARDED_BY(start_mu_) = 0;           // instances still warming up
  absl::Status first_error_ ABSL_GUARDED_BY(start_mu_);  // of the instances' start-up
  std::vector<MemoryPoint> warmup_points_ ABSL_GUARDED_BY(start_mu_);
  // Written by the last instance to finish warming up, under start_mu_, before any serves; then
  // read-only.
  MemoryCostModel cost_;
  mutable Mutex stats_mu_;
  ExecutionStats stats_ ABSL_GUARDED_BY(stats_mu_);
  Histogram queue_seconds_{Histogram::LatencyBounds()};
  Histogram compute_seconds_{Histogram::LatencyBounds()};
  Histogram memory_ratio_{{0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 4.0}};
  WindowedMean recent_queue_seconds_{absl::Seconds(30)};
  LogRateLimiter split_log_{absl::Seconds(10)};
};

// Runs synthetic batches (all-ones inputs, or the lowest valid value of an input whose
// valid_range excludes 1) at each warm-up length: one row, and the most rows a batch of that
// length may hold (max_batch_size and the token budget), so the largest real batches have been
// seen. The last iteration of each is measured into `points` (may be null): its peak pool
// bytes on this thread. A batch that runs out of memory (a tight pool budget) is skipped with a
// warning. CANCELLED, between two batches, once `abort` (may be null) is set.
absl::Status WarmUp(BatchRunner& runner, const ModelSignature& signature, const WarmupOptions& warmup,
                    const CancellationFlag* abort = nullptr, std::vector<MemoryPoint>* points = nullptr);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_MODEL_EXECUTOR_H_
