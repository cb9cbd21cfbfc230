// DynamicBatcher: the queue in front of one model version, which forms batches by sequence
// length.
//
// Scheduling policy
// -----------------
// Requests are placed in length buckets (upper edges in Options::bucket_edges; a request of
// length L joins the first bucket whose edge is >= L). Executor threads call NextBatch(), which
// picks a bucket and forms a batch from it:
//   1. Overdue first: if the oldest waiting request (over all buckets) has waited at least
//      max_queue_delay, its bucket runs now. Serving the oldest first is what keeps any length
//      from starving while other buckets keep filling.
//   2. Else a full bucket runs at once: one whose rows reach max_batch_size, or whose rows times
//      its longest member reach max_batch_tokens (the oldest such bucket, if several are full).
//   3. Else the thread sleeps until the oldest request becomes overdue or a request arrives.
// A batch takes requests from its bucket in arrival order while they fit both limits (rows and
// padded tokens; a single request always fits), then tops up from the neighbouring buckets
// (shorter first) with requests that keep the batch's padding efficiency (real tokens / padded
// tokens) at or above neighbour_min_efficiency, and, where the executor passes a memory check,
// while the batch's predicted peak memory still fits what the pool has free (the first request
// always fits; a batch that stops growing for memory alone counts in memory_limited_batches).
// The batch is padded to its longest member only.
// Requests whose deadline has passed or whose client cancelled are completed with
// DEADLINE_EXCEEDED / CANCELLED when met, and never reach compute. Once Close() is called no
// request waits for its delay: the queue drains as fast as the executors go.
//
// Modes: NONE makes every batch a single request, run as soon as an executor asks (a waiting
// request counts as a full bucket, so max_queue_delay is never waited); PAD_TO_MAX uses one
// bucket (plain FIFO, padded to the longest member, like TF Serving's
// pad_variable_length_inputs); LENGTH_BUCKETED is the policy above, with one bucket per entry of
// Options::bucket_edges, or one bucket when that is empty. Models without a sequence dimension
// always use one bucket and have no token limit.
#ifndef SEQSERVE_RUNTIME_EXECUTION_BATCHER_H_
#define SEQSERVE_RUNTIME_EXECUTION_BATCHER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "memory/mutex.h"
#include "runtime/base/clock.h"
#include "runtime/base/histogram.h"
#include "runtime/execution/batch.h"
#include "runtime/execution/inference_request.h"

namespace seqserve {

enum class BatchingMode { kNone, kPadToMax, kLengthBucketed };

struct BatcherOptions {
  // How requests are grouped; see Modes above. Default: length-bucketed.
  BatchingMode mode = BatchingMode::kLengthBucketed;

  // Most rows in one batch; a bucket holding this many rows is full (rule 2). A single request
  // with more rows still forms a batch alone. Default 32 (the demo encoder's max_batch_size).
  int64_t max_batch_size = 32;

  // Most padded tokens (rows x padded length) in one batch, so long sequences form smaller
  // batches and memory per batch stays bounded; a bucket whose rows x longest member reach it is
  // full (rule 2). A single request always fits. No limit for models without a sequence
  // dimension. At 0 or below, every batch is a single request. Default 1024.
  // Note [token budget]: on the 2-core CPU machines the encoder's in-process throughput on
  // length-sorted batches is highest at 512-1024 tokens (244 seq/s; 178 at 16384), and through
  // the server 1024 was as fast as 2048 with a lower p99 (benchmarks/RESULTS.md, "Choosing the
  // token budget" and "The in-process limit"). On a GPU, larger budgets pay; set it per model.
  int64_t max_batch_tokens = 1024;

  // How long the oldest waiting request (over all buckets) may wait for company: once it has
  // waited this long, its bucket runs at the next NextBatch (rule 1). Default 2 ms: small next
  // to one batch of the encoder on CPU (tens of ms). Zero: the oldest request's bucket runs as
  // soon as an executor asks, with whatever has arrived by then. Not waited in mode kNone, nor
  // after Close().
  absl::Duration max_queue_delay = absl::Milliseconds(2);

  // Upper edges of the length buckets, strictly ascending (assumed here; ParseModelConfig checks
  // a config's). A request of length L joins the first bucket whose edge is >= L, or the last
  // bucket when L is above every edge. Used only in mode kLengthBucketed for a model with a
  // sequence dimension; otherwise, or when empty (the default), there is one bucket.
  // ParseModelConfig (runtime/config/model_config.h) fills a config's empty list with
  // DefaultBucketEdges(sequence.max_length), so models served from a repository have them.
  std::vector<int64_t> bucket_edges;

  // Lowest padding efficiency (real tokens / padded tokens) a batch may fall to by taking a
  // request from a neighbouring bucket; such a request that would lower it further is skipped.
  // No effect with one bucket. Default 0.9.
  double neighbour_min_efficiency = 0.9;

  // Most requests waiting; beyond, Enqueue answers RESOURCE_EXHAUSTED at once (EnqueueAll takes
  // all or none, each request counting one). Requests already cancelled or past their deadline
  // do not hold places: a full queue answers them first (Note [dead requests hold no places]).
  // Default 1024.
  int64_t max_queue_size = 1024;

