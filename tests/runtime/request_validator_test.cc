#include "runtime/execution/request_validator.h"

#include <cstring>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

ModelSignature Signature() {
  ModelSignature sig;
  sig.sequence_axis = 0;
  sig.max_sequence_length = 16;
  sig.max_batch_size = 4;
  sig.inputs.push_back({"ids", DataType::kInt64, {-1}, true, std::string(8, '\0')});
  sig.inputs.push_back({"mask", DataType::kInt64, {-1}, true, std::string(8, '\0')});
  sig.outputs.push_back({"logits", DataType::kFp32, {4}, false, ""});
  sig.outputs.push_back({"scores", DataType::kFp32, {-1}, true, ""});
  return sig;
}

Tensor Int64(const std::string& name, std::vector<int64_t> shape) {
  Tensor t{name, DataType::kInt64, shape, ""};
  t.data.resize(NumElements(shape) * 8);
  return t;
}

InferenceRequest Valid(int64_t rows = 2, int64_t length = 5) {
  InferenceRequest r;
  r.model_name = "enc";
  r.inputs.push_back(Int64("mask", {rows, length}));  // out of order on purpose
  r.inputs.push_back(Int64("ids", {rows, length}));
  return r;
}

void ExpectInvalid(InferenceRequest r, const std::string& fragment) {
  absl::Status status = ValidateRequest(Signature(), r);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << fragment;
  EXPECT_NE(status.message().find(fragment), std::string::npos) << status;
}

TEST(RequestValidatorTest, AcceptsAndNormalizes) {
  InferenceRequest r = Valid();
  ASSERT_TRUE(ValidateRequest(Signature(), r).ok());
  EXPECT_EQ(r.inputs[0].name, "ids");
  EXPECT_EQ(r.inputs[1].name, "mask");
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.sequence_length, 5);
  EXPECT_EQ(r.output_indices, (std::vector<int>{0, 1}));

  InferenceRequest only_scores = Valid();
  only_scores.requested_outputs = {"scores"};
  ASSERT_TRUE(ValidateRequest(Signature(), only_scores).ok());
  EXPECT_EQ(only_scores.output_indices, (std::vector<int>{1}));
}

TEST(RequestValidatorTest, RejectsEveryKindOfBadInput) {
  InferenceRequest missing = Valid();
  missing.inputs.pop_back();
  ExpectInvalid(std::move(missing), "missing input 'ids'");

  InferenceRequest extra = Valid();
  extra.inputs.push_back(Int64("token_type", {2, 5}));
  ExpectInvalid(std::move(extra), "unknown input 'token_type'");

  InferenceRequest duplicate = Valid();
  duplicate.inputs.push_back(Int64("ids", {2, 5}));
  ExpectInvalid(std::move(duplicate), "more than once");

  InferenceRequest dtype = Valid();
  dtype.inputs[0].dtype = DataType::kInt32;
  ExpectInvalid(std::move(dtype), "datatype INT32, model expects INT64");

  InferenceRequest rank = Valid();
  rank.inputs[0] = Int64("mask", {10});
  ExpectInvalid(std::move(rank), "rank 1");

  InferenceRequest negative = Valid();
  negative.inputs[0].shape = {2, -5};
  ExpectInvalid(std::move(negative), "negative dimension");

  InferenceRequest empty = Valid();
  empty.inputs[0] = Int64("mask", {2, 0});
  ExpectInvalid(std::move(empty), "is empty");

  InferenceRequest bytes = Valid();
  bytes.inputs[1].data.resize(7);
  ExpectInvalid(std::move(bytes), "bytes of data");

  InferenceRequest huge = Valid();
  huge.inputs[0].shape = {int64_t{1} << 40, int64_t{1} << 40};
  ExpectInvalid(std::move(huge), "too many elements");

  InferenceRequest lengths = Valid();
  lengths.inputs[0] = Int64("mask", {2, 6});
  ExpectInvalid(std::move(lengths), "disagree on the sequence length");

  InferenceRequest rows = Valid();
  rows.inputs[0] = Int64("mask", {3, 5});
  ExpectInvalid(std::move(rows), "same rows");

  ExpectInvalid(Valid(2, 17), "exceeds model 'enc' maximum of 16");
  ExpectInvalid(Valid(5, 3), "at most 4 per request");

  InferenceRequest output = Valid();
  output.requested_outputs = {"hidden"};
  ExpectInvalid(std::move(output), "unknown output 'hidden'");
}

TEST(RequestValidatorTest, FixedDimensionsMustMatch) {
  ModelSignature sig;
  sig.max_batch_size = 8;
  sig.inputs.push_back({"x", DataType::kFp32, {3}, false, ""});
  sig.outputs.push_back({"y", DataType::kFp32, {1}, false, ""});
  InferenceRequest r;
  r.model_name = "lin";
  r.inputs.push_back({"x", DataType::kFp32, {2, 4}, std::string(32, '\0')});
  absl::Status status = ValidateRequest(sig, r);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("model expects [-1, 3]"), std::string::npos) << status;
}

TEST(RequestValidatorTest, ValuesOutsideTheValidRangeAreRefusedNamingWhere) {
  ModelSignature sig = Signature();
  sig.inputs[0].has_range = true;  // ids in [0, 1000)
  sig.inputs[0].range_begin = 0;
  sig.inputs[0].range_end = 1000;
  auto with_id = [](int64_t id, size_t at) {
    InferenceRequest r = Valid(/*rows=*/2, /*length=*/5);
    std::memcpy(r.inputs[1].data.data() + at * 8, &id, 8);  // inputs[1] is "ids" before reordering
    return r;
  };
  InferenceRequest ok = with_id(999, 7);
  EXPECT_TRUE(ValidateRequest(sig, ok).ok());
  for (int64_t bad : {int64_t{1000}, int64_t{99999999}, int64_t{-1}}) {
    InferenceRequest r = with_id(bad, 7);
    absl::Status status = ValidateRequest(sig, r);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(),
              absl::StrCat("input 'ids' has value ", bad, " at [1, 2], outside its valid range [0, 1000)"));
  }
}

}  // namespace
}  // namespace seqserve
