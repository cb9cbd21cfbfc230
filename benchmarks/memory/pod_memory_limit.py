#!/usr/bin/env python3
"""Issue #17, "never OOM-killed": each server inside a real memory cgroup with a pod's limit,
loaded with tritonclient from outside it. Does it survive, and at what throughput?

Servers (one at a time, each in a fresh cgroup, only `minilm` — all-MiniLM-L6-v2 TorchScript —
in a temporary repository; packed there with `seqserve-pack --max-length 512` by default, as the
issue's "32 passages of 512 tokens" needs, since the demo pack keeps sentence-transformers' 256):
  seqserve           build/seqserve with no memory flags (the default budget)
  seqserve budget=0  build/seqserve --memory-budget-bytes=0 (unlimited: the old behaviour)
  python peer        benchmarks/real_models/python_peer_server.py (grpcio + torch, 4 workers, no batching)
Workloads (KServe v2 gRPC on 127.0.0.1, every request with --timeout, every loop bounded):
  flood  --flood-clients clients, each sending --flood-requests requests of --flood-rows rows x
         --flood-length tokens (default: the model's max_length), one after the other; token ids
         random in [1000, 29000), attention mask all ones, token_type_ids zeros
  mix    --mix-clients clients sending one-row requests whose lengths come from
         ../shared/data/seq_lengths.txt (clipped to the model's max_length), --mix-requests each
         (or for --mix-seconds)
Per cell: survived (process alive after the workload and no OOM kill), exit code (137 = SIGKILL),
the cgroup's oom_kill count, requests OK / failed with their status codes (and those not sent
because the server was gone), the cgroup's peak usage (memory.peak / memory.max_usage_in_bytes:
anonymous memory plus page cache plus kernel memory, as for a pod), the process's VmHWM, rows/s
over the workload's wall time, latency p50/p99 of the OK requests, and seqserve's own pool metrics.

Then the throughput cost of the default: seqserve (default) against --memory-budget-bytes=0 at a
comfortable limit (--comfortable-mib, 0 = no limit), both workloads, --ratio-rounds rounds with the
order alternating; the issue wants the median ratio >= 0.95.

  .venv/bin/python benchmarks/memory/pod_memory_limit.py [--limits-mib 1000 800] [--workloads flood mix] \\
      [--variants seqserve seqserve_unlimited peer] [--flood-requests 8] [--mix-requests 30] \\
      [--comfortable-mib 4000] [--ratio-rounds 1] [--out results.json]

Needs root and a memory cgroup controller (scripts/memory_cgroup.py says why not otherwise; then
only the comfortable comparison runs, without a cgroup). Run it on an otherwise idle machine: the
clients share the cores with the server.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from common.peer_server import PeerServer
from machine_info import describe as machine, one_line
from memory_cgroup import MemoryCgroup
from seqserve_process import Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

MODEL = "minilm"
MIB = 1 << 20
VARIANTS = {"seqserve": ("seqserve", ()),
            # Unlimited pool and no memory-aware batching; requests are still cut into row chunks
            # by the token budget (max_batch_tokens), which no flag turns off.
            "seqserve_unlimited": ("seqserve budget=0", ("--memory-budget-bytes=0",)),
            "peer": ("python peer", ())}


def model_contract(model_dir):
    config = open(os.path.join(model_dir, "config.pbtxt")).read()
    return {"inputs": re.findall(r'input \{ name: "([^"]+)"', config),
            "output": re.search(r'output \{ name: "([^"]+)"', config).group(1),
            "max_length": int(re.search(r"max_length: (\d+)", config).group(1)),
            "max_batch_size": int(re.search(r"max_batch_size: (\d+)", config).group(1))}


# ---------------------------------------------------------------------------------- servers
def kill_strays(marker):
    """Without a cgroup to empty: kills, by pid, processes whose command line names `marker`
    (our temporary repository), e.g. a seqserve that never wrote its port file."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in open(f"/proc/{pid}/cmdline", "rb").read() and int(pid) != os.getpid():
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def wait_ready(server, is_seqserve, timeout):
    """seqserve: until the model is ready (its RepositoryIndex says UNAVAILABLE and why: such a
    server never reports itself ready); the peer: ServerReady. Raises if the process exits."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException
    if server.proc.poll() is not None:
        raise RuntimeError(f"exited with {server.proc.returncode} before ready")
    client = grpcclient.InferenceServerClient(url=server.url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"exited with {server.proc.returncode} before ready")
        try:
            if client.is_model_ready(MODEL) if is_seqserve else client.is_server_ready():
                return
            if is_seqserve:
                for entry in client.get_model_repository_index().models:
                    if entry.name == MODEL and entry.state == "UNAVAILABLE":
                        raise RuntimeError(f"model UNAVAILABLE: {entry.reason}")
        except InferenceServerException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"not ready in {timeout} s")


def pool_metrics(server):
    from prometheus_client.parser import text_string_to_metric_families
    wanted = {"seqserve_memory_peak_reserved_bytes": "cpu", "seqserve_memory_capacity_bytes": "cpu",
              "seqserve_memory_oom_total": "cpu", "seqserve_batch_splits_total": None,
              "seqserve_rejections_total": "oom"}
    out = {}
    for family in text_string_to_metric_families(server.scrape()):
        for s in family.samples:
            if s.name in wanted and wanted[s.name] in (None, s.labels.get("pool"), s.labels.get("reason")):
                out[s.name] = out.get(s.name, 0) + s.value
    return out


# ---------------------------------------------------------------------------------- workloads
def make_inputs(contract, ids):
    import tritonclient.grpc as grpcclient
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    inputs = []
    for name in contract["inputs"]:
        inputs.append(grpcclient.InferInput(name, list(ids.shape), "INT64"))
        inputs[-1].set_data_from_numpy(arrays[name])
    return inputs


def mix_lengths(args, contract):
    """The lengths file, clipped to the model's max_length; and how many were clipped."""
    raw = [int(l) for l in open(args.lengths) if l.strip() and not l.startswith("#")]
    return [min(l, contract["max_length"]) for l in raw], sum(l > contract["max_length"] for l in raw)


