// A dense host tensor owned by the runtime: the form in which requests enter and leave it.
#ifndef SEQSERVE_RUNTIME_TENSOR_H_
#define SEQSERVE_RUNTIME_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "runtime/data_type.h"

namespace seqserve {

// Elements are row-major, little-endian, in `data`; a valid tensor has
// data.size() == NumElements(shape) * ElementSize(dtype). A value type; not synchronized.
struct Tensor {
  std::string name;
  DataType dtype = DataType::kInvalid;
  std::vector<int64_t> shape;
  std::string data;
};

// Product of the dimensions (1 for a scalar). Callers validate dims are non-negative first.
inline int64_t NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_TENSOR_H_
