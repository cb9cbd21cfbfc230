// Histogram and WindowedMean: the two aggregates behind the latency, batch and queue metrics.
#include "runtime/base/histogram.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/base/windowed_mean.h"

namespace seqserve {
namespace {

// Prometheus' `le` semantics: a value equal to a bound counts in that bound's bucket; counts
// are cumulative; the +Inf bucket is the count.
TEST(HistogramTest, BucketsAreCumulativeAndInclusiveOfTheirUpperBound) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 100.0}) h.Observe(v);
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(s.cumulative_counts, (std::vector<uint64_t>{2, 4, 6, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_DOUBLE_EQ(s.sum, 112.0);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram h(Histogram::PowersOfTwo(8));
  EXPECT_EQ(Histogram::PowersOfTwo(8), (std::vector<double>{1, 2, 4, 8}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.Observe(t);  // 0, 1, 2, 3: exact sums
    });
  }
  for (std::thread& t : threads) t.join();
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_DOUBLE_EQ(s.sum, 10000.0 * (0 + 1 + 2 + 3));
  EXPECT_EQ(s.cumulative_counts, (std::vector<uint64_t>{20000, 30000, 40000, 40000, 40000}));
}

TEST(HistogramTest, LatencyBoundsAscendFrom100MicrosecondsTo60Seconds) {
  std::vector<double> b = Histogram::LatencyBounds();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 0.0001);
  EXPECT_DOUBLE_EQ(b.back(), 60);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

TEST(WindowedMeanTest, AveragesTheWindowAndForgetsWhatIsOlder) {
  const absl::Time t0 = absl::FromUnixSeconds(1'000'000);
  WindowedMean mean(absl::Seconds(3));
  EXPECT_EQ(mean.Mean(t0), 0.0);  // nothing observed
  mean.Add(1, t0);
  mean.Add(3, t0 + absl::Milliseconds(500));  // same second
  mean.Add(8, t0 + absl::Seconds(1));
  EXPECT_DOUBLE_EQ(mean.Mean(t0 + absl::Seconds(1)), 4.0);  // (1 + 3 + 8) / 3
  EXPECT_DOUBLE_EQ(mean.Mean(t0 + absl::Seconds(2)), 4.0);  // all within 3 s
  EXPECT_DOUBLE_EQ(mean.Mean(t0 + absl::Seconds(3)), 8.0);  // t0's slot aged out
  EXPECT_EQ(mean.Mean(t0 + absl::Seconds(10)), 0.0);        // everything aged out
  // A slot is reused for a later second: the old values go, not add up.
  mean.Add(5, t0 + absl::Seconds(3));                       // t0's slot (3 s window)
  EXPECT_DOUBLE_EQ(mean.Mean(t0 + absl::Seconds(3)), 6.5);  // (8 + 5) / 2
}

TEST(WindowedMeanTest, AWindowIsAtLeastOneSecond) {
  const absl::Time t0 = absl::FromUnixSeconds(2'000'000);
  WindowedMean mean(absl::Milliseconds(10));
  mean.Add(2, t0);
  EXPECT_DOUBLE_EQ(mean.Mean(t0 + absl::Milliseconds(900)), 2.0);
  EXPECT_EQ(mean.Mean(t0 + absl::Seconds(1)), 0.0);
}

}  // namespace
}  // namespace seqserve
