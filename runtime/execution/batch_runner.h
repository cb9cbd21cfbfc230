// The interface between the batcher's executors and whatever computes a batch.
#ifndef SEQSERVE_RUNTIME_EXECUTION_BATCH_RUNNER_H_
#define SEQSERVE_RUNTIME_EXECUTION_BATCH_RUNNER_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/execution/batch.h"
#include "runtime/execution/inference_request.h"

namespace seqserve {

// Computes batches for one model instance. Each runner is used by one executor thread at a
// time (thread-compatible). It is created on that thread, or on a loading thread and then
// AdoptThread() is called on the thread that runs it (Note [background load] in
// runtime/execution/model_executor.h).
class BatchRunner {
 public:
  virtual ~BatchRunner() = default;
  // Moves what is bound to the calling thread (e.g. the intra-op thread count) to it; called
  // once, before the first Run on a thread other than the one that made the runner.
  virtual void AdoptThread() {}

  // Runs `batch` and fills responses[i].outputs for batch.requests[i], in the order of that
  // request's output_indices. Errors apply to the whole batch.
  virtual absl::Status Run(const Batch& batch, std::vector<InferenceResponse>& responses) = 0;
};

// Creates the runner of instance `instance_index`; called on that instance's thread or its
// loading thread.
using BatchRunnerFactory = std::function<absl::StatusOr<std::unique_ptr<BatchRunner>>(int instance_index)>;

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_BATCH_RUNNER_H_
