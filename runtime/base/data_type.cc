#include "runtime/base/data_type.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace seqserve {
namespace {

struct TypeInfo {
  DataType type;
  absl::string_view name;
  size_t size;
};

constexpr TypeInfo kTypes[] = {
    {DataType::kBool, "BOOL", 1},   {DataType::kUint8, "UINT8", 1}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2}, {DataType::kInt32, "INT32", 4}, {DataType::kInt64, "INT64", 8},
    {DataType::kFp16, "FP16", 2},   {DataType::kBf16, "BF16", 2},   {DataType::kFp32, "FP32", 4},
    {DataType::kFp64, "FP64", 8},
};

const TypeInfo* Find(DataType type) {
  for (const TypeInfo& info : kTypes) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

// IEEE 754 binary32 -> binary16, round to nearest even; overflow becomes infinity.
uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u);  // inf/nan
  if (abs >= 0x477ff000u) return sign | 0x7c00u;                                      // overflow
  if (abs < 0x38800000u) {                                                            // subnormal
    if (abs < 0x33000000u) return sign;                                               // rounds to zero
    const uint32_t mant = (abs & 0x007fffffu) | 0x00800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return sign | half;
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return sign | half;
}

uint16_t FloatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // nan
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

// `value` converted to the integer type T, saturating at T's range; NaN becomes 0. (A plain
// cast of an out-of-range double is undefined behaviour.)
template <typename T>
T SaturatingCast(double value) {
  if (std::isnan(value)) return T{0};
  if (value <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(value);
}

template <typename T>
std::optional<OutOfRange> FindOutOfRangeOf(absl::string_view data, int64_t begin, int64_t end) {
  const size_t n = data.size() / sizeof(T);
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    const int64_t value = static_cast<int64_t>(v);
    if (value < begin || value >= end) return OutOfRange{i, value};
  }
  return std::nullopt;
}

template <typename T>
std::string Bytes(T value) {
  std::string out(sizeof(T), '\0');
  std::memcpy(out.data(), &value, sizeof(T));
  return out;
}

}  // namespace

size_t ElementSize(DataType type) {
  const TypeInfo* info = Find(type);
  return info ? info->size : 0;
}

absl::string_view DataTypeName(DataType type) {
  const TypeInfo* info = Find(type);
  return info ? info->name : "INVALID";
}

std::optional<DataType> DataTypeFromName(absl::string_view name) {
  for (const TypeInfo& info : kTypes) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

bool IsFloatingPoint(DataType type) {
  return type == DataType::kFp16 || type == DataType::kBf16 || type == DataType::kFp32 || type == DataType::kFp64;
}

bool IsInteger(DataType type) {
  switch (type) {
    case DataType::kUint8:
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64: return true;
    default: return false;
  }
}

std::optional<OutOfRange> FindOutOfRange(DataType type, absl::string_view data, int64_t begin, int64_t end) {
  switch (type) {
    case DataType::kUint8: return FindOutOfRangeOf<uint8_t>(data, begin, end);
    case DataType::kInt8: return FindOutOfRangeOf<int8_t>(data, begin, end);
    case DataType::kInt16: return FindOutOfRangeOf<int16_t>(data, begin, end);
    case DataType::kInt32: return FindOutOfRangeOf<int32_t>(data, begin, end);
    case DataType::kInt64: return FindOutOfRangeOf<int64_t>(data, begin, end);
    default: return std::nullopt;
  }
}

std::string EncodeScalar(DataType type, double value) {
  switch (type) {
    case DataType::kBool: return Bytes<uint8_t>(value != 0.0 ? 1 : 0);
    case DataType::kUint8: return Bytes(SaturatingCast<uint8_t>(value));
    case DataType::kInt8: return Bytes(SaturatingCast<int8_t>(value));
    case DataType::kInt16: return Bytes(SaturatingCast<int16_t>(value));
    case DataType::kInt32: return Bytes(SaturatingCast<int32_t>(value));
    case DataType::kInt64: return Bytes(SaturatingCast<int64_t>(value));
    case DataType::kFp16: return Bytes(FloatToHalf(static_cast<float>(value)));
    case DataType::kBf16: return Bytes(FloatToBf16(static_cast<float>(value)));
    case DataType::kFp32: return Bytes(static_cast<float>(value));
    case DataType::kFp64: return Bytes(value);
    case DataType::kInvalid: break;
  }
  return std::string();
}

namespace {

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

float Bits32ToFloat(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// IEEE 754 binary16 -> binary32 (exact).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return Bits32ToFloat(sign | 0x7F800000u | (mant << 13));  // inf, NaN
  if (exp != 0) return Bits32ToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  const float magnitude = static_cast<float>(mant) * (1.0f / 16777216.0f);  // subnormal: mant x 2^-24
  return sign != 0 ? -magnitude : magnitude;
}

}  // namespace

double DecodeScalar(DataType type, const char* element) {
  switch (type) {
    case DataType::kBool: return Load<uint8_t>(element) != 0 ? 1.0 : 0.0;
    case DataType::kUint8: return Load<uint8_t>(element);
    case DataType::kInt8: return Load<int8_t>(element);
    case DataType::kInt16: return Load<int16_t>(element);
    case DataType::kInt32: return Load<int32_t>(element);
    case DataType::kInt64: return static_cast<double>(Load<int64_t>(element));
    case DataType::kFp16: return HalfToFloat(Load<uint16_t>(element));
    case DataType::kBf16: return Bits32ToFloat(static_cast<uint32_t>(Load<uint16_t>(element)) << 16);
    case DataType::kFp32: return Load<float>(element);
    case DataType::kFp64: return Load<double>(element);
    case DataType::kInvalid: break;
  }
  return 0.0;
}

}  // namespace seqserve
