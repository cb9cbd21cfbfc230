"""Runs the real seqserve binary on 127.0.0.1 with ephemeral ports, for tests and benchmarks."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time


def process_memory_bytes(pid, field="VmRSS"):
    """A /proc/<pid>/status memory field ("VmRSS", "VmHWM", ...) in bytes; 0 if absent."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class Server:
    """One seqserve process. Ports are read from its --port-file; its log goes to a file.
    Every wait is bounded; stop() sends SIGTERM and returns the exit code (None if killed)."""

    def __init__(self, binary, repository, extra=(), prefix=()):
        """`prefix`: a command the binary runs under (e.g. taskset -c 0)."""
        self.repository = repository
        self.dir = tempfile.mkdtemp(prefix="seqserve_py_")
        port_file = os.path.join(self.dir, "ports")
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [*prefix, binary, f"--model-repository={repository}", "--grpc-address=127.0.0.1",
             "--grpc-port=0", "--metrics-port=0", "--http-port=0", f"--port-file={port_file}", *extra],
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
        self.http_port = int(ports["http_port"])
        self.url = f"127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}"
        self.http_url = f"127.0.0.1:{self.http_port}"  # KServe v2 REST (tritonclient.http's url)

    def wait_ready(self, client, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.is_server_ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"seqserve not ready in {timeout}s:\n{self.read_log()}")

    def wait_ready_http(self, timeout=120):
        """Waits until /readyz answers 200."""
        import urllib.error
        import urllib.request
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.metrics_url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"seqserve not ready in {timeout}s:\n{self.read_log()}")

    def memory_bytes(self, field="VmRSS"):
        """The process's resident memory now ("VmRSS") or at its peak ("VmHWM"), from /proc."""
        return process_memory_bytes(self.proc.pid, field)

    def scrape(self):
        import urllib.request
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=10) as response:
            return response.read().decode()

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


def encoder_repository(repository, batching, out_dir=None):
    """A copy of `repository`'s encoder whose `batching { ... }` block is replaced by `batching`
    (which may carry further top-level config blocks, e.g. "batching { ... } warmup { ... }")."""
    out = out_dir or tempfile.mkdtemp(prefix="seqserve_repo_")
    shutil.copytree(os.path.join(repository, "encoder"), os.path.join(out, "encoder"))
    config = os.path.join(out, "encoder", "config.pbtxt")
    text = re.sub(r"batching \{[^}]*\}", batching, open(config).read())
    if batching not in text:
        raise ValueError(f"no batching block replaced in {config}")
    with open(config, "w") as f:
        f.write(text)
    return out
