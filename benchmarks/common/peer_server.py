"""The Python peer server (benchmarks/real_models/python_peer_server.py: the model in eager
PyTorch behind Triton's gRPC service, what a user would write by hand) as a process the
benchmarks start, measure and stop."""
import os
import subprocess
import sys
import tempfile
import time

from seqserve_process import process_memory_bytes

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "real_models",
                      "python_peer_server.py")


class PeerServer:
    """python_peer_server.py on 127.0.0.1 (an ephemeral port from its --port-file) for the model in
    `model_dir`, under `prefix` (e.g. a memory cgroup's). A process that exits while loading is
    kept (url None) so that its exit code and log can be reported; one that does not listen in
    120 s is stopped and raises."""

    def __init__(self, model_dir, prefix=()):
        self.dir = tempfile.mkdtemp(prefix="peer_")
        port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "peer.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([*prefix, sys.executable, SCRIPT, "--model", model_dir, "--port-file", port_file],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.url = None
        deadline = time.monotonic() + 120
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"peer did not listen in 120 s: {self.read_log()[-2000:]}")
            time.sleep(0.05)
        self.url = f"127.0.0.1:{open(port_file).read().split('=')[1].strip()}"

    def read_log(self):
        self.log.flush()
        return open(self.log_path).read()

    def memory_bytes(self, field="VmRSS"):
        return process_memory_bytes(self.proc.pid, field)

    def stop(self):
        """Terminates the peer (kills it after 30 s); its exit code, None if it was killed."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.returncode
