#include "server/serving/repository_control.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "tests/testing/fake_repository.h"

namespace seqserve {
namespace {

// Waits (bounded) for the result `done` delivers; the thread it ran on in `thread`.
absl::Status ResultOf(std::future<std::pair<absl::Status, std::thread::id>>& result, std::thread::id* thread) {
  EXPECT_EQ(result.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto [status, id] = result.get();
  *thread = id;
  return status;
}

// Load and unload requests run off the caller's thread (an RPC thread must never wait on a
// warm-up or a drain), carry the repository's answer, and WaitIdle waits for every one.
TEST(RepositoryControlTest, RequestsRunOffTheCallersThreadAndCarryTheRepositorysAnswer) {
  FakeRepository fake;  // model control mode none: the repository refuses loads and unloads
  RepositoryControl control(fake.repository());
  for (RepositoryControl::Action action : {RepositoryControl::Action::kLoad, RepositoryControl::Action::kUnload}) {
    std::promise<std::pair<absl::Status, std::thread::id>> promise;
    auto result = promise.get_future();
    control.Run(action, "echo", {}, [&promise](const absl::Status& status) {
      promise.set_value({status, std::this_thread::get_id()});
    });
    std::thread::id thread;
    const absl::Status status = ResultOf(result, &thread);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_NE(status.message().find("--model-control-mode=explicit"), std::string::npos) << status;
    EXPECT_NE(thread, std::this_thread::get_id());
  }
  control.WaitIdle();
  EXPECT_TRUE(fake.repository().router().ResolveVersion("echo", 0).ok());  // untouched
}

// Triton's load overrides (a config or files in the request) are refused at once, on the
// caller's thread; an unload's unload_dependents is accepted (no ensembles here).
TEST(RepositoryControlTest, LoadOverridesAreRefusedAtOnce) {
  FakeRepository fake;
  RepositoryControl control(fake.repository());
  absl::Status refused;
  std::thread::id thread;
  control.Run(RepositoryControl::Action::kLoad, "echo", {"config"}, [&](const absl::Status& status) {
    refused = status;
    thread = std::this_thread::get_id();
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_NE(refused.message().find("not supported"), std::string::npos) << refused;
  EXPECT_EQ(thread, std::this_thread::get_id());

  std::promise<std::pair<absl::Status, std::thread::id>> promise;
  auto result = promise.get_future();
  control.Run(RepositoryControl::Action::kUnload, "echo", {"unload_dependents"},
              [&promise](const absl::Status& status) {
                promise.set_value({status, std::this_thread::get_id()});
              });
  const absl::Status unload = ResultOf(result, &thread);
  EXPECT_EQ(unload.code(), absl::StatusCode::kFailedPrecondition) << unload;  // the repository's answer, not ours
  control.WaitIdle();
}

}  // namespace
}  // namespace seqserve
