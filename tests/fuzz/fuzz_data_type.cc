// libFuzzer target: runtime/base/data_type.h. Input: 8 bytes of a double (little-endian; zero-filled
// when shorter) followed by a type name. Checks DataTypeFromName / DataTypeName round trips, and
// EncodeScalar of the double for every type: its size, and for FP16 and BF16 that the result is
// the nearest representable value to (float)value, ties to even (an exact oracle); integer types
// truncate toward zero and saturate (NaN -> 0); FP32/FP64 are the plain conversions.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "fuzz_common.h"
#include "runtime/base/data_type.h"

namespace {

using seqserve::DataType;

constexpr DataType kAll[] = {DataType::kBool,  DataType::kUint8, DataType::kInt8, DataType::kInt16, DataType::kInt32,
                             DataType::kInt64, DataType::kFp16,  DataType::kBf16, DataType::kFp32,  DataType::kFp64};

// IEEE binary16 -> double (exact). Infinity is returned as 65536 (the overflow threshold's
// rounding target), so "nearest" comparisons treat it as the next value after 65504.
double HalfValue(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v = exp == 0 ? std::ldexp(mant, -24) : exp == 31 ? 65536.0 : std::ldexp(1024 + mant, exp - 25);
  return (h & 0x8000) ? -v : v;
}

// bfloat16 -> double (exact); infinity as 2^128.
double Bf16Value(uint16_t b) {
  if ((b & 0x7fff) == 0x7f80) return (b & 0x8000) ? -std::ldexp(1.0, 128) : std::ldexp(1.0, 128);
  uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// `bits` is the 16-bit encoding of f (not NaN): no neighbour (same sign, one step up or down in
// magnitude, up to infinity) is nearer to f, and on a tie `bits` is even.
template <typename Value>
void CheckNearest(float f, uint16_t bits, uint16_t inf_bits, Value value) {
  const uint16_t sign = bits & 0x8000;
  const uint16_t mag = bits & 0x7fff;
  FUZZ_CHECK(mag <= inf_bits);
  const double target = f;
  const double err = std::fabs(value(bits) - target);
  if (f != 0.0f) FUZZ_CHECK(std::signbit(f) == (sign != 0));
  for (int step : {-1, 1}) {
    const int n = mag + step;
    if (n < 0 || n > inf_bits) continue;
    const double other = std::fabs(value(static_cast<uint16_t>(sign | n)) - target);
    FUZZ_CHECK(other >= err);
    if (other == err) FUZZ_CHECK((mag & 1) == 0);
  }
}

// A 16-bit float encoding of f whose infinity is `inf_bits`: a NaN for NaN (exponent all ones,
// mantissa not zero), else the nearest value (CheckNearest).
template <typename Value>
void Check16(float f, uint16_t bits, uint16_t inf_bits, Value value) {
  if (std::isnan(f)) {
    const uint16_t mantissa = static_cast<uint16_t>(0x7fff & ~inf_bits);
    FUZZ_CHECK((bits & inf_bits) == inf_bits && (bits & mantissa) != 0);
  } else {
    CheckNearest(f, bits, inf_bits, value);
  }
}

// EncodeScalar's documented integer conversion: truncation toward zero, saturating at the type's
// range, NaN -> 0 (computed here in long double, independently of the implementation).
template <typename T>
void CheckInteger(double value, const std::string& bytes) {
  FUZZ_CHECK(bytes.size() == sizeof(T));
  T got;
  std::memcpy(&got, bytes.data(), sizeof(T));
  const long double lo = static_cast<long double>(std::numeric_limits<T>::lowest());
  const long double hi = static_cast<long double>(std::numeric_limits<T>::max());
  long double want = 0;
  if (!std::isnan(value)) want = std::fmin(std::fmax(std::trunc(static_cast<long double>(value)), lo), hi);
  FUZZ_CHECK(static_cast<long double>(got) == want);
}

uint16_t As16(const std::string& bytes) {
  FUZZ_CHECK(bytes.size() == 2);
  uint16_t v;
  std::memcpy(&v, bytes.data(), 2);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  double value = 0;
  std::memcpy(&value, data, size < 8 ? size : 8);
  const std::string name(reinterpret_cast<const char*>(data) + (size < 8 ? size : 8), size < 8 ? 0 : size - 8);

  std::optional<DataType> type = seqserve::DataTypeFromName(name);
  if (type.has_value()) {
    FUZZ_CHECK(*type != DataType::kInvalid);
    FUZZ_CHECK(seqserve::DataTypeName(*type) == name);
    FUZZ_CHECK(seqserve::ElementSize(*type) > 0);
  }
  FUZZ_CHECK(seqserve::ElementSize(DataType::kInvalid) == 0);
  FUZZ_CHECK(seqserve::EncodeScalar(DataType::kInvalid, value).empty());

  for (DataType t : kAll) {
    FUZZ_CHECK(seqserve::DataTypeFromName(seqserve::DataTypeName(t)) == t);
    const std::string bytes = seqserve::EncodeScalar(t, value);
    FUZZ_CHECK(bytes.size() == seqserve::ElementSize(t));
    const float f = static_cast<float>(value);
    switch (t) {
      case DataType::kBool: FUZZ_CHECK(bytes[0] == (value != 0.0 ? 1 : 0)); break;
      case DataType::kFp16: Check16(f, As16(bytes), 0x7c00, HalfValue); break;
      case DataType::kBf16: Check16(f, As16(bytes), 0x7f80, Bf16Value); break;
      case DataType::kFp64: FUZZ_CHECK(std::memcmp(bytes.data(), &value, 8) == 0); break;
      case DataType::kFp32: FUZZ_CHECK(std::memcmp(bytes.data(), &f, 4) == 0); break;
      case DataType::kUint8: CheckInteger<uint8_t>(value, bytes); break;
      case DataType::kInt8: CheckInteger<int8_t>(value, bytes); break;
      case DataType::kInt16: CheckInteger<int16_t>(value, bytes); break;
      case DataType::kInt32: CheckInteger<int32_t>(value, bytes); break;
      case DataType::kInt64: CheckInteger<int64_t>(value, bytes); break;
      case DataType::kInvalid: break;
    }
  }
  return 0;
}
