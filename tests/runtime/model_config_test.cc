#include "runtime/config/model_config.h"

#include <gtest/gtest.h>

namespace seqserve {
namespace {

constexpr char kEncoder[] = R"pb(
  max_batch_size: 8
  input { name: "ids" data_type: INT64 dims: [-1] pad_value: 0 }
  input { name: "mask" data_type: INT64 dims: [-1] }
  output { name: "logits" data_type: FP32 dims: [4] }
  output { name: "scores" data_type: FP32 dims: [-1] }
  sequence { max_length: 128 }
)pb";

TEST(ModelConfigTest, ParsesAndFillsDefaults) {
  absl::StatusOr<ModelSetup> setup = ParseModelConfig(kEncoder, "enc", /*cpu_cores=*/1);
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_EQ(setup->config.name(), "enc");
  const ModelSignature& sig = setup->signature;
  EXPECT_EQ(sig.max_batch_size, 8);
  EXPECT_EQ(sig.sequence_axis, 0);
  EXPECT_EQ(sig.max_sequence_length, 128);
  ASSERT_EQ(sig.inputs.size(), 2u);
  EXPECT_TRUE(sig.inputs[0].carries_sequence);
  EXPECT_FALSE(sig.outputs[0].carries_sequence);
  EXPECT_TRUE(sig.outputs[1].carries_sequence);
  EXPECT_EQ(sig.inputs[0].pad_bytes, std::string(8, '\0'));
  // Defaults come from BatcherOptions and are written back into the config.
  const BatcherOptions defaults;
  EXPECT_EQ(setup->batcher.mode, BatchingMode::kLengthBucketed);
  EXPECT_EQ(setup->batcher.max_batch_size, 8);
  EXPECT_EQ(setup->batcher.max_batch_tokens, defaults.max_batch_tokens);
  EXPECT_EQ(setup->batcher.max_queue_delay, defaults.max_queue_delay);
  EXPECT_EQ(setup->batcher.bucket_edges, DefaultBucketEdges(128));
  EXPECT_EQ(setup->config.batching().max_batch_tokens(), defaults.max_batch_tokens);
  EXPECT_EQ(setup->instances, 1);  // one core
  EXPECT_EQ(setup->intra_op_threads, 1);
  EXPECT_EQ(setup->device, Device::kCpu);
  EXPECT_EQ(setup->precision, Precision::kFp32);
  EXPECT_EQ(setup->config.optimization().precision(), v1::OptimizationConfig::FP32);
  EXPECT_EQ(setup->warmup.lengths, (std::vector<int64_t>{1, 16, 64, 128}));
  EXPECT_EQ(setup->config.default_model_filename(), "model.pt");
}

TEST(ModelConfigTest, InstancesDefaultToTheCpuBudget) {
  auto layout = [](const std::string& extra, int cores) {
    absl::StatusOr<ModelSetup> setup = ParseModelConfig(std::string(kEncoder) + extra, "enc", cores);
    EXPECT_TRUE(setup.ok()) << setup.status();
    // Written back into the config, as every default is.
    EXPECT_EQ(setup->config.instance().count(), setup->instances);
    EXPECT_EQ(setup->config.instance().intra_op_threads(), setup->intra_op_threads);
    return std::make_pair(setup->instances, setup->intra_op_threads);
  };
  EXPECT_EQ(layout("", 2), std::make_pair(2, 1));
  EXPECT_EQ(layout("", 8), std::make_pair(4, 2));
  EXPECT_EQ(layout("instance { count: 1 }", 8), std::make_pair(1, 8));
  EXPECT_EQ(layout("instance { count: 3 intra_op_threads: 1 }", 8), std::make_pair(3, 1));
  EXPECT_EQ(layout("instance { device: CUDA }", 8), std::make_pair(1, 1));  // GPUs are not cores
  // The process's own budget when none is given.
  const InstanceLayout here = DefaultInstanceLayout(ProcessCpuBudget().cores);
  absl::StatusOr<ModelSetup> setup = ParseModelConfig(kEncoder, "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(setup.ok());
  EXPECT_EQ(setup->instances, here.instances);
  EXPECT_EQ(setup->intra_op_threads, here.intra_op_threads);
}

TEST(ModelConfigTest, PrecisionIsParsedAndWidensDefaultTolerances) {
  absl::StatusOr<ModelSetup> bf16 =
      ParseModelConfig(std::string(kEncoder) + "optimization { precision: BF16 }", "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ(bf16->precision, Precision::kBf16);
  // FP32 outputs of a bf16 computation: bf16's default tolerance, not fp32's.
  ASSERT_FALSE(bf16->reference_tolerances.empty());
  EXPECT_DOUBLE_EQ(bf16->reference_tolerances[0].atol, DefaultTolerance(DataType::kBf16).atol);
  absl::StatusOr<ModelSetup> fp32 = ParseModelConfig(kEncoder, "enc", ProcessCpuBudget().cores);
  EXPECT_DOUBLE_EQ(fp32->reference_tolerances[0].atol, DefaultTolerance(DataType::kFp32).atol);
  absl::StatusOr<ModelSetup> int8 = ParseModelConfig(std::string(kEncoder) + "optimization { precision: INT8_DYNAMIC }",
                                                     "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(int8.ok()) << int8.status();
  EXPECT_EQ(int8->precision, Precision::kInt8Dynamic);
  absl::StatusOr<ModelSetup> int8_cuda =
      ParseModelConfig(std::string(kEncoder) + "optimization { precision: INT8_DYNAMIC } instance { device: CUDA }",
                       "enc", ProcessCpuBudget().cores);
  EXPECT_EQ(int8_cuda.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(int8_cuda.status().message().find("CPU only"), std::string::npos) << int8_cuda.status();
}

TEST(ModelConfigTest, FixedShapeModelDefaultsToOneQueue) {
  absl::StatusOr<ModelSetup> setup = ParseModelConfig(R"pb(
    max_batch_size: 4
    input { name: "x" data_type: FP32 dims: [10] }
    output { name: "y" data_type: FP32 dims: [2] }
  )pb",
                                                      "lin", ProcessCpuBudget().cores);
  ASSERT_TRUE(setup.ok()) << setup.status();
  EXPECT_FALSE(setup->signature.has_sequence());
  EXPECT_EQ(setup->batcher.mode, BatchingMode::kPadToMax);
  EXPECT_TRUE(setup->warmup.lengths.empty());
}

void ExpectInvalid(const std::string& text, const std::string& fragment, const std::string& name = "m") {
  absl::StatusOr<ModelSetup> setup = ParseModelConfig(text, name, ProcessCpuBudget().cores);
  ASSERT_FALSE(setup.ok()) << text;
  EXPECT_EQ(setup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(setup.status().message().find(fragment), std::string::npos) << setup.status();
}

TEST(ModelConfigTest, RejectsBadConfigsWithReasons) {
  const std::string io = R"pb(input { name: "x" data_type: FP32 dims: [10] }
                              output { name: "y" data_type: FP32 dims: [2] })pb";
  ExpectInvalid("max_batch_size: 4 input { nme: \"x\" }", "does not parse");
  ExpectInvalid(io, "max_batch_size");
  ExpectInvalid("name: \"other\" max_batch_size: 4 " + io, "differs from its directory");
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" data_type: FP32 dims: [-1] }
                     output { name: "y" data_type: FP32 dims: [2] })pb",
                "may be -1");
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" dims: [3] }
                     output { name: "y" data_type: FP32 dims: [2] })pb",
                "needs a data_type");
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" data_type: FP32 dims: [3] }
                     input { name: "x" data_type: FP32 dims: [3] }
                     output { name: "y" data_type: FP32 dims: [2] })pb",
                "declared twice");
  ExpectInvalid("max_batch_size: 4 output { name: \"y\" data_type: FP32 dims: [2] }", "at least one input");
  ExpectInvalid(std::string(kEncoder) + " batching { bucket_edges: [16, 8, 128] }", "ascending");
  ExpectInvalid(std::string(kEncoder) + " batching { bucket_edges: [16, 64] }", ">= sequence.max_length");
  ExpectInvalid(std::string(kEncoder) + " warmup { lengths: [1000] }", "warmup.lengths");
  ExpectInvalid(std::string(kEncoder) + " default_model_filename: \"../x.pt\"", "plain file name");
  // Found by fuzzing (tests/fuzz/): bounds that keep batch sizes and defaults in range.
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" data_type: UINT8 dims: [3] pad_value: 854 }
                     output { name: "y" data_type: FP32 dims: [2] })pb",
                "not a value of UINT8");
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" data_type: FP32 dims: [3] pad_value: nan }
                     output { name: "y" data_type: FP32 dims: [2] })pb",
                "not a value of FP32");
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" data_type: INT64 dims: [-1] }
                     output { name: "y" data_type: FP32 dims: [2] }
                     sequence { max_length: 9223372036854775807 })pb",
                "sequence.max_length must be");
  ExpectInvalid(R"pb(max_batch_size: 4 input { name: "x" data_type: FP32 dims: [4611686018427387904] }
                     output { name: "y" data_type: FP32 dims: [2] })pb",
                "would exceed");
  ExpectInvalid(std::string(kEncoder) + " warmup { iterations: -3 }", "warmup.iterations");
}

