// The REST body codec (server/api/kserve_json.h), the KServe JSON printer (server/api/proto_json.h)
// and the REST status mapping, without a server.
#include "server/api/kserve_json.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "server/admission/request_memory.h"
#include "server/api/kserve_rest.h"
#include "server/api/proto_json.h"

namespace seqserve {
namespace {

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.bytes().size() / sizeof(T));
  std::memcpy(out.data(), t.bytes().data(), out.size() * sizeof(T));
  return out;
}

TEST(RestJsonTest, FlatAndNestedDataGiveTheSameTensor) {
  auto flat = ParseRestInfer("m", 0, R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"INT64","data":[1,2,3,4]}]})",
                             std::nullopt);
  auto nested = ParseRestInfer("m", 3, R"({"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"INT64",
                                         "data":[[1,2],[3,4]]}]})",
                               std::nullopt);
  ASSERT_TRUE(flat.ok()) << flat.status();
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(Values<int64_t>(flat->request->inputs[0]), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(flat->request->inputs[0].data, nested->request->inputs[0].data);
  EXPECT_EQ(nested->request->id, "r1");
  EXPECT_EQ(nested->request->model_version, 3);
  EXPECT_EQ(nested->request->inputs[0].shape, (std::vector<int64_t>{2, 2}));
}

TEST(RestJsonTest, EveryDatatypeFromJson) {
  auto parsed = ParseRestInfer("m", 0, R"({"inputs":[
      {"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]},
      {"name":"u8","shape":[1],"datatype":"UINT8","data":[255]},
      {"name":"i8","shape":[1],"datatype":"INT8","data":[-128]},
      {"name":"i16","shape":[1],"datatype":"INT16","data":[-300]},
      {"name":"i32","shape":[1],"datatype":"INT32","data":[70000]},
      {"name":"i64","shape":[1],"datatype":"INT64","data":[9007199254740993]},
      {"name":"f16","shape":[1],"datatype":"FP16","data":[1.5]},
      {"name":"bf16","shape":[1],"datatype":"BF16","data":[-2]},
      {"name":"f32","shape":[1],"datatype":"FP32","data":[0.25]},
      {"name":"f64","shape":[1],"datatype":"FP64","data":[1e300]}]})",
                               std::nullopt);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const auto& in = parsed->request->inputs;
  ASSERT_EQ(in.size(), 10u);
  EXPECT_EQ(in[0].data, std::string("\x01\x00", 2));
  EXPECT_EQ(Values<uint8_t>(in[1])[0], 255);
  EXPECT_EQ(Values<int8_t>(in[2])[0], -128);
  EXPECT_EQ(Values<int16_t>(in[3])[0], -300);
  EXPECT_EQ(Values<int32_t>(in[4])[0], 70000);
  EXPECT_EQ(Values<int64_t>(in[5])[0], 9007199254740993);  // exact: not through a double
  EXPECT_EQ(Values<uint16_t>(in[6])[0], 0x3e00);           // 1.5 in IEEE half
  EXPECT_EQ(Values<uint16_t>(in[7])[0], 0xc000);           // -2 in bfloat16
  EXPECT_EQ(Values<float>(in[8])[0], 0.25f);
  EXPECT_EQ(Values<double>(in[9])[0], 1e300);
}

TEST(RestJsonTest, BinaryInputsBorrowFromTheBody) {
  const std::string json =
      R"({"inputs":[{"name":"a","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}},)"
      R"({"name":"b","shape":[1],"datatype":"FP32","data":[2.5]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]})";
  const int32_t a[2] = {7, -8};
  const std::string body = json + std::string(reinterpret_cast<const char*>(a), 8);
  auto parsed = ParseRestInfer("m", 0, body, json.size());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Tensor& t = parsed->request->inputs[0];
  EXPECT_EQ(t.borrowed.data(), body.data() + json.size());
  EXPECT_EQ(Values<int32_t>(t), (std::vector<int32_t>{7, -8}));
  EXPECT_EQ(Values<float>(parsed->request->inputs[1])[0], 2.5f);
  EXPECT_EQ(parsed->request->requested_outputs, (std::vector<std::string>{"y"}));
  EXPECT_TRUE(parsed->format.Binary("y"));
  EXPECT_FALSE(parsed->format.Binary("z"));
}

