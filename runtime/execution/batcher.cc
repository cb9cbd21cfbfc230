#include "runtime/execution/batcher.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace seqserve {
namespace {}  // namespace

std::vector<int64_t> DefaultBucketEdges(int64_t max_length) {
  std::vector<int64_t> edges;
  for (int64_t e = 8; e <= 64 && e < max_length; e += 8) edges.push_back(e);
  int64_t e = 64;
  while (e < max_length && e < (std::numeric_limits<int64_t>::max() / 5)) {
    e = (e * 5 / 4 + 15) / 16 * 16;
    if (e >= max_length) break;
    edges.push_back(e);
  }
  edges.push_back(max_length);
  return edges;
}

DynamicBatcher::DynamicBatcher(BatcherOptions options, bool has_sequence)
    : options_(std::move(options)),
      has_sequence_(has_sequence),
      token_limit_(has_sequence ? options_.max_batch_tokens : std::numeric_limits<int64_t>::max()),
      batch_rows_(Histogram::PowersOfTwo(1024)),
      padded_length_(Histogram::PowersOfTwo(8192)) {
  const bool bucketed =
      has_sequence_ && options_.mode == BatchingMode::kLengthBucketed && !options_.bucket_edges.empty();
  buckets_ = std::vector<Bucket>(bucketed ? options_.bucket_edges.size() : 1);
}

DynamicBatcher::~DynamicBatcher() { Close(); }

size_t DynamicBatcher::BucketFor(int64_t length) const {
  if (buckets_.size() == 1) return 0;
  const auto& edges = options_.bucket_edges;
  const size_t i = std::lower_bound(edges.begin(), edges.end(), length) - edges.begin();
  return std::min(i, edges.size() - 1);
}

// Note [dead requests hold no places]: a request cancelled while it waits (a client that hung up
// or timed out) or past its deadline is normally dropped when a batch reaches it; until then it
// would hold a place in the queue. When clients give up under load, those places fill the queue
// and live requests are refused because of dead ones (measured: a load generator stopping with
// 32 text requests of 32 texts in flight left 1,024 cancelled rows queued; its next run got 263
// refusals in 30 s). A full queue therefore first answers its dead requests (one pass over the
// queue, only when full) and counts again.
void DynamicBatcher::TakeDeadLocked(absl::Time now, std::vector<std::unique_ptr<InferenceRequest>>& dead) {
  for (Bucket& bucket : buckets_) {
    for (size_t i = 0; i < bucket.requests.size();) {
      const InferenceRequest& r = *bucket.requests[i];
      if (!IsDead(r, now)) {
        ++i;
        continue;
      }
      ++(r.cancel != nullptr && r.cancel->cancelled() ? stats_.cancelled : stats_.expired);
      dead.push_back(Take(bucket, i));
    }
  }
}

absl::Status DynamicBatcher::EnqueueLocked(std::unique_ptr<InferenceRequest>* requests, size_t n,
                                           std::vector<std::unique_ptr<InferenceRequest>>& dead) {
  if (closed_) {
    return absl::UnavailableError("model is shutting down; retry on another replica");
  }
  if (stats_.queued + static_cast<int64_t>(n) > options_.max_queue_size) {
    TakeDeadLocked(options_.clock->Now(), dead);
  }
  if (stats_.queued + static_cast<int64_t>(n) > options_.max_queue_size) {
    ++stats_.rejected_queue_full;
    return absl::ResourceExhaustedError(absl::StrCat(
        "queue of model '", requests[0]->model_name, "' is full (", stats_.queued, " requests waiting, at most ",
        options_.max_queue_size, n > 1 ? absl::StrCat("; this one needs ", n, " places, one per row chunk") : "",
        "); retry with backoff"));
  }
  const absl::Time now = options_.clock->Now();
  for (size_t i = 0; i < n; ++i) {
    std::unique_ptr<InferenceRequest>& request = requests[i];
    request->timing.received = now;
    Bucket& bucket = buckets_[BucketFor(request->sequence_length)];
    bucket.rows += request->rows;
    bucket.longest = std::max(bucket.longest, request->sequence_length);
    bucket.requests.push_back(std::move(request));
  }
  stats_.queued += static_cast<int64_t>(n);
  stats_.enqueued += static_cast<int64_t>(n);
  return absl::OkStatus();
}

