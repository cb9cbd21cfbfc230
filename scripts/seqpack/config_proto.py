"""seqserve's config schema (proto/seqserve/v1/model_config.proto) as Python message classes, with
the manifest's and the Predict API's (predict.proto: what tests and tools call seqserve.v1 with).

Built from the .proto files themselves with Debian's protoc (a descriptor set, turned into classes
by protobuf's message factory), so the packer writes config.pbtxt through the schema the server
parses, never by string formatting, and needs no generated code checked in or installed. The
descriptor set is cached per content of the .proto files in the user's cache directory.
"""
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile

from seqpack.errors import UsageError

PROTO_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))
FILES = ("seqserve/v1/types.proto", "seqserve/v1/model_config.proto", "seqserve/v1/model_manifest.proto",
         "seqserve/v1/predict.proto")


def _descriptor_set():
    digest = hashlib.sha256()
    for name in FILES:
        with open(os.path.join(PROTO_ROOT, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read())
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqserve")
    path = os.path.join(cache, f"config-{digest.hexdigest()[:16]}.pb")
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return f.read()
    protoc = shutil.which("protoc")
    if protoc is None:
        raise UsageError("protoc is not installed (Debian: apt-get install protobuf-compiler); the packer builds "
                         "config.pbtxt from proto/seqserve/v1/model_config.proto with it")
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "config.pb")
        subprocess.run([protoc, "-I", PROTO_ROOT, "--include_imports", f"--descriptor_set_out={out}", *FILES],
                       check=True)
        with open(out, "rb") as f:
            data = f.read()
    try:  # a cache is a convenience: an unwritable home only costs the next run a protoc call
        os.makedirs(cache, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache, delete=False) as f:
            f.write(data)
        os.replace(f.name, path)
    except OSError:
        pass
    return data


@functools.lru_cache(maxsize=None)
def messages():
    """{full name: message class} of every message in the config and manifest schemas."""
    from google.protobuf import descriptor_pb2, message_factory
    files = descriptor_pb2.FileDescriptorSet.FromString(_descriptor_set()).file
    return message_factory.GetMessages(files)


def model_config():
    """A new, empty seqserve.v1.ModelConfig."""
    return messages()["seqserve.v1.ModelConfig"]()


def model_manifest():
    """A new, empty seqserve.v1.ModelManifest."""
    return messages()["seqserve.v1.ModelManifest"]()