TEST(RestJsonTest, MalformedBodiesSayWhatToFix) {
  const std::string kBinary16 =
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}}]})";
  struct Case {
    std::string body;
    std::optional<size_t> json_length;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{bad", std::nullopt, "not valid JSON"},
      {"[]", std::nullopt, "must be a JSON object"},
      {R"({"inputs":{}})", std::nullopt, "\"inputs\" array"},
      {R"({"inputs":[{"shape":[1],"datatype":"INT64","data":[1]}]})", std::nullopt, "\"name\""},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"STRING","data":[1]}]})", std::nullopt, "datatype 'STRING'"},
      {R"({"inputs":[{"name":"x","shape":[3],"datatype":"INT64","data":[1,2]}]})", std::nullopt,
       "2 elements in data but its shape needs 3"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1,2]}]})", std::nullopt, "more than 1"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[300]}]})", std::nullopt,
       "out of range for datatype INT8"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1.5]}]})", std::nullopt, "not an integer"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]})", std::nullopt, "true/false"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]})", std::nullopt, "not a number"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})", std::nullopt, "needs \"data\""},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":1}]})", std::nullopt, "must be an array"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[{"a":1}]}]})", std::nullopt, "not an integer"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1],"data":[2]}]})", std::nullopt,
       "more than one \"data\""},
      // Data before its datatype and shape: decoded in a second pass, with the same messages.
      {R"({"inputs":[{"data":[1,2],"name":"x","shape":[3],"datatype":"INT64"}]})", std::nullopt,
       "2 elements in data but its shape needs 3"},
      {R"({"inputs":[{"data":[1.5],"name":"x","shape":[1],"datatype":"INT64"}]})", std::nullopt, "not an integer"},
      {R"({"inputs":[{"data":[[1],{"b":2}],"name":"x","shape":[2],"datatype":"INT64"}]})", std::nullopt,
       "not an integer"},
      {R"({"inputs":[{"name":"x","shape":[1000],"datatype":"INT64","data":[1]}]})", std::nullopt, "more than the"},
      // A key given twice counts the first time, in the decoder as in the document (found by
      // fuzz_rest_request: the tensor was sized by the second "shape").
      {R"({"inputs":[{"name":"y","shape":[1],"shape":[2],"datatype":"INT8","data":[-128,1]}]})", std::nullopt,
       "more than 1"},
      {R"({"inputs":[{"name":"y","shape":[2],"datatype":"INT8","datatype":"INT64","data":[1,300]}]})", std::nullopt,
       "out of range for datatype INT8"},
      {R"({"inputs":[],"parameters":{"timeout":-1}})", std::nullopt, "'timeout'"},
      {kBinary16, 500, "Inference-Header-Content-Length 500 is more than"},
      {kBinary16 + "12345678", kBinary16.size(), "runs past"},
      {R"({"inputs":[]})"
       "xyz",
       13, "belong to no input"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseRestInfer("m", 0, c.body, c.json_length);
    ASSERT_FALSE(parsed.ok()) << c.body;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(parsed.status().message().find(c.message), std::string::npos) << c.body << " -> " << parsed.status();
  }
}

// Whatever order an input's fields come in, and however `data` nests, the tensor is the same:
// data after "datatype" and "shape" is decoded as it is read, data before them in a second pass.
TEST(RestJsonTest, DataDecodesTheSameInAnyFieldOrder) {
  std::mt19937 random(7);
  const std::vector<std::pair<std::string, size_t>> types = {{"INT64", 8}, {"INT32", 4}, {"FP32", 4}, {"UINT8", 1}};
  for (int round = 0; round < 200; ++round) {
    const auto& [type, size] = types[random() % types.size()];
    const int rows = 1 + static_cast<int>(random() % 4), cols = 1 + static_cast<int>(random() % 5);
    std::string data = "[", expected;
    for (int r = 0; r < rows; ++r) {
      data += r ? ",[" : "[";
      for (int c = 0; c < cols; ++c) {
        const int64_t v = static_cast<int64_t>(random() % 200);
        data += (c ? "," : "") + std::to_string(v);
        if (type == "FP32") {
          const float f = static_cast<float>(v);
          expected.append(reinterpret_cast<const char*>(&f), 4);
        } else {
          expected.append(reinterpret_cast<const char*>(&v), size);  // little-endian low bytes
        }
      }
      data += "]";
    }
    data += "]";
    std::vector<std::string> fields = {R"("name":"x")", R"("datatype":")" + type + "\"",
                                       "\"shape\":[" + std::to_string(rows) + "," + std::to_string(cols) + "]",
                                       "\"data\":" + data};
    std::shuffle(fields.begin(), fields.end(), random);
    const std::string body = R"({"inputs":[{)" + fields[0] + "," + fields[1] + "," + fields[2] + "," + fields[3] +
                             R"(}],"outputs":[{"name":"y"}]})";
    auto parsed = ParseRestInfer("m", 0, body, std::nullopt);
    ASSERT_TRUE(parsed.ok()) << body << " -> " << parsed.status();
    EXPECT_EQ(parsed->request->inputs[0].data, expected) << body;
    EXPECT_EQ(parsed->request->requested_outputs, std::vector<std::string>{"y"});
  }
}

