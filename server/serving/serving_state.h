// ServingState: whether the server still accepts new requests — false once a SIGTERM drain
// began. Read by the request path (refuses UNAVAILABLE) and by readiness (NOT_SERVING).
#ifndef SEQSERVE_SERVER_SERVING_SERVING_STATE_H_
#define SEQSERVE_SERVER_SERVING_SERVING_STATE_H_

#include <atomic>

namespace seqserve {

// Thread-safe.
class ServingState {
 public:
  void StartDraining() { draining_.store(true); }
  bool draining() const { return draining_.load(); }

 private:
  std::atomic<bool> draining_{false};
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_SERVING_SERVING_STATE_H_
