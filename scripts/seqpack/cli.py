"""Command line of seqserve-pack: arguments, the errors it reports, and its progress lines.

Nothing imported here imports torch or transformers at module level (the packing steps import
them when they run), so `--help` and argument errors are instant. The errors it reports are in
seqpack/errors.py, its progress lines in seqpack/progress.py.
Exit codes: 0 packed; 2 bad usage or inputs; 1 the export or its check
failed; 130 / 143 interrupted (SIGINT / SIGTERM). In every failure the repository is left as it was.
"""
import argparse
import os
import signal
import sys

from seqpack.errors import Interrupted, PackError, UsageError
from seqpack.pack import pack
from seqpack.progress import PROG
from seqpack.source import SUPPORTED_FAMILIES  # plain data, no torch

FORMATS = ("torchscript", "pt2")
TASKS = ("embedding", "classification", "rerank")
POOLINGS = ("mean", "cls")
PRECISIONS = ("fp32", "bf16", "fp16", "int8_dynamic")
DEFAULT_MAX_BATCH_SIZE = 64

DESCRIPTION = """\
Packs a Hugging Face encoder checkpoint directory as a seqserve model-repository entry:
  REPO/NAME/config.pbtxt
  REPO/NAME/N/model.pt | model.pt2     (TorchScript | AOTInductor package)
  REPO/NAME/N/seqserve-model.json      (manifest: sha256, versions, ranges, reference outputs)
The exported model is checked against eager PyTorch before anything is written; the entry appears
in REPO by rename, complete or not at all."""

EPILOG = """\
defaults: task embedding with mean pooling and no normalization, max length = the model's
position table (at most 512), max batch size 64, precision fp32; a sentence-transformers
directory (modules.json) gives its own pooling, normalization and max_seq_length.
supported model types: {families}.
exit codes: 0 packed, 2 bad usage or inputs, 1 export or check failed, 130/143 interrupted."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see {PROG} --help)")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def build_parser():
    p = _Parser(prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog=EPILOG.format(families=", ".join(sorted(SUPPORTED_FAMILIES))))
    p.add_argument("--hf", required=True, metavar="DIR", help="Hugging Face checkpoint directory (config.json + weights)")
    p.add_argument("--name", required=True, help="model name: the folder REPO/NAME and config `name`")
    p.add_argument("--repository", required=True, metavar="REPO", help="model repository (created if missing)")
    p.add_argument("--version", type=_positive, default=1, metavar="N", help="version folder REPO/NAME/N (default 1)")
    p.add_argument("--format", choices=FORMATS, default="torchscript",
                   help="torchscript: torch.jit.trace + freeze -> model.pt; pt2: torch.export + AOTInductor -> "
                        "model.pt2 (default torchscript)")
    p.add_argument("--task", choices=TASKS, default=None,
                   help="embedding: output `embedding` [B, H]; classification: output `logits` [B, num_labels] "
                        "from the checkpoint's sequence-classification head; rerank: a cross-encoder (a "
                        "sequence-classification head with one label) scoring (query, text) pairs, output "
                        "`logits` [B, 1] (default embedding)")
    p.add_argument("--matryoshka-dimensions", default=None, metavar="D,D,...",
                   help="embedding: widths the model was trained to be truncated to (Matryoshka), which clients "
                        "may ask for (OpenAI `dimensions`); default: those of config_sentence_transformers.json's "
                        "`matryoshka_dimensions` if any, else none")
    p.add_argument("--pooling", choices=POOLINGS, default=None,
                   help="embedding pooling: masked mean of the last hidden state, or its first ([CLS]) token")
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="L2-normalize the embedding")
    p.add_argument("--max-length", type=_positive, default=None, metavar="L", help="longest sequence served")
    p.add_argument("--max-batch-size", type=_positive, default=DEFAULT_MAX_BATCH_SIZE, metavar="B",
                   help=f"most rows in one batch (default {DEFAULT_MAX_BATCH_SIZE})")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="what the model computes in: fp32; bf16 / fp16: the model cast before export (outputs "
                        "stay FP32; fast on CPUs with avx512_bf16 / AMX, fp16 on CUDA or avx512_fp16); "
                        "int8_dynamic: nn.Linear in int8, activations quantized per call (TorchScript only, "
                        "x86). Written to config optimization.precision and the manifest (default fp32)")
    p.add_argument("--force", action="store_true", help="replace REPO/NAME/N (and the config) if it exists")
    p.add_argument("--threads", type=_positive, default=None, metavar="T",
                   help="intra-op threads per instance: config intra_op_threads, and for pt2 the thread count "
                        "compiled into the kernels (inductor cpp.threads). Default: TorchScript leaves it to the "
                        "server (instances x threads from its cores); pt2 compiles 1 thread and writes "
                        "intra_op_threads: 1, so the server runs one instance per core")
    p.add_argument("--tokenizer-binary", default=None, metavar="PATH",
                   help="seqserve-tokenize, to check at packing that seqserve's tokenizer gives the checkpoint's "
                        "tokenizer.json ids exactly (default: $SEQSERVE_TOKENIZE, PATH, then this tree's "
                        "build/; without one the tokenizer is packed unchecked and the server checks at load)")
    return p


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def main(argv=None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:  # so that the staging folder is removed on SIGTERM too (main thread only)
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:
        previous = None
    try:
        args = build_parser().parse_args(argv)
        pack(args)
        return 0
    except PackError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr, flush=True)
        if os.environ.get("SEQSERVE_PACK_TRACEBACK") and e.__cause__ is not None:
            import traceback
            traceback.print_exception(e.__cause__)
        return e.exit_code
    except OSError as e:  # a full disk, a read-only repository: the staging folder is already gone
        print(f"{PROG}: error: {e}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, Interrupted) as e:
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"{PROG}: error: interrupted by {signal.Signals(signum).name}; the repository is left as it was",
              file=sys.stderr, flush=True)
        return 128 + signum
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
