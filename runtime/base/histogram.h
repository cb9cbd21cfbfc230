// Histogram: a fixed-bucket histogram with lock-free Observe(), for latencies, batch sizes and
// lengths. Thread-safe. Snapshots are cumulative per bucket, as Prometheus expects.
#ifndef SEQSERVE_RUNTIME_BASE_HISTOGRAM_H_
#define SEQSERVE_RUNTIME_BASE_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace seqserve {

struct HistogramSnapshot {
  std::vector<double> upper_bounds;         // ascending; the +Inf bucket is implicit
  std::vector<uint64_t> cumulative_counts;  // one per bound, then one for +Inf (== count)
  uint64_t count = 0;
  double sum = 0;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value);
  HistogramSnapshot Snapshot() const;

  // Buckets for durations in seconds, 100 us to 60 s: inference on CPU and GPU alike.
  static std::vector<double> LatencyBounds();
  // Buckets for short CPU work in seconds, 1 us to 1 s (tokenizing a request's texts).
  static std::vector<double> MicroLatencyBounds();
  // Powers of two from 1 to `max`, for batch rows and sequence lengths.
  static std::vector<double> PowersOfTwo(double max);

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  std::atomic<double> sum_{0};
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_HISTOGRAM_H_
