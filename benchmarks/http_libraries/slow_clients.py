#!/usr/bin/env python3
"""Slow-client phase of the HTTP library comparison (run.sh phase c).

In one process: opens N TCP connections to 127.0.0.1:PORT and sends on each an HTTP request
header one byte per second (the header is far longer than the phase, so it never completes).
Meanwhile, once a second, a normal client does GET /v2/health/ready on a fresh connection with
a timeout. Probes start at t=1..DURATION-TIMEOUT so that each one runs entirely under the slow
load and the phase ends at DURATION seconds. Samples the server's VmRSS every second.
Prints one JSON object on stdout.
"""
import argparse
import errno
import http.client
import json
import select
import socket
import threading
import time


def vmrss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def probe(port, timeout, results, idx):
    t = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/v2/health/ready")
        r = c.getresponse()
        r.read()
        c.close()
        results[idx] = {"ok": r.status == 200, "status": r.status, "latency_s": time.monotonic() - t}
    except Exception as e:  # timeout, reset, refused: a failed probe
        results[idx] = {"ok": False, "error": type(e).__name__, "latency_s": time.monotonic() - t}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--probe-timeout", type=float, default=5.0)
    a = ap.parse_args()
    if a.duration < a.probe_timeout + 1:
        raise SystemExit("duration must be at least probe-timeout + 1 s")

    rss_before = vmrss_kib(a.pid)
    t0 = time.monotonic()
    header = (b"GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
              + b"a" * 4000 + b"\r\n\r\n")
    socks, opened, connect_failed = [], 0, 0
    for _ in range(a.conns):  # bounded: N attempts, at most 3 s in all
        if time.monotonic() - t0 > 3.0:
            connect_failed += 1
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", a.port))
            s.setblocking(False)
            socks.append(s)
            opened += 1
        except OSError:
            connect_failed += 1
            s.close()

    live = {s: 0 for s in socks}  # socket -> bytes sent
    closed_by_server = 0
    answered_by_server = 0
    probes = []
    n_probes = int(a.duration - a.probe_timeout)  # probes at t = 1 .. duration - timeout
    results = [None] * n_probes
    rss_during = []
    tick = 0
    while True:
        now = time.monotonic() - t0
        if now >= a.duration:
            break
        # One byte on every live slow connection.
        for s in list(live):
            try:
                s.send(header[live[s]:live[s] + 1])
                live[s] += 1
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    continue
                closed_by_server += 1
                s.close()
                del live[s]
        # Did the server close or answer any of them?
        if live:
            readable, _, _ = select.select(list(live), [], [], 0)
            for s in readable:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data:
                    answered_by_server += 1
                else:
                    closed_by_server += 1
                s.close()
                del live[s]
        tick += 1
        if 1 <= tick <= n_probes:
            th = threading.Thread(target=probe, args=(a.port, a.probe_timeout, results, tick - 1),
                                  daemon=True)
            th.start()
            probes.append(th)
        r = vmrss_kib(a.pid)
        if r is not None:
            rss_during.append(r)
        time.sleep(max(0.0, tick - (time.monotonic() - t0)))  # next whole second
    for th in probes:
        th.join(timeout=a.probe_timeout + 1)
    still_open = len(live)
    for s in live:
        s.close()
    for s in socks:
        s.close()
    ok = [r for r in results if r and r["ok"]]
    print(json.dumps({
        "slow_conns_requested": a.conns,
        "slow_conns_opened": opened,
        "slow_conns_connect_failed": connect_failed,
        "slow_conns_closed_by_server": closed_by_server,
        "slow_conns_answered_by_server": answered_by_server,
        "slow_conns_open_at_end": still_open,
        "probes": n_probes,
        "probes_ok": len(ok),
        "probe_max_latency_ok_s": max((r["latency_s"] for r in ok), default=None),
        "probe_failures": [(r or {"error": "unfinished"}).get("error", (r or {}).get("status"))
                           for r in results if not (r and r["ok"])],
        "rss_before_kib": rss_before,
        "rss_during_max_kib": max(rss_during, default=None),
        "duration_s": round(time.monotonic() - t0, 2),
    }))


if __name__ == "__main__":
    main()
