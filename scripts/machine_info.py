"""The machine a benchmark ran on, as RESULTS.md records it beside every number: CPU model, the
flags that decide reduced-precision speed, usable cores, memory, date."""
import datetime
import importlib.metadata
import os
import platform
import re
import subprocess

CPU_MAX = "/sys/fs/cgroup/cpu.max"
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def describe(packages=(), binary=None):
    """A dict: date (UTC), cpu, usable_cores, cgroup_cpu_quota (cores, None without one), ram_mib,
    flags {name: present}, kernel, python; the version of each of `packages` (e.g. "torch") under
    its name; with `binary`, when it was built and the checkout's last commit."""
    info = open("/proc/cpuinfo").read()
    model = next(iter(re.findall(r"^model name\s*:\s*(.*)$", info, re.M)), platform.processor())
    flags = set(next(iter(re.findall(r"^flags\s*:\s*(.*)$", info, re.M)), "").split())
    quota = open(CPU_MAX).read().split() if os.path.exists(CPU_MAX) else []
    described = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "cpu": model, "usable_cores": len(os.sched_getaffinity(0)),
                 "cgroup_cpu_quota": None if not quota or quota[0] == "max" else int(quota[0]) / int(quota[1]),
                 "ram_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20,
                 "flags": {f: f in flags for f in FLAGS},
                 "kernel": platform.release(), "python": platform.python_version()}
    for package in packages:
        described[package] = importlib.metadata.version(package)
    if binary is not None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        commit = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %s"], capture_output=True,
                                text=True).stdout.strip()
        built = datetime.datetime.fromtimestamp(os.path.getmtime(binary), datetime.timezone.utc)
        described["binary"] = f"{binary}, built {built:%Y-%m-%d %H:%M:%S} UTC; checkout at {commit[:100]}"
    return described


def one_line(machine=None):
    """describe() as one line: "CPU, N cores, flags present, date"."""
    m = machine or describe()
    present = " ".join(f for f, on in m["flags"].items() if on)
    return (f"{m['cpu']}, {m['usable_cores']} cores, {present or 'no avx2'}, {m['ram_mib'] >> 10} GiB, "
            f"kernel {m['kernel']}, {m['date']}")
