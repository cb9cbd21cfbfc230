// WarmupOptions: how a model version is warmed up before it serves — what a model's config asks
// for (runtime/config/model_config.h) and what its executor runs (runtime/execution/model_executor.h).
#ifndef SEQSERVE_RUNTIME_EXECUTION_WARMUP_OPTIONS_H_
#define SEQSERVE_RUNTIME_EXECUTION_WARMUP_OPTIONS_H_

#include <cstdint>
#include <vector>

namespace seqserve {

// Note [background load]: a model version loaded while others serve (a swap, runtime/
// model_repository.h Note [swap]) competes with them for the cores, and on a busy pod that
// shows in their latency. So such a load makes and warms up its runners on a short-lived thread
// at a raised nice value, and only the finished runner moves to the instance thread (normal
// priority, BatchRunner::AdoptThread). Raising a thread's nice value needs no privilege;
// lowering it back would (CAP_SYS_NICE), which is why the loading thread is not the serving one.
// Measured on 2 cores under 4 closed-loop clients (RESULTS.md, "Model swaps under traffic"): p99
// during a swap / steady p99, median, 1.53 -> 1.21 (encoder) and 2.06 -> 1.27 (MiniLM) at nice 10,
// for a load about 4x slower (it gets what the traffic leaves).
struct WarmupOptions {
  // Sequence lengths to run (ignored without a sequence dimension). Empty: none.
  std::vector<int64_t> lengths;
  // Runs per length and row count.
  int iterations = 2;
  // Token budget of a batch (rows x length); warm-up batches stay within it, as real ones do.
  // 0: no limit.
  int64_t max_batch_tokens = 0;
  // Niceness (1..19) of a thread of its own that makes and warms up each runner, for a load
  // beside serving traffic (Note [background load]); 0: the instance thread does it, at full
  // priority (start-up). Default 0.
  int background_nice = 0;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_WARMUP_OPTIONS_H_
