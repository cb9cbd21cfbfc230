#include "runtime/base/precision.h"

#include "absl/strings/str_cat.h"

namespace seqserve {

absl::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "FP32";
    case Precision::kBf16: return "BF16";
    case Precision::kFp16: return "FP16";
    case Precision::kInt8Dynamic: return "INT8_DYNAMIC";
  }
  return "UNKNOWN";
}

std::optional<Precision> PrecisionFromName(absl::string_view name) {
  for (Precision p : {Precision::kFp32, Precision::kBf16, Precision::kFp16, Precision::kInt8Dynamic}) {
    if (name == PrecisionName(p)) return p;
  }
  return std::nullopt;
}

absl::Status CheckPrecisionSupported(Precision precision, const std::set<std::string>& cpu_flags,
                                     std::optional<int> cuda_compute_capability) {
  auto has = [&](const char* flag) { return cpu_flags.count(flag) > 0; };
  if (cuda_compute_capability.has_value()) {
    const int cc = *cuda_compute_capability;
    if (precision == Precision::kInt8Dynamic) {
      return absl::UnavailableError("optimization.precision INT8_DYNAMIC runs on CPU only; use BF16 or FP16 on CUDA");
    }
    if (precision == Precision::kBf16 && cc < 80) {
      return absl::UnavailableError(
          absl::StrCat("optimization.precision BF16 needs a GPU of compute capability 8.0 "
                       "or newer; this one is ",
                       cc / 10, ".", cc % 10, "; use FP16"));
    }
    return absl::OkStatus();
  }
  switch (precision) {
    case Precision::kFp32: return absl::OkStatus();
    case Precision::kBf16:
      if (has("avx512_bf16") || has("amx_bf16")) return absl::OkStatus();
      return absl::UnavailableError(
          "optimization.precision BF16 needs a CPU with avx512_bf16 or amx_bf16 (this one has neither, so bf16 "
          "would be emulated and slower than FP32); use FP32 on this machine");
    case Precision::kFp16:
      if (has("avx512_fp16") || has("amx_fp16")) return absl::OkStatus();
      return absl::UnavailableError(
          "optimization.precision FP16 needs a CPU with avx512_fp16 or amx_fp16 (this one has neither); use BF16 "
          "where the CPU has avx512_bf16, else FP32");
    case Precision::kInt8Dynamic:
      if (has("avx2")) return absl::OkStatus();
      return absl::UnavailableError("optimization.precision INT8_DYNAMIC needs a CPU with avx2 (fbgemm); use FP32");
  }
  return absl::InvalidArgumentError("unknown precision");
}

}  // namespace seqserve
