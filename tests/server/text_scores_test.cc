// The text routes' arithmetic (server/api/text_scores.h): Matryoshka cuts renormalized, softmax
// and sigmoid scores highest first, ranks stable on ties.
#include "server/api/text_scores.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace seqserve {
namespace {

TEST(TextScoresTest, EmbeddingsAreCutThenNormalized) {
  const std::vector<float> row = {3, 4, 12};
  std::vector<float> out;
  ShapeEmbedding(row, 2, /*normalize=*/true, out);
  EXPECT_EQ(out, (std::vector<float>{0.6f, 0.8f}));
  ShapeEmbedding(row, 3, /*normalize=*/false, out);
  EXPECT_EQ(out, row);
  ShapeEmbedding(row, 3, /*normalize=*/true, out);
  EXPECT_FLOAT_EQ(out[2], 12.0f / 13.0f);
  const std::vector<float> zero = {0, 0};
  ShapeEmbedding(zero, 2, /*normalize=*/true, out);
  EXPECT_EQ(out, zero);  // no division by zero
}

TEST(TextScoresTest, ClassScoresHighestFirst) {
  const std::vector<float> logits = {1, 3, 2};
  const std::vector<std::string> labels = {"a", "b", "c"};
  std::vector<LabelScore> soft = ClassScores(logits, labels, /*raw=*/false);
  ASSERT_EQ(soft.size(), 3u);
  EXPECT_EQ(soft[0].label, "b");
  EXPECT_EQ(soft[1].label, "c");
  EXPECT_EQ(soft[2].label, "a");
  const double sum = std::exp(1.0) + std::exp(3.0) + std::exp(2.0);
  EXPECT_NEAR(soft[0].score, std::exp(3.0) / sum, 1e-6);
  EXPECT_NEAR(soft[0].score + soft[1].score + soft[2].score, 1.0, 1e-6);
  std::vector<LabelScore> raw = ClassScores(logits, labels, /*raw=*/true);
  EXPECT_EQ(raw[0].score, 3.0f);
  // One label: a sigmoid, as TEI and sentence-transformers' CrossEncoder score it.
  std::vector<LabelScore> one = ClassScores(std::vector<float>{0.5f}, {"relevance"}, false);
  EXPECT_NEAR(one[0].score, 1.0 / (1.0 + std::exp(-0.5)), 1e-6);
  EXPECT_NEAR(RelevanceScore(-2, false), 1.0 / (1.0 + std::exp(2.0)), 1e-6);
  EXPECT_EQ(RelevanceScore(-2, true), -2.0f);
}

TEST(TextScoresTest, RanksAreStableOnTies) {
  EXPECT_EQ(RankByScore(std::vector<float>{0.1f, 0.9f, 0.5f, 0.9f}), (std::vector<size_t>{1, 3, 2, 0}));
}

}  // namespace
}  // namespace seqserve
