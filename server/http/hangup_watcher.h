// HangupWatcher: notices when the client of a connection goes away while its answer is being
// made elsewhere, and cancels the request it was waiting for.
//
// Note [REST hang-ups]: libmicrohttpd does not poll a suspended connection (one whose answer
// is being made on a runtime thread), so a REST client that hangs up while its request waits in
// the batcher went unnoticed and its request was computed for nobody — behind a load balancer
// with client time-outs, exactly when the server is overloaded. The watcher keeps such sockets
// in an epoll set of its own, for EPOLLRDHUP/EPOLLHUP/EPOLLERR only (never EPOLLIN: bytes a
// client pipelines behind its request are not a hang-up), and sets the request's
// CancellationFlag when the peer closes; the batcher then drops the request before compute and
// it is answered CANCELLED, as over gRPC. A client that half-closes (shutdown(SHUT_WR)) after
// sending its request counts as gone: HTTP/1.1 clients do not do that and still read.
//
// One thread, one epoll set; Watch/Unwatch take one mutex held for an epoll_ctl. Thread-safe.
#ifndef SEQSERVE_SERVER_HTTP_HANGUP_WATCHER_H_
#define SEQSERVE_SERVER_HTTP_HANGUP_WATCHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "memory/mutex.h"
#include "runtime/execution/inference_request.h"

namespace seqserve {

class HangupWatcher {
 public:
  // `hangups` (not owned; may be null) counts the hang-ups seen.
  static absl::StatusOr<std::unique_ptr<HangupWatcher>> Start(std::atomic<int64_t>* hangups = nullptr);
  // Stops the thread; watches still open are dropped.
  ~HangupWatcher();

  // Watches socket `fd` (which must stay open until Unwatch) until Unwatch(id): if its peer
  // closes first, `cancel` is cancelled (once) and the watch ends by itself. Returns the id, or
  // 0 when the socket cannot be watched (then nothing happens on a hang-up).
  uint64_t Watch(int fd, std::shared_ptr<CancellationFlag> cancel);
  // Ends watch `id` (0 and ended watches are ignored). After it returns, the watch's flag is
  // not touched again.
  void Unwatch(uint64_t id);

 private:
  struct Entry {
    int fd;
    std::shared_ptr<CancellationFlag> cancel;
  };

  HangupWatcher(int epoll_fd, int wake_fd, std::atomic<int64_t>* hangups)
      : epoll_fd_(epoll_fd), wake_fd_(wake_fd), hangups_(hangups) {}
  void Loop();

  const int epoll_fd_;
  const int wake_fd_;  // an eventfd: written once to stop the loop
  std::atomic<int64_t>* const hangups_;
  std::thread thread_;
  Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Entry> watched_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_HTTP_HANGUP_WATCHER_H_
