#include "server/http/hangup_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/base/logging.h"

namespace seqserve {
namespace {

constexpr uint64_t kWakeId = 0;  // ids of watches start at 1

}  // namespace

absl::StatusOr<std::unique_ptr<HangupWatcher>> HangupWatcher::Start(std::atomic<int64_t>* hangups) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", std::strerror(errno)));
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.u64 = kWakeId;
  if (wake_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake) != 0) {
    const std::string error = std::strerror(errno);
    if (wake_fd >= 0) close(wake_fd);
    close(epoll_fd);
    return absl::InternalError(absl::StrCat("hang-up watcher: ", error));
  }
  std::unique_ptr<HangupWatcher> watcher(new HangupWatcher(epoll_fd, wake_fd, hangups));
  watcher->thread_ = std::thread([w = watcher.get()] { w->Loop(); });
  return watcher;
}

HangupWatcher::~HangupWatcher() {
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof one) != sizeof one) LogError("hang-up watcher: cannot wake its thread to stop");
  if (thread_.joinable()) thread_.join();
  close(wake_fd_);
  close(epoll_fd_);
}

uint64_t HangupWatcher::Watch(int fd, std::shared_ptr<CancellationFlag> cancel) {
  MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  epoll_event event{};
  event.events = EPOLLRDHUP;  // EPOLLHUP and EPOLLERR are always reported
  event.data.u64 = id;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return 0;
  watched_.emplace(id, Entry{fd, std::move(cancel)});
  return id;
}

void HangupWatcher::Unwatch(uint64_t id) {
  if (id == 0) return;
  MutexLock lock(&mu_);
  auto it = watched_.find(id);
  if (it == watched_.end()) return;  // the peer hung up first: the loop ended the watch
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
  watched_.erase(it);
}

void HangupWatcher::Loop() {
  epoll_event events[64];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("hang-up watcher: epoll_wait: ", std::strerror(errno), "; REST hang-ups are no longer noticed");
      return;
    }
    MutexLock lock(&mu_);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeId) return;
      // An event of a watch that Unwatch ended meanwhile finds nothing: its id is never reused.
      auto it = watched_.find(events[i].data.u64);
      if (it == watched_.end()) continue;
      it->second.cancel->Cancel();
      if (hangups_ != nullptr) hangups_->fetch_add(1, std::memory_order_relaxed);
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
      watched_.erase(it);
    }
  }
}

}  // namespace seqserve