  // Where the batcher (and its executor) read the time (runtime/base/clock.h); not owned, must
  // outlive them. Default: the process's clock. Tests pass a FakeClock.
  const Clock* clock = Clock::Real();
};

// Bucket edges for sequences up to `max_length`: every 8 up to 64, then growing by about 1.25x
// (rounded up to a multiple of 16), ending at max_length. Note [bucket edges]: within a bucket
// (lo, hi], padding to its longest member wastes at most 1 - (lo + 1) / hi of the tokens. Steps
// of 8 keep short sequences within 7 padded tokens a row; above 64 the rounded steps (1.25x to
// 1.4x) bound it at 28% (the 80..112 bucket) and about 20% from 192 on, far less on average;
// 17 buckets for 512.
std::vector<int64_t> DefaultBucketEdges(int64_t max_length);

// Counters since construction; read with DynamicBatcher::stats().
struct BatcherStats {
  int64_t queued = 0;                         // requests waiting now
  int64_t enqueued = 0;                       // requests accepted
  int64_t rejected_queue_full = 0;            // refused with RESOURCE_EXHAUSTED
  int64_t expired = 0;                        // completed with DEADLINE_EXCEEDED before compute
  int64_t cancelled = 0;                      // completed with CANCELLED before compute
  int64_t batches = 0;                        // batches handed to executors
  int64_t memory_limited_batches = 0;         // batches that stopped growing because of the memory check
  int64_t batch_rows = 0;                     // rows in those batches
  int64_t real_tokens = 0;                    // tokens that were not padding
  int64_t padded_tokens = 0;                  // tokens computed, padding included
  HistogramSnapshot rows_per_batch;           // rows per batch
  HistogramSnapshot padded_length_per_batch;  // length each batch was padded to (sequence models)
};

// Thread-safe. Any number of producers call Enqueue; any number of executor threads call
// NextBatch.
class DynamicBatcher {
 public:
  // `has_sequence`: whether requests carry a sequence length to bucket by.
  DynamicBatcher(BatcherOptions options, bool has_sequence);
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues a validated request. On OK the batcher owns it (`request` becomes null) and its
  // `done` will be called exactly once. On error (RESOURCE_EXHAUSTED when full, UNAVAILABLE after
  // Close) `request` is left with the caller and `done` is not called.
  absl::Status Enqueue(std::unique_ptr<InferenceRequest>& request);
  // Queues all of `requests` or, with the same errors, none (each counts against
  // max_queue_size); on OK the vector is left empty.
  absl::Status EnqueueAll(std::vector<std::unique_ptr<InferenceRequest>>& requests);

  // Whether a batch of (rows, padded length) may be formed (the memory check); null: any.
  using BatchFits = std::function<bool(int64_t rows, int64_t padded_length)>;

  // Blocks until a batch is due and returns it; returns nullopt once closed and empty. The batch
  // grows only while `fits` (may be null) accepts it; it is asked under the batcher's lock.
  std::optional<Batch> NextBatch(const BatchFits& fits = nullptr);

  // Refuses new requests; waiting ones are still handed out, without waiting for their delay.
  void Close();

  BatcherStats stats() const;
  const BatcherOptions& options() const { return options_; }

 private:
  struct Bucket {
    std::deque<std::unique_ptr<InferenceRequest>> requests;
    int64_t rows = 0;
    int64_t longest = 0;  // longest sequence length waiting in this bucket
  };

  size_t BucketFor(int64_t length) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsFull(const Bucket& bucket) const;
  // Index of the bucket whose front request is oldest, or -1 when all are empty.
  int OldestBucket() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes requests from `bucket` into `batch` per the limits; drops dead ones into `dead`.
  // Returns whether the memory check stopped it from taking a request the other limits allowed.
  bool TakeFrom(Bucket& bucket, Batch& batch, int64_t& real_tokens, bool neighbour, absl::Time now,
                const BatchFits& fits, std::vector<std::unique_ptr<InferenceRequest>>& dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks and queues requests[0..n) under mu_; all or none.
  // Queues `requests[0..n)` or none; requests found dead to make room go to `dead`, to be
  // completed by the caller outside the lock.
  absl::Status EnqueueLocked(std::unique_ptr<InferenceRequest>* requests, size_t n,
                             std::vector<std::unique_ptr<InferenceRequest>>& dead) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves every dead request (cancelled, or past its deadline at `now`) out of the buckets.
  void TakeDeadLocked(absl::Time now, std::vector<std::unique_ptr<InferenceRequest>>& dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes and returns bucket.requests[index], keeping the bucket's totals right.
  std::unique_ptr<InferenceRequest> Take(Bucket& bucket, size_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BatcherOptions options_;
  const bool has_sequence_;
  const int64_t token_limit_;

  mutable Mutex mu_;
  CondVar cv_;
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  BatcherStats stats_ ABSL_GUARDED_BY(mu_);
  Histogram batch_rows_;
  Histogram padded_length_;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_BATCHER_H_
