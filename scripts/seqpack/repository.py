"""The model repository side: where the entry goes, its config.pbtxt and seqserve-model.json, and
the atomic move into place.

Everything is built in a staging folder whose name starts with '.' (the server skips dot-entries)
inside REPO (or, while REPO does not exist, beside it), then renamed into place:
  REPO missing        the staged repository is renamed to REPO (REPO appears complete)
  REPO/NAME missing   the staged REPO/NAME is renamed into REPO
  REPO/NAME present   config.pbtxt is replaced by rename, then the version folder is renamed in (with
                      --force an existing version is swapped out in one renameat2(RENAME_EXCHANGE)
                      where the kernel has it, else by two renames)
On any failure, interrupts included, the staging folder is removed and REPO is as it was.
"""
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass
from typing import Optional, Tuple

from seqpack.errors import PackError, UsageError
from seqpack.progress import progress

MANIFEST_FILE = "seqserve-model.json"
MODEL_FILES = {"torchscript": "model.pt", "pt2": "model.pt2"}
PLATFORMS = {"torchscript": "pytorch_libtorch", "pt2": "pytorch_aoti"}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class Target:
    """REPO/NAME/N, validated before any work is done."""

    def __init__(self, repository, name, version, force):
        if not NAME_PATTERN.match(name) or len(name) > 200:
            raise UsageError(f"--name '{name}' is not a model name (letters, digits, '_', '-', '.'; not starting "
                             f"with '.' or '-')")
        self.repo = os.path.abspath(repository)
        self.name, self.version, self.force = name, version, force
        self.model_dir = os.path.join(self.repo, name)
        self.version_dir = os.path.join(self.model_dir, str(version))
        if os.path.exists(self.repo) and not os.path.isdir(self.repo):
            raise UsageError(f"--repository {repository} exists and is not a directory")
        if os.path.exists(self.model_dir) and not os.path.isdir(self.model_dir):
            raise UsageError(f"{self.model_dir} exists and is not a directory")
        if os.path.lexists(self.version_dir):
            if not force:
                raise UsageError(f"{self.version_dir} already exists (pass --force to replace it, or choose "
                                 f"another --version)")
            if not os.path.isdir(self.version_dir) or os.path.islink(self.version_dir):
                raise UsageError(f"{self.version_dir} exists and is not a version directory; not replacing it")

    def check_siblings(self, fmt, max_batch, max_length, input_names=None, output=None, precision="FP32"):
        """The config is shared by every version of the model: refuse to write one that the other
        versions (those with a manifest) cannot serve under. `precision`: config.pbtxt's name."""
        if not os.path.isdir(self.model_dir):
            return
        for entry in sorted(os.listdir(self.model_dir)):
            if not entry.isdigit() or int(entry) <= 0 or int(entry) == self.version:
                continue
            path = os.path.join(self.model_dir, entry, MANIFEST_FILE)
            if not os.path.isfile(path):
                if input_names is None:
                    progress(f"note: {self.model_dir}/{entry} has no {MANIFEST_FILE}; whether it works with the new "
                             f"config.pbtxt is not checked")
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    other = json.load(f)
            except (OSError, ValueError) as e:
                raise UsageError(f"cannot read {path}: {e}") from None
            where = f"{self.model_dir}/{entry}"
            if other.get("format") and other["format"] != fmt:
                raise UsageError(f"{where} is {other['format']} and config.pbtxt's platform is shared by all "
                                 f"versions; pack the {fmt} model under another --name")
            theirs = other.get("precision") or "FP32"
            if theirs != precision:
                raise UsageError(f"{where} is packed in {theirs} and config.pbtxt's optimization.precision is shared "
                                 f"by all versions; pack with --precision {theirs.lower()} or under another --name")
            for key, value, flag in (("batch", max_batch, "--max-batch-size"), ("sequence", max_length, "--max-length")):
                top = int((other.get(key) or {}).get("max", 0) or 0)
                if top and value > top:
                    raise UsageError(f"{where} accepts {key} up to {top}; the new config.pbtxt's {value} would make "
                                     f"it unavailable (pass {flag} {top} or pack under another --name)")
            refs = other.get("references") or []
            if input_names is not None and refs:
                names = [t.get("name") for t in refs[0].get("inputs", [])]
                outs = [(t.get("name"), [int(d) for d in t.get("shape", [])][1:]) for t in refs[0].get("outputs", [])]
                if sorted(names) != sorted(input_names) or outs != [output]:
                    raise UsageError(f"{where} takes {names} and gives {outs}; the new model takes {input_names} and "
                                     f"gives {[output]}: they cannot share config.pbtxt (use another --name)")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ConfigSpec:
    """What config.pbtxt says of a packed model (fields of proto/seqserve/v1/model_config.proto)."""
    name: str
    fmt: str                  # "torchscript" or "pt2"
    inputs: list              # [(input name, end of its valid range)] in the order forward() takes them
    pad_token_id: int         # input_ids' pad_value (other inputs pad with 0)
    output_name: str
    output_width: int
    max_batch: int
    max_length: int
    threads: Optional[int] = None           # intra-op threads per instance; None: the server decides
    precision: str = "FP32"                 # OptimizationConfig.Precision's name; FP32 writes none
    output_tolerance: Optional[Tuple[float, float]] = None  # (atol, rtol); None: the server's default


