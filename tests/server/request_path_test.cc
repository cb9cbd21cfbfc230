#include "server/serving/request_path.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "memory/mutex.h"
#include "tests/testing/fake_repository.h"

namespace seqserve {
namespace {

// What one call's `finish` saw: how often it ran, with which status, and whether `write` ran.
class Outcome {
 public:
  std::function<void(absl::Status)> Finish() {
    return [this](absl::Status status) {
      MutexLock lock(&mu_);
      ++finished_;
      status_ = std::move(status);
    };
  }
  ResponseWriter Write(absl::Status result = absl::OkStatus()) {
    return [this, result](InferenceResponse& response) {
      writes_.fetch_add(1);
      EXPECT_EQ(response.outputs.size(), 1u);
      return result;
    };
  }
  // Waits at most 10 s for the first finish, then 50 ms more for any (wrong) second one.
  absl::Status Await() {
    for (int i = 0; i < 1000 && finished() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
    absl::SleepFor(absl::Milliseconds(50));
    MutexLock lock(&mu_);
    EXPECT_EQ(finished_, 1) << "finish must run exactly once";
    return status_;
  }
  int finished() const {
    MutexLock lock(&mu_);
    return finished_;
  }
  int writes() const { return writes_.load(); }

 private:
  mutable Mutex mu_;
  int finished_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("never finished");
  std::atomic<int> writes_{0};
};

class RequestPathTest : public testing::Test {
 protected:
  RequestPath Path(RequestLimits limits = {}) { return RequestPath(fake_.repository(), state_, metrics_, limits); }
  CallInfo Call(const std::string& model = "echo") { return CallInfo{Api::kKServe, model}; }
  uint64_t Counted(absl::StatusCode code) const { return metrics_.Total(code); }

  FakeRepository fake_;
  ServingState state_;
  RequestMetrics metrics_{{"echo"}};
};

TEST_F(RequestPathTest, AnAnsweredRequestIsWrittenFinishedOnceAndCounted) {
  RequestPath path = Path();
  Outcome outcome;
  path.Start(Call(), FakeRepository::EchoRequest(), outcome.Write(), outcome.Finish());
  EXPECT_TRUE(outcome.Await().ok());
  EXPECT_EQ(outcome.writes(), 1);
  EXPECT_EQ(Counted(absl::StatusCode::kOk), 1u);
  EXPECT_EQ(metrics_.inflight_now(), 0);
}

TEST_F(RequestPathTest, EveryRefusalBeforeTheQueueFinishesOnceAndIsCounted) {
  RequestPath path = Path({/*max_elements=*/3});
  struct Case {
    std::string name;
    CallInfo call;
    absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded;
    absl::StatusCode code;
  };
  std::vector<Case> cases;
  cases.push_back({"decode error", Call(), absl::InvalidArgumentError("input 'x' has 3 bytes"),
                   absl::StatusCode::kInvalidArgument});
  cases.push_back(
      {"over the element limit", Call(), FakeRepository::EchoRequest(/*rows=*/2), absl::StatusCode::kInvalidArgument});
  auto unknown = FakeRepository::EchoRequest();
  unknown->model_name = "nope";
  cases.push_back({"unknown model", Call("nope"), std::move(unknown), absl::StatusCode::kNotFound});
  for (Case& c : cases) {
    Outcome outcome;
    path.Start(std::move(c.call), std::move(c.decoded), outcome.Write(), outcome.Finish());
    EXPECT_EQ(outcome.finished(), 1) << c.name << ": refusals are answered at once";
    EXPECT_EQ(outcome.Await().code(), c.code) << c.name;
    EXPECT_EQ(outcome.writes(), 0) << c.name;
  }
  EXPECT_EQ(Counted(absl::StatusCode::kInvalidArgument), 2u);
  EXPECT_EQ(Counted(absl::StatusCode::kNotFound), 1u);
  EXPECT_EQ(fake_.batches(), 0);
  EXPECT_EQ(metrics_.inflight_now(), 0);
}

// Note [request bytes]: a call whose message the path charges holds the message and the tensors
// decoded from it until it finishes — while it waits in the model too — and one that does not
// fit is refused RESOURCE_EXHAUSTED before it is queued; REST's calls (charged by the HTTP
// layer, message_bytes -1) are not charged again.
TEST_F(RequestPathTest, MessagesAreChargedUntilTheirCallFinishes) {
  RequestMemory memory(1000);
  RequestPath path = Path({0, absl::ZeroDuration(), &memory});
  auto request = FakeRepository::EchoRequest();
  const int64_t decoded = static_cast<int64_t>(request->inputs[0].data.size());
  CallInfo call = Call();
  call.message_bytes = 600;
  fake_.Hold();
  Outcome held;
  path.Start(call, std::move(request), held.Write(), held.Finish());
  ASSERT_TRUE(fake_.WaitForBatches(1));
  EXPECT_EQ(memory.in_use(), 600 + decoded);  // while the request is in the model

  call.message_bytes = 500;  // does not fit beside the first
  Outcome refused;
  path.Start(call, FakeRepository::EchoRequest(), refused.Write(), refused.Finish());
  absl::Status status = refused.Await();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("--request-memory-bytes"), std::string::npos) << status;