// One rule (model_config.proto, `platform`): explicit platform, else the file's extension.
TEST(ModelConfigTest, PlatformAndModelFileFollowOneRule) {
  auto with = [](const std::string& extra) {
    return ParseModelConfig(std::string(kEncoder) + extra, "enc", ProcessCpuBudget().cores);
  };
  absl::StatusOr<ModelSetup> plain = with("");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->format, ModelFormat::kTorchScript);
  EXPECT_EQ(plain->config.platform(), "pytorch_libtorch");
  EXPECT_EQ(plain->config.default_model_filename(), "model.pt");

  absl::StatusOr<ModelSetup> aoti = with("platform: \"pytorch_aoti\"");
  ASSERT_TRUE(aoti.ok()) << aoti.status();
  EXPECT_EQ(aoti->format, ModelFormat::kAotInductor);
  EXPECT_EQ(aoti->config.default_model_filename(), "model.pt2");

  absl::StatusOr<ModelSetup> by_name = with("default_model_filename: \"exported.pt2\"");
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->format, ModelFormat::kAotInductor);
  EXPECT_EQ(by_name->config.platform(), "pytorch_aoti");

  absl::StatusOr<ModelSetup> explicit_ts = with("platform: \"pytorch_libtorch\" default_model_filename: \"odd.pt2\"");
  ASSERT_TRUE(explicit_ts.ok());
  EXPECT_EQ(explicit_ts->format, ModelFormat::kTorchScript);

  absl::StatusOr<ModelSetup> onnx = with("platform: \"onnxruntime_onnx\"");
  EXPECT_EQ(onnx.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(onnx.status().message().find("platform 'onnxruntime_onnx' is not one of"), std::string::npos);
  EXPECT_NE(with("input { name: \"t\" data_type: INT64 dims: [-1] reference_tolerance { atol: 1 } }")
                .status()
                .message()
                .find("only outputs take one"),
            std::string::npos);
  EXPECT_NE(with("output { name: \"t\" data_type: FP32 dims: [1] reference_tolerance { atol: -1 } }")
                .status()
                .message()
                .find("negative reference_tolerance"),
            std::string::npos);
}

