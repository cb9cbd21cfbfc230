// The pieces of memory-aware batching: the cost model's fit, and the gate's admission.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "runtime/resources/memory_cost_model.h"
#include "runtime/resources/memory_gate.h"

namespace seqserve {
namespace {

int64_t Exact(int64_t rows, int64_t length) { return 4096 + 12288 * rows * length + 48 * rows * length * length; }

TEST(MemoryCostModelTest, RecoversATransformersForm) {
  std::vector<MemoryPoint> points;
  for (int64_t length : {1, 16, 64, 128, 256}) {
    for (int64_t rows : {int64_t{1}, std::max<int64_t>(1, 1024 / length)})
      points.push_back({rows, length, Exact(rows, length)});
  }
  const MemoryCostModel model = MemoryCostModel::Fit(points);
  ASSERT_TRUE(model.valid());
  EXPECT_LT(model.fit_error(), 1e-6);
  EXPECT_NEAR(model.envelope(), 1.0, 1e-6);
  // It extrapolates: a shape it never saw.
  EXPECT_NEAR(static_cast<double>(model.Predict(32, 512)), static_cast<double>(Exact(32, 512)), 1e-6 * Exact(32, 512));
}

TEST(MemoryCostModelTest, CoversEveryLargeMeasuredBatch) {
  // Noisy measurements: the prediction is an envelope over the large ones.
  std::vector<MemoryPoint> points;
  int i = 0;
  for (int64_t length : {8, 32, 128, 256, 512}) {
    for (int64_t rows : {int64_t{1}, 2048 / length}) {
      const double noise = (i++ % 3 == 0) ? 1.2 : 0.9;
      points.push_back({rows, length, static_cast<int64_t>(noise * Exact(rows, length))});
    }
  }
  const MemoryCostModel model = MemoryCostModel::Fit(points);
  int64_t largest = 0;
  for (const MemoryPoint& p : points) largest = std::max(largest, p.peak_bytes);
  for (const MemoryPoint& p : points) {
    if (p.peak_bytes * 10 >= largest) {
      EXPECT_GE(model.Predict(p.rows, p.length), p.peak_bytes) << p.rows << "x" << p.length;
    }
  }
  EXPECT_GT(model.envelope(), 1.0);
  EXPECT_GT(model.fit_error(), 0.05);
}

TEST(MemoryCostModelTest, NegativeTermsAreDroppedAndOneLengthMeansNoQuadraticTerm) {
  // Linear in tokens only, one length: the L^2 term cannot be told apart and stays 0.
  std::vector<MemoryPoint> points = {{1, 1, 1000}, {8, 1, 8000}, {64, 1, 64000}};
  MemoryCostModel model = MemoryCostModel::Fit(points);
  ASSERT_TRUE(model.valid());
  EXPECT_NEAR(static_cast<double>(model.Predict(128, 1)), 128000.0, 2.0);
  for (int64_t rows = 1; rows < 200; rows += 7) EXPECT_GE(model.Predict(rows, 1), 0);
  // Peaks that fall with size would need a negative slope: it is dropped, the rest is flat.
  model = MemoryCostModel::Fit({{1, 1, 5000}, {64, 1, 1000}, {128, 1, 900}});
  EXPECT_GE(model.Predict(1000, 1), model.Predict(1, 1));
  EXPECT_GE(model.Predict(1, 1), 900);
}

TEST(MemoryCostModelTest, MostRowsWithinAgreesWithPredict) {
  std::vector<MemoryPoint> points;
  for (int64_t length : {1, 64, 256}) {
    for (int64_t rows : {1, 4}) points.push_back({rows, length, Exact(rows, length)});
  }
  const MemoryCostModel model = MemoryCostModel::Fit(points);
  for (int64_t length : {1, 100, 256, 512}) {
    for (int64_t budget : {int64_t{1} << 16, int64_t{1} << 22, int64_t{1} << 26}) {
      const int64_t rows = model.MostRowsWithin(length, budget);
      if (rows > 0) {
        EXPECT_LE(model.Predict(rows, length), budget);
      }
      EXPECT_GT(model.Predict(rows + 1, length), budget) << length << " " << budget;
    }
  }
  EXPECT_EQ(model.MostRowsWithin(512, 1000), 0);  // not one row
  EXPECT_FALSE(MemoryCostModel::Fit({}).valid());
  EXPECT_EQ(MemoryCostModel().Predict(10, 10), 0);
}

TEST(MemoryGateTest, AdmitsWhatFitsAndMakesTheRestWait) {
  MemoryGate gate;
  EXPECT_EQ(gate.Available(), MemoryGate::kUnlimited);
  gate.SetBudget(100);
  EXPECT_EQ(gate.Available(), 100);
  bool waited = true;
  MemoryGate::Ticket a = gate.Admit(60, &waited);
  EXPECT_FALSE(waited);
  EXPECT_EQ(gate.Available(), 40);
  MemoryGate::Ticket b = gate.Admit(40, &waited);
  EXPECT_FALSE(waited);
  EXPECT_EQ(gate.Available(), 0);

  // A third must wait until one of them is done.
  absl::Notification admitted;
  std::thread third([&] {
    bool third_waited = false;
    MemoryGate::Ticket c = gate.Admit(50, &third_waited);
    EXPECT_TRUE(third_waited);
    admitted.Notify();
  });
  EXPECT_FALSE(admitted.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  { MemoryGate::Ticket done = std::move(a); }  // finishes the 60
  EXPECT_TRUE(admitted.WaitForNotificationWithTimeout(absl::Seconds(30)));
  third.join();
  EXPECT_EQ(gate.admitted_bytes(), 40);
}

TEST(MemoryGateTest, ABatchAloneIsAlwaysAdmitted) {
  MemoryGate gate;
  gate.SetBudget(100);
  bool waited = true;
  {
    MemoryGate::Ticket huge = gate.Admit(1000, &waited);  // the pool's refusal decides then
    EXPECT_FALSE(waited);
    EXPECT_EQ(gate.admitted_batches(), 1);
    EXPECT_EQ(gate.Available(), 0);
  }
  EXPECT_EQ(gate.admitted_batches(), 0);
  EXPECT_EQ(gate.Available(), 100);
  gate.SetBudget(0);
  EXPECT_EQ(gate.Available(), MemoryGate::kUnlimited);
  MemoryGate::Ticket free_ride = gate.Admit(1 << 30, &waited);
  EXPECT_FALSE(waited);
  EXPECT_EQ(gate.admitted_batches(), 0);  // not counted without a budget
}

}  // namespace
}  // namespace seqserve
