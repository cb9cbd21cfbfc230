// The demo encoder's workload for the in-process benchmarks: sequence lengths from the shared
// distribution file, and requests of those lengths with random token ids.
#ifndef SEQSERVE_BENCHMARKS_COMMON_ENCODER_WORKLOAD_H_
#define SEQSERVE_BENCHMARKS_COMMON_ENCODER_WORKLOAD_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/execution/inference_request.h"

namespace seqserve::bench {

// The first `max_count` lengths of `path` (one integer per line, '#' starts a comment), each
// clamped to [1, max_length]. NOT_FOUND for an unreadable file, INVALID_ARGUMENT for one with
// no lengths.
absl::StatusOr<std::vector<int64_t>> ReadLengths(const std::string& path, size_t max_count, int64_t max_length);

// One row for the encoder: `input_ids` random in [1, 999], `attention_mask` all ones, both
// [1, length] INT64. Not yet validated (run ValidateRequest before submitting it).
std::unique_ptr<InferenceRequest> EncoderRequest(int64_t length, std::mt19937& rng);

}  // namespace seqserve::bench

#endif  // SEQSERVE_BENCHMARKS_COMMON_ENCODER_WORKLOAD_H_
