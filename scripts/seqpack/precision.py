"""What the packed model computes in (--precision), and how close it must stay to what.

  fp32          as loaded.
  bf16 / fp16   the transformers model cast to bfloat16 / float16 before tracing or torch.export,
                so that the exported graph computes in it (transformers derives the attention
                mask's dtype and fill value from the model's dtype when it is traced: casting a
                frozen fp32 trace afterwards does not work). The wrapper casts the encoder's
                output back to float32 before pooling, so outputs stay FP32; inputs stay int64.
  int8_dynamic  torch.ao.quantization.quantize_dynamic on the fp32 model: every nn.Linear holds
                int8 weights (per-channel scales) and quantizes its input per call (fbgemm's quantized::linear_dynamic
                on x86); everything else stays fp32. TorchScript only.

The export is checked against eager PyTorch at the same precision (CHECK_TOLERANCES), the
references are computed by that eager model, and the accuracy against the fp32 eager model over
the reference requests is printed and recorded in the manifest's export_options.
Importing this module imports no torch (pack checks --precision against --format first).
"""
import copy
import math

from seqpack.errors import ExportError, UsageError
from seqpack.progress import progress

CONFIG_NAMES = {"fp32": "FP32", "bf16": "BF16", "fp16": "FP16", "int8_dynamic": "INT8_DYNAMIC"}
# The manifest's `dtype`: the floating type of the weights (int8_dynamic keeps fp32 biases and
# non-Linear weights; its Linear weights are qint8).
WEIGHT_DTYPES = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "int8_dynamic": "fp32"}
# The saved model against eager at the same precision: |got - want| <= atol + rtol * |want|.
# fp32 and int8_dynamic run the same kernels traced as eager (measured: identical); bf16 / fp16
# may pick other kernels (or fuse differently) once traced, each rounding to 8 / 11 bits.
CHECK_TOLERANCES = {"fp32": (1e-4, 0.0), "bf16": (1e-2, 1e-2), "fp16": (1e-2, 1e-2), "int8_dynamic": (1e-3, 1e-3)}
# config.pbtxt's reference_tolerance on floating outputs: what the server allows between these
# references (eager at pack time) and the model re-run by libtorch at load, perhaps on another
# CPU. None: the server's default (atol 1e-4, rtol 1e-3 for FP32). int8_dynamic: measured.
REFERENCE_TOLERANCES = {"fp32": None, "bf16": (2e-2, 2e-2), "fp16": (2e-2, 2e-2)}
DEFAULT_FP32_TOLERANCE = (1e-4, 1e-3)  # runtime/base/tolerance.h
INT8_MARGIN, INT8_MIN_ATOL, INT8_RTOL = 10.0, 1e-3, 1e-3
# CPU units that compute the type natively; without them PyTorch converts (much slower).
NATIVE_CPU_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "fp16": ("avx512_fp16", "amx_fp16")}


def check_format(precision, fmt):
    if precision == "int8_dynamic" and fmt != "torchscript":
        raise UsageError(f"--precision int8_dynamic is TorchScript-only: its quantized::linear_dynamic ops run "
                         f"through libtorch's TorchScript runtime, not an AOTInductor package (pass --format "
                         f"torchscript, or another --precision for --format {fmt})")


def note_cpu(precision):
    """A note when this CPU lacks the units that make bf16 / fp16 fast. Packing works regardless
    (PyTorch emulates the type, slower), but the server refuses the model on such a CPU."""
    if precision not in NATIVE_CPU_FLAGS:
        return
    from seqpack.export import cpu_instruction_flags
    flags = set(cpu_instruction_flags())
    wanted = " or ".join(NATIVE_CPU_FLAGS[precision])
    if flags and not flags.intersection(NATIVE_CPU_FLAGS[precision]):
        progress(f"note: this CPU has no {wanted}: PyTorch emulates {precision} here, several times slower than "
                 f"fp32, so checking the export takes longer; the server runs {CONFIG_NAMES[precision]} only on "
                 f"CPUs with {wanted}" + (" (or on CUDA)" if precision == "fp16" else ""))


