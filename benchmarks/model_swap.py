#!/usr/bin/env python3
"""Model swap under steady traffic (issue #20): the real binary in explicit model-control mode
on a temporary repository holding one model (the demo encoder, or all-MiniLM-L6-v2 with
--model minilm), N closed-loop gRPC client threads, a steady window, then version 2 (different
weights: the encoder's classifier doubled, MiniLM's embedding halved, so every answer tells
which version computed it) copied in and swapped in by load_model while the traffic goes on,
and traffic after. Reports requests, failures (goal 0), answers per version (each must match
exactly one version's expected values and carry that model_version), p50/p99 latency in the
steady window and in the swap window (load_model call to its return + 2 s) and their ratio
(goal: p99 during the swap <= 2x steady), the CPU pool's allocated/reserved bytes before the
load, at their peak during the swap and after the old version unloaded, and the machine.

  .venv/bin/python benchmarks/model_swap.py                      # encoder, 4 clients, 20 s steady
  .venv/bin/python benchmarks/model_swap.py --model minilm --clients 4 --steady-seconds 20

Exit code 1 when a request failed or an answer did not match exactly one version."""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import numpy as np
import torch
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

import machine_info
from seqpack.repository import sha256_of  # the packer's, as the manifest wants it
from seqserve_process import Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

MODELS = {  # --model: (folder in the build's repository, request pool size, max tokens per request)
    "encoder": ("encoder", 200, 512),
    "minilm": ("minilm", 64, 256),
}


# ---- version 2 ----

class ScaledOutput(torch.nn.Module):
    """A TorchScript model whose output is `scale` times the inner one's (MiniLM is frozen:
    its weights are constants, so version 2 wraps it instead of scaling parameters)."""

    def __init__(self, inner, scale: float):
        super().__init__()
        self.inner = inner
        self.scale = scale

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        return self.inner(input_ids, attention_mask, token_type_ids) * self.scale