def plans(args, contract, workload):
    """Per client, (count, request i -> (rows, length)): what it sends, in order."""
    if workload == "flood":
        length = args.flood_length or contract["max_length"]
        return [(args.flood_requests, lambda i: (args.flood_rows, length))] * args.flood_clients
    lengths, _ = mix_lengths(args, contract)
    count = args.mix_requests if not args.mix_seconds else 100000  # a duration: stops on time, bounded anyway
    return [(count, lambda i, c=c: (1, lengths[(c * count + i) % len(lengths)])) for c in range(args.mix_clients)]


def run_workload(url, contract, plan, proc, timeout, seconds):
    """Each client one connection, requests one after the other; stops sending when the server
    process is gone or after `seconds` (of sending; a request in flight runs to its timeout)."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException
    results = []  # (status, rows, seconds)
    lock = threading.Lock()
    start = time.monotonic()
    not_sent = [0]

    def client(c, count, request):
        rng = np.random.default_rng(1000 + c)
        conn = grpcclient.InferenceServerClient(url=url)
        for i in range(count):
            if proc.poll() is not None or time.monotonic() - start > seconds:
                with lock:
                    not_sent[0] += count - i if count < 100000 else 0  # a duration's bound is no request
                return
            rows, length = request(i)
            inputs = make_inputs(contract, rng.integers(1000, 29000, size=(rows, length), dtype=np.int64))
            t = time.monotonic()
            try:
                out = conn.infer(MODEL, inputs, client_timeout=timeout).as_numpy(contract["output"])
                status = "OK" if out is not None and out.shape[0] == rows else f"wrong shape {None if out is None else out.shape}"
            except InferenceServerException as e:
                status = str(e.status())
            except Exception as e:  # noqa: BLE001 (a client error is a result, not a crash)
                status = type(e).__name__
            with lock:
                results.append((status, rows, time.monotonic() - t))

    threads = [threading.Thread(target=client, args=(c, *p), daemon=True) for c, p in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, seconds + timeout + 30 - (time.monotonic() - start)))
    wall = time.monotonic() - start
    with lock:
        done = list(results)
    ok = [r for r in done if r[0] == "OK"]
    codes = {}
    for status, _, _ in done:
        if status != "OK":
            codes[status] = codes.get(status, 0) + 1
    latencies = sorted(r[2] * 1000 for r in ok)
    return {"ok": len(ok), "failed": len(done) - len(ok), "failed_codes": codes, "not_sent": not_sent[0],
            "hung_clients": sum(t.is_alive() for t in threads), "wall_s": round(wall, 2),
            "rows_ok": sum(r[1] for r in ok), "rows_per_s": round(sum(r[1] for r in ok) / wall, 2) if wall else None,
            "requests_per_s": round(len(ok) / wall, 2) if wall else None,
            "p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else None}


# ---------------------------------------------------------------------------------- one cell
def run_cell(args, repo, contract, limit_mib, workload, variant, without_cgroup_ok=False):
    """One server in a fresh cgroup of `limit_mib` (0: a cgroup without a limit, that only
    measures), one workload. Where no cgroup can be made: skipped, or with `without_cgroup_ok`
    run without one (no limit). Always stops the server and removes the cgroup."""
    label, flags = VARIANTS[variant]
    cell = {"limit_mib": limit_mib or None, "workload": workload, "variant": label, "flags": list(flags)}
    cgroup, reason = MemoryCgroup.try_create(limit_mib * MIB if limit_mib else None)
    if cgroup is None and not without_cgroup_ok:
        return dict(cell, skipped=reason)
    if cgroup is None:
        cell["limit_mib"] = None
    cell["cgroup"] = f"v{cgroup.version}" if cgroup else f"none ({reason})"
    server = None
    try:
        prefix = cgroup.prefix if cgroup else ()
        try:
            if variant == "peer":
                server = PeerServer(os.path.join(repo, MODEL), prefix)
            else:
                server = Server(args.binary, repo, flags, prefix=prefix)
            wait_ready(server, variant != "peer", args.ready_timeout)
            cell["startup"] = "ready"
        except Exception as e:  # noqa: BLE001 (killed or broken at startup is a result)
            cell["startup"] = str(e).splitlines()[0][:300]
            cell["log_tail"] = (server.read_log() if server else str(e))[-1500:]
        if cell["startup"] == "ready":
            if variant != "peer":
                cell["budget_log"] = [l.split("] ", 1)[-1] for l in server.read_log().splitlines()
                                      if re.search(r"budget|cgroup|memory", l, re.I)][:6]
            seconds = args.mix_seconds if workload == "mix" and args.mix_seconds else args.max_workload_seconds
            cell.update(run_workload(server.url, contract, plans(args, contract, workload), server.proc,
                                     args.timeout, seconds))
            cell["alive_after_workload"] = alive = server.proc.poll() is None
            if alive:
                cell["rss_hwm_mib"] = round(server.memory_bytes("VmHWM") / MIB, 1)
                if variant != "peer":
                    try:
                        cell["pool"] = {k: round(v / MIB, 1) if k.endswith("bytes") else v
                                        for k, v in pool_metrics(server).items()}
                    except Exception as e:  # noqa: BLE001
                        cell["pool"] = f"unreadable: {e}"
        code = server.stop() if server else None
        if server and code is None:
            code = server.proc.returncode
        cell["exit_code"] = 128 - code if code is not None and code < 0 else code
        if cgroup:
            peak = cgroup.peak_bytes()
            cell["peak_mib"] = round(peak / MIB, 1) if peak is not None else None
            cell["oom_kills"] = cgroup.oom_kills()
        cell["survived"] = bool(cell.get("alive_after_workload")) and not cell.get("oom_kills")
        if not cell["survived"] and server and "log_tail" not in cell:
            cell["log_tail"] = server.read_log()[-1500:]
    finally:
        if server and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if cgroup:
            cgroup.close()
        else:
            kill_strays(repo)
        if server:
            shutil.rmtree(server.dir, ignore_errors=True)
    return cell


# ---------------------------------------------------------------------------------- report
def cell_row(c):
    if "skipped" in c:
        return f"| {c['limit_mib']} | {c['workload']} | {c['variant']} | skipped: {c['skipped']} |" + " |" * 8
    codes = ", ".join(f"{k.replace('StatusCode.', '')} {v}" for k, v in sorted(c.get("failed_codes", {}).items()))
    failed = f"{c.get('failed', 0)}" + (f" ({codes})" if codes else "") + \
        (f", {c['not_sent']} not sent" if c.get("not_sent") else "")
    survived = "yes" if c["survived"] else ("**OOM-killed**" if c.get("oom_kills") else "**killed**"
                                            if c.get("exit_code") == 137 else f"**no** ({c['startup'][:120]}, "
                                            f"exit {c.get('exit_code')})")
    if c["startup"] != "ready" and not c["survived"]:
        survived += " at startup"
    f = lambda v: "—" if v is None else v  # noqa: E731
    return (f"| {f(c['limit_mib'])} | {c['workload']} | {c['variant']} | {survived} | {f(c.get('oom_kills'))} "
            f"| {f(c.get('exit_code'))} | {c.get('ok', 0)} / {failed} | {f(c.get('peak_mib'))} | {f(c.get('rss_hwm_mib'))} "
            f"| {f(c.get('rows_per_s'))} | {f(c.get('p50_ms'))} | {f(c.get('p99_ms'))} |")


HEADER = ("| limit MiB | workload | server | survived | OOM kills | exit | OK / failed | cgroup peak MiB "
          "| VmHWM MiB | rows/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|")


def arguments():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--binary", help="default: <build>/seqserve")
    p.add_argument("--limits-mib", type=int, nargs="+", default=[1000, 800])
    p.add_argument("--workloads", nargs="+", choices=("flood", "mix"), default=["flood", "mix"])
    p.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    p.add_argument("--flood-clients", type=int, default=4)
    p.add_argument("--flood-requests", type=int, default=8, help="per client")
    p.add_argument("--flood-rows", type=int, default=32)
    p.add_argument("--flood-length", type=int, default=0, help="0: the model's max_length")
    p.add_argument("--batching", default="",
                   help='extra fields of config.pbtxt\'s batching block, e.g. "max_batch_tokens: 16384" (a GPU-sized '
                        'token budget: batches then grow until memory, not the token budget, bounds them)')
    p.add_argument("--max-length", type=int, default=512,
                   help="pack minilm for this many tokens (0: the demo pack as it is, 256)")
    p.add_argument("--mix-clients", type=int, default=64)
    p.add_argument("--mix-requests", type=int, default=30, help="per client")
    p.add_argument("--mix-seconds", type=float, default=0, help="> 0: send for this long instead")
    p.add_argument("--lengths", default=os.path.join(ROOT, "..", "shared", "data", "seq_lengths.txt"))
    p.add_argument("--comfortable-mib", type=int, default=4000, help="limit of the ratio runs; 0 = none")
    p.add_argument("--ratio-rounds", type=int, default=1, help="0: no ratio runs")
    p.add_argument("--timeout", type=float, default=60, help="per request, seconds")
    p.add_argument("--max-workload-seconds", type=float, default=300, help="stop sending after this")
    p.add_argument("--ready-timeout", type=float, default=180)
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    args.binary = args.binary or os.path.join(args.build, "seqserve")
    return args


def main():
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally blocks remove the cgroups
    info = machine()
    print(one_line(info), flush=True)
    source = os.path.join(args.build, "model_repository", MODEL)
    repo = tempfile.mkdtemp(prefix="seqserve_podmem_")
    if args.max_length and args.max_length != model_contract(source)["max_length"]:
        checkpoint = os.path.join(args.build, "checkpoints", "all-MiniLM-L6-v2")
        print(f"packing {MODEL} for {args.max_length} tokens ...", flush=True)
        subprocess.run([os.path.join(ROOT, "scripts", "seqserve-pack"), "--hf", checkpoint, "--name", MODEL,
                        "--repository", repo, "--format", "torchscript", "--max-length", str(args.max_length)],
                       check=True, capture_output=True, timeout=900)
        source = os.path.join(repo, MODEL)
    elif args.batching:
        shutil.copytree(source, os.path.join(repo, MODEL))
        source = os.path.join(repo, MODEL)
    else:
        os.symlink(os.path.abspath(source), os.path.join(repo, MODEL))
    if args.batching:
        config_path = os.path.join(source, "config.pbtxt")
        config = open(config_path).read()
        config, n = re.subn(r"batching \{([^}]*)\}", lambda m: f"batching {{{m.group(1)} {args.batching} }}", config)
        if n != 1:
            sys.exit(f"no single batching block in {config_path}")
        open(config_path, "w").write(config)
        print(f"{MODEL} config: batching {{ ... {args.batching} }}", flush=True)
    contract = model_contract(source)
    length = args.flood_length or contract["max_length"]
    clipped = mix_lengths(args, contract)[1] if "mix" in args.workloads else 0
    clip_note = f" ({clipped} lengths of the file clipped to {contract['max_length']})" if clipped else ""
    print(f"{MODEL}: inputs {contract['inputs']}, max_length {contract['max_length']}, max_batch_size "
          f"{contract['max_batch_size']}; flood {args.flood_clients} clients x {args.flood_requests} requests of "
          f"{args.flood_rows} x {length}; mix {args.mix_clients} clients x "
          f"{f'{args.mix_seconds} s' if args.mix_seconds else f'{args.mix_requests} requests'} of one row"
          f"{clip_note}", flush=True)
    probe, reason = MemoryCgroup.try_create(64 * MIB)
    if probe:
        print(f"cgroups: {probe!r}", flush=True)
        probe.close()
    else:
        print(f"cgroups: {reason}", flush=True)
    results = {"machine": info, "args": vars(args), "contract": contract, "cells": [], "ratio": []}
    try:
        if probe:
            for limit in args.limits_mib:
                for workload in args.workloads:
                    for variant in args.variants:
                        cell = run_cell(args, repo, contract, limit, workload, variant)
                        results["cells"].append(cell)
                        print(cell_row(cell), flush=True)
        for r in range(args.ratio_rounds):
            for workload in args.workloads:
                pair = {}
                order = ["seqserve", "seqserve_unlimited"][::1 if r % 2 == 0 else -1]
                for variant in order:
                    pair[variant] = run_cell(args, repo, contract, args.comfortable_mib, workload, variant,
                                             without_cgroup_ok=True)
                    print(cell_row(pair[variant]), flush=True)
                a, b = (pair[v].get("rows_per_s") for v in ("seqserve", "seqserve_unlimited"))
                results["ratio"].append({"round": r + 1, "workload": workload, "default": pair["seqserve"],
                                         "unlimited": pair["seqserve_unlimited"],
                                         "ratio": round(a / b, 3) if a and b else None})
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)

    print(f"\n{info['date']}; {info['cpu']}; " + ", ".join(k for k, v in info["flags"].items() if v) + "\n")
    if results["cells"]:
        print(HEADER)
        for cell in results["cells"]:
            print(cell_row(cell))
        print("\nexit: the server's exit code (137 = SIGKILL; for a server alive after the workload, its exit on "
              "our SIGTERM: seqserve drains and exits 0, the peer dies of it, 143)")
    else:
        print(f"no limited runs: {reason}")
    if results["ratio"]:
        limit = f"{args.comfortable_mib} MiB" if args.comfortable_mib and probe else "no limit"
        print(f"\nseqserve (default) / seqserve --memory-budget-bytes=0 at {limit}:\n")
        print("| workload | round | default rows/s | budget=0 rows/s | ratio |\n|---|---|---|---|---|")
        for x in results["ratio"]:
            print(f"| {x['workload']} | {x['round']} | {x['default'].get('rows_per_s')} | "
                  f"{x['unlimited'].get('rows_per_s')} | {x['ratio']} |")
        for workload in args.workloads:
            ratios = [x["ratio"] for x in results["ratio"] if x["workload"] == workload and x["ratio"]]
            if ratios:
                m = statistics.median(ratios)
                print(f"\n{workload}: median ratio {m:.3f} (goal >= 0.95: {'met' if m >= 0.95 else 'missed'})")
    if args.out:
        print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