def at_precision(eager, precision):
    """The eager module that computes at `precision` (a copy; `eager`, fp32, is left as it is).
    Returns (module, export_options entries)."""
    import torch
    if precision == "fp32":
        return eager, {}
    module = copy.deepcopy(eager)
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if precision in dtypes:
        module = module.to(dtypes[precision]).eval()
        return module, {"cast": f"model.to({dtypes[precision]}) before export; outputs cast to float32"}
    engine = torch.backends.quantized.engine
    if engine not in ("x86", "fbgemm"):
        raise UsageError(f"--precision int8_dynamic needs PyTorch's x86 / fbgemm quantized engine (the server's "
                         f"kernels); this PyTorch uses '{engine}' (supported here: "
                         f"{', '.join(torch.backends.quantized.supported_engines)})")
    try:
        # Per-channel weight scales: per-tensor ones cost all-MiniLM-L6-v2 a minimum cosine to
        # fp32 of 0.87 against 0.95 per channel (activations quantized per batch cost the rest).
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear: qconfig}, dtype=torch.qint8).eval()
    except Exception as e:
        raise ExportError(f"dynamic quantization failed: {type(e).__name__}: {str(e).strip()[:200]}") from e
    count = sum(1 for m in module.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear))
    if count == 0:
        raise ExportError("dynamic quantization replaced no nn.Linear (nothing to quantize)")
    return module, {"quantization": "torch.ao.quantization.quantize_dynamic({nn.Linear: per_channel_dynamic_qconfig}, qint8)",
                    "quantized_engine": engine, "quantized_linear_modules": str(count)}


def _ceil2(value):
    """`value` rounded up to two significant digits."""
    if value <= 0:
        return value
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return float(f"{math.ceil(value / scale - 1e-9) * scale:.2g}")


def reference_tolerance(precision, worst_rerun):
    """(atol, rtol) for config.pbtxt's floating outputs, None for the server's default. For
    int8_dynamic: INT8_MARGIN times the worst difference seen between eager and the saved model,
    at least INT8_MIN_ATOL."""
    if precision == "int8_dynamic":
        return _ceil2(max(INT8_MIN_ATOL, INT8_MARGIN * worst_rerun)), INT8_RTOL
    return REFERENCE_TOLERANCES[precision]


def measure(exported, fp32_eager, refs, task, precision):
    """Re-runs the saved model on the references (eager at `precision` computed them), and compares
    it with the fp32 eager model. Returns (worst |saved - reference|, export_options entries,
    [(saved output, reference output)])."""
    import torch
    worst, pairs, cosines, max_error = 0.0, [], [], 0.0
    with torch.no_grad():
        for ref in refs:
            inputs = [torch.tensor(t["int64_data"], dtype=torch.int64).reshape(t["shape"]) for t in ref["inputs"]]
            [out] = ref["outputs"]
            want = torch.tensor(out["float_data"], dtype=torch.float32).reshape(out["shape"])
            got = exported(*inputs)
            if isinstance(got, (tuple, list)):
                got = got[0]
            if got.dtype != torch.float32:
                raise ExportError(f"the exported model returns {got.dtype}, not torch.float32")
            if tuple(got.shape) != tuple(want.shape):
                raise ExportError(f"the exported model returns shape {list(got.shape)} for reference "
                                  f"'{ref['text'][:40]}'; eager returns {list(want.shape)}")
            pairs.append((got, want))
            diff = (got - want).abs().max().item() if want.numel() else 0.0
            worst = max(worst, diff) if diff == diff else math.inf  # NaN: infinitely far
            if precision != "fp32":
                full = fp32_eager(*inputs).float()
                if task == "embedding":
                    cosines += torch.nn.functional.cosine_similarity(got, full, dim=1).tolist()
                else:
                    max_error = max(max_error, (got - full).abs().max().item())
    options = {"reference_rerun_max_abs_diff": repr(worst)}
    if precision != "fp32":
        if task == "embedding":
            options["accuracy_vs_fp32_min_cosine"] = f"{min(cosines):.6f}"
            options["accuracy_vs_fp32_mean_cosine"] = f"{sum(cosines) / len(cosines):.6f}"
            what = (f"cosine similarity min {options['accuracy_vs_fp32_min_cosine']}, "
                    f"mean {options['accuracy_vs_fp32_mean_cosine']}")
        else:
            options["accuracy_vs_fp32_max_abs_error"] = f"{max_error:.4g}"
            what = f"logits max abs error {options['accuracy_vs_fp32_max_abs_error']}"
        rows = sum(ref["outputs"][0]["shape"][0] for ref in refs)
        options["accuracy_vs_fp32_rows"] = str(rows)
        progress(f"accuracy of {precision} vs the fp32 eager model over the {rows} rows of the {len(refs)} "
                 f"reference requests: {what}")
    return worst, options, pairs


def check_references(pairs, tolerance):
    """ExportError unless every re-run output is within `tolerance` ((atol, rtol); None: the
    server's FP32 default) of its reference, as the server will check at load."""
    atol, rtol = tolerance or DEFAULT_FP32_TOLERANCE
    for i, (got, want) in enumerate(pairs):
        excess = (got - want).abs() - (atol + rtol * want.abs())
        if want.numel() and not excess.max().item() <= 0:  # also catches NaN
            raise ExportError(f"the exported model re-run on reference {i} differs from eager by "
                              f"{(got - want).abs().max().item():.3g}, beyond atol {atol:g} + rtol {rtol:g} x "
                              f"|reference|: the server would refuse it at load")
