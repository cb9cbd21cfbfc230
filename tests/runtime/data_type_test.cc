#include "runtime/data_type.h"

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
  EXPECT_EQ(Half(DataType::kFp16, 1e6), 0x7C00);           // overflow -> inf
  EXPECT_EQ(Half(DataType::kFp16, 5.960464477539063e-08), 0x0001);  // smallest subnormal
  EXPECT_EQ(Half(DataType::kFp16, 0.0), 0x0000);
  EXPECT_EQ(Half(DataType::kBf16, 1.0), 0x3F80);
  EXPECT_EQ(Half(DataType::kBf16, -0.5), 0xBF00);
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