// Note [request bytes]: each tensor is charged from its datatype and shape before a byte of its
// data is read (so a tensor that does not fit is refused, not decoded: the bad element after it
// is never reached), in either pass; the charge holds the tensors' bytes exactly.
TEST(RestJsonTest, TensorsAreChargedBeforeTheirDataIsRead) {
  std::string ones;
  for (int i = 0; i < 100; ++i) ones += i ? ",1" : "1";
  for (const std::string& body :
       {R"({"inputs":[{"name":"x","shape":[100],"datatype":"INT64","data":[)" + ones + "]}]}",
        R"({"inputs":[{"data":[)" + ones + R"(],"name":"x","shape":[100],"datatype":"INT64"}]})"}) {
    RequestMemory memory(1000);
    RequestMemory::Charge charge(&memory);
    auto parsed = ParseRestInfer("m", 0, body, std::nullopt, {0, &charge});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(charge.bytes(), 800);
    EXPECT_EQ(memory.in_use(), 800);

    RequestMemory small(500);
    RequestMemory::Charge refused(&small);
    std::string bad = body;
    bad.replace(bad.find(",1"), 2, ",\"a\"");  // an element that would fail if it were read
    auto over = ParseRestInfer("m", 0, bad, std::nullopt, {0, &refused});
    ASSERT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
    EXPECT_NE(over.status().message().find("800 bytes"), std::string::npos) << over.status();
    EXPECT_NE(over.status().message().find("500 bytes"), std::string::npos) << over.status();
    EXPECT_EQ(small.in_use(), 0);
    EXPECT_EQ(small.refusals(), 1);
  }
}

// Text inputs (datatype BYTES, "text" / "text_pair"): JSON strings in either field order, or
// Triton's binary layout after the JSON; each string charged as it is read.
TEST(RestJsonTest, TextInputsAsStringsOrBinary) {
  for (const std::string body :
       {R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["héllo","a \"b\""]},
                      {"name":"text_pair","datatype":"BYTES","shape":[2,1],"data":[["x"],[""]]}]})",
        R"({"inputs":[{"data":["héllo","a \"b\""],"name":"text","shape":[2],"datatype":"BYTES"},
                      {"data":["x",""],"datatype":"BYTES","name":"text_pair","shape":[2]}]})"}) {
    RequestMemory memory(1000);
    RequestMemory::Charge charge(&memory);
    auto parsed = ParseRestInfer("m", 0, body, std::nullopt, {0, &charge});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(parsed->request->inputs.empty());
    EXPECT_EQ(parsed->request->texts, (std::vector<std::string>{"héllo", "a \"b\""}));
    EXPECT_EQ(parsed->request->text_pairs, (std::vector<std::string>{"x", ""}));
    EXPECT_EQ(charge.bytes(), 6 + 5 + 1);
  }
  const std::string json = R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[2],
                                          "parameters":{"binary_data_size":16}}]})";
  std::string body = json;
  for (const std::string& s : {std::string("one"), std::string("three")}) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    body.append(reinterpret_cast<const char*>(&n), 4).append(s);
  }
  auto binary = ParseRestInfer("m", 0, body, json.size());
  ASSERT_TRUE(binary.ok()) << binary.status();
  EXPECT_EQ(binary->request->texts, (std::vector<std::string>{"one", "three"}));

  auto expect_invalid = [](const std::string& body, const std::string& fragment) {
    auto parsed = ParseRestInfer("m", 0, body, std::nullopt);
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(parsed.status().message().find(fragment), std::string::npos) << parsed.status();
  };
  expect_invalid(R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":[5]}]})",
                 "input 'text': data of a BYTES input must hold strings");
  expect_invalid(R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a","b"]}]})",
                 "data holds more strings than its shape");
  expect_invalid(R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[3],"data":["a","b"]}]})",
                 "2 strings in data but its shape needs 3");
  expect_invalid(R"({"inputs":[{"name":"ids","datatype":"BYTES","shape":[1],"data":["a"]}]})",
                 "datatype BYTES is for text, in inputs named 'text' and 'text_pair'");
  expect_invalid("{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"\xff\"]}]}",
                 "not valid UTF-8");

  RequestMemory small(4);
  RequestMemory::Charge refused(&small);
  auto over = ParseRestInfer("m", 0, R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["hello"]}]})",
                             std::nullopt, {0, &refused});
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
}

