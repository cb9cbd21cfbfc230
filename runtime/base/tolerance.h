// How close a model's output must come to a reference output (runtime/config/model_manifest.h), per
// output of config.pbtxt (`reference_tolerance`). A plain value type.
#ifndef SEQSERVE_RUNTIME_BASE_TOLERANCE_H_
#define SEQSERVE_RUNTIME_BASE_TOLERANCE_H_

#include "runtime/base/data_type.h"

namespace seqserve {

// An element passes when |got - want| <= atol + rtol * |want| (numpy's allclose).
struct Tolerance {
  double atol = 0;
  double rtol = 0;
};

// Default per output type: atol 1e-4, rtol 1e-3 for FP32/FP64 (an fp32 model re-run on another
// CPU's kernels drifts by ~1e-6); 1e-2, 1e-2 for FP16/BF16; exact for integers and BOOL.
inline Tolerance DefaultTolerance(DataType type) {
  switch (type) {
    case DataType::kFp32:
    case DataType::kFp64: return Tolerance{1e-4, 1e-3};
    case DataType::kFp16:
    case DataType::kBf16: return Tolerance{1e-2, 1e-2};
    default: return Tolerance{0, 0};
  }
}

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_TOLERANCE_H_
