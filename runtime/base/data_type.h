// Element types of tensors inside the runtime (plain C++, no protobuf or libtorch types).
#ifndef SEQSERVE_RUNTIME_BASE_DATA_TYPE_H_
#define SEQSERVE_RUNTIME_BASE_DATA_TYPE_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace seqserve {

enum class DataType { kInvalid, kBool, kUint8, kInt8, kInt16, kInt32, kInt64, kFp16, kBf16, kFp32, kFp64 };

// Bytes per element; 0 for kInvalid.
size_t ElementSize(DataType type);

// The KServe v2 datatype string ("FP32", "INT64", ...); "INVALID" for kInvalid.
absl::string_view DataTypeName(DataType type);

// Inverse of DataTypeName; nullopt for names seqserve does not support (e.g. "BYTES", "UINT16").
std::optional<DataType> DataTypeFromName(absl::string_view name);

// Whether `type` is an integer type (BOOL excluded).
bool IsInteger(DataType type);
// Whether `type` is FP16, BF16, FP32 or FP64.
bool IsFloatingPoint(DataType type);

// A value outside an integer range, and where it is.
struct OutOfRange {
  size_t index = 0;  // element index in the tensor
  int64_t value = 0;
};

// The first element of `data` (elements of integer `type`, little-endian) outside
// [begin, end), or nullopt when all lie inside. One pass, no allocation: it runs on every
// request of a model whose input declares a valid_range.
std::optional<OutOfRange> FindOutOfRange(DataType type, absl::string_view data, int64_t begin, int64_t end);

// Encodes `value` as one element of `type` (rounding to nearest for FP16/BF16, truncating toward
// zero and saturating at the type's range for integers, NaN -> 0; nonzero -> true for BOOL).
// Used for pad values.
std::string EncodeScalar(DataType type, double value);

// The element of `type` at `element` (ElementSize(type) bytes, little-endian) as a double:
// exact for every type but INT64 beyond 2^53.
double DecodeScalar(DataType type, const char* element);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_DATA_TYPE_H_
