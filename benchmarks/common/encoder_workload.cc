#include "benchmarks/common/encoder_workload.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace seqserve::bench {

absl::StatusOr<std::vector<int64_t>> ReadLengths(const std::string& path, size_t max_count, int64_t max_length) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<int64_t> lengths;
  for (std::string line; lengths.size() < max_count && std::getline(in, line);) {
    int64_t l;
    if (!line.empty() && line[0] != '#' && absl::SimpleAtoi(line, &l))
      lengths.push_back(std::clamp<int64_t>(l, 1, max_length));
  }
  if (lengths.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no lengths"));
  return lengths;
}

std::unique_ptr<InferenceRequest> EncoderRequest(int64_t length, std::mt19937& rng) {
  auto r = std::make_unique<InferenceRequest>();
  r->model_name = "encoder";
  Tensor ids{"input_ids", DataType::kInt64, {1, length}, std::string(length * 8, '\0')};
  Tensor mask{"attention_mask", DataType::kInt64, {1, length}, std::string(length * 8, '\0')};
  for (int64_t i = 0; i < length; ++i) {
    const int64_t id = std::uniform_int_distribution<int64_t>(1, 999)(rng), one = 1;
    std::memcpy(ids.data.data() + 8 * i, &id, 8);
    std::memcpy(mask.data.data() + 8 * i, &one, 8);
  }
  r->inputs = {std::move(ids), std::move(mask)};
  return r;
}

}  // namespace seqserve::bench