def render_config(spec, header):
    """config.pbtxt: the `header` lines as comments, then `spec` as a seqserve.v1.ModelConfig in
    protobuf text format, each top-level block on one line."""
    from google.protobuf import text_format
    from seqpack.config_proto import model_config
    config = model_config()
    config.name = spec.name
    config.platform = PLATFORMS[spec.fmt]
    config.default_model_filename = MODEL_FILES[spec.fmt]
    config.max_batch_size = spec.max_batch
    for input_name, end in spec.inputs:
        tensor = config.input.add(name=input_name, data_type="INT64", dims=[-1])
        tensor.pad_value = spec.pad_token_id if input_name == "input_ids" else 0
        tensor.valid_range.end = end
    output = config.output.add(name=spec.output_name, data_type="FP32", dims=[spec.output_width])
    if spec.output_tolerance is not None:
        output.reference_tolerance.atol, output.reference_tolerance.rtol = spec.output_tolerance
    config.sequence.max_length = spec.max_length
    config.batching.mode = "LENGTH_BUCKETED"
    config.instance.device = "CPU"
    if spec.threads:  # without it the server picks instances x threads from its cores
        config.instance.intra_op_threads = spec.threads
    if spec.precision != "FP32":
        config.optimization.precision = spec.precision
    lines = [f"# {line}" if line else "#" for line in header]
    first = ("name", "platform", "default_model_filename")  # what the model is, then how it is served
    for field, value in sorted(config.ListFields(), key=lambda f: (first.index(f[0].name) if f[0].name in first else len(first), f[0].number)):
        values = value if field.label == field.LABEL_REPEATED else [value]
        for one in values:
            if field.message_type is None:
                lines.append(f"{field.name}: {_scalar_text(field, one)}")
            else:
                lines.append(f"{field.name} {{ {text_format.MessageToString(one, as_one_line=True)} }}")
    return "\n".join(lines) + "\n"


def _scalar_text(field, value):
    from google.protobuf import text_encoding
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name
    if field.type == field.TYPE_STRING:
        return '"' + text_encoding.CEscape(value, as_utf8=True) + '"'
    return str(value)


def _is_scalar(v):
    return not isinstance(v, (dict, list))


