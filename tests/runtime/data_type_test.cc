#include "runtime/base/data_type.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

uint16_t Half(DataType type, double v) {
  const std::string bytes = EncodeScalar(type, v);
  EXPECT_EQ(bytes.size(), 2u);
  uint16_t x;
  std::memcpy(&x, bytes.data(), 2);
  return x;
}

TEST(DataTypeTest, NamesRoundTripAndSizes) {
  for (const char* name : {"BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64"}) {
    std::optional<DataType> type = DataTypeFromName(name);
    ASSERT_TRUE(type.has_value()) << name;
    EXPECT_EQ(DataTypeName(*type), name);
  }
  EXPECT_EQ(ElementSize(DataType::kInt64), 8u);
  EXPECT_EQ(ElementSize(DataType::kBf16), 2u);
  EXPECT_EQ(ElementSize(DataType::kBool), 1u);
  EXPECT_EQ(ElementSize(DataType::kInvalid), 0u);
  EXPECT_FALSE(DataTypeFromName("BYTES").has_value());
  EXPECT_FALSE(DataTypeFromName("fp32").has_value());
}

TEST(DataTypeTest, EncodesHalfPrecisionWithRounding) {
  EXPECT_EQ(Half(DataType::kFp16, 1.0), 0x3C00);
  EXPECT_EQ(Half(DataType::kFp16, -2.0), 0xC000);
  EXPECT_EQ(Half(DataType::kFp16, 65504.0), 0x7BFF);
  EXPECT_EQ(Half(DataType::kFp16, 1e6), 0x7C00);                    // overflow -> inf
  EXPECT_EQ(Half(DataType::kFp16, 5.960464477539063e-08), 0x0001);  // smallest subnormal
  EXPECT_EQ(Half(DataType::kFp16, 0.0), 0x0000);
  EXPECT_EQ(Half(DataType::kBf16, 1.0), 0x3F80);
  EXPECT_EQ(Half(DataType::kBf16, -0.5), 0xBF00);
}

// DecodeScalar inverts EncodeScalar, exactly where the type holds the value.
TEST(DataTypeTest, DecodesWhatItEncodes) {
  auto round_trip = [](DataType type, double value) { return DecodeScalar(type, EncodeScalar(type, value).data()); };
  EXPECT_EQ(round_trip(DataType::kFp16, 1.5), 1.5);
  EXPECT_EQ(round_trip(DataType::kFp16, -65504.0), -65504.0);                            // largest half
  EXPECT_EQ(round_trip(DataType::kFp16, 5.960464477539063e-08), 5.960464477539063e-08);  // smallest subnormal
  EXPECT_TRUE(std::isinf(round_trip(DataType::kFp16, 1e6)));
  EXPECT_TRUE(std::isnan(DecodeScalar(DataType::kFp16, "\x00\x7e")));  // 0x7E00: a NaN
  EXPECT_EQ(round_trip(DataType::kBf16, -2.5), -2.5);
  EXPECT_EQ(round_trip(DataType::kFp32, 0.1), static_cast<double>(0.1f));
  EXPECT_EQ(round_trip(DataType::kFp64, 0.1), 0.1);
  EXPECT_EQ(round_trip(DataType::kInt64, -123456789012.0), -123456789012.0);
  EXPECT_EQ(round_trip(DataType::kInt8, -7), -7);
  EXPECT_EQ(round_trip(DataType::kUint8, 200), 200);
  EXPECT_EQ(round_trip(DataType::kBool, 3), 1);
}

TEST(DataTypeTest, EncodesIntegersAndBool) {
  int64_t v;
  std::memcpy(&v, EncodeScalar(DataType::kInt64, -7).data(), 8);
  EXPECT_EQ(v, -7);
  EXPECT_EQ(EncodeScalar(DataType::kBool, 3.0), std::string(1, '\1'));
  EXPECT_EQ(EncodeScalar(DataType::kBool, 0.0), std::string(1, '\0'));
}

}  // namespace
}  // namespace seqserve
