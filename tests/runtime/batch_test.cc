#include "runtime/execution/batch.h"

#include <cstring>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <typename T>
std::vector<T> Values(const std::string& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// ids [rows, L] int64 padded with -1; output scores [rows, L] and pooled [rows, 2].
ModelSignature SequenceSignature() {
  ModelSignature sig;
  sig.sequence_axis = 0;
  sig.max_sequence_length = 16;
  sig.max_batch_size = 8;
  sig.inputs.push_back({"ids", DataType::kInt64, {-1}, true, EncodeScalar(DataType::kInt64, -1)});
  sig.outputs.push_back({"pooled", DataType::kFp32, {2}, false, ""});
  sig.outputs.push_back({"scores", DataType::kInt64, {-1}, true, ""});
  return sig;
}

std::unique_ptr<InferenceRequest> IdsRequest(std::vector<std::vector<int64_t>> rows) {
  auto r = std::make_unique<InferenceRequest>();
  r->rows = static_cast<int64_t>(rows.size());
  r->sequence_length = static_cast<int64_t>(rows[0].size());
  Tensor t{"ids", DataType::kInt64, {r->rows, r->sequence_length}, ""};
  for (const auto& row : rows) t.data += Bytes(row);
  r->inputs.push_back(std::move(t));
  r->output_indices = {0, 1};
  return r;
}

TEST(BatchTest, AssemblesPaddedInputInRequestOrder) {
  const ModelSignature sig = SequenceSignature();
  Batch batch;
  batch.requests.push_back(IdsRequest({{1, 2}}));
  batch.requests.push_back(IdsRequest({{3, 4, 5}, {6, 7, 8}}));
  batch.rows = 3;
  batch.padded_length = 3;
  EXPECT_EQ(RealTokens(*batch.requests[0]) + RealTokens(*batch.requests[1]), 2 + 6);
  EXPECT_EQ(BatchedShape(sig, sig.inputs[0], 3, 3), (std::vector<int64_t>{3, 3}));
  std::vector<int64_t> dst(9, 99);
  AssembleInput(sig, 0, batch, reinterpret_cast<char*>(dst.data()));
  EXPECT_EQ(dst, (std::vector<int64_t>{1, 2, -1, 3, 4, 5, 6, 7, 8}));
}

TEST(BatchTest, ExtractsOutputsAndStripsPadding) {
  const ModelSignature sig = SequenceSignature();
  Batch batch;
  batch.requests.push_back(IdsRequest({{1, 2}}));
  batch.requests.push_back(IdsRequest({{3, 4, 5}, {6, 7, 8}}));
  batch.rows = 3;
  batch.padded_length = 3;
  const std::vector<int64_t> scores = {10, 20, 0, 30, 40, 50, 60, 70, 80};
  EXPECT_TRUE(CheckOutputShape(sig, 1, batch, {3, 3}).ok());
  EXPECT_EQ(CheckOutputShape(sig, 1, batch, {3, 4}).code(), absl::StatusCode::kInternal);
  Tensor first = ExtractOutput(sig, 1, batch, reinterpret_cast<const char*>(scores.data()), 0, *batch.requests[0]);
  EXPECT_EQ(first.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Values<int64_t>(first.data), (std::vector<int64_t>{10, 20}));
  Tensor second = ExtractOutput(sig, 1, batch, reinterpret_cast<const char*>(scores.data()), 1, *batch.requests[1]);
  EXPECT_EQ(second.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<int64_t>(second.data), (std::vector<int64_t>{30, 40, 50, 60, 70, 80}));

  const std::vector<float> pooled = {1, 2, 3, 4, 5, 6};
  Tensor p = ExtractOutput(sig, 0, batch, reinterpret_cast<const char*>(pooled.data()), 1, *batch.requests[1]);
  EXPECT_EQ(p.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values<float>(p.data), (std::vector<float>{3, 4, 5, 6}));
}

TEST(BatchTest, HandlesSequenceAxisInTheMiddle) {
  // x: [rows, 2, L, 3] int32 with the sequence on axis 1 of dims.
  ModelSignature sig;
  sig.sequence_axis = 1;
  sig.max_sequence_length = 4;
  sig.max_batch_size = 4;
  sig.inputs.push_back({"x", DataType::kInt32, {2, -1, 3}, true, EncodeScalar(DataType::kInt32, 0)});
  auto r = std::make_unique<InferenceRequest>();
  r->rows = 1;
  r->sequence_length = 1;
  std::vector<int32_t> values = {1, 2, 3, 4, 5, 6};  // [1, 2, 1, 3]
  r->inputs.push_back({"x", DataType::kInt32, {1, 2, 1, 3}, Bytes(values)});
  Batch batch;
  batch.requests.push_back(std::move(r));
  batch.rows = 1;
  batch.padded_length = 2;
  std::vector<int32_t> dst(12, 99);
  AssembleInput(sig, 0, batch, reinterpret_cast<char*>(dst.data()));
  EXPECT_EQ(dst, (std::vector<int32_t>{1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0, 0}));
}

}  // namespace
}  // namespace seqserve
