#!/usr/bin/env python3
"""Note [JSON straight into tensors]: what decoding a REST JSON body costs the server, in memory
per byte of body and in throughput, for two server binaries side by side (this build and, with
--before-binary, the one before the change, which parsed bodies into a rapidjson DOM).

memory      For each body kind, a fresh server (the demo `linear` model only, --max-message-bytes
            and --request-memory-bytes raised so the body is accepted) gets one body of --mib MiB
            over REST. Its peak resident memory (VmHWM) after the request, minus its resident
            memory before, divided by the body's bytes = bytes of peak memory per byte of body.
            The body is an infer request whose one input's shape matches its data, so the whole
            of it is decoded; the model then refuses it (wrong shape), so nothing else is measured.
            What the body and its tensor alone must take is printed beside it (body + tensor
            bytes, per body byte): the rest is the decoder's own.
              int64-zeros   "data": [0,0,...]     INT64   (2 bytes of JSON per 8-byte element)
              int64-ids     token ids 1000-29999  INT64   (6 bytes per element)
              fp32          floats like 0.1234567 FP32    (~11 bytes per 4-byte element)
throughput  One server per binary; --clients HTTP clients (keep-alive) send JSON infer bodies for
            --seconds: --model linear (default; --size rows of 1000 FP32, almost no compute, so
            decoding shows) or encoder (--size tokens); the binaries alternate --rounds times.
            Requests/s and p50/p99 latency; the ratio after/before per round, and its median.

  .venv/bin/python benchmarks/memory/json_decode.py --before-binary ../before/build/seqserve \\
      [--mib 30] [--rounds 3] [--seconds 10] [--out results.json]
"""
import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from machine_info import one_line as machine  # noqa: E402
from seqserve_process import Server  # noqa: E402

KINDS = {  # name: (datatype, element size, numbers as text)
    "int64-zeros": ("INT64", 8, lambda n, rng: ",".join(["0"] * n)),
    "int64-ids": ("INT64", 8, lambda n, rng: ",".join(map(str, rng.integers(1000, 30000, n)))),
    "fp32": ("FP32", 4, lambda n, rng: ",".join(f"{x:.7f}" for x in rng.random(n))),
}


def body_of(kind, target_bytes):
    """(body bytes, element count) of about `target_bytes`."""
    datatype, _, text = KINDS[kind]
    rng = np.random.default_rng(0)
    probe = text(1000, rng)
    n = int(target_bytes / (len(probe) / 1000))
    data = text(n, rng)
    body = ('{"inputs":[{"name":"input","shape":[1,%d],"datatype":"%s","data":[%s]}]}' % (n, datatype, data)).encode()
    return body, n


def post(port, path, body, timeout=300):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def linear_only(repository):
    out = tempfile.mkdtemp(prefix="seqserve_linear_")
    os.symlink(os.path.join(repository, "linear"), os.path.join(out, "linear"))
    return out


def measure_memory(binary, repository, kind, mib, label):
    body, elements = body_of(kind, mib << 20)
    flags = [f"--max-message-bytes={min(len(body) * 2, 2**31 - 1)}", f"--max-request-elements={elements * 2}"]
    if label == "after":  # the flag is new; its default would refuse a body this large in a small pod
        flags.append(f"--request-memory-bytes={len(body) * 16}")
    server = Server(binary, linear_only(repository), flags)
    try:
        server.wait_ready_http()
        time.sleep(1)
        before = server.memory_bytes("VmRSS")
        status, answer = post(server.http_port, "/v2/models/linear/infer", body)
        peak = server.memory_bytes("VmHWM")
    finally:
        server.stop()
    element_size = KINDS[kind][1]
    return {"kind": kind, "body_bytes": len(body), "elements": elements, "status": status,
            "answer": answer[:160].decode(errors="replace"),
            "peak_over_before_per_body_byte": (peak - before) / len(body),
            "body_and_tensor_per_body_byte": (len(body) + elements * element_size) / len(body)}