absl::Status DynamicBatcher::Enqueue(std::unique_ptr<InferenceRequest>& request) {
  std::vector<std::unique_ptr<InferenceRequest>> dead;
  absl::Status queued;
  {
    MutexLock lock(&mu_);
    queued = EnqueueLocked(&request, 1, dead);
  }
  if (!dead.empty()) CompleteDead(dead, options_.clock->Now(), "in the queue");
  if (queued.ok()) cv_.Signal();
  return queued;
}

absl::Status DynamicBatcher::EnqueueAll(std::vector<std::unique_ptr<InferenceRequest>>& requests) {
  if (requests.empty()) return absl::OkStatus();
  std::vector<std::unique_ptr<InferenceRequest>> dead;
  absl::Status queued;
  {
    MutexLock lock(&mu_);
    queued = EnqueueLocked(requests.data(), requests.size(), dead);
  }
  if (!dead.empty()) CompleteDead(dead, options_.clock->Now(), "in the queue");
  if (!queued.ok()) return queued;
  requests.clear();
  cv_.SignalAll();
  return absl::OkStatus();
}

bool DynamicBatcher::IsFull(const Bucket& bucket) const {
  if (bucket.requests.empty()) return false;
  if (options_.mode == BatchingMode::kNone) return true;
  return bucket.rows >= options_.max_batch_size || bucket.rows * std::max<int64_t>(bucket.longest, 1) >= token_limit_;
}

int DynamicBatcher::OldestBucket() const {
  int oldest = -1;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i].requests.empty()) continue;
    if (oldest < 0 ||
        buckets_[i].requests.front()->timing.received < buckets_[oldest].requests.front()->timing.received) {
      oldest = static_cast<int>(i);
    }
  }
  return oldest;
}

std::unique_ptr<InferenceRequest> DynamicBatcher::Take(Bucket& bucket, size_t index) {
  std::unique_ptr<InferenceRequest> request = std::move(bucket.requests[index]);
  bucket.rows -= request->rows;
  bucket.requests.erase(bucket.requests.begin() + index);
  --stats_.queued;
  bucket.longest = 0;
  for (const auto& r : bucket.requests) bucket.longest = std::max(bucket.longest, r->sequence_length);
  return request;
}

bool DynamicBatcher::TakeFrom(Bucket& bucket, Batch& batch, int64_t& real_tokens, bool neighbour, absl::Time now,
                              const BatchFits& fits, std::vector<std::unique_ptr<InferenceRequest>>& dead) {
  bool memory_stopped = false;
  size_t i = 0;
  while (i < bucket.requests.size()) {
    if (options_.mode == BatchingMode::kNone && !batch.requests.empty()) return memory_stopped;
    InferenceRequest& r = *bucket.requests[i];
    if (IsDead(r, now)) {
      ++(r.cancel != nullptr && r.cancel->cancelled() ? stats_.cancelled : stats_.expired);
      dead.push_back(Take(bucket, i));
      continue;
    }
    const int64_t rows = batch.rows + r.rows;
    const int64_t padded = std::max(batch.padded_length, r.sequence_length);
    const int64_t tokens = rows * std::max<int64_t>(padded, 1);
    const int64_t real = real_tokens + RealTokens(r);
    const bool within_limits = batch.requests.empty() || (rows <= options_.max_batch_size && tokens <= token_limit_);
    const bool efficient = !neighbour || static_cast<double>(real) >= options_.neighbour_min_efficiency * tokens;
    // The memory check last: it is the dearest, and a batch it stops counts as memory-limited.
    const bool within_memory =
        batch.requests.empty() || fits == nullptr || !within_limits || !efficient || fits(rows, padded);
    if (!within_limits || !within_memory) {
      memory_stopped |= !within_memory;
      // Within the main bucket, arrival order is kept: stop at the first misfit. A neighbour
      // is only a top-up, so a misfit there is skipped and shorter ones may still fit.
      if (!neighbour) return memory_stopped;
      ++i;
      continue;
    }
    if (!efficient) {
      ++i;
      continue;
    }
    batch.rows = rows;
    batch.padded_length = padded;
    real_tokens = real;
    batch.requests.push_back(Take(bucket, i));
  }
  return memory_stopped;
}