TEST(ModelConfigTest, ConvertsDataTypes) {
  EXPECT_EQ(FromProto(v1::FP16), DataType::kFp16);
  EXPECT_EQ(FromProto(v1::DATA_TYPE_UNSPECIFIED), DataType::kInvalid);
  EXPECT_EQ(ToProto(DataType::kBf16), v1::BF16);
  EXPECT_EQ(ToProto(FromProto(v1::INT8)), v1::INT8);
}

TEST(ModelConfigTest, DemoConfigsLoad) {
  for (const char* name : {"encoder", "linear"}) {
    absl::StatusOr<ModelSetup> setup =
        LoadModelConfig(std::string(SEQSERVE_DEMO_REPOSITORY) + "/" + name, ProcessCpuBudget().cores);
    EXPECT_TRUE(setup.ok()) << name << ": " << setup.status();
  }
  EXPECT_EQ(LoadModelConfig("/nonexistent/model", 1).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace seqserve

namespace seqserve {
namespace {

TEST(ModelConfigTest, ValidRangeOnIntegerInputs) {
  absl::StatusOr<ModelSetup> setup = ParseModelConfig(R"pb(
    max_batch_size: 8
    input { name: "ids" data_type: INT64 dims: [-1] valid_range { begin: 0 end: 30522 } }
    input { name: "mask" data_type: INT64 dims: [-1] }
    output { name: "logits" data_type: FP32 dims: [4] }
    sequence { max_length: 128 }
  )pb",
                                                      "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(setup.ok()) << setup.status();
  const TensorSpec& ids = setup->signature.inputs[0];
  EXPECT_TRUE(ids.has_range);
  EXPECT_EQ(ids.range_begin, 0);
  EXPECT_EQ(ids.range_end, 30522);
  EXPECT_FALSE(setup->signature.inputs[1].has_range);
}

TEST(ModelConfigTest, RejectsValidRangesThatMakeNoSense) {
  const std::string head =
      "max_batch_size: 8 sequence { max_length: 16 } output { name: \"y\" data_type: FP32 dims: [2] } ";
  ExpectInvalid(head + "input { name: \"x\" data_type: FP32 dims: [-1] valid_range { begin: 0 end: 5 } }",
                "only integer inputs take a valid_range, not FP32");
  ExpectInvalid(head + "input { name: \"x\" data_type: INT64 dims: [-1] valid_range { begin: 5 end: 5 } }",
                "end must be greater than begin");
  ExpectInvalid(head + "input { name: \"x\" data_type: INT64 dims: [-1] pad_value: 0 valid_range { begin: 1 end: 5 } }",
                "which does not hold its pad_value 0");
  ExpectInvalid(
      "max_batch_size: 8 input { name: \"x\" data_type: INT64 dims: [2] } "
      "output { name: \"y\" data_type: INT64 dims: [2] valid_range { begin: 0 end: 5 } }",
      "only inputs take a valid_range");
}

// proto3 cannot tell 0 from "absent" for a plain field, so the delay is `optional`: 0 is a real
// setting ("run at once"), absence takes the default.
TEST(ModelConfigTest, QueueDelayZeroMeansZeroAndAbsentMeansTheDefault) {
  absl::StatusOr<ModelSetup> zero = ParseModelConfig(
      std::string(kEncoder) + "batching { max_queue_delay_microseconds: 0 }", "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->batcher.max_queue_delay, absl::ZeroDuration());
  EXPECT_TRUE(zero->config.batching().has_max_queue_delay_microseconds());
  absl::StatusOr<ModelSetup> absent =
      ParseModelConfig(std::string(kEncoder) + "batching { max_batch_tokens: 512 }", "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(absent->batcher.max_queue_delay, BatcherOptions().max_queue_delay);
  EXPECT_GT(absent->batcher.max_queue_delay, absl::ZeroDuration());
}

TEST(ModelConfigTest, CudaInstancesTakeTheirGpus) {
  absl::StatusOr<ModelSetup> one =
      ParseModelConfig(std::string(kEncoder) + "instance { device: CUDA }", "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->gpus, std::vector<int>{0});
  absl::StatusOr<ModelSetup> two = ParseModelConfig(
      std::string(kEncoder) + "instance { count: 3 device: CUDA gpus: [1, 2] }", "enc", ProcessCpuBudget().cores);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->gpus, (std::vector<int>{1, 2}));
  ExpectInvalid(std::string(kEncoder) + "instance { device: CUDA gpus: [-1] }", "instance.gpus has -1");
  ExpectInvalid(std::string(kEncoder) + "instance { device: CPU gpus: [0] }",
                "instance.gpus applies to device: CUDA only");
  EXPECT_TRUE(ParseModelConfig(kEncoder, "enc", ProcessCpuBudget().cores)->gpus.empty());
}

}  // namespace
}  // namespace seqserve
