#!/usr/bin/env python3
"""Turns run.sh's raw outputs (wrk --latency text, slow_clients.py JSON) into one markdown table.

Usage: make_table.py RAW_DIR LIB [LIB...]   (reads RAW_DIR/LIB.{get,post}.wrk and LIB.slow.json,
plus RAW_DIR/meta.json)
"""
import json
import os
import re
import sys

UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS_MS[m.group(2)] if m else None


def parse_wrk(path):
    out = {"rps": None, "p50": None, "p99": None, "requests": None, "errors": 0, "err_text": []}
    try:
        text = open(path).read()
    except OSError:
        return out
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
        if m:
            out[key] = to_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        c, r, w, t = map(int, m.groups())
        out["errors"] += c + r + w + t
        out["err_text"].append(f"conn {c}/read {r}/write {w}/timeout {t}")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["errors"] += int(m.group(1))
        out["err_text"].append(f"non-2xx {m.group(1)}")
    return out


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def main():
    raw, libs = sys.argv[1], sys.argv[2:]
    meta = json.load(open(os.path.join(raw, "meta.json")))
    rows = []

    def row(name, cells):
        rows.append("| " + name + " | " + " | ".join(cells) + " |")

    res = {}
    for lib in libs:
        res[lib] = {
            "get": parse_wrk(os.path.join(raw, lib + ".get.wrk")),
            "post": parse_wrk(os.path.join(raw, lib + ".post.wrk")),
        }
        try:
            res[lib]["slow"] = json.load(open(os.path.join(raw, lib + ".slow.json")))
        except (OSError, ValueError):
            res[lib]["slow"] = {}
        res[lib]["version"] = meta["versions"].get(lib, "?")

    print(f"HTTP library comparison ({meta['mode']} run)  ")
    print(f"CPU: {meta['cpu']} ({meta['nproc']} cores); date: {meta['date']}; "
          f"load average at start: {meta['loadavg']}  ")
    print(f"wrk -t2 -c32 -d{meta['wrk_s']}s --latency; slow phase: {meta['slow_conns']} connections, "
          f"one header byte/s, {meta['slow_s']} s, probes GET /v2/health/ready once a second, "
          f"{meta['probe_timeout_s']} s timeout")
    if meta.get("note"):
        print(f"**{meta['note']}**")
    print()
    print("| | " + " | ".join(f"{l} ({res[l]['version']})" for l in libs) + " |")
    print("|---|" + "---|" * len(libs))
    for key, label in (("get", "GET /v2/health/ready"), ("post", "POST /v2/models/m/infer")):
        row(f"{label}: requests/s", [fmt(res[l][key]["rps"], ",.0f") for l in libs])
        row(f"{label}: p50 ms", [fmt(res[l][key]["p50"], ".2f") for l in libs])
        row(f"{label}: p99 ms", [fmt(res[l][key]["p99"], ".2f") for l in libs])
        row(f"{label}: wrk errors", [
            (str(res[l][key]["errors"]) + (" (" + ", ".join(res[l][key]["err_text"]) + ")"
                                          if res[l][key]["errors"] else "")) for l in libs])
    s = {l: res[l]["slow"] for l in libs}
    row("slow: connections opened / requested",
        [f"{s[l].get('slow_conns_opened', 'n/a')} / {s[l].get('slow_conns_requested', 'n/a')}" for l in libs])
    row("slow: closed or answered by server during phase",
        [str(s[l].get("slow_conns_closed_by_server", 0) + s[l].get("slow_conns_answered_by_server", 0))
         if s[l] else "n/a" for l in libs])
    row("slow: health probes ok / sent",
        [f"{s[l].get('probes_ok', 'n/a')} / {s[l].get('probes', 'n/a')}" for l in libs])
    row("slow: max latency of ok probes ms",
        [fmt(None if s[l].get("probe_max_latency_ok_s") is None else s[l]["probe_max_latency_ok_s"] * 1e3,
             ".1f") for l in libs])
    row("slow: probe failures",
        [(", ".join(sorted(set(map(str, s[l].get("probe_failures", []))))) or "none") if s[l] else "n/a"
         for l in libs])
    def rss_start(lib):
        try:
            return int(open(os.path.join(raw, lib + ".rss_start")).read().strip()) / 1024
        except (OSError, ValueError):
            return None
    row("RSS idle after start MiB", [fmt(rss_start(l), ".1f") for l in libs])
    row("RSS before slow phase MiB",
        [fmt(None if s[l].get("rss_before_kib") is None else s[l]["rss_before_kib"] / 1024, ".1f") for l in libs])
    row("RSS during slow phase (max) MiB",
        [fmt(None if s[l].get("rss_during_max_kib") is None else s[l]["rss_during_max_kib"] / 1024, ".1f")
         for l in libs])
    print("\n".join(rows))


if __name__ == "__main__":
    main()