def _json(value, indent=0):
    """JSON with nesting on separate lines but tensors (and small maps) on one line each."""
    pad = " " * indent
    if isinstance(value, dict):
        inline = all(_is_scalar(v) or (isinstance(v, list) and all(map(_is_scalar, v))) for v in value.values()) and (
            len(value) <= 2 or any(isinstance(v, list) for v in value.values()))
        if inline or not value:
            return "{" + ", ".join(f"{json.dumps(k)}: {_json(v)}" for k, v in value.items()) + "}"
        items = [f"{pad}  {json.dumps(k)}: {_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(map(_is_scalar, value)):
            return "[" + ", ".join(json.dumps(v, allow_nan=False) for v in value) + "]"
        items = [f"{pad}  {_json(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)


def render_manifest(manifest):
    """`manifest`: a dict with ModelManifest's proto field names (proto3 JSON mapping; int64 values
    are written as JSON numbers, which protobuf's JSON parsers accept)."""
    return _json(manifest) + "\n"


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exchange(a, b):
    """Atomically swaps two paths with renameat2(RENAME_EXCHANGE); False where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


class Staging:
    """A dot-folder holding the entry while it is built; removed on exit, whatever happens."""

    def __init__(self, target):
        self.target = target
        self.committed = False
        anchor = target.repo
        while not os.path.isdir(anchor):  # REPO (or its parents) does not exist yet: stage beside it
            anchor = os.path.dirname(anchor)
        try:
            self.dir = tempfile.mkdtemp(prefix=f".seqserve-pack-{target.name}-", dir=anchor)
        except OSError as e:
            raise UsageError(f"cannot create a staging folder in {anchor}: {e.strerror}") from None
        self.repo = os.path.join(self.dir, "repo")
        self.model_dir = os.path.join(self.repo, target.name)
        self.version_dir = os.path.join(self.model_dir, str(target.version))
        os.makedirs(self.version_dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave it behind
        try:
            shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, previous)
        return False

    def write(self, relative, text):
        """Writes REPO/NAME/<relative> in the staging folder."""
        _write(os.path.join(self.model_dir, relative), text)

    def commit(self):
        """Moves the staged entry into the repository (see the module doc)."""
        t = self.target
        umask = os.umask(0)
        os.umask(umask)
        for f in os.listdir(self.version_dir):  # whatever the exporter's temp-file modes were
            os.chmod(os.path.join(self.version_dir, f), 0o666 & ~umask)
        os.chmod(os.path.join(self.model_dir, "config.pbtxt"), 0o666 & ~umask)
        for d in (self.version_dir, self.model_dir, self.repo):
            _fsync(d)
        try:
            if not os.path.isdir(t.repo):
                os.makedirs(os.path.dirname(t.repo), exist_ok=True)
                os.rename(self.repo, t.repo)
                _fsync(os.path.dirname(t.repo))
            elif not os.path.isdir(t.model_dir):
                os.rename(self.model_dir, t.model_dir)
                _fsync(t.repo)
            else:
                replacing = os.path.lexists(t.version_dir)
                if replacing and not t.force:
                    raise UsageError(f"{t.version_dir} appeared while packing; not replacing it without --force")
                config = os.path.join(t.model_dir, "config.pbtxt")
                saved = os.path.join(self.dir, "config.pbtxt.before")
                had_config = os.path.isfile(config)
                if had_config:
                    os.link(config, saved)  # to put back should the version move fail
                os.replace(os.path.join(self.model_dir, "config.pbtxt"), config)
                try:
                    if not replacing:
                        os.rename(self.version_dir, t.version_dir)
                    elif not _exchange(self.version_dir, t.version_dir):
                        os.rename(t.version_dir, os.path.join(self.dir, "replaced"))
                        try:
                            os.rename(self.version_dir, t.version_dir)
                        except OSError:
                            os.rename(os.path.join(self.dir, "replaced"), t.version_dir)
                            raise
                except OSError:
                    if had_config:
                        os.replace(saved, config)
                    else:
                        os.unlink(config)
                    raise
                _fsync(t.model_dir)
        except OSError as e:
            raise PackError(f"cannot move the packed model into {t.repo}: {e}") from e
        self.committed = True