def write_version_2(model, v1_dir, v2_dir):
    """Version 2 of `model` in `v2_dir` (outside the repository until the swap)."""
    os.makedirs(v2_dir)
    module = torch.jit.load(os.path.join(v1_dir, "model.pt"))
    if model == "encoder":
        with torch.no_grad():
            for name, p in module.named_parameters():
                if name.startswith("cls."):
                    p.mul_(2.0)  # logits exactly x2 (a power of two), token_scores unchanged
        module.save(os.path.join(v2_dir, "model.pt"))
        return
    torch.jit.script(ScaledOutput(module, 0.5)).save(os.path.join(v2_dir, "model.pt"))
    # Its manifest: the new file's SHA-256 and the reference outputs halved, so the self-check
    # at load runs on version 2 too.
    manifest = json.load(open(os.path.join(v1_dir, "seqserve-model.json")))
    manifest["sha256"] = sha256_of(os.path.join(v2_dir, "model.pt"))
    for reference in manifest["references"]:
        for output in reference["outputs"]:
            output["float_data"] = [x * 0.5 for x in output["float_data"]]
    with open(os.path.join(v2_dir, "seqserve-model.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ---- requests and the answers each version gives ----

def request_pool(model, lengths_path, count, max_len):
    """[{input name: int64 array [1, L]}], lengths from the shared long-tailed distribution."""
    lengths = [min(int(l), max_len) for l in open(lengths_path) if l.strip() and not l.startswith("#")][:count]
    rng = np.random.default_rng(0)
    pool = []
    for length in lengths:
        if model == "encoder":
            ids = rng.integers(0, 1000, size=(1, length), dtype=np.int64)
            pool.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
        else:
            ids = rng.integers(1000, 30000, size=(1, length), dtype=np.int64)
            ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
            pool.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return pool


def expected_outputs(model, model_file, pool):
    """Per request, {output name: array} of the TorchScript file (run here, unbatched)."""
    module = torch.jit.load(model_file)
    torch.set_num_threads(2)
    out = []
    with torch.no_grad():
        for inputs in pool:
            tensors = [torch.from_numpy(a) for a in inputs.values()]
            if model == "encoder":
                logits, scores = module(*tensors)
                out.append({"logits": logits.numpy(), "token_scores": scores.numpy()})
            else:
                out.append({"embedding": module(*tensors).numpy()})
    return out


def grpc_inputs(arrays):
    inputs = []
    for name, array in arrays.items():
        inputs.append(grpcclient.InferInput(name, list(array.shape), "INT64"))
        inputs[-1].set_data_from_numpy(array)
    return inputs


# ---- measurement ----

def pool_bytes(server):
    """(allocated, reserved) bytes of the CPU pool from /metrics."""
    values = {}
    for family in text_string_to_metric_families(server.scrape()):
        for s in family.samples:
            if s.name in ("seqserve_memory_allocated_bytes", "seqserve_memory_reserved_bytes") and \
                    s.labels.get("pool") == "cpu":
                values[s.name] = s.value
    return values["seqserve_memory_allocated_bytes"], values["seqserve_memory_reserved_bytes"]


def loads_total(server, model):
    counts = {}
    for family in text_string_to_metric_families(server.scrape()):
        for s in family.samples:
            if s.name == "seqserve_model_loads_total" and s.labels.get("model") == model:
                counts[s.labels.get("result")] = s.value
    return counts


def percentile(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def machine(binary):
    described = machine_info.describe(binary=binary)
    described["loadavg_1min_at_end"] = round(os.getloadavg()[0], 2)
    return described


def version_states(client, model):
    index = client.get_model_repository_index(as_json=True).get("models", [])
    return {m.get("version", ""): (m.get("state", ""), m.get("reason", "")) for m in index if m["name"] == model}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--lengths", default=os.path.join(ROOT, "..", "shared", "data", "seq_lengths.txt"))
    parser.add_argument("--model", choices=sorted(MODELS), default="encoder")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop gRPC client threads")
    parser.add_argument("--warmup-seconds", type=float, default=3, help="traffic before the steady window")
    parser.add_argument("--steady-seconds", type=float, default=20)
    parser.add_argument("--after-seconds", type=float, default=8, help="traffic after load_model returned")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra server flag, repeatable (e.g. --server-arg=--background-load-nice=0)")
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]  # other work on the machine skews every latency
    folder, pool_size, max_len = MODELS[args.model]
    source = os.path.join(args.build, "model_repository", folder)
    work = tempfile.mkdtemp(prefix="seqserve_swap_")
    repo, staging = os.path.join(work, "repo"), os.path.join(work, "staging")
    os.makedirs(repo)
    shutil.copytree(source, os.path.join(repo, folder))
    write_version_2(args.model, os.path.join(source, "1"), os.path.join(staging, "2"))
    pool = request_pool(args.model, args.lengths, pool_size, max_len)
    expected = {"1": expected_outputs(args.model, os.path.join(source, "1", "model.pt"), pool),
                "2": expected_outputs(args.model, os.path.join(staging, "2", "model.pt"), pool)}
    atol = 1e-4

    server = Server(os.path.join(args.build, "seqserve"), repo,
                    ["--model-control-mode=explicit", f"--load-model={folder}", *args.server_arg])
    client = grpcclient.InferenceServerClient(url=server.url)
    server.wait_ready(client, timeout=300)
    memory = {"idle before": pool_bytes(server)}  # version 1 loaded, no traffic yet
    loads_before = loads_total(server, folder)

    stop = threading.Event()
    lock = threading.Lock()
    records = []  # (sent, latency s, error or None, version by values or None, model_version)
    samples = []  # (time, allocated, reserved)

    def send(thread):
        own = grpcclient.InferenceServerClient(url=server.url)
        rng = np.random.default_rng(thread)
        prepared = [grpc_inputs(arrays) for arrays in pool]
        while not stop.is_set():
            i = int(rng.integers(len(pool)))
            sent = time.monotonic()
            try:
                result = own.infer(folder, prepared[i], client_timeout=120)
            except InferenceServerException as e:
                with lock:
                    records.append((sent, time.monotonic() - sent, e.status(), None, None))
                continue
            latency = time.monotonic() - sent
            outputs = {name: result.as_numpy(name) for name in expected["1"][i]}
            by_values = [v for v in expected if all(np.allclose(outputs[n], e, atol=atol, rtol=0)
                                                     for n, e in expected[v][i].items())]
            with lock:
                records.append((sent, latency, None, by_values[0] if len(by_values) == 1 else by_values,
                                result.get_response().model_version))

    def sample_memory():
        while not stop.is_set():
            allocated, reserved = pool_bytes(server)
            samples.append((time.monotonic(), allocated, reserved))
            stop.wait(0.25)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(args.clients)]
    threads.append(threading.Thread(target=sample_memory))
    for t in threads:
        t.start()
    try:
        time.sleep(args.warmup_seconds)
        steady = (time.monotonic(), time.monotonic() + args.steady_seconds)
        time.sleep(args.steady_seconds)
        shutil.copytree(os.path.join(staging, "2"), os.path.join(repo, folder, "2"))
        load_called = time.monotonic()
        client.load_model(folder)
        load_returned = time.monotonic()
        swap = (load_called, load_returned + 2.0)
        deadline = time.monotonic() + 60
        while version_states(client, folder).get("1", ("", ""))[0] != "UNAVAILABLE" and time.monotonic() < deadline:
            time.sleep(0.05)
        unloaded = time.monotonic()
        states_after = version_states(client, folder)
        time.sleep(max(0.0, load_returned + args.after_seconds - time.monotonic()))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=180)
    end = time.monotonic()
    time.sleep(0.5)
    memory["idle after"] = pool_bytes(server)  # version 2 only, no traffic
    loads_after = loads_total(server, folder)
    exit_code = server.stop()

    ok = [r for r in records if r[2] is None]
    failed = [r for r in records if r[2] is not None]
    mismatched = [r for r in ok if not isinstance(r[3], str) or r[3] != r[4]]
    late_v1 = [r for r in ok if r[0] > load_returned and r[4] == "1"]
    per_version = {v: sum(1 for r in ok if r[4] == v) for v in sorted({r[4] for r in ok})}

    def window(lo, hi):
        return [r[1] * 1000 for r in ok if lo <= r[0] < hi]

    steady_ms, swap_ms, after_ms = window(*steady), window(*swap), window(swap[1], end)

    def mem_in(lo, hi, pick):
        values = [(a, r) for t, a, r in samples if lo <= t < hi]
        return (pick(a for a, _ in values), pick(r for _, r in values)) if values else (float("nan"),) * 2

    memory["traffic, before the load (median)"] = mem_in(steady[0], load_called, statistics.median)
    memory["peak during the swap"] = mem_in(load_called, unloaded + 0.5, max)
    memory["traffic, after the unload (median)"] = mem_in(unloaded + 0.5, end, statistics.median)

    results = {
        "machine": machine(os.path.join(args.build, "seqserve")), "model": args.model, "clients": args.clients,
        "requests": len(records), "failed": len(failed), "failed_statuses": sorted({r[2] for r in failed}),
        "answers_per_version": per_version, "mismatched_answers": len(mismatched),
        "v1_answers_to_requests_sent_after_load_returned": len(late_v1),
        "load_model_seconds": round(load_returned - load_called, 3),
        "v1_unloaded_seconds_after_load_returned": round(unloaded - load_returned, 3),
        "versions_after": states_after, "loads_total_before": loads_before, "loads_total_after": loads_after,
        "steady": {"seconds": args.steady_seconds, "requests": len(steady_ms), "p50_ms": percentile(steady_ms, 50),
                   "p99_ms": percentile(steady_ms, 99)},
        "swap": {"seconds": round(swap[1] - swap[0], 3), "requests": len(swap_ms), "p50_ms": percentile(swap_ms, 50),
                 "p99_ms": percentile(swap_ms, 99)},
        "after": {"requests": len(after_ms), "p50_ms": percentile(after_ms, 50), "p99_ms": percentile(after_ms, 99)},
        "memory_bytes (allocated, reserved), pool cpu": memory,
        "server_exit_code": exit_code,
    }
    ratio = results["swap"]["p99_ms"] / results["steady"]["p99_ms"]
    results["p99_swap_over_steady"] = round(ratio, 3)

    m = results["machine"]
    print(f"{m['date']}  {m['cpu']}, {m['cores']} cores, flags: {m['avx_flags']}; "
          f"load average (1 min) at start {load_at_start:.2f}, at end {m['loadavg_1min_at_end']:.2f}")
    print(m["binary"])
    print(f"model {args.model}, {args.clients} closed-loop gRPC clients, steady {args.steady_seconds:g} s, "
          f"load_model {results['load_model_seconds']} s, v1 unloaded {results['v1_unloaded_seconds_after_load_returned']} s "
          f"after it returned; index after: {states_after}")
    print(f"requests {len(records)}, failed {len(failed)} {results['failed_statuses'] or ''}, answers per version "
          f"{per_version}, mismatched {len(mismatched)}, v1 answers sent after load returned {len(late_v1)}")
    print("| window | requests | p50 (ms) | p99 (ms) |\n|---|---|---|---|")
    for name in ("steady", "swap", "after"):
        w = results[name]
        print(f"| {name} | {w['requests']} | {w['p50_ms']:.1f} | {w['p99_ms']:.1f} |")
    print(f"p99 swap / steady: {ratio:.2f} (goal <= 2: {'met' if ratio <= 2 else 'NOT met'})")
    print("| memory, pool cpu | allocated (MiB) | reserved (MiB) |\n|---|---|---|")
    for name, (a, r) in memory.items():
        print(f"| {name} | {a / 2**20:.2f} | {r / 2**20:.2f} |")
    print(f"seqserve_model_loads_total{{model={folder}}}: before {loads_before}, after {loads_after}; "
          f"server exit code {exit_code}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed or mismatched or late_v1 else 0


if __name__ == "__main__":
    sys.exit(main())
