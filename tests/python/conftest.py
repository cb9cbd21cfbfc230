"""Starts the real seqserve binary for tests that use Triton's own client (tritonclient)."""
import os
import signal
import subprocess
import tempfile
import time

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--seqserve-binary", required=True)
    parser.addoption("--repository", required=True)
    parser.addoption("--reference", required=True)
    parser.addoption("--perf-analyzer", default=None, help="scripts/perf_analyzer; its test skips without it")


class Server:
    def __init__(self, binary, repository, extra=()):
        self.dir = tempfile.mkdtemp(prefix="seqserve_py_")
        port_file = os.path.join(self.dir, "ports")
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, f"--model-repository={repository}", "--grpc-address=127.0.0.1",
             "--grpc-port=0", "--metrics-port=0", f"--port-file={port_file}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        ports = {}
        while time.monotonic() < deadline and "metrics_port" not in ports:
            if self.proc.poll() is not None:
                raise RuntimeError(f"seqserve exited during startup:\n{self.read_log()}")
            if os.path.exists(port_file):
                ports = dict(line.split("=") for line in open(port_file).read().split() if "=" in line)
            time.sleep(0.02)
        if "metrics_port" not in ports:
            raise RuntimeError(f"seqserve did not listen:\n{self.read_log()}")
        self.port = int(ports["grpc_port"])
        self.metrics_port = int(ports["metrics_port"])
        self.url = f"127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}"

    def wait_ready(self, client, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.is_server_ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"seqserve not ready in {timeout}s:\n{self.read_log()}")

    def read_log(self):
        self.log.flush()
        return open(self.log_path).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return None
        return self.proc.returncode


@pytest.fixture(scope="session")
def start_server(request):
    """Factory for extra servers (stopped at the end of the session if the test did not)."""
    started = []

    def start(*extra):
        s = Server(request.config.getoption("--seqserve-binary"), request.config.getoption("--repository"), extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def server(start_server):
    s = start_server()
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
