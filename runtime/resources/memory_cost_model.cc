#include "runtime/resources/memory_cost_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace seqserve {
namespace {

constexpr int kTerms = 3;
using Features = std::array<double, kTerms>;

Features FeaturesOf(double rows, double length) { return {1.0, rows * length, rows * length * length}; }

// Least squares (absolute error: the large batches, which memory is about, weigh most) over
// the terms in `use`; false when singular.
bool Solve(const std::vector<MemoryPoint>& points, const std::array<bool, kTerms>& use, double scale, Features& coef) {
  double m[kTerms][kTerms + 1] = {};
  for (const MemoryPoint& p : points) {
    if (p.peak_bytes <= 0) continue;
    const Features f = FeaturesOf(static_cast<double>(p.rows), static_cast<double>(p.length));
    const double w = 1.0 / (scale * scale);
    for (int i = 0; i < kTerms; ++i) {
      for (int j = 0; j < kTerms; ++j) m[i][j] += w * f[i] * f[j];
      m[i][kTerms] += w * f[i] * static_cast<double>(p.peak_bytes);
    }
  }
  for (int i = 0; i < kTerms; ++i) {
    if (use[i]) continue;  // pin the term to 0
    for (int j = 0; j <= kTerms; ++j) m[i][j] = 0;
    for (int j = 0; j < kTerms; ++j) m[j][i] = 0;
    m[i][i] = 1;
  }
  // Gaussian elimination with partial pivoting, on scaled columns (the features span ~10 orders).
  for (int col = 0; col < kTerms; ++col) {
    int pivot = col;
    for (int r = col + 1; r < kTerms; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
    }
    if (std::abs(m[pivot][col]) < 1e-300) return false;
    for (int j = 0; j <= kTerms; ++j) std::swap(m[col][j], m[pivot][j]);
    for (int r = 0; r < kTerms; ++r) {
      if (r == col) continue;
      const double factor = m[r][col] / m[col][col];
      for (int j = col; j <= kTerms; ++j) m[r][j] -= factor * m[col][j];
    }
  }
  for (int i = 0; i < kTerms; ++i) coef[i] = use[i] ? m[i][kTerms] / m[i][i] : 0.0;
  return std::all_of(coef.begin(), coef.end(), [](double c) { return std::isfinite(c); });
}

std::string Bytes(double b) {
  if (b >= 1 << 20) return absl::StrFormat("%.1f MiB", b / (1 << 20));
  if (b >= 1 << 10) return absl::StrFormat("%.1f KiB", b / (1 << 10));
  return absl::StrFormat("%.1f B", b);
}

}  // namespace

MemoryCostModel MemoryCostModel::Fit(const std::vector<MemoryPoint>& points) {
  MemoryCostModel model;
  int measured = 0;
  int64_t largest = 0;
  for (const MemoryPoint& p : points) {
    if (p.peak_bytes > 0) ++measured;
    largest = std::max(largest, p.peak_bytes);
  }
  if (measured == 0) return model;
  // Without distinct lengths the L^2 term cannot be told from the linear one.
  bool lengths_vary = false;
  for (const MemoryPoint& p : points) lengths_vary |= p.length != points.front().length;
  std::array<bool, kTerms> use = {true, true, lengths_vary};
  Features coef{};
  for (int attempt = 0; attempt < kTerms; ++attempt) {
    if (!Solve(points, use, static_cast<double>(largest), coef)) {
      coef = {static_cast<double>(largest), 0, 0};  // degenerate points: the largest, flat
      break;
    }
    int most_negative = -1;
    for (int i = 0; i < kTerms; ++i) {
      if (use[i] && coef[i] < 0 && (most_negative < 0 || coef[i] < coef[most_negative])) most_negative = i;
    }
    if (most_negative < 0) break;
    use[most_negative] = false;
    if (std::none_of(use.begin(), use.end(), [](bool u) { return u; })) {
      coef = {static_cast<double>(largest), 0, 0};
      break;
    }
  }
  model.valid_ = true;
  model.a_ = std::max(0.0, coef[0]);
  model.b_ = std::max(0.0, coef[1]);
  model.c_ = std::max(0.0, coef[2]);
  model.points_ = measured;
  // The envelope: scaled up until it covers every point of at least a tenth of the largest
  // peak (smaller ones hardly matter to a budget, and their relative error is noise).
  double envelope = 1.0;
  for (const MemoryPoint& p : points) {
    if (p.peak_bytes <= 0) continue;
    const double predicted = model.a_ + model.b_ * p.rows * p.length + model.c_ * p.rows * p.length * p.length;
    if (p.peak_bytes * 10 >= largest && predicted > 0) {
      model.fit_error_ = std::max(model.fit_error_, std::abs(predicted / static_cast<double>(p.peak_bytes) - 1.0));
      envelope = std::max(envelope, static_cast<double>(p.peak_bytes) / predicted);
    }
  }
  model.a_ *= envelope;
  model.b_ *= envelope;
  model.c_ *= envelope;
  model.envelope_ = envelope;
  return model;
}

int64_t MemoryCostModel::Predict(int64_t rows, int64_t length) const {
  if (!valid_) return 0;
  const Features f = FeaturesOf(static_cast<double>(rows), static_cast<double>(std::max<int64_t>(length, 1)));
  const double bytes = a_ * f[0] + b_ * f[1] + c_ * f[2];
  return bytes >= static_cast<double>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                           : static_cast<int64_t>(std::ceil(bytes));
}

int64_t MemoryCostModel::MostRowsWithin(int64_t length, int64_t bytes) const {
  if (!valid_) return std::numeric_limits<int64_t>::max();
  const double l = static_cast<double>(std::max<int64_t>(length, 1));
  const double per_row = b_ * l + c_ * l * l;
  const double room = static_cast<double>(bytes) - a_;
  if (room < per_row || room < 0) return 0;
  if (per_row <= 0) return std::numeric_limits<int64_t>::max();
  const double rows = std::floor(room / per_row);
  return rows >= 9e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(rows);
}

std::string MemoryCostModel::Describe() const {
  if (!valid_) return "not measured";
  return absl::StrCat(Bytes(a_), " + ", Bytes(b_), " x tokens + ", Bytes(c_), " x rows x length^2 (fitted to ", points_,
                      " warm-up batches, worst error on the larger ones ", absl::StrFormat("%.0f%%", 100 * fit_error_),
                      ", scaled by ", absl::StrFormat("%.2f", envelope_), " to cover the larger ones)");
}

}  // namespace seqserve
