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


def _pbtxt_tensor(kind, name, dtype, dims, extra=""):
    dims_text = ", ".join(str(d) for d in dims)
    width = 22 - len(kind)  # data_type lines up across input and output lines
    return f"{kind} {{ name: {json.dumps(name):<{width}} data_type: {dtype:<5} dims: [{dims_text}]{extra} }}"


def render_config(name, fmt, input_ranges, pad_token_id, output_name, output_width, max_batch, max_length,
                  threads, header, precision="FP32", output_tolerance=None):
    """config.pbtxt text. `input_ranges`: [(input name, end of its valid range)] in forward order;
    `precision`: OptimizationConfig.Precision's name (FP32 writes no optimization block);
    `output_tolerance`: (atol, rtol) of the output's reference_tolerance, None for the default."""
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [f"name: {json.dumps(name)}",
              f"platform: {json.dumps(PLATFORMS[fmt])}",
              f"default_model_filename: {json.dumps(MODEL_FILES[fmt])}",
              f"max_batch_size: {max_batch}"]
    for input_name, end in input_ranges:
        pad = pad_token_id if input_name == "input_ids" else 0
        lines.append(_pbtxt_tensor("input", input_name, "INT64", [-1],
                                   f" pad_value: {pad} valid_range {{ begin: 0 end: {end} }}"))
    tolerance = ""
    if output_tolerance is not None:
        tolerance = f" reference_tolerance {{ atol: {output_tolerance[0]!r} rtol: {output_tolerance[1]!r} }}"
    lines.append(_pbtxt_tensor("output", output_name, "FP32", [output_width], tolerance))
    lines += [f"sequence {{ axis: 0 max_length: {max_length} }}",
              "batching { mode: LENGTH_BUCKETED }",
              # Without --threads the server picks instances x threads from its cores.
              f"instance {{ intra_op_threads: {threads} device: CPU }}" if threads else "instance { device: CPU }"]
    if precision != "FP32":
        lines.append(f"optimization {{ precision: {precision} }}")
    return "\n".join(lines) + "\n"


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