def throughput_body(model, size):
    """(path, JSON body) of one infer request: the encoder with `size` tokens, or the linear model
    (1000 FP32 features a row) with `size` rows: almost no compute, so decoding shows."""
    if model == "encoder":
        ids = [(7 * i) % 1000 for i in range(size)]  # the demo encoder's vocabulary is [0, 1000)
        inputs = [{"name": "input_ids", "shape": [1, size], "datatype": "INT64", "data": ids},
                  {"name": "attention_mask", "shape": [1, size], "datatype": "INT64", "data": [1] * size}]
    else:
        rng = np.random.default_rng(0)
        inputs = [{"name": "input", "shape": [size, 1000], "datatype": "FP32",
                   "data": [round(float(x), 6) for x in rng.standard_normal(size * 1000)]}]
    return f"/v2/models/{model}/infer", json.dumps({"inputs": inputs}).encode()


class Load:
    def __init__(self, server, clients, request, seconds):
        self.path, self.body = request
        self.server, self.seconds = server, seconds
        self.latencies, self.failed = [], 0
        self.lock = threading.Lock()
        threads = [threading.Thread(target=self.client) for _ in range(clients)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 120)
        self.elapsed = time.monotonic() - start

    def client(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=60)
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                conn.request("POST", self.path, body=self.body,
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=60)
            with self.lock:
                if ok:
                    self.latencies.append(time.monotonic() - start)
                else:
                    self.failed += 1
        conn.close()


def measure_throughput(variants, repository, args):
    servers = {label: Server(binary, repository) for label, binary in variants}
    request = throughput_body(args.model, args.size)
    rounds = []
    try:
        for s in servers.values():
            s.wait_ready_http()
            Load(s, args.clients, request, 2)  # warm-up
        for r in range(args.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            row = {}
            for label in order:
                load = Load(servers[label], args.clients, request, args.seconds)
                row[label] = {"requests_per_s": len(load.latencies) / load.elapsed, "failed": load.failed,
                              "p50_ms": 1000 * float(np.percentile(load.latencies, 50)),
                              "p99_ms": 1000 * float(np.percentile(load.latencies, 99))}
            rounds.append(row)
    finally:
        for s in servers.values():
            s.stop()
    return rounds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "seqserve"))
    parser.add_argument("--before-binary", default=None)
    parser.add_argument("--repository", default=os.path.join(ROOT, "build", "model_repository"))
    parser.add_argument("--mib", type=int, default=30)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--model", choices=["linear", "encoder"], default="linear")
    parser.add_argument("--size", type=int, default=8, help="rows (linear) or tokens (encoder) per request")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["memory", "throughput"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    variants = [("after", args.binary)] + ([("before", args.before_binary)] if args.before_binary else [])
    results = {"machine": machine(), "args": vars(args)}
    print(f"machine: {results['machine']}\n")
    if "memory" not in args.skip:
        results["memory"] = [dict(variant=label, **measure_memory(binary, args.repository, kind, args.mib, label))
                             for kind in args.kinds for label, binary in variants]
        print(f"| body ({args.mib} MiB) | variant | HTTP status | peak memory per body byte | body + tensor per body byte |")
        print("|---|---|---|---|---|")
        for m in results["memory"]:
            print(f"| {m['kind']} | {m['variant']} | {m['status']} | {m['peak_over_before_per_body_byte']:.2f} | "
                  f"{m['body_and_tensor_per_body_byte']:.2f} |")
        print()
    if "throughput" not in args.skip:
        rounds = measure_throughput(variants, args.repository, args)
        results["throughput"] = rounds
        print(f"REST JSON infer, {args.model} x {args.size}, {len(throughput_body(args.model, args.size)[1])} bytes "
              f"of JSON, {args.clients} keep-alive clients, "
              f"{args.seconds:.0f} s per variant per round, alternating")
        print("| round | " + " | ".join(f"{label} req/s (p50 / p99 ms)" for label, _ in variants) +
              (" | after / before |" if len(variants) > 1 else " |"))
        print("|---" * (len(variants) + 1 + (len(variants) > 1)) + "|")
        for i, row in enumerate(rounds):
            cells = [f"{row[l]['requests_per_s']:.1f} ({row[l]['p50_ms']:.1f} / {row[l]['p99_ms']:.1f})" for l, _ in variants]
            ratio = f" | {row['after']['requests_per_s'] / row['before']['requests_per_s']:.3f}" if len(variants) > 1 else ""
            print(f"| {i + 1} | " + " | ".join(cells) + ratio + " |")
        if len(variants) > 1:
            print(f"median ratio after / before: "
                  f"{statistics.median(r['after']['requests_per_s'] / r['before']['requests_per_s'] for r in rounds):.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
