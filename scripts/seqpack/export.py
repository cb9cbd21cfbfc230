"""Export of the wrapped module, and the check of the saved file against eager PyTorch.

  torchscript  torch.jit.trace on a padded example (batch 2, length 8) under no_grad, then
               torch.jit.freeze; saved as model.pt.
  pt2          torch.export.export with dynamic batch [1, B] and sequence [1, L] on every input,
               then AOTInductor (torch._inductor.aoti_compile_and_package, freezing on); model.pt2.

Either way the file is loaded back and run over several (batch, length) shapes, from 1x1 to the
maximum batch and length, with padded rows; it must agree with eager (at the packed precision)
within CHECK_ATOL (fp32; see precision.CHECK_TOLERANCES for the others) or the export fails (and
nothing is written to the repository).
"""
import json
import logging
import time
import warnings
import zipfile

import torch

from seqpack.errors import ExportError
from seqpack.progress import progress, step

CHECK_ATOL = 1e-4
# Above this many tokens (rows x length) the (max batch, max length) corner is not run; the
# maxima are then checked separately, (max batch, short) and (small, max length).
CORNER_TOKEN_BUDGET = 16384
SEED = 1234


def make_inputs(names, batch, length, loaded, generator, full_rows=1):
    """Inputs of shape [batch, length] in config order. The first `full_rows` rows use every
    position; the others are right-padded (pad id, attention 0) to a random length in [1, length]."""
    vocab, pad = loaded.vocab_size, loaded.pad_token_id
    ids = torch.randint(0, vocab, (batch, length), generator=generator)
    ids = torch.where(ids == pad, (ids + 1) % vocab, ids)  # real tokens are not the pad id
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[:full_rows] = length
    mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)).to(torch.int64)
    ids = torch.where(mask.bool(), ids, torch.full_like(ids, pad))
    tensors = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        types = torch.randint(0, loaded.type_vocab_size, (batch, length), generator=generator)
        tensors["token_type_ids"] = types * mask
    return tuple(tensors[n] for n in names)


def example_shape(max_batch, max_length):
    length = min(8, max_length)
    batch = min(2, max_batch)
    if batch == length == 2 and max_batch >= 3:
        batch = 3  # distinct sizes, so export does not take the two dimensions for one
    return batch, length


def check_shapes(max_batch, max_length):
    b2, b3 = min(2, max_batch), min(3, max_batch)
    shapes = [(1, 1), example_shape(max_batch, max_length), (b3, max(1, max_length // 3)),
              (max_batch, min(16, max_length)), (1, max_length), (b2, max_length)]
    if max_batch * max_length <= CORNER_TOKEN_BUDGET:
        shapes.append((max_batch, max_length))
    return list(dict.fromkeys(shapes))


def _quiet():
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _summary(e):
    lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''} (SEQSERVE_PACK_TRACEBACK=1 shows the traceback)"


def export_torchscript(module, example, path):
    """Traces and freezes `module`; saves it at `path`. Returns export_options entries."""
    _quiet()
    try:
        with step("tracing with torch.jit.trace and freezing"), torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=False, strict=True)
            frozen = torch.jit.freeze(traced)
            frozen.save(path)
    except Exception as e:
        raise ExportError(f"TorchScript export failed: {_summary(e)}") from e
    return {"method": "torch.jit.trace", "strict": "true", "freezing": "true", "no_grad": "true",
            "attn_implementation": "eager", "example_shape": "x".join(str(d) for d in example[0].shape)}


def export_pt2(module, example, names, max_batch, max_length, path, threads):
    """torch.export with dynamic batch and sequence dims, then AOTInductor into `path`.
    Returns (export_options entries, the package's CPU ISA)."""
    from torch.export import Dim
    _quiet()
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime is found"
    dims = {}
    if max_batch > 1:
        dims[0] = Dim("batch", min=1, max=max_batch)
    if max_length > 1:
        dims[1] = Dim("seq", min=1, max=max_length)
    dynamic = {n: dict(dims) or None for n in names}
    configs = {"freezing": True}
    if threads:
        configs["cpp.threads"] = threads
    try:
        with step("exporting with torch.export"), torch.no_grad():
            program = torch.export.export(module, example, dynamic_shapes=dynamic, strict=False)
    except Exception as e:
        raise ExportError(f"torch.export failed: {_summary(e)}") from e
    try:
        with step("compiling with AOTInductor (takes a minute or more)"), torch.no_grad():
            torch._inductor.aoti_compile_and_package(program, package_path=path, inductor_configs=configs)
    except Exception as e:
        raise ExportError(f"AOTInductor compilation failed: {_summary(e)}") from e
    options = {"method": "torch.export.export", "strict": "false", "compiler": "aoti_compile_and_package",
               "freezing": "true", "no_grad": "true", "attn_implementation": "eager",
               "example_shape": "x".join(str(d) for d in example[0].shape),
               "dynamic_batch": f"1..{max_batch}", "dynamic_seq": f"1..{max_length}",
               "cpp.threads": str(threads) if threads else "default"}
    return options, read_cpu_isa(path)


