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

// Triton's binary BYTES layout: each string a 4-byte little-endian length, then its bytes.
std::string TritonBytes(const std::vector<std::string>& strings) {
  std::string out;
  for (const std::string& s : strings) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out.append(s);
  }
  return out;
}

inference::ModelInferRequest TextRequest(std::vector<int64_t> shape) {
  inference::ModelInferRequest wire;
  wire.set_model_name("minilm");
  auto* text = wire.add_inputs();
  text->set_name("text");
  text->set_datatype("BYTES");
  for (int64_t d : shape) text->add_shape(d);
  return wire;
}

TEST(KServeCodecTest, TextInputsBecomeTheRequestsTexts) {
  inference::ModelInferRequest typed = TextRequest({2});
  typed.mutable_inputs(0)->mutable_contents()->add_bytes_contents("héllo");
  typed.mutable_inputs(0)->mutable_contents()->add_bytes_contents(std::string("a\0b", 3));
  auto* pair = typed.add_inputs();
  pair->set_name("text_pair");
  pair->set_datatype("BYTES");
  pair->add_shape(2);
  pair->add_shape(1);
  pair->mutable_contents()->add_bytes_contents("x");
  pair->mutable_contents()->add_bytes_contents("");
  auto decoded = FromKServe(typed);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE((*decoded)->inputs.empty());
  EXPECT_EQ((*decoded)->texts, (std::vector<std::string>{"héllo", std::string("a\0b", 3)}));
  EXPECT_EQ((*decoded)->text_pairs, (std::vector<std::string>{"x", ""}));

  inference::ModelInferRequest raw = TextRequest({3, 1});
  raw.add_raw_input_contents(TritonBytes({"one", "", "three"}));
  auto split = FromKServe(raw, InputBytes::kBorrow);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ((*split)->texts, (std::vector<std::string>{"one", "", "three"}));
}

TEST(KServeCodecTest, RejectsMalformedTextInputs) {
  inference::ModelInferRequest short_raw = TextRequest({3});
  short_raw.add_raw_input_contents(TritonBytes({"one", "two"}));
  ExpectInvalid(short_raw, "its bytes are not 3 strings");
  inference::ModelInferRequest long_raw = TextRequest({1});
  long_raw.add_raw_input_contents(TritonBytes({"one", "two"}));
  ExpectInvalid(long_raw, "its bytes are not 1 strings");
  inference::ModelInferRequest truncated = TextRequest({1});
  truncated.add_raw_input_contents(TritonBytes({"one"}).substr(0, 5));
  ExpectInvalid(truncated, "its bytes are not 1 strings");
  inference::ModelInferRequest count = TextRequest({2});
  count.mutable_inputs(0)->mutable_contents()->add_bytes_contents("only one");
  ExpectInvalid(count, "has 1 strings in bytes_contents but its shape needs 2");
  inference::ModelInferRequest matrix = TextRequest({2, 2});
  ExpectInvalid(matrix, "must have shape [N] or [N, 1]");
  inference::ModelInferRequest empty = TextRequest({0});
  ExpectInvalid(empty, "must have shape [N] or [N, 1]");
  inference::ModelInferRequest twice = TextRequest({1});
  twice.mutable_inputs(0)->mutable_contents()->add_bytes_contents("a");
  *twice.add_inputs() = twice.inputs(0);
  ExpectInvalid(twice, "input 'text' is given twice");
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
  ExpectInvalid(bytes, "datatype BYTES is for text, in inputs named 'text' and 'text_pair'");

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
