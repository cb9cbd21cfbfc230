#include "server/api/kserve_codec.h"

#include <cstring>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

inference::ModelInferRequest TwoInputs() {
  inference::ModelInferRequest r;
  r.set_model_name("encoder");
  r.set_id("req-1");
  for (const char* name : {"input_ids", "attention_mask"}) {
    auto* in = r.add_inputs();
    in->set_name(name);
    in->set_datatype("INT64");
    in->add_shape(1);
    in->add_shape(3);
  }
  return r;
}

TEST(KServeCodecTest, RawInputsBecomeTensors) {
  inference::ModelInferRequest r = TwoInputs();
  const int64_t values[3] = {5, 6, 7};
  for (int i = 0; i < 2; ++i) r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(values), 24));
  r.add_outputs()->set_name("logits");
  auto request = FromKServe(r);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ((*request)->model_name, "encoder");
  EXPECT_EQ((*request)->model_version, 0);
  EXPECT_EQ((*request)->id, "req-1");
  ASSERT_EQ((*request)->inputs.size(), 2u);
  EXPECT_EQ((*request)->inputs[1].shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ((*request)->inputs[1].bytes().size(), 24u);
  EXPECT_EQ((*request)->requested_outputs, (std::vector<std::string>{"logits"}));
  // Copied by default (a stream reuses its message); kBorrow points into the message instead.
  EXPECT_NE((*request)->inputs[1].bytes().data(), r.raw_input_contents(1).data());
  auto borrowed = FromKServe(r, InputBytes::kBorrow);
  ASSERT_TRUE(borrowed.ok()) << borrowed.status();
  EXPECT_EQ((*borrowed)->inputs[1].bytes().data(), r.raw_input_contents(1).data());
  EXPECT_EQ((*borrowed)->inputs[1].bytes().size(), 24u);
  EXPECT_TRUE((*borrowed)->inputs[1].data.empty());
}

TEST(KServeCodecTest, TypedContentsAreEncodedLittleEndian) {
  inference::ModelInferRequest r = TwoInputs();
  for (int i = 0; i < 2; ++i) {
    for (int64_t v : {5, 6, 7}) r.mutable_inputs(i)->mutable_contents()->add_int64_contents(v);
  }
  auto request = FromKServe(r);
  ASSERT_TRUE(request.ok()) << request.status();
  int64_t third;
  std::memcpy(&third, (*request)->inputs[0].bytes().data() + 16, 8);
  EXPECT_EQ(third, 7);

  inference::ModelInferRequest fp;
  auto* x = fp.add_inputs();
  x->set_name("input");
  x->set_datatype("INT8");
  x->add_shape(2);
  x->mutable_contents()->add_int_contents(-3);
  x->mutable_contents()->add_int_contents(4);
  auto small = FromKServe(fp);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ((*small)->inputs[0].bytes(), std::string("\xfd\x04", 2));
}

void ExpectInvalid(const inference::ModelInferRequest& r, const std::string& fragment) {
  auto request = FromKServe(r);
  ASSERT_FALSE(request.ok()) << fragment;
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(request.status().message().find(fragment), std::string::npos) << request.status();
}

TEST(KServeCodecTest, RejectsMalformedRequests) {
  inference::ModelInferRequest mixed = TwoInputs();
  mixed.add_raw_input_contents(std::string(24, '\0'));
  mixed.add_raw_input_contents(std::string(24, '\0'));
  mixed.mutable_inputs(0)->mutable_contents()->add_int64_contents(1);
  ExpectInvalid(mixed, "use one or the other");

  inference::ModelInferRequest short_raw = TwoInputs();
  short_raw.add_raw_input_contents(std::string(24, '\0'));
  ExpectInvalid(short_raw, "raw_input_contents has 1 entries for 2 inputs");

  inference::ModelInferRequest count = TwoInputs();
  count.mutable_inputs(0)->mutable_contents()->add_int64_contents(1);
  ExpectInvalid(count, "has 1 elements in contents but its shape needs 3");

  inference::ModelInferRequest bytes = TwoInputs();
  bytes.mutable_inputs(0)->set_datatype("BYTES");
  ExpectInvalid(bytes, "datatype 'BYTES' is not supported");

  inference::ModelInferRequest half = TwoInputs();
  half.mutable_inputs(0)->set_datatype("FP16");
  ExpectInvalid(half, "send it in raw_input_contents");

  inference::ModelInferRequest version = TwoInputs();
  version.set_model_version("latest");
  ExpectInvalid(version, "not a positive integer");

  inference::ModelInferRequest timeout = TwoInputs();
  for (int i = 0; i < 2; ++i) timeout.add_raw_input_contents(std::string(24, '\0'));
  (*timeout.mutable_parameters())["timeout"].set_string_param("soon");
  ExpectInvalid(timeout, "timeout");
}

TEST(KServeCodecTest, ResponseUsesRawOutputContents) {
  inference::ModelInferRequest r = TwoInputs();
  r.set_model_version("1");
  InferenceResponse result;
  result.model_version = 1;
  result.outputs.push_back({"logits", DataType::kFp32, {1, 4}, std::string(16, 'x')});
  inference::ModelInferResponse response;
  ToKServe(r, result, &response);
  EXPECT_EQ(response.model_name(), "encoder");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "req-1");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(response.outputs(0).shape_size(), 2);
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_EQ(response.raw_output_contents(0), std::string(16, 'x'));
}

}  // namespace
}  // namespace seqserve
