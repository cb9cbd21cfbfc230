// Precision: what a model computes in (config optimization.precision), and which devices can
// run each one. Plain values; no state.
//
// Note [precision on CPU]: BF16 is worth it only where the CPU multiplies bf16 natively
// (avx512_bf16, or AMX); elsewhere PyTorch emulates it and it is slower than FP32, so it is
// refused rather than silently slow. Measured on all-MiniLM-L6-v2, 2-core AMD EPYC with
// avx512_bf16 (benchmarks/RESULTS.md): BF16 TorchScript 2.05x the sentences/s of FP32 in
// process, minimum cosine to FP32 0.99991 over 600 real sentences. FP16 likewise needs
// avx512_fp16 or AMX-FP16: without them it ran at 0.19x FP32. INT8_DYNAMIC needs fbgemm's avx2
// kernels and runs on CPU only (2.04x, but minimum cosine 0.92: opt-in).
#ifndef SEQSERVE_RUNTIME_BASE_PRECISION_H_
#define SEQSERVE_RUNTIME_BASE_PRECISION_H_

#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace seqserve {

enum class Precision { kFp32, kBf16, kFp16, kInt8Dynamic };

// "FP32", "BF16", "FP16", "INT8_DYNAMIC": the names of config.pbtxt and of the manifest.
absl::string_view PrecisionName(Precision precision);
// Inverse of PrecisionName; nullopt for any other text.
std::optional<Precision> PrecisionFromName(absl::string_view name);

// OK when the device can run `precision`; UNAVAILABLE with the reason and what to do otherwise.
// `cpu_flags`: /proc/cpuinfo flag names of this CPU (for a CPU model); `cuda_compute_capability`:
// major * 10 + minor of the CUDA device (for a CUDA model, nullopt otherwise).
absl::Status CheckPrecisionSupported(Precision precision, const std::set<std::string>& cpu_flags,
                                     std::optional<int> cuda_compute_capability);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_BASE_PRECISION_H_