std::optional<Batch> DynamicBatcher::NextBatch(const BatchFits& fits) {
  std::vector<std::unique_ptr<InferenceRequest>> dead;
  mu_.Lock();
  while (true) {
    if (!dead.empty()) {
      mu_.Unlock();
      CompleteDead(dead, options_.clock->Now(), "in the queue");
      mu_.Lock();
    }
    const int oldest = OldestBucket();
    if (oldest < 0) {
      if (closed_) {
        mu_.Unlock();
        return std::nullopt;
      }
      cv_.Wait(&mu_);
      continue;
    }
    const absl::Time now = options_.clock->Now();
    const absl::Time due = buckets_[oldest].requests.front()->timing.received + options_.max_queue_delay;
    int chosen = -1;
    if (closed_ || due <= now) {
      chosen = oldest;
    } else {
      for (size_t i = 0; i < buckets_.size(); ++i) {
        if (!IsFull(buckets_[i])) continue;
        if (chosen < 0 ||
            buckets_[i].requests.front()->timing.received < buckets_[chosen].requests.front()->timing.received) {
          chosen = static_cast<int>(i);
        }
      }
    }
    if (chosen < 0) {
      cv_.WaitFor(&mu_, absl::ToChronoNanoseconds(due - now));
      continue;
    }

    Batch batch;
    int64_t real_tokens = 0;
    bool memory_stopped = TakeFrom(buckets_[chosen], batch, real_tokens, /*neighbour=*/false, now, fits, dead);
    // Top up from neighbours, nearest first, shorter before longer.
    for (int step = 1; step < static_cast<int>(buckets_.size()); ++step) {
      if (batch.requests.empty() || batch.rows >= options_.max_batch_size) break;
      if (options_.mode == BatchingMode::kNone) break;
      for (int b : {chosen - step, chosen + step}) {
        if (b >= 0 && b < static_cast<int>(buckets_.size())) {
          memory_stopped |= TakeFrom(buckets_[b], batch, real_tokens, /*neighbour=*/true, now, fits, dead);
        }
      }
    }
    if (batch.requests.empty()) continue;  // everything taken was dead; look again
    ++stats_.batches;
    if (memory_stopped) ++stats_.memory_limited_batches;
    stats_.batch_rows += batch.rows;
    stats_.real_tokens += real_tokens;
    stats_.padded_tokens += batch.rows * std::max<int64_t>(batch.padded_length, 1);
    batch_rows_.Observe(static_cast<double>(batch.rows));
    if (has_sequence_) padded_length_.Observe(static_cast<double>(batch.padded_length));
    mu_.Unlock();
    CompleteDead(dead, now, "in the queue");
    return batch;
  }
}

void DynamicBatcher::Close() {
  {
    MutexLock lock(&mu_);
    closed_ = true;
  }
  cv_.SignalAll();
}

BatcherStats DynamicBatcher::stats() const {
  BatcherStats stats;
  {
    MutexLock lock(&mu_);
    stats = stats_;
  }
  stats.rows_per_batch = batch_rows_.Snapshot();
  stats.padded_length_per_batch = padded_length_.Snapshot();
  return stats;
}

}  // namespace seqserve
