"""Shared pieces of the load benchmarks: request data from the shared length distribution,
repository copies with a modified encoder config, and one perf_analyzer measurement."""
import argparse
import csv
import json
import os
import subprocess
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def benchmark_arguments(description, out_prefix, load=True):
    """The arguments every load benchmark takes: --build, --lengths and, with `load`, --samples,
    --concurrency and --out (a fresh temporary folder named after `out_prefix` by default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--lengths", default=os.path.join(ROOT, "..", "shared", "data", "seq_lengths.txt"))
    if load:
        parser.add_argument("--samples", type=int, default=1000)
        parser.add_argument("--concurrency", type=int, default=64)
        parser.add_argument("--out", default=tempfile.mkdtemp(prefix=out_prefix))
    return parser


def make_inputs(lengths_path, samples, out_path, token_type_ids=False, max_length=None):
    """perf_analyzer --input-data JSON: one encoder request per length (the first `samples` of
    the file), random token ids (and zero token_type_ids for BERT-family models such as MiniLM);
    returns the lengths (cut to `max_length`, the model's longest, when given)."""
    lengths = [int(l) for l in open(lengths_path) if l.strip() and not l.startswith("#")][:samples]
    if max_length is not None:
        lengths = [min(length, max_length) for length in lengths]
    rng = np.random.default_rng(0)
    data = []
    for length in lengths:
        ids = rng.integers(0, 1000, size=length).tolist()
        request = {"input_ids": {"content": ids, "shape": [length]},
                   "attention_mask": {"content": [1] * length, "shape": [length]}}
        if token_type_ids:
            request["token_type_ids"] = {"content": [0] * length, "shape": [length]}
        data.append(request)
    with open(out_path, "w") as f:
        json.dump({"data": data}, f)
    return lengths


def perf(server, inputs, csv_path, load_args, model="encoder", timeout=600):
    """One perf_analyzer measurement of `model`; None when it found no stable measurement
    within `timeout` seconds (an overloaded server). `load_args` picks the load
    (--concurrency-range or --request-rate-range ...)."""
    if "--stability-percentage" not in load_args:
        load_args = [*load_args, "--stability-percentage", "25"]
    cmd = [os.path.join(ROOT, "scripts", "perf_analyzer"), "-m", model, "-i", "grpc", "-u", server.url,
           "--input-data", inputs, "--percentile=99",
           "--measurement-mode", "count_windows", "--measurement-request-count", "500",
           "--max-trials", "6", "-f", csv_path, *load_args]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        open(csv_path + ".log", "w").write(f"no result in {timeout} s\n{e.stdout or ''}{e.stderr or ''}")
        return None
    open(csv_path + ".log", "w").write(run.stdout + run.stderr)
    if run.returncode != 0 or not os.path.exists(csv_path):
        return None  # overloaded: no stable measurement (see the .log)
    row = next(csv.DictReader(open(csv_path)))
    return {"throughput": float(row["Inferences/Second"]),
            "p50_ms": float(row["p50 latency"]) / 1000, "p99_ms": float(row["p99 latency"]) / 1000}


