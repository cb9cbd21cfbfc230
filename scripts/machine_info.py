"""The machine a benchmark ran on, as RESULTS.md records it beside every number: CPU model, the
flags that decide reduced-precision speed, usable cores, memory, date."""
import datetime
import os
import platform
import re

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def describe():
    """A dict: date (UTC), cpu, usable_cores, ram_mib, flags {name: present}, kernel, python."""
    info = open("/proc/cpuinfo").read()
    model = next(iter(re.findall(r"^model name\s*:\s*(.*)$", info, re.M)), platform.processor())
    flags = set(next(iter(re.findall(r"^flags\s*:\s*(.*)$", info, re.M)), "").split())
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": model, "usable_cores": len(os.sched_getaffinity(0)),
            "ram_mib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20,
            "flags": {f: f in flags for f in FLAGS},
            "kernel": platform.release(), "python": platform.python_version()}


def one_line(machine=None):
    """describe() as one line: "CPU, N cores, flags present, date"."""
    m = machine or describe()
    present = " ".join(f for f, on in m["flags"].items() if on)
    return (f"{m['cpu']}, {m['usable_cores']} cores, {present or 'no avx2'}, {m['ram_mib'] >> 10} GiB, "
            f"kernel {m['kernel']}, {m['date']}")
