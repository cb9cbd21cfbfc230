// Writes the seed corpora of the fuzz targets (checked in under tests/fuzz/corpus/):
//   fuzz_make_seeds <corpus-dir>
// creates <corpus-dir>/{fuzz_predict_request,fuzz_kserve_request,fuzz_model_config,fuzz_data_type}/
// with a few valid inputs for the models of fuzz_common.h and a few that each break one rule.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_demo_configs.h"
#include "inference/grpc_service.pb.h"
#include "seqserve/v1/predict.pb.h"

namespace {

namespace fs = std::filesystem;
using inference::ModelInferRequest;
using seqserve::v1::PredictRequest;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::vector<int64_t> Ids(int64_t n, int64_t first = 101) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < n; ++i) ids.push_back(first + i);
  return ids;
}

// --- seqserve.v1.PredictRequest ------------------------------------------------------------------
void AddTensor(PredictRequest& r, const std::string& name, seqserve::v1::DataType dtype, std::vector<int64_t> shape,
               const std::string& data) {
  seqserve::v1::Tensor* t = r.add_inputs();
  t->set_name(name);
  t->set_dtype(dtype);
  for (int64_t d : shape) t->add_shape(d);
  t->set_data(data);
}

PredictRequest Encoder(int64_t rows, int64_t length) {
  PredictRequest r;
  r.set_model_name("encoder");
  AddTensor(r, "input_ids", seqserve::v1::INT64, {rows, length}, Bytes(Ids(rows * length)));
  AddTensor(r, "attention_mask", seqserve::v1::INT64, {rows, length}, Bytes(std::vector<int64_t>(rows * length, 1)));
  return r;
}

PredictRequest Layout(int64_t rows, int64_t length) {
  PredictRequest r;
  r.set_model_name("layout");
  AddTensor(r, "feats", seqserve::v1::FP16, {rows, 3, length, 2},
            Bytes(std::vector<uint16_t>(rows * 3 * length * 2, 0x3c00)));  // 1.0
  AddTensor(r, "mask", seqserve::v1::BOOL, {rows, 1, length}, std::string(rows * length, '\1'));
  AddTensor(r, "scale", seqserve::v1::FP64, {rows, 2}, Bytes(std::vector<double>(rows * 2, 0.5)));
  return r;
}

void PredictSeeds() {
  const std::string t = "fuzz_predict_request";
  Write(t, "encoder_1x7", Encoder(1, 7).SerializeAsString());
  PredictRequest r = Encoder(2, 3);
  r.set_model_version(1);
  r.set_id("req-1");
  r.add_output_filter("token_scores");
  Write(t, "encoder_2x3_filter", r.SerializeAsString());
  r = Encoder(1, 8);
  r.mutable_inputs()->SwapElements(0, 1);  // attention_mask first
  Write(t, "encoder_1x8_reordered", r.SerializeAsString());
  r = PredictRequest();
  r.set_model_name("linear");
  AddTensor(r, "input", seqserve::v1::FP32, {1, 1000}, Bytes(std::vector<float>(1000, 0.25f)));
  Write(t, "linear_1x1000", r.SerializeAsString());
  Write(t, "layout_2x5", Layout(2, 5).SerializeAsString());

  r = Encoder(1, 4);
  r.mutable_inputs(0)->set_dtype(seqserve::v1::FP32);
  Write(t, "bad_dtype", r.SerializeAsString());
  r = Encoder(1, 4);
  r.mutable_inputs(1)->set_shape(1, -1);
  Write(t, "bad_negative_dim", r.SerializeAsString());
  r = Encoder(1, 4);
  r.mutable_inputs(0)->mutable_data()->resize(24);
  Write(t, "bad_byte_size", r.SerializeAsString());
  r = Encoder(1, 4);
  r.mutable_inputs()->RemoveLast();
  Write(t, "bad_missing_input", r.SerializeAsString());
  r = Encoder(1, 4);
  r.mutable_inputs(1)->set_name("input_ids");
  Write(t, "bad_duplicate_input", r.SerializeAsString());
  r = Encoder(1, 4);
  r.add_output_filter("nope");
  Write(t, "bad_unknown_output", r.SerializeAsString());
  r = Encoder(1, 4);
  r.set_model_version(-1);
  Write(t, "bad_version", r.SerializeAsString());
  Write(t, "bad_too_many_rows", Encoder(33, 1).SerializeAsString());
  Write(t, "bad_too_long", Layout(1, 65).SerializeAsString());
  // Regression seeds of findings/README.md (request-shape-overflow): shapes whose element count
  // overflows int64.
  r = Encoder(1, 4);
  r.mutable_inputs(1)->set_shape(0, 255);
  r.mutable_inputs(1)->set_shape(1, 144115188075855871);
  Write(t, "regress_shape_overflow", r.SerializeAsString());
  r = Encoder(1, 4);
  for (int i = 0; i < 2; ++i) {
    r.mutable_inputs(i)->set_shape(0, int64_t{1} << 32);
    r.mutable_inputs(i)->set_shape(1, int64_t{1} << 32);
    r.mutable_inputs(i)->clear_data();
  }
  Write(t, "regress_shape_overflow_wraps_to_0", r.SerializeAsString());
}

