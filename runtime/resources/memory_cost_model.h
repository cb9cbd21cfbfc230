// MemoryCostModel: how many bytes of pool memory a batch of (rows, padded length) needs at its
// peak, fitted to what warm-up batches measured.
//
// Note [memory cost model]: peak(rows, L) = a + b * rows * L + c * rows * L^2. A transformer's
// activations grow with the tokens (rows x L: hidden states, feed-forward) and its attention
// scores with rows x heads x L^2; `a` is what does not depend on the batch. Fitted by least
// squares on absolute error (the large batches, which a memory budget is about, weigh most),
// coefficients kept non-negative (a negative one is dropped and the rest refitted), then scaled
// up just enough to cover every measured batch of at least a tenth of the largest peak, so the
// prediction is an upper envelope where it matters. Warm-up runs, per length, one row and the
// most rows a batch may hold. Measured on all-MiniLM-L6-v2 FP32 packed for 512 tokens (20
// warm-up batches, 1 x 1 to 64 x 16 and 2 x 512): 19.5 KiB + 11.7 KiB x tokens + 117.6 B x
// rows x length^2 (12 heads x 4 B x a few copies of the scores), envelope 1.35; in service
// measured / predicted fell in (0.75, 0.9] for every batch (benchmarks/RESULTS.md, "Memory that
// fits the pod"; exported as seqserve_batch_memory_actual_over_predicted). Without a sequence
// dimension L = 1.
//
// A value type; immutable after Fit. Thread-compatible.
#ifndef SEQSERVE_RUNTIME_RESOURCES_MEMORY_COST_MODEL_H_
#define SEQSERVE_RUNTIME_RESOURCES_MEMORY_COST_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace seqserve {

// One measured batch.
struct MemoryPoint {
  int64_t rows = 0;
  int64_t length = 1;  // padded length; 1 without a sequence dimension
  int64_t peak_bytes = 0;
};

class MemoryCostModel {
 public:
  // A model that predicts 0 for everything (valid() false): nothing measured.
  MemoryCostModel() = default;

  // Fits the Note's form to `points` (at least one with peak_bytes > 0, else an invalid model).
  static MemoryCostModel Fit(const std::vector<MemoryPoint>& points);

  bool valid() const { return valid_; }
  // Predicted peak bytes; 0 for an invalid model.
  int64_t Predict(int64_t rows, int64_t length) const;
  // The most rows of `length` whose prediction is within `bytes` (0 when not even one row).
  int64_t MostRowsWithin(int64_t length, int64_t bytes) const;

  // Largest |fitted / measured - 1| over the points of at least a tenth of the largest peak,
  // before the envelope's scaling (smaller points are far off in relative terms and irrelevant).
  double fit_error() const { return fit_error_; }
  // The envelope's factor (>= 1).
  double envelope() const { return envelope_; }
  int points() const { return points_; }
  // The coefficients, the points, the fit's worst error and the envelope factor, for the log.
  std::string Describe() const;

 private:
  bool valid_ = false;
  double a_ = 0, b_ = 0, c_ = 0;
  double fit_error_ = 0;
  double envelope_ = 1;
  int points_ = 0;
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_RESOURCES_MEMORY_COST_MODEL_H_
