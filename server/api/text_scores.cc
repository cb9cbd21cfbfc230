#include "server/api/text_scores.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace seqserve {

void ShapeEmbedding(absl::Span<const float> row, size_t dimensions, bool normalize, std::vector<float>& out) {
  out.assign(row.begin(), row.begin() + static_cast<ptrdiff_t>(std::min(dimensions, row.size())));
  if (!normalize) return;
  double squares = 0;
  for (float v : out) squares += static_cast<double>(v) * v;
  // As torch.nn.functional.normalize: divide by max(norm, 1e-12).
  const double norm = std::max(std::sqrt(squares), 1e-12);
  for (float& v : out) v = static_cast<float>(v / norm);
}

float RelevanceScore(float logit, bool raw) { return raw ? logit : static_cast<float>(1.0 / (1.0 + std::exp(-logit))); }

std::vector<LabelScore> ClassScores(absl::Span<const float> logits, const std::vector<std::string>& labels, bool raw) {
  std::vector<LabelScore> scores(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) scores[i].label = i < labels.size() ? labels[i] : std::string();
  if (raw) {
    for (size_t i = 0; i < logits.size(); ++i) scores[i].score = logits[i];
  } else if (logits.size() == 1) {
    scores[0].score = RelevanceScore(logits[0], false);
  } else if (!logits.empty()) {
    const float top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float v : logits) sum += std::exp(static_cast<double>(v) - top);
    for (size_t i = 0; i < logits.size(); ++i) {
      scores[i].score = static_cast<float>(std::exp(static_cast<double>(logits[i]) - top) / sum);
    }
  }
  std::stable_sort(scores.begin(), scores.end(),
                   [](const LabelScore& a, const LabelScore& b) { return a.score > b.score; });
  return scores;
}

std::vector<size_t> RankByScore(absl::Span<const float> scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

}  // namespace seqserve