// --- inference.ModelInferRequest -----------------------------------------------------------------
ModelInferRequest::InferInputTensor* AddInput(ModelInferRequest& r, const std::string& name,
                                              const std::string& datatype, std::vector<int64_t> shape) {
  auto* in = r.add_inputs();
  in->set_name(name);
  in->set_datatype(datatype);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

ModelInferRequest EncoderRaw(int64_t rows, int64_t length) {
  ModelInferRequest r;
  r.set_model_name("encoder");
  AddInput(r, "input_ids", "INT64", {rows, length});
  AddInput(r, "attention_mask", "INT64", {rows, length});
  r.add_raw_input_contents(Bytes(Ids(rows * length)));
  r.add_raw_input_contents(Bytes(std::vector<int64_t>(rows * length, 1)));
  return r;
}

ModelInferRequest EncoderTyped(int64_t rows, int64_t length) {
  ModelInferRequest r;
  r.set_model_name("encoder");
  for (const char* name : {"input_ids", "attention_mask"}) {
    auto* in = AddInput(r, name, "INT64", {rows, length});
    for (int64_t id : Ids(rows * length)) in->mutable_contents()->add_int64_contents(id);
  }
  return r;
}

void KServeSeeds() {
  const std::string t = "fuzz_kserve_request";
  Write(t, "encoder_raw_1x7", EncoderRaw(1, 7).SerializeAsString());
  ModelInferRequest r = EncoderTyped(2, 3);
  r.set_model_version("1");
  r.set_id("req-1");
  r.add_outputs()->set_name("token_scores");
  (*r.mutable_parameters())["timeout"].set_int64_param(1000000);
  Write(t, "encoder_typed_2x3_timeout", r.SerializeAsString());
  r = ModelInferRequest();
  r.set_model_name("linear");
  auto* in = AddInput(r, "input", "FP32", {1, 1000});
  for (int i = 0; i < 1000; ++i) in->mutable_contents()->add_fp32_contents(0.25f);
  Write(t, "linear_typed_1x1000", r.SerializeAsString());
  r = ModelInferRequest();
  r.set_model_name("layout");
  AddInput(r, "scale", "FP64", {2, 2});
  AddInput(r, "feats", "FP16", {2, 3, 5, 2});
  AddInput(r, "mask", "BOOL", {2, 1, 5});
  r.add_raw_input_contents(Bytes(std::vector<double>(4, 0.5)));
  r.add_raw_input_contents(Bytes(std::vector<uint16_t>(60, 0x3c00)));
  r.add_raw_input_contents(std::string(10, '\1'));
  Write(t, "layout_raw_2x5", r.SerializeAsString());
  // Every typed contents field the codec reads (no model has these inputs: decoding only).
  r = ModelInferRequest();
  r.set_model_name("types");
  AddInput(r, "b", "BOOL", {1, 2})->mutable_contents()->add_bool_contents(true);
  r.mutable_inputs(0)->mutable_contents()->add_bool_contents(false);
  AddInput(r, "u8", "UINT8", {1, 1})->mutable_contents()->add_uint_contents(300);
  AddInput(r, "i8", "INT8", {1, 1})->mutable_contents()->add_int_contents(-200);
  AddInput(r, "i16", "INT16", {1, 1})->mutable_contents()->add_int_contents(70000);
  AddInput(r, "i32", "INT32", {1, 1})->mutable_contents()->add_int_contents(-7);
  AddInput(r, "f64", "FP64", {1, 1})->mutable_contents()->add_fp64_contents(1e300);
  Write(t, "types_typed", r.SerializeAsString());

  r = EncoderRaw(1, 4);
  r.add_raw_input_contents("extra");
  Write(t, "bad_raw_count", r.SerializeAsString());
  r = EncoderRaw(1, 4);
  r.mutable_inputs(0)->mutable_contents()->add_int64_contents(1);
  Write(t, "bad_raw_and_typed", r.SerializeAsString());
  r = EncoderTyped(1, 4);
  r.mutable_inputs(1)->mutable_contents()->add_int64_contents(5);
  Write(t, "bad_typed_count", r.SerializeAsString());
  r = EncoderRaw(1, 4);
  r.set_model_version("abc");
  Write(t, "bad_version", r.SerializeAsString());
  r = EncoderRaw(1, 4);
  r.mutable_inputs(0)->set_datatype("BYTES");
  Write(t, "bad_datatype", r.SerializeAsString());
  r = EncoderRaw(1, 4);
  (*r.mutable_parameters())["timeout"].set_string_param("10");
  Write(t, "bad_timeout", r.SerializeAsString());
  r = ModelInferRequest();
  r.set_model_name("layout");
  AddInput(r, "feats", "FP16", {1, 3, 1, 2})->mutable_contents()->add_fp32_contents(1);
  Write(t, "bad_fp16_typed", r.SerializeAsString());
  Write(t, "bad_too_many_rows", EncoderRaw(33, 1).SerializeAsString());
  // Regression seed of findings/README.md (request-shape-overflow): typed contents checked
  // against a shape whose element count overflows int64.
  r = EncoderTyped(1, 4);
  r.mutable_inputs(0)->set_shape(0, int64_t{1} << 32);
  r.mutable_inputs(0)->set_shape(1, int64_t{1} << 32);
  Write(t, "regress_shape_overflow_typed", r.SerializeAsString());
}

// --- config.pbtxt --------------------------------------------------------------------------------
void ConfigSeeds() {
  const std::string t = "fuzz_model_config";
  Write(t, "encoder.pbtxt", seqserve_fuzz::kEncoderConfig);
  Write(t, "linear.pbtxt", seqserve_fuzz::kLinearConfig);
  Write(t, "every_field.pbtxt", R"pbtxt(name: "every_field"
max_batch_size: 8
input { name: "feats" data_type: FP16 dims: [3, -1, 2] pad_value: -2.5 }
input { name: "mask" data_type: BOOL dims: [1, -1] pad_value: 1 }
input { name: "scale" data_type: FP64 dims: [2] }
input { name: "ids" data_type: INT32 dims: [1, -1] pad_value: 7 }
output { name: "out" data_type: BF16 dims: [3, -1] }
output { name: "pooled" data_type: INT8 dims: [5] }
sequence { axis: 1 max_length: 100 }
batching { mode: PAD_TO_MAX max_batch_tokens: 4096 max_queue_delay_microseconds: 500
           bucket_edges: [16, 32, 100] max_queue_size: 64 }
instance { count: 2 intra_op_threads: 4 device: CUDA }
warmup { lengths: [1, 50, 100] iterations: 3 }
default_model_filename: "model.ts"
)pbtxt");
  Write(t, "no_batching.pbtxt", R"pbtxt(max_batch_size: 1
input { name: "x" data_type: UINT8 dims: [-1] }
output { name: "y" data_type: INT16 dims: [-1] }
sequence { max_length: 9 }
batching { mode: NONE }
)pbtxt");
  Write(t, "bad_syntax.pbtxt", "name: \"x\" max_batch_size: 1 input { name: \"a\" data_type: FP32 dims: [1\n");
  Write(t, "bad_dims.pbtxt", R"pbtxt(name: "bad" max_batch_size: 1
input { name: "a" data_type: FP32 dims: [-1, 4] }
output { name: "b" data_type: FP32 dims: [4] }
)pbtxt");
  // Regression seeds of findings/README.md.
  Write(t, "regress_pad_cast.pbtxt", R"pbtxt(max_batch_size: 8
input { name: "f" data_type: UINT8 dims: [1] pad_value: 854 }
output { name: "y" data_type: FP32 dims: [1] }
)pbtxt");
  Write(t, "regress_pad_nan.pbtxt", R"pbtxt(max_batch_size: 8
input { name: "f" data_type: INT32 dims: [1] pad_value: nan }
output { name: "y" data_type: FP32 dims: [1] }
)pbtxt");
  Write(t, "regress_bucket_edges_overflow.pbtxt", R"pbtxt(max_batch_size: 1
input { name: "x" data_type: INT64 dims: [-1] }
output { name: "y" data_type: FP32 dims: [1] }
sequence { max_length: 9223372036854775807 }
)pbtxt");
  Write(t, "regress_size_overflow.pbtxt", R"pbtxt(name: "big"
max_batch_size: 2
input { name: "x" data_type: FP32 dims: [4611686018427387904] }
output { name: "y" data_type: FP32 dims: [1] }
)pbtxt");
  Write(t, "bad_edges.pbtxt", R"pbtxt(max_batch_size: 2
input { name: "a" data_type: INT64 dims: [-1] }
output { name: "b" data_type: FP32 dims: [2] }
sequence { axis: 0 max_length: 64 }
batching { bucket_edges: [8, 8, 32] }
)pbtxt");
}

// --- data_type: 8 bytes of a double, then a type name ----------------------------------------------
void DataTypeSeeds() {
  const std::string t = "fuzz_data_type";
  const std::pair<const char*, double> seeds[] = {
      {"FP16", 65519.99},   {"FP16", 5.960464477539063e-08},
      {"BF16", 1.00390625}, {"BF16", -3.0e38},
      {"INT8", -3.7},       {"UINT8", 255.0},
      {"INT16", 1234.5},    {"INT32", -2147483648.0},
      {"INT64", -1.0},      {"BOOL", 0.0},
      {"FP32", 0.1},        {"FP64", 1e300},
      {"BYTES", 1.0},
  };
  for (const auto& [name, value] : seeds) {
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &value, 8);
    char file[64];
    std::snprintf(file, sizeof(file), "%s_%g", name, value);
    Write(t, file, bytes + name);
  }
  std::string nan(8, '\0');
  const double q = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(nan.data(), &q, 8);
  Write(t, "FP16_nan", nan + "FP16");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  PredictSeeds();
  KServeSeeds();
  ConfigSeeds();
  DataTypeSeeds();
  return 0;
}
