// HangupWatcher (server/http/hangup_watcher.h) on socket pairs: a peer that closes cancels the
// watched request's flag; an ended watch never does; pipelined bytes are not a hang-up.
#include "server/http/hangup_watcher.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace seqserve {
namespace {

struct SocketPair {
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    for (int fd : fds)
      if (fd >= 0) close(fd);
  }
  void ClosePeer() {
    close(fds[1]);
    fds[1] = -1;
  }
  int fds[2] = {-1, -1};
};

// Bounded: 10 s.
bool WaitCancelled(const CancellationFlag& flag) {
  for (int i = 0; i < 2000 && !flag.cancelled(); ++i) absl::SleepFor(absl::Milliseconds(5));
  return flag.cancelled();
}

TEST(HangupWatcherTest, APeerThatClosesCancelsTheRequest) {
  absl::StatusOr<std::unique_ptr<HangupWatcher>> watcher = HangupWatcher::Start();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  SocketPair pair;
  auto flag = std::make_shared<CancellationFlag>();
  const uint64_t id = (*watcher)->Watch(pair.fds[0], flag);
  ASSERT_NE(id, 0u);
  // Bytes the client sends behind its request (pipelining) are not a hang-up; the close after
  // them is.
  ASSERT_EQ(write(pair.fds[1], "GET / HTTP/1.1\r\n", 16), 16);
  pair.ClosePeer();
  EXPECT_TRUE(WaitCancelled(*flag));
  (*watcher)->Unwatch(id);  // after the watch ended by itself: ignored
}

TEST(HangupWatcherTest, AnEndedWatchNeverCancels) {
  absl::StatusOr<std::unique_ptr<HangupWatcher>> watcher = HangupWatcher::Start();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  SocketPair answered, later;
  auto answered_flag = std::make_shared<CancellationFlag>();
  auto later_flag = std::make_shared<CancellationFlag>();
  (*watcher)->Unwatch((*watcher)->Watch(answered.fds[0], answered_flag));
  answered.ClosePeer();
  // The ended watch's socket left the epoll set before its peer closed; a later hang-up, seen,
  // shows the watcher was running all along.
  (*watcher)->Watch(later.fds[0], later_flag);
  later.ClosePeer();
  ASSERT_TRUE(WaitCancelled(*later_flag));
  EXPECT_FALSE(answered_flag->cancelled());
}

TEST(HangupWatcherTest, AnOpenPeerIsNotAHangup) {
  absl::StatusOr<std::unique_ptr<HangupWatcher>> watcher = HangupWatcher::Start();
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  SocketPair open, closing;
  auto open_flag = std::make_shared<CancellationFlag>();
  auto closing_flag = std::make_shared<CancellationFlag>();
  const uint64_t id = (*watcher)->Watch(open.fds[0], open_flag);
  ASSERT_EQ(write(open.fds[1], "x", 1), 1);
  (*watcher)->Watch(closing.fds[0], closing_flag);
  closing.ClosePeer();
  ASSERT_TRUE(WaitCancelled(*closing_flag));
  EXPECT_FALSE(open_flag->cancelled());
  (*watcher)->Unwatch(id);
}

}  // namespace
}  // namespace seqserve