// --max-request-elements is checked from the shapes, before the data: the request is refused
// without reading the element that would fail.
TEST(RestJsonTest, TheElementLimitIsCheckedBeforeTheData) {
  auto parsed = ParseRestInfer("m", 0,
                               R"({"inputs":[{"name":"a","shape":[2],"datatype":"INT64","data":[1,2]},
                    {"name":"b","shape":[2],"datatype":"INT64","data":[3,"x"]}]})",
                               std::nullopt, {3, nullptr});
  ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(parsed.status().message().find("--max-request-elements"), std::string::npos) << parsed.status();
}

TEST(RestJsonTest, DeeplyNestedDataIsRejectedWithoutRecursion) {
  // 100000 levels: a recursive parser or flattener would overflow the stack.
  const std::string data = std::string(100000, '[') + "1" + std::string(100000, ']');
  auto parsed = ParseRestInfer(
      "m", 0, R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":)" + data + "}]}", std::nullopt);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(Values<int64_t>(parsed->request->inputs[0]), (std::vector<int64_t>{1}));
}

TEST(RestJsonTest, ResponsesAsJsonAndAsBinary) {
  InferenceResponse result;
  result.model_version = 2;
  Tensor y;
  y.name = "y";
  y.dtype = DataType::kFp32;
  y.shape = {1, 2};
  const float values[2] = {0.1f, -3.0f};
  y.data.assign(reinterpret_cast<const char*>(values), 8);
  result.outputs.push_back(y);

  RestInferBody json = EncodeRestInfer("m", "r1", RestOutputFormat{}, result);
  EXPECT_FALSE(json.json_length.has_value());
  EXPECT_EQ(
      json.body,
      R"({"model_name":"m","model_version":"2","id":"r1","outputs":[{"name":"y","datatype":"FP32","shape":[1,2],"data":[0.1,-3]}]})");

  result.outputs = {y};
  RestOutputFormat binary;
  binary.all_binary = true;
  RestInferBody bin = EncodeRestInfer("m", "", binary, result);
  ASSERT_TRUE(bin.json_length.has_value());
  const std::string header = bin.body.substr(0, *bin.json_length);
  EXPECT_EQ(
      header,
      R"({"model_name":"m","model_version":"2","outputs":[{"name":"y","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}}]})");
  EXPECT_EQ(bin.body.substr(*bin.json_length), std::string(reinterpret_cast<const char*>(values), 8));
}

TEST(ProtoJsonTest, Int64AsNumbersDefaultsPrintedMapsAsObjects) {
  inference::ModelMetadataResponse metadata;
  metadata.set_name("m");
  auto* in = metadata.add_inputs();
  in->set_name("x");
  in->set_datatype("INT64");
  in->add_shape(-1);
  in->add_shape(8);
  EXPECT_EQ(
      ProtoToJson(metadata),
      R"({"name":"m","versions":[],"platform":"","inputs":[{"name":"x","datatype":"INT64","shape":[-1,8]}],"outputs":[]})");

  inference::ModelConfig config;
  config.set_max_batch_size(0);
  (*config.mutable_parameters())["k"].set_string_value("v");
  rapidjson::Document doc;
  const std::string text = ProtoToJson(config);
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError()) << text;
  EXPECT_TRUE(doc.HasMember("max_batch_size"));  // perf_analyzer reads it even when 0
  EXPECT_EQ(doc["max_batch_size"].GetInt(), 0);
  EXPECT_STREQ(doc["parameters"]["k"]["string_value"].GetString(), "v");
  EXPECT_FALSE(doc.HasMember("dynamic_batching"));  // unset messages are left out

  inference::RepositoryIndexResponse index;
  index.add_models()->set_name("a");
  EXPECT_EQ(RepeatedFieldToJson(index, "models"), R"([{"name":"a","version":"","state":"","reason":""}])");
}

TEST(RestStatusTest, CanonicalCodesMapToHttp) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
}

}  // namespace
}  // namespace seqserve
