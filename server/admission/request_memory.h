// RequestMemory: admission of request bytes — received bodies and messages, the tensors decoded
// from them, and requests waiting in queues — into the part of the pod's memory planned for them.
//
// Note [request bytes]: a request costs memory before it is a batch: its body or message as it
// arrives, the tensors decoded from it, and all of that again for every request waiting in a
// queue. Without a bound, one 100 MB REST body OOM-killed a MiniLM pod with a 1000 MiB limit
// (RESULTS.md, "Request bytes in a 1000 MiB pod"). So every request holds a Charge for the
// bytes it keeps, taken before it keeps them — REST from Content-Length before the body is read
// (a chunked body as each piece arrives), the decoded tensors from their shape before their
// data is parsed, a gRPC message once gRPC hands it over — and a request whose charge does not
// fit is refused at once, RESOURCE_EXHAUSTED (429), naming its bytes and the budget; the
// requests already accepted keep theirs. The budget is the share of the pod's limit that Note
// [budget from the pod] (runtime/resources/host_memory.h) sets aside for request bytes; the pool's budget
// is planned without it. What gRPC holds before it hands a message over is bounded apart,
// by its receive-size limit and resource quota (server/main.cc).
//
// Charging is a compare-and-swap loop on the bytes in use (and one on the peak when it rises);
// no lock. Thread-safe.
#ifndef SEQSERVE_SERVER_ADMISSION_REQUEST_MEMORY_H_
#define SEQSERVE_SERVER_ADMISSION_REQUEST_MEMORY_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace seqserve {

class RequestMemory {
 public:
  // `budget_bytes`: what requests may hold at once; 0 = unlimited (counted all the same).
  explicit RequestMemory(int64_t budget_bytes) : budget_(budget_bytes) {}
  RequestMemory(const RequestMemory&) = delete;
  RequestMemory& operator=(const RequestMemory&) = delete;

  // What one request holds; gives it back when destroyed. Movable; used by one thread at a time.
  class Charge {
   public:
    Charge() = default;  // holds nothing; Grow on it always succeeds and counts nothing
    explicit Charge(RequestMemory* memory) : memory_(memory) {}
    Charge(Charge&& other) noexcept : memory_(other.memory_), bytes_(other.bytes_) { other.memory_ = nullptr; }
    Charge& operator=(Charge&& other) noexcept;
    ~Charge() { Reset(); }

    // Adds `bytes` (>= 0) to this charge, or RESOURCE_EXHAUSTED (nothing added) when they do
    // not fit; `what` names them in the message ("request body", "decoded tensors", ...).
    absl::Status Grow(int64_t bytes, absl::string_view what);
    // Gives back `bytes` of it (at most what it holds).
    void GiveBack(int64_t bytes);
    // Gives everything back; the charge then holds nothing.
    void Reset() { GiveBack(bytes_); }
    int64_t bytes() const { return bytes_; }

   private:
    RequestMemory* memory_ = nullptr;
    int64_t bytes_ = 0;
  };

  // A charge of `bytes` taken now, or RESOURCE_EXHAUSTED (see Charge::Grow).
  absl::Status Take(int64_t bytes, absl::string_view what, Charge& charge);

  int64_t budget() const { return budget_; }
  int64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // The most in use at once since start.
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  // Charges refused since start.
  int64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  bool TryAdd(int64_t bytes);
  void Subtract(int64_t bytes) { in_use_.fetch_sub(bytes, std::memory_order_relaxed); }

  const int64_t budget_;
  std::atomic<int64_t> in_use_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> refusals_{0};
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_ADMISSION_REQUEST_MEMORY_H_