  CallInfo rest = Call();
  rest.message_bytes = -1;
  Outcome uncharged;
  path.Start(rest, FakeRepository::EchoRequest(), uncharged.Write(), uncharged.Finish());
  fake_.Release();
  EXPECT_TRUE(held.Await().ok());
  EXPECT_TRUE(uncharged.Await().ok());
  EXPECT_EQ(memory.in_use(), 0);
  EXPECT_EQ(memory.peak(), 600 + decoded);
  EXPECT_EQ(memory.refusals(), 1);
}

TEST_F(RequestPathTest, TheElementLimitSaysSoAndSurvivesOverflowingShapes) {
  RequestPath path = Path({/*max_elements=*/INT64_MAX});
  // Two inputs of 2^62 elements each: the sum overflows int64 and must not wrap into "small".
  auto request = FakeRepository::EchoRequest();
  request->inputs[0].shape = {int64_t{1} << 31, int64_t{1} << 31};
  request->inputs.push_back(request->inputs[0]);
  Outcome outcome;
  path.Start(Call(), std::move(request), outcome.Write(), outcome.Finish());
  absl::Status status = outcome.Await();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("--max-request-elements"), std::string::npos) << status;

  RequestPath small = Path({/*max_elements=*/3});
  Outcome over;
  small.Start(Call(), FakeRepository::EchoRequest(/*rows=*/2), over.Write(), over.Finish());
  EXPECT_NE(over.Await().message().find("more than 3 tensor elements"), std::string::npos);
}

TEST_F(RequestPathTest, DrainingRefusesNewRequestsButFinishesAcceptedOnes) {
  RequestPath path = Path();
  fake_.Hold();
  Outcome accepted;
  path.Start(Call(), FakeRepository::EchoRequest(), accepted.Write(), accepted.Finish());
  ASSERT_TRUE(fake_.WaitForBatches(1));
  state_.StartDraining();
  Outcome refused;
  path.Start(Call(), FakeRepository::EchoRequest(), refused.Write(), refused.Finish());
  EXPECT_EQ(refused.Await().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(accepted.finished(), 0);
  fake_.Release();
  EXPECT_TRUE(accepted.Await().ok());
  EXPECT_EQ(metrics_.inflight_now(), 0);
}

// The deadline a request runs under is the earliest of the transport's and its own; without
// either, the server's default from when it was received.
TEST_F(RequestPathTest, DeadlinesMergeToTheEarliestOrTheDefault) {
  const absl::Time soon = absl::Now() + absl::Seconds(30);
  const absl::Time later = soon + absl::Seconds(30);
  RequestPath path = Path({/*max_elements=*/0, /*default_deadline=*/absl::Seconds(100)});
  auto run = [&](absl::Time transport, absl::Time own) {
    auto request = FakeRepository::EchoRequest();
    request->deadline = own;
    CallInfo call = Call();
    call.deadline = transport;
    Outcome outcome;
    path.Start(std::move(call), std::move(request), outcome.Write(), outcome.Finish());
    EXPECT_TRUE(outcome.Await().ok());
  };
  const absl::Time before = absl::Now();
  run(soon, later);
  run(later, soon);
  run(absl::InfiniteFuture(), absl::InfiniteFuture());
  const absl::Time after = absl::Now();
  std::vector<absl::Time> seen = fake_.deadlines();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], soon);
  EXPECT_EQ(seen[1], soon);
  EXPECT_GE(seen[2], before + absl::Seconds(100));
  EXPECT_LE(seen[2], after + absl::Seconds(100));
}

TEST_F(RequestPathTest, RuntimeAndWriterFailuresFinishOnceWithTheirStatus) {
  RequestPath path = Path();
  // The model fails: finish gets its status, nothing is written.
  fake_.FailWith(absl::InternalError("model raised: index out of range"));
  Outcome failed;
  path.Start(Call(), FakeRepository::EchoRequest(), failed.Write(), failed.Finish());
  absl::Status status = failed.Await();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(failed.writes(), 0);
  fake_.FailWith(absl::OkStatus());
  // The model answers but the transport cannot write it: finish gets the writer's error.
  Outcome unwritable;
  path.Start(Call(), FakeRepository::EchoRequest(), unwritable.Write(absl::ResourceExhaustedError("too large")),
             unwritable.Finish());
  EXPECT_EQ(unwritable.Await().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(unwritable.writes(), 1);
  // Cancelled by the client while queued behind a held batch: CANCELLED, never run.
  fake_.Hold();
  Outcome first;
  path.Start(Call(), FakeRepository::EchoRequest(), first.Write(), first.Finish());
  ASSERT_TRUE(fake_.WaitForBatches(3));
  CallInfo call = Call();
  call.cancel = std::make_shared<CancellationFlag>();
  call.cancel->Cancel();
  Outcome cancelled;
  path.Start(std::move(call), FakeRepository::EchoRequest(), cancelled.Write(), cancelled.Finish());
  fake_.Release();
  EXPECT_TRUE(first.Await().ok());
  EXPECT_EQ(cancelled.Await().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(cancelled.writes(), 0);
  EXPECT_EQ(metrics_.inflight_now(), 0);
  EXPECT_EQ(Counted(absl::StatusCode::kInternal) + Counted(absl::StatusCode::kResourceExhausted) +
                Counted(absl::StatusCode::kCancelled) + Counted(absl::StatusCode::kOk),
            4u);
}

}  // namespace
}  // namespace seqserve
