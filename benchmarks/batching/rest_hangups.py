#!/usr/bin/env python3
"""Note [REST hang-ups]: REST clients that hang up while the batcher is saturated. Is their work
still done, and does it cost the clients that stay?

One server on the demo encoder (build/model_repository), default flags. Closed-loop gRPC load
(--clients threads, --length-token requests, every call with a client time-out) keeps the
batcher saturated for the whole run. Windows of --window seconds alternate, --rounds times:
  quiet     only the gRPC load
  hang-ups  the same load, and --hangups REST requests (--hangup-length tokens) whose clients
            close their connection --hangup-after seconds after sending
Per window: the steady clients' throughput (requests/s) and p50/p99 latency. Per variant, from
the server's metrics over the hang-up windows: REST requests answered OK (computed for nobody),
REST requests CANCELLED, batcher rejections for cancellation, hang-ups seen.

Variants side by side, alternating: `seqserve` (--binary) and, with --before-binary, the same
server before the change (which computes hung-up requests). Only 127.0.0.1; every loop bounded.

  .venv/bin/python benchmarks/batching/rest_hangups.py [--before-binary ../before/build/seqserve] \\
      [--rounds 3] [--window 8] [--hangups 100] [--out results.json]
"""
import argparse
import json
import os
import socket
import statistics
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from machine_info import one_line as machine  # noqa: E402
from seqserve_process import Server  # noqa: E402


def metrics(server):
    """{(name, frozenset(labels)): value} of one scrape."""
    out = {}
    for family in text_string_to_metric_families(server.scrape()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(scrape, name, **labels):
    want = set(labels.items())
    return sum(v for (n, l), v in scrape.items() if n == name and want <= set(l))


def encoder_inputs(length, rng):
    ids = rng.integers(0, 1000, size=(1, length), dtype=np.int64)  # the demo encoder's vocabulary
    inputs = [grpcclient.InferInput("input_ids", [1, length], "INT64"),
              grpcclient.InferInput("attention_mask", [1, length], "INT64")]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(np.ones_like(ids))
    return inputs


class SteadyLoad:
    """`clients` threads sending one request after another until stop(); latencies per window."""

    def __init__(self, server, clients, length):
        self.server, self.length = server, length
        self.lock = threading.Lock()
        self.window = []  # (end time, latency) of the current window
        self.failed = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def run(self, seed):
        client = grpcclient.InferenceServerClient(url=self.server.url)
        inputs = encoder_inputs(self.length, np.random.default_rng(seed))
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                client.infer("encoder", inputs, client_timeout=60)
                with self.lock:
                    self.window.append(time.monotonic() - start)
            except Exception:  # noqa: BLE001  (counted; the benchmark reports failures)
                with self.lock:
                    self.failed += 1

    def take_window(self):
        with self.lock:
            taken, self.window = self.window, []
        return taken

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=90)


def hang_up(server, body, after):
    """Sends one REST infer and closes the connection `after` seconds later, unread."""
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
    s.sendall(b"POST /v2/models/encoder/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(after)
    s.close()


def hangup_burst(server, count, length, after, seconds):
    """`count` hang-up clients spread over `seconds`; returns when all have closed."""
    ids = [(7 * i) % 1000 for i in range(length)]
    body = json.dumps({"inputs": [
        {"name": "input_ids", "shape": [1, length], "datatype": "INT64", "data": ids},
        {"name": "attention_mask", "shape": [1, length], "datatype": "INT64", "data": [1] * length}]}).encode()
    threads = []
    for i in range(count):
        t = threading.Thread(target=hang_up, args=(server, body, after), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(seconds / count)
    for t in threads:
        t.join(timeout=60)


def measure(binary, repository, args, label):
    server = Server(binary, repository)
    try:
        server.wait_ready_http()
        load = SteadyLoad(server, args.clients, args.length)
        time.sleep(args.warmup)
        load.take_window()
        windows = []
        before = metrics(server)
        for r in range(args.rounds):
            for kind in ("quiet", "hang-ups") if r % 2 == 0 else ("hang-ups", "quiet"):
                start = time.monotonic()
                if kind == "hang-ups":
                    hangup_burst(server, args.hangups, args.hangup_length, args.hangup_after, args.window)
                time.sleep(max(0.0, args.window - (time.monotonic() - start)))
                elapsed = time.monotonic() - start
                latencies = load.take_window()
                windows.append({"kind": kind, "requests_per_s": len(latencies) / elapsed,
                                "p50_ms": 1000 * float(np.percentile(latencies, 50)) if latencies else None,
                                "p99_ms": 1000 * float(np.percentile(latencies, 99)) if latencies else None})
        load.stop()
        time.sleep(2)  # the last hung-up requests leave the queue
        after = metrics(server)
        rest_ok, rest_cancelled, dropped, hangups = (
            value(after, name, **labels) - value(before, name, **labels) for name, labels in [
                ("seqserve_requests_total", {"api": "rest", "code": "OK"}),
                ("seqserve_requests_total", {"api": "rest", "code": "CANCELLED"}),
                ("seqserve_rejections_total", {"reason": "cancelled"}),
                ("seqserve_rest_hangups_total", {})])
        return {"variant": label, "windows": windows, "steady_failed": load.failed,
                "rest_computed": rest_ok, "rest_cancelled": rest_cancelled, "batcher_dropped_cancelled": dropped,
                "hangups_seen": hangups, "hangups_sent": args.hangups * sum(w["kind"] == "hang-ups" for w in windows),
                "recent_queue_wait_s": value(after, "seqserve_recent_queue_wait_seconds", model="encoder")}
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "seqserve"))
    parser.add_argument("--before-binary", default=None)
    parser.add_argument("--repository", default=os.path.join(ROOT, "build", "model_repository"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--hangups", type=int, default=100)
    parser.add_argument("--hangup-length", type=int, default=256)
    parser.add_argument("--hangup-after", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    variants = [("seqserve", args.binary)] + ([("seqserve-before", args.before_binary)] if args.before_binary else [])
    results = [measure(binary, args.repository, args, label) for label, binary in variants]
    print(f"machine: {machine()}")
    print(f"load: {args.clients} gRPC clients x {args.length} tokens; {args.hangups} REST hang-ups per window "
          f"({args.hangup_length} tokens, closed after {args.hangup_after * 1000:.0f} ms); {args.rounds} rounds of "
          f"{args.window:.0f} s windows\n")
    print("| variant | steady req/s quiet (median) | with hang-ups (median) | ratio | p99 ms quiet / hang-ups "
          "| REST hang-ups sent | seen | REST computed anyway | REST CANCELLED | dropped in batcher |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        quiet = [w for w in r["windows"] if w["kind"] == "quiet"]
        noisy = [w for w in r["windows"] if w["kind"] == "hang-ups"]
        q = statistics.median(w["requests_per_s"] for w in quiet)
        n = statistics.median(w["requests_per_s"] for w in noisy)
        p99 = (statistics.median(w["p99_ms"] for w in quiet), statistics.median(w["p99_ms"] for w in noisy))
        print(f"| {r['variant']} | {q:.1f} | {n:.1f} | {n / q:.3f} | {p99[0]:.0f} / {p99[1]:.0f} | "
              f"{r['hangups_sent']} | {r['hangups_seen']:.0f} | {r['rest_computed']:.0f} | {r['rest_cancelled']:.0f} | "
              f"{r['batcher_dropped_cancelled']:.0f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
