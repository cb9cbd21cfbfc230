// What the text routes compute from a model's raw output rows (server/api/text_rest.h): the
// embedding a client asked for (cut to Matryoshka dimensions, L2-normalized), classification
// scores (softmax over labels, sigmoid for one label) and the order of reranked texts. Pure
// functions on plain floats; thread-safe.
#ifndef SEQSERVE_SERVER_API_TEXT_SCORES_H_
#define SEQSERVE_SERVER_API_TEXT_SCORES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace seqserve {

// `row` cut to its first `dimensions` values, then L2-normalized when `normalize` (a zero vector
// stays zero). Writes into `out` (resized).
void ShapeEmbedding(absl::Span<const float> row, size_t dimensions, bool normalize, std::vector<float>& out);

// One label's score.
struct LabelScore {
  std::string label;
  float score = 0;
};

// The scores of one classification row, highest first: the logits themselves when `raw`, else
// their softmax (one label: their sigmoid, as TEI and sentence-transformers' CrossEncoder do).
std::vector<LabelScore> ClassScores(absl::Span<const float> logits, const std::vector<std::string>& labels, bool raw);

// sigmoid(logit), or the logit when `raw`: a cross-encoder's relevance score.
float RelevanceScore(float logit, bool raw);

// Indices of `scores`, highest score first (ties: lower index first).
std::vector<size_t> RankByScore(absl::Span<const float> scores);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_TEXT_SCORES_H_
