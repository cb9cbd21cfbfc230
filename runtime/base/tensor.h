// A dense host tensor owned by the runtime: the form in which requests enter and leave it.
#ifndef SEQSERVE_RUNTIME_BASE_TENSOR_H_
#define SEQSERVE_RUNTIME_BASE_TENSOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/base/data_type.h"

namespace seqserve {

// Elements are row-major, little-endian, in bytes(); a valid tensor has
// bytes().size() == NumElements(shape) * ElementSize(dtype). A value type; not synchronized.
struct Tensor {
  std::string name;
  DataType dtype = DataType::kInvalid;
  std::vector<int64_t> shape;
  // The elements, owned. Empty when `borrowed` is set.
  std::string data;
  // Request inputs only: the elements left where the transport received them, in a message
  // that outlives the request (a unary RPC's message is released only after `done` ran), so
  // decoding copies nothing (Note [borrowed inputs] in server/api/kserve_codec.h). Null: use `data`.
  absl::string_view borrowed;

  // The elements, wherever they are. Read inputs through this, never through `data`.
  absl::string_view bytes() const { return borrowed.data() != nullptr ? borrowed : absl::string_view(data); }
};

// Product of the dimensions (1 for a scalar). Only for shapes already known to be valid and
// small (validated requests, the model's own tensors); use CheckedNumElements on client input.
inline int64_t NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Product of the dimensions, or nullopt when a dimension is negative or the product overflows
// int64: safe on shapes a client sent.
inline std::optional<int64_t> CheckedNumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_TENSOR_H_
