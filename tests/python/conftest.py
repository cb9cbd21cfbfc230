"""Starts the real seqserve binary for tests that use Triton's own client (tritonclient)."""
import os

import numpy as np
import pytest
from seqserve_process import Server  # scripts/, on .venv's path (Note [the tree on the path])


def pytest_addoption(parser):
    parser.addoption("--seqserve-binary", required=True)
    parser.addoption("--repository", required=True)
    parser.addoption("--reference", required=True)
    parser.addoption("--checkpoints", required=True,
                     help="Hugging Face checkpoints the build prepared (all-MiniLM-L6-v2, random-weight ones)")
    parser.addoption("--packed-repository", required=True,
                     help="repository the build packed from the random-weight checkpoints")
    parser.addoption("--tokenize-binary", default=None,
                     help="seqserve-tokenize (runtime/tokenizer/tokenize_tool.cc); its tests skip without it")
    parser.addoption("--perf-analyzer", default=None, help="scripts/perf_analyzer; its test skips without it")
    parser.addoption("--server-version", default=None,
                     help="the version seqserve must report (CMake passes PROJECT_VERSION; default: the "
                          "VERSION in the top CMakeLists.txt's project())")
    parser.addoption("--torch-version", default=None,
                     help="the libtorch version the binary was built with (CMake passes the Torch_VERSION it "
                          "found; default: the version of this interpreter's torch, without its +local part)")


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def server_version(request):
    given = request.config.getoption("--server-version")
    if given:
        return given
    import re
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        match = re.search(r"^project\(\s*seqserve\s+VERSION\s+([0-9][0-9.]*)", f.read(), re.MULTILINE)
    assert match, "no project(seqserve VERSION ...) in CMakeLists.txt; pass --server-version"
    return match.group(1)


@pytest.fixture(scope="session")
def torch_version(request):
    """libtorch's version as the server reports it (TORCH_VERSION: major.minor.patch, no local
    part such as +cu130). The build locates libtorch in the same interpreter's torch wheel."""
    given = request.config.getoption("--torch-version")
    if given:
        return given
    from importlib.metadata import version
    return version("torch").split("+")[0]


@pytest.fixture(scope="session")
def start_server(request):
    """Factory for extra servers (stopped at the end of the session if the test did not)."""
    started = []

    def start(*extra, repository=None, prefix=()):
        s = Server(request.config.getoption("--seqserve-binary"),
                   repository or request.config.getoption("--repository"), extra, prefix=prefix)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def demo_models(request, tmp_path_factory):
    """A repository of the demo encoder and linear models only, for servers that use nothing else
    (the build's repository also holds MiniLM as TorchScript and .pt2: ~7 s more per start)."""
    from helpers import demo_repository
    return demo_repository(request.config.getoption("--repository"), tmp_path_factory.mktemp("demo_models"))


@pytest.fixture(scope="session")
def server(start_server, demo_models):
    """The shared server: the demo models (encoder, linear) with default flags. test_real_models.py
    has its own for MiniLM."""
    s = start_server(repository=demo_models)
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="session")
def client(server):
    import tritonclient.grpc as grpcclient
    c = grpcclient.InferenceServerClient(url=server.url)
    server.wait_ready(c)
    return c


DTYPES = {"INT64": np.int64, "FP32": np.float32}


@pytest.fixture(scope="session")
def reference(request):
    """{case: {"model": str, "in": {name: array}, "out": {name: array}}} from the export script."""
    root = request.config.getoption("--reference")
    cases = {}
    for line in open(os.path.join(root, "manifest.txt")):
        parts = line.split()
        if not parts:
            continue
        case, model, direction, name, dtype, rank = parts[:6]
        shape = [int(d) for d in parts[6:6 + int(rank)]]
        data = np.fromfile(os.path.join(root, parts[6 + int(rank)]), dtype=DTYPES[dtype]).reshape(shape)
        entry = cases.setdefault(case, {"model": model, "in": {}, "out": {}})
        entry[direction][name] = data
    return cases

