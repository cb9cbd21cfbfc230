"""A real memory cgroup with a hard limit, for tests and benchmarks that must see what a pod sees.

    cgroup, reason = MemoryCgroup.try_create(800 << 20)   # (None, "why not") where impossible
    if cgroup:
        with cgroup:
            proc = subprocess.Popen([*cgroup.prefix, "build/seqserve", ...])   # moved in before exec
            ...
            cgroup.peak_bytes(), cgroup.oom_kills(), cgroup.version

cgroup v2 is used where /sys/fs/cgroup/cgroup.controllers lists `memory` and the parent's
cgroup.subtree_control enables it (memory.max, memory.swap.max = 0, memory.peak, memory.events);
v1 under /sys/fs/cgroup/memory otherwise (memory.limit_in_bytes, memory.memsw.limit_in_bytes where
swap accounting exists, memory.max_usage_in_bytes, memory.oom_control). The new cgroup is a child
of this process's own cgroup where that can hold one (so it stays inside whatever limit the caller
already runs under), else of the hierarchy's root. Its name is seqserve_<hex>. No third-party
dependencies. Peaks count everything the kernel charges: anonymous memory, page cache of files the
processes read (the model file, shared libraries) and kernel memory — as for a pod.
"""
import os
import signal
import subprocess
import time
import uuid

V2_ROOT = "/sys/fs/cgroup"
V1_ROOT = "/sys/fs/cgroup/memory"


def _read(path):
    with open(path) as f:
        return f.read()


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def _own_cgroup(hierarchy):
    """This process's cgroup path in the v2 hierarchy (hierarchy "") or the v1 one ("memory")."""
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if hierarchy in controllers.split(","):
            return path
    return None


def _candidates():
    """(version, parent directory) pairs to try, most preferred first."""
    found = []
    if os.path.exists(os.path.join(V2_ROOT, "cgroup.controllers")) and \
            "memory" in _read(os.path.join(V2_ROOT, "cgroup.controllers")).split():
        own = _own_cgroup("")
        found += [(2, os.path.join(V2_ROOT, own.lstrip("/")))] if own and own != "/" else []
        found.append((2, V2_ROOT))
    if os.path.exists(os.path.join(V1_ROOT, "memory.limit_in_bytes")):
        own = _own_cgroup("memory")
        found += [(1, os.path.join(V1_ROOT, own.lstrip("/")))] if own and own != "/" else []
        found.append((1, V1_ROOT))
    return [(v, p) for v, p in found if os.path.isdir(p)]


class MemoryCgroup:
    def __init__(self, version, path, limit_bytes):
        self.version, self.path, self.limit_bytes = version, path, limit_bytes
        procs = os.path.join(path, "cgroup.procs")
        # Moves the shell into the cgroup, then execs the command: the command's pid is the shell's.
        self.prefix = ("sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh")

    @classmethod
    def try_create(cls, limit_bytes):
        """(MemoryCgroup, None), or (None, reason) where this machine does not let us make one.
        limit_bytes None: a cgroup that only measures."""
        if os.geteuid() != 0:
            return None, "not root: cannot create cgroups"
        candidates = _candidates()
        if not candidates:
            return None, "no cgroup memory controller mounted (neither v2 with memory nor v1 memory)"
        reasons = []
        for version, parent in candidates:
            path = os.path.join(parent, f"seqserve_{uuid.uuid4().hex[:12]}")
            try:
                if version == 2 and "memory" not in _read(os.path.join(parent, "cgroup.subtree_control")).split():
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
                os.mkdir(path)
            except OSError as e:
                reasons.append(f"v{version} {parent}: {e.strerror or e}")
                continue
            cgroup = cls(version, path, limit_bytes)
            try:
                cgroup._set_limit()
                cgroup._check_move()
                return cgroup, None
            except (OSError, RuntimeError) as e:
                reasons.append(f"v{version} {path}: {e}")
                cgroup.close()
        return None, "cannot create a memory cgroup here: " + "; ".join(reasons)

    def _file(self, name):
        return os.path.join(self.path, name)

    def _set_limit(self):
        """limit_bytes None: no limit (the cgroup only measures)."""
        if self.version == 2:
            _write(self._file("memory.max"), "max" if self.limit_bytes is None else self.limit_bytes)
            if os.path.exists(self._file("memory.swap.max")):
                _write(self._file("memory.swap.max"), 0)
        else:
            limit = -1 if self.limit_bytes is None else self.limit_bytes
            _write(self._file("memory.limit_in_bytes"), limit)
            if os.path.exists(self._file("memory.memsw.limit_in_bytes")):  # memory + swap: no swap
                _write(self._file("memory.memsw.limit_in_bytes"), limit)

    def _check_move(self):
        """Really moves a `sleep` in (a delegated or read-only hierarchy may refuse)."""
        proc = subprocess.Popen([*self.prefix, "sleep", "30"], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.poll() is None:
                if str(proc.pid) in self.pids():
                    return
                time.sleep(0.01)
            raise RuntimeError(f"could not move a process in: {proc.stderr.read().decode().strip() if proc.poll() is not None else 'timed out'}")
        finally:
            proc.kill()
            proc.wait()

    def pids(self):
        try:
            return _read(self._file("cgroup.procs")).split()
        except OSError:
            return []

    def current_bytes(self):
        return int(_read(self._file("memory.current" if self.version == 2 else "memory.usage_in_bytes")))

    def peak_bytes(self):
        """Highest usage since creation (None where the kernel does not keep it: v2 before 5.19)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return int(_read(self._file(name))) if os.path.exists(self._file(name)) else None

    def _fields(self, name):
        try:
            return {k: int(v) for k, v in (line.split() for line in _read(self._file(name)).splitlines())}
        except OSError:
            return {}

    def oom_kills(self):
        """Processes the OOM killer killed in this cgroup (None where the kernel does not count)."""
        return self._fields("memory.events" if self.version == 2 else "memory.oom_control").get("oom_kill")

    def close(self):
        """Kills what still runs inside, then removes the cgroup (bounded retries)."""
        if not os.path.isdir(self.path):
            return
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(0.05)
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY while killed processes are still exiting
                time.sleep(0.05)
        raise RuntimeError(f"could not remove cgroup {self.path} (still holds {self.pids()})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        limit = "none" if self.limit_bytes is None else f"{self.limit_bytes >> 20} MiB"
        return f"MemoryCgroup(v{self.version} {self.path}, limit {limit})"
