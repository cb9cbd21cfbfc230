#!/usr/bin/env python3
"""Soak: drives one server for --minutes at --rate requests/s (set it to ~80% of the measured
saturation, benchmarks/RESULTS.md) with a mix of valid, invalid, oversized, deadline-short and
cancelled requests, and records per window: outcomes by kind, p50/p99 of the valid requests,
and the server's RSS. Ends with the totals and the checks: no crash, every request answered
(no accepted request lost), RSS growth after warm-up, p99 over time.

  .venv/bin/python benchmarks/soak/soak.py --minutes 10 --rate 150
"""
import os
import random
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from loadgen import benchmark_arguments  # noqa: E402
from seqserve_process import Server  # noqa: E402

KINDS = [("valid", 0.80), ("invalid", 0.05), ("oversized", 0.05), ("deadline_short", 0.05), ("cancelled", 0.05)]


def encoder_inputs(ids, dtype="INT64"):
    inputs = [grpcclient.InferInput("input_ids", list(ids.shape), dtype),
              grpcclient.InferInput("attention_mask", list(ids.shape), "INT64")]
    inputs[0].set_data_from_numpy(ids.astype(np.int64 if dtype == "INT64" else np.float32))
    inputs[1].set_data_from_numpy(np.ones(ids.shape, dtype=np.int64))
    return inputs


def main():
    parser = benchmark_arguments(__doc__, "seqserve_soak_", load=False)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--window", type=float, default=60, help="seconds per report window")
    args = parser.parse_args()

    lengths = [int(l) for l in open(args.lengths) if l.strip() and not l.startswith("#")]
    rng = np.random.default_rng(0)
    pick = random.Random(0)
    # Pre-built requests, so the generator spends its time sending.
    valid = [encoder_inputs(rng.integers(0, 1000, size=(1, l))) for l in lengths[:500]]
    invalid = encoder_inputs(rng.integers(0, 1000, size=(1, 16)), dtype="FP32")
    oversized = encoder_inputs(rng.integers(0, 1000, size=(1, 600)))

    server = Server(os.path.join(args.build, "seqserve"), os.path.join(args.build, "model_repository"))
    server.wait_ready_http()
    client = grpcclient.InferenceServerClient(url=server.url)
    lock = threading.Lock()
    window = {"outcomes": {}, "latencies": []}
    totals = {"sent": 0, "answered": 0, "outcomes": {}}
    reports = []

    def record(kind, start, error):
        outcome = f"{kind}:{'OK' if error is None else error.status().replace('StatusCode.', '')}"
        with lock:
            totals["answered"] += 1
            totals["outcomes"][outcome] = totals["outcomes"].get(outcome, 0) + 1
            window["outcomes"][outcome] = window["outcomes"].get(outcome, 0) + 1
            if kind == "valid" and error is None:
                window["latencies"].append(time.monotonic() - start)

    start_time = time.monotonic()
    end_time = start_time + args.minutes * 60
    next_report = start_time + args.window
    interval = 1.0 / args.rate
    next_send = start_time
    i = 0
    while time.monotonic() < end_time:
        now = time.monotonic()
        if now < next_send:
            time.sleep(next_send - now)
        next_send += interval
        r = pick.random()
        kind = next(k for k, p in zip([k for k, _ in KINDS], np.cumsum([p for _, p in KINDS])) if r < p)
        sent = time.monotonic()
        callback = (lambda k, s: lambda result, error: record(k, s, error))(kind, sent)
        with lock:
            totals["sent"] += 1
        if kind == "valid":
            client.async_infer("encoder", valid[i % len(valid)], callback, client_timeout=30)
            i += 1
        elif kind == "invalid":
            client.async_infer("encoder", invalid, callback, client_timeout=30)
        elif kind == "oversized":
            client.async_infer("encoder", oversized, callback, client_timeout=30)
        elif kind == "deadline_short":
            client.async_infer("encoder", valid[i % len(valid)], callback, client_timeout=0.002)
        else:
            call = client.async_infer("encoder", valid[i % len(valid)], callback, client_timeout=30)
            call.cancel()
        if time.monotonic() >= next_report:
            next_report += args.window
            with lock:
                lat = sorted(window["latencies"])
                outcomes = dict(window["outcomes"])
                window["outcomes"], window["latencies"] = {}, []
            if server.proc.poll() is not None:
                break
            report = {"t_s": round(time.monotonic() - start_time), "rss_mib": server.memory_bytes() / 2**20,
                      "valid_ok": len(lat), "p50_ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
                      "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else float("nan"), "outcomes": outcomes}
            reports.append(report)
            print(report, flush=True)

    settle = time.monotonic() + 60
    while time.monotonic() < settle:
        with lock:
            if totals["answered"] >= totals["sent"]:
                break
        time.sleep(0.1)
    crashed = server.proc.poll() is not None
    exit_code = server.stop()

    print(f"\n**Soak**: {args.minutes:g} min at {args.rate:g} req/s offered\n")
    print("| t (s) | RSS (MiB) | valid OK | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|")
    for r in reports:
        print(f"| {r['t_s']} | {r['rss_mib']:.0f} | {r['valid_ok']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    print("\n| outcome | count |\n|---|---|")
    for outcome, n in sorted(totals["outcomes"].items()):
        print(f"| {outcome} | {n} |")
    warm = next((r for r in reports if r["t_s"] >= 120), reports[0] if reports else None)
    growth = (reports[-1]["rss_mib"] / warm["rss_mib"] - 1) if warm else float("nan")
    print(f"\nsent {totals['sent']}, answered {totals['answered']} (lost: {totals['sent'] - totals['answered']}); "
          f"server crashed: {crashed}; exit code after SIGTERM: {exit_code}; "
          f"RSS growth after warm-up (t={warm['t_s'] if warm else '?'} s to end): {100 * growth:.1f}%")


if __name__ == "__main__":
    main()
