#include "runtime/execution/batcher.h"

#include <chrono>
#include <future>
#include <limits>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "tests/testing/fake_clock.h"

namespace seqserve {
namespace {

struct Outcome {
  bool called = false;
  absl::Status status;
};

// A request of `rows` rows at `length`, recording its completion in `outcome` (if given).
std::unique_ptr<InferenceRequest> Request(int64_t length, int64_t rows = 1, Outcome* outcome = nullptr) {
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = "m";
  r->rows = rows;
  r->sequence_length = length;
  r->id = std::to_string(length);
  r->done = [outcome](absl::StatusOr<InferenceResponse> result) {
    if (outcome != nullptr) {
      outcome->called = true;
      outcome->status = result.status();
    }
  };
  return r;
}

BatcherOptions Options(BatchingMode mode = BatchingMode::kLengthBucketed) {
  BatcherOptions o;
  o.mode = mode;
  o.max_batch_size = 4;
  o.max_batch_tokens = 1024;
  o.max_queue_delay = absl::Milliseconds(20);
  o.bucket_edges = DefaultBucketEdges(512);
  o.max_queue_size = 16;
  return o;
}

void Enqueue(DynamicBatcher& b, std::unique_ptr<InferenceRequest> r) {
  ASSERT_TRUE(b.Enqueue(r).ok());
  ASSERT_EQ(r, nullptr);
}

std::vector<int64_t> Lengths(const Batch& batch) {
  std::vector<int64_t> out;
  for (const auto& r : batch.requests) out.push_back(r->sequence_length);
  return out;
}

// NextBatch on another thread, bounded so a scheduling bug fails instead of hanging.
std::optional<Batch> NextBatchWithin(DynamicBatcher& b, absl::Duration limit) {
  auto future = std::async(std::launch::async, [&b] { return b.NextBatch(); });
  if (future.wait_for(absl::ToChronoNanoseconds(limit)) != std::future_status::ready) {
    b.Close();  // unblock the thread so the test can end
    ADD_FAILURE() << "NextBatch did not return within " << limit;
  }
  return future.get();
}

TEST(DefaultBucketEdgesTest, CoverMaxLengthAscending) {
  const std::vector<int64_t> edges = DefaultBucketEdges(512);
  ASSERT_FALSE(edges.empty());
  EXPECT_EQ(edges.front(), 8);
  EXPECT_EQ(edges.back(), 512);
  for (size_t i = 1; i < edges.size(); ++i) {
    EXPECT_GT(edges[i], edges[i - 1]);
    if (edges[i - 1] >= 64) {
      EXPECT_LE(edges[i], edges[i - 1] * 13 / 10 + 16);
    }
  }
  EXPECT_EQ(DefaultBucketEdges(5), (std::vector<int64_t>{5}));
  // Found by fuzzing: a huge maximum must not overflow the x1.25 steps.
  const std::vector<int64_t> huge = DefaultBucketEdges(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(huge.back(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE(std::is_sorted(huge.begin(), huge.end()));
}

TEST(DynamicBatcherTest, FullBucketRunsWithoutWaitingForTheDelay) {
  BatcherOptions o = Options();
  o.max_queue_delay = absl::Seconds(30);
  DynamicBatcher b(o, true);
  for (int i = 0; i < 4; ++i) Enqueue(b, Request(10));
  const absl::Time start = absl::Now();
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->requests.size(), 4u);
  EXPECT_EQ(batch->padded_length, 10);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(DynamicBatcherTest, LoneRequestRunsAfterItsDelay) {
  DynamicBatcher b(Options(), true);
  Enqueue(b, Request(10));
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->requests.size(), 1u);
  // Measured from the batcher's own acceptance time: exact, whatever the scheduler does.
  EXPECT_GE(absl::Now() - batch->requests[0]->timing.received, Options().max_queue_delay);
}

TEST(DynamicBatcherTest, BucketsSeparateShortAndLong) {
  DynamicBatcher b(Options(), true);
  Enqueue(b, Request(10));
  Enqueue(b, Request(200));
  Enqueue(b, Request(12));
  std::optional<Batch> first = NextBatchWithin(b, absl::Seconds(10));
  std::optional<Batch> second = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(Lengths(*first), (std::vector<int64_t>{10, 12}));
  EXPECT_EQ(first->padded_length, 12);
  EXPECT_EQ(Lengths(*second), (std::vector<int64_t>{200}));
  const BatcherStats s = b.stats();
  EXPECT_EQ(s.batches, 2);
  EXPECT_EQ(s.real_tokens, 222);
  EXPECT_EQ(s.padded_tokens, 24 + 200);
}

TEST(DynamicBatcherTest, PadToMaxUsesOneQueue) {
  DynamicBatcher b(Options(BatchingMode::kPadToMax), true);
  Enqueue(b, Request(10));
  Enqueue(b, Request(200));
  Enqueue(b, Request(12));
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(Lengths(*batch), (std::vector<int64_t>{10, 200, 12}));
  EXPECT_EQ(batch->padded_length, 200);
}

TEST(DynamicBatcherTest, ModeNoneRunsOneRequestPerBatch) {
  DynamicBatcher b(Options(BatchingMode::kNone), true);
  Enqueue(b, Request(10, 2));
  Enqueue(b, Request(10, 1));
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->requests.size(), 1u);
  EXPECT_EQ(batch->rows, 2);
}

TEST(DynamicBatcherTest, TokenBudgetLimitsLongBatches) {
  BatcherOptions o = Options();
  o.max_batch_tokens = 1000;
  DynamicBatcher b(o, true);
  for (int i = 0; i < 3; ++i) Enqueue(b, Request(400));
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->requests.size(), 2u);  // 3 x 400 > 1000
  EXPECT_LE(batch->rows * batch->padded_length, 1000);
}

TEST(DynamicBatcherTest, RowLimitCountsRowsNotRequests) {
  DynamicBatcher b(Options(), true);
  Enqueue(b, Request(10, 3));
  Enqueue(b, Request(10, 3));
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows, 3);
}

TEST(DynamicBatcherTest, FullQueueRejectsAndKeepsTheRequestWithTheCaller) {
  BatcherOptions o = Options();
  o.max_queue_size = 2;
  DynamicBatcher b(o, true);
  Enqueue(b, Request(10));
  Enqueue(b, Request(10));
  Outcome outcome;
  std::unique_ptr<InferenceRequest> extra = Request(10, 1, &outcome);
  absl::Status status = b.Enqueue(extra);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(extra, nullptr);
  EXPECT_FALSE(outcome.called);
  EXPECT_EQ(b.stats().rejected_queue_full, 1);
  // After a batch leaves, there is room again.
  ASSERT_TRUE(NextBatchWithin(b, absl::Seconds(10)).has_value());
  EXPECT_TRUE(b.Enqueue(extra).ok());
}

// Note [dead requests hold no places]: a full queue answers its cancelled and expired requests
// and takes the new one in their place; live requests keep theirs.
TEST(DynamicBatcherTest, AFullQueueMakesRoomByAnsweringItsDeadRequests) {
  FakeClock clock;
  BatcherOptions o = Options();
  o.clock = &clock;
  o.max_queue_size = 3;
  DynamicBatcher b(o, true);
  Outcome live, cancelled, expired, newcomer, second;
  auto flag = std::make_shared<CancellationFlag>();
  auto r1 = Request(10, 1, &cancelled);
  r1->cancel = flag;
  auto r2 = Request(10, 1, &live);
  auto r3 = Request(200, 1, &expired);
  r3->deadline = clock.Now() + absl::Milliseconds(1);
  Enqueue(b, std::move(r1));
  Enqueue(b, std::move(r2));
  Enqueue(b, std::move(r3));
  flag->Cancel();
  clock.Advance(absl::Milliseconds(2));
  std::vector<std::unique_ptr<InferenceRequest>> two;
  two.push_back(Request(10, 1, &newcomer));
  two.push_back(Request(10, 1, &second));
  ASSERT_TRUE(b.EnqueueAll(two).ok());
  EXPECT_TRUE(two.empty());
  EXPECT_EQ(cancelled.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(expired.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(live.called);
  EXPECT_FALSE(newcomer.called);
  EXPECT_EQ(b.stats().queued, 3);
  EXPECT_EQ(b.stats().cancelled, 1);
  EXPECT_EQ(b.stats().expired, 1);
  // Full of live requests: refused as before.
  std::unique_ptr<InferenceRequest> extra = Request(10);
  EXPECT_EQ(b.Enqueue(extra).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(extra, nullptr);
}

// Time is a FakeClock's (runtime/base/clock.h): moved forward, never slept.
TEST(DynamicBatcherTest, ExpiredAndCancelledRequestsNeverReachABatch) {
  FakeClock clock;
  BatcherOptions o = Options();
  o.clock = &clock;
  DynamicBatcher b(o, true);
  Outcome expired, cancelled, alive1, alive2;
  auto r1 = Request(10, 1, &expired);
  r1->deadline = clock.Now() + absl::Milliseconds(1);
  auto r2 = Request(11, 1, &alive1);
  r2->cancel = std::make_shared<CancellationFlag>();  // has a flag, never cancelled
  auto r3 = Request(12, 1, &alive2);
  auto r4 = Request(13, 1, &cancelled);
  std::shared_ptr<CancellationFlag> flag = std::make_shared<CancellationFlag>();
  r4->cancel = flag;
  Enqueue(b, std::move(r1));
  Enqueue(b, std::move(r2));
  Enqueue(b, std::move(r3));
  Enqueue(b, std::move(r4));
  flag->Cancel();                    // the client goes away while the request waits
  clock.Advance(o.max_queue_delay);  // r1's deadline passes; the oldest bucket is due
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(Lengths(*batch), (std::vector<int64_t>{11, 12}));
  EXPECT_TRUE(expired.called);
  EXPECT_EQ(expired.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(cancelled.called);
  EXPECT_EQ(cancelled.status.code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(alive1.called);
  EXPECT_FALSE(alive2.called);
  EXPECT_EQ(b.stats().expired, 1);
  EXPECT_EQ(b.stats().cancelled, 1);
}

TEST(DynamicBatcherTest, OverdueRequestIsServedBeforeFullerBuckets) {
  BatcherOptions o = Options();
  o.max_queue_delay = absl::Hours(1);  // only the fake clock's time can make it overdue
  FakeClock clock;
  o.clock = &clock;
  DynamicBatcher b(o, true);
  Enqueue(b, Request(300));  // alone in its bucket, and the oldest
  clock.Advance(absl::Hours(2));
  for (int i = 0; i < 4; ++i) Enqueue(b, Request(10));  // a full bucket
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->requests.front()->sequence_length, 300);
}

TEST(DynamicBatcherTest, TopsUpFromNeighbourOnlyWhenPaddingStaysLow) {
  BatcherOptions o = Options();
  o.bucket_edges = {8, 16, 32};
  o.neighbour_min_efficiency = 0.9;
  DynamicBatcher b(o, true);
  Enqueue(b, Request(16));
  Enqueue(b, Request(15));
  Enqueue(b, Request(8));   // bucket 8: 8/16 would drop efficiency well below 0.9
  Enqueue(b, Request(32));  // bucket 32: would double the padded length
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(Lengths(*batch), (std::vector<int64_t>{16, 15}));

  DynamicBatcher close_neighbours(o, true);
  Enqueue(close_neighbours, Request(17));
  Enqueue(close_neighbours, Request(16));  // bucket 16, pads 16 -> 17: efficiency stays high
  std::optional<Batch> merged = NextBatchWithin(close_neighbours, absl::Seconds(10));
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Lengths(*merged), (std::vector<int64_t>{17, 16}));
}

TEST(DynamicBatcherTest, CloseDrainsWithoutDelayThenEnds) {
  BatcherOptions o = Options();
  o.max_queue_delay = absl::Seconds(30);
  DynamicBatcher b(o, true);
  Enqueue(b, Request(10));
  b.Close();
  auto extra = Request(10);
  EXPECT_EQ(b.Enqueue(extra).code(), absl::StatusCode::kUnavailable);
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->requests.size(), 1u);
  EXPECT_FALSE(NextBatchWithin(b, absl::Seconds(10)).has_value());
}

TEST(DynamicBatcherTest, ModelsWithoutSequenceBatchAlongRows) {
  DynamicBatcher b(Options(), false);
  for (int i = 0; i < 4; ++i) Enqueue(b, Request(0));
  std::optional<Batch> batch = NextBatchWithin(b, absl::Seconds(10));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->rows, 4);
  EXPECT_EQ(batch->padded_length, 0);
}

TEST(DynamicBatcherTest, MemoryCheckStopsTheBatchAndIsCounted) {
  BatcherOptions o = Options();
  o.max_queue_delay = absl::ZeroDuration();
  DynamicBatcher b(o, true);
  for (int i = 0; i < 4; ++i) Enqueue(b, Request(10));
  // Room for two rows of 10 tokens: the batch stops there though four would fit its limits.
  const DynamicBatcher::BatchFits two_rows = [](int64_t rows, int64_t padded) { return rows * padded <= 20; };
  std::optional<Batch> first = b.NextBatch(two_rows);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->rows, 2);
  EXPECT_EQ(b.stats().memory_limited_batches, 1);
  // The first request is always taken, however little room there is.
  std::optional<Batch> second = b.NextBatch([](int64_t, int64_t) { return false; });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->rows, 1);
  // Without a check, the rest run together and nothing more is counted.
  std::optional<Batch> third = b.NextBatch();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->rows, 1);
  EXPECT_EQ(b.stats().memory_limited_batches, 2);
}

TEST(DynamicBatcherTest, EnqueueAllQueuesEveryPartOrNone) {
  BatcherOptions o = Options();
  o.max_queue_size = 5;
  DynamicBatcher b(o, true);
  std::vector<std::unique_ptr<InferenceRequest>> parts;
  for (int i = 0; i < 3; ++i) parts.push_back(Request(10));
  ASSERT_TRUE(b.EnqueueAll(parts).ok());
  EXPECT_TRUE(parts.empty());
  for (int i = 0; i < 3; ++i) parts.push_back(Request(10));
  const absl::Status full = b.EnqueueAll(parts);  // 3 + 3 > 5: none of them
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_NE(full.message().find("row chunk"), std::string::npos) << full;
  EXPECT_EQ(parts.size(), 3u);
  for (const auto& p : parts) EXPECT_NE(p, nullptr);
  EXPECT_EQ(b.stats().queued, 3);
}

}  // namespace
}  // namespace seqserve