# /proc/cpuinfo flags of instruction sets that code compiled with -march=native uses without
# being asked (vector units, FMA, bit manipulation) or that Inductor's kernels call (AMX). Not the
# intrinsics-only ones (sha_ni, vaes, gfni, ...) nor AMD's sse4a: requiring those would refuse an
# AMD-packed model on Intel CPUs that run it fine.
_ISA_FLAG_PREFIXES = ("avx", "amx", "sse", "ssse3", "fma", "f16c", "bmi", "popcnt", "abm", "lzcnt", "movbe")
_NOT_GENERATED = {"sse4a"}


def cpu_instruction_flags():
    """The packing CPU's instruction-set flags (sorted), for the manifest's cpu_flags."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return sorted({f for f in line.split(":", 1)[1].split()
                               if f.startswith(_ISA_FLAG_PREFIXES) and f not in _NOT_GENERATED})
    except OSError:
        pass
    return []


def read_cpu_isa(path):
    """AOTI_CPU_ISA from the package's */data/aotinductor/model/*_metadata.json ("" if absent)."""
    found = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if "/data/aotinductor/" in name and name.endswith("_metadata.json"):
                isa = json.loads(z.read(name)).get("AOTI_CPU_ISA", "")
                for token in isa.split():
                    if token not in found:
                        found.append(token)
    return " ".join(found)


def load_exported(fmt, path):
    if fmt == "torchscript":
        return torch.jit.load(path, map_location="cpu").eval()
    return torch._inductor.aoti_load_package(path)


def check(eager, exported, names, loaded, max_batch, max_length, tolerance=(CHECK_ATOL, 0.0), what="eager"):
    """Runs eager and the exported file over check_shapes; ExportError if they differ anywhere by
    more than atol + rtol * |eager| (`tolerance`: (atol, rtol)). Returns (shapes, worst difference)."""
    atol, rtol = tolerance
    generator = torch.Generator().manual_seed(SEED)
    shapes = check_shapes(max_batch, max_length)
    worst = 0.0
    with step(f"checking the saved model against {what} at (batch x length) "
              f"{', '.join(f'{b}x{l}' for b, l in shapes)}"), torch.no_grad():
        for batch, length in shapes:
            inputs = make_inputs(names, batch, length, loaded, generator)
            want = eager(*inputs)
            shape_diff = 0.0
            # Small shapes run three times: TorchScript's profiling executor re-optimizes the
            # graph after its first runs, and the optimized graph must agree too.
            for _ in range(3 if batch * length <= 256 else 1):
                start = time.monotonic()
                try:
                    got = exported(*inputs)
                except Exception as e:
                    raise ExportError(f"the exported model fails at batch {batch} x length {length}: "
                                      f"{_summary(e)}") from e
                if isinstance(got, (tuple, list)):
                    got = got[0]
                if tuple(got.shape) != tuple(want.shape):
                    raise ExportError(f"the exported model returns shape {list(got.shape)} at batch {batch} x "
                                      f"length {length}; eager returns {list(want.shape)}")
                error = (got.float() - want.float()).abs()
                diff = error.max().item() if want.numel() else 0.0
                excess = (error - rtol * want.float().abs()).max().item() if want.numel() else 0.0
                if not excess <= atol:  # also catches NaN
                    bound = f"{atol}" + (f" + {rtol} x |{what}|" if rtol else "")
                    raise ExportError(f"the exported model differs from {what} by {diff:.3g} (> {bound}) at "
                                      f"batch {batch} x length {length}")
                shape_diff = max(shape_diff, diff)
            worst = max(worst, shape_diff)
            progress(f"  {batch}x{length}: max abs diff {shape_diff:.3g} ({time.monotonic() - start:.2f} s per run)")
    return shapes, worst
