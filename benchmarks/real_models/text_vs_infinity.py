#!/usr/bin/env python3
"""seqserve with text in against Infinity (PyPI infinity-emb), the embedding server users pick, on
the real all-MiniLM-L6-v2 and real sentences, in ONE run, variants alternating round by round:

  seqserve_fp32 / seqserve_bf16   build/seqserve --auto-truncate, MiniLM packed by scripts/seqserve-pack
                                  at that precision (instance settings at their defaults), POST /v1/embeddings
  infinity_torch / infinity_onnx  `infinity_emb v2 --engine torch|optimum` on the same checkpoint
                                  directory, every other setting at Infinity's default, POST /embeddings
                                  (Infinity's OpenAI-compatible route); installed by this script in a
                                  virtual environment of its own (requirements-infinity.txt). Its ONNX
                                  engine loads an .onnx file from the model directory and exports none, so
                                  the script adds onnx/model.onnx to a copy of the checkpoint (the
                                  transformer's last hidden state, what the Hub repository ships).

Both take the same OpenAI-style body {"model", "input": [texts]} and tokenize on the server. Load:
wrk (Debian's `wrk`), closed loop, --concurrency connections, cycling through the texts; one text per
request, then --batch texts per request; throughput in texts/s, p50 and p99 from wrk's latency
distribution; non-2xx answers counted (must be 0). Accuracy: each server's embeddings of
--accuracy texts against sentence-transformers' encode (min and mean cosine similarity).

Writes <out>/results.json and <out>/text_vs_infinity.svg; prints the table RESULTS.md carries.

  .venv/bin/python benchmarks/real_models/text_vs_infinity.py [--build build] [--rounds 2] \\
      [--seconds 30] [--concurrency 32] [--batch 32] [--out DIR] [--variants a,b,...]

Run it on an otherwise idle machine: servers and wrk share the cores.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np

import machine_info  # scripts/ and benchmarks/ are on .venv's path (Note [the tree on the path])
from real_models.compare_servers import benchmark_texts, pack
from seqserve_process import Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = "minilm"  # compare_servers.pack's model name
VARIANTS = ("seqserve_fp32", "seqserve_bf16", "infinity_torch", "infinity_onnx")
REQUIREMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements-infinity.txt")


# ---------------------------------------------------------------------------------- Infinity
def infinity_venv(build):
    """build/bench-venvs/infinity with requirements-infinity.txt installed (created on first use)."""
    venv = os.path.join(build, "bench-venvs", "infinity")
    cli = os.path.join(venv, "bin", "infinity_emb")
    if not os.path.exists(cli):
        print(f"installing Infinity into {venv} (once; a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "-r", REQUIREMENTS], check=True)
    version = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                              "import importlib.metadata as m; print(m.version('infinity-emb'), m.version('torch'), "
                              "m.version('onnxruntime'), m.version('optimum'))"],
                             capture_output=True, text=True, check=True).stdout.split()
    return venv, cli, dict(zip(("infinity_emb", "torch", "onnxruntime", "optimum"), version))


# The transformer alone, input ids, mask and token types to its last hidden state, as the Hub's
# all-MiniLM-L6-v2 carries onnx/model.onnx (Infinity pools it itself). torch's TorchScript-based
# exporter: optimum 1.24's own exporter fails on torch 2.11's default (dynamo) one.
EXPORT = """
import sys, torch
from transformers import AutoModel
model = AutoModel.from_pretrained(sys.argv[1]).eval()
ids = torch.ones(2, 16, dtype=torch.int64)
axes = {0: "batch", 1: "sequence"}
torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), sys.argv[2], dynamo=False, opset_version=17,
                  input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                  dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                "last_hidden_state": axes})
"""


def onnx_checkpoint(venv, checkpoint, out):
    """A copy of `checkpoint` with onnx/model.onnx, exported in Infinity's environment."""
    target = os.path.join(out, "all-MiniLM-L6-v2-onnx")
    model = os.path.join(target, "onnx", "model.onnx")
    if not os.path.exists(model):
        shutil.copytree(checkpoint, target, dirs_exist_ok=True)
        os.makedirs(os.path.dirname(model), exist_ok=True)
        subprocess.run([os.path.join(venv, "bin", "python"), "-c", EXPORT, target, model], check=True,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"))
    return target


class InfinityServer:
    """`infinity_emb v2` on 127.0.0.1:port for the checkpoint directory, engine at its defaults."""

    def __init__(self, cli, checkpoint, engine, port):
        self.log_path = tempfile.mktemp(prefix=f"infinity_{engine}_", suffix=".log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ, HF_HUB_OFFLINE="1", INFINITY_ANONYMOUS_USAGE_STATS="0", DO_NOT_TRACK="1")
        self.proc = subprocess.Popen([cli, "v2", "--model-id", checkpoint, "--served-model-name", MODEL,
                                      "--engine", engine, "--host", "127.0.0.1", "--port", str(port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.base = f"http://127.0.0.1:{port}"
        self.path = "/embeddings"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Infinity ({engine}) exited: {open(self.log_path).read()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"Infinity ({engine}) not healthy in 600 s: {open(self.log_path).read()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SeqserveServer:
    def __init__(self, binary, repo):
        # --auto-truncate: texts beyond the model's 256 tokens are cut, as Infinity and
        # sentence-transformers cut them (seqserve's default refuses them, naming their length).
        self.server = Server(binary, repo, ("--auto-truncate",))
        self.server.wait_ready_http(timeout=600)
        self.base = f"http://127.0.0.1:{self.server.http_port}"
        self.path = "/v1/embeddings"

    def stop(self):
        self.server.stop()


# ---------------------------------------------------------------------------------- measuring
def embed(server, texts, batch=32):
    out = []
    for start in range(0, len(texts), batch):
        body = json.dumps({"model": MODEL, "input": texts[start:start + batch]}).encode()
        request = urllib.request.Request(server.base + server.path, data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as r:
            data = json.loads(r.read())["data"]
        out.extend(d["embedding"] for d in sorted(data, key=lambda d: d["index"]))
    return np.asarray(out, dtype=np.float32)


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def wrk_script(texts, per_request, path):
    """A wrk Lua script cycling through request bodies of `per_request` texts each."""
    bodies = [json.dumps({"model": MODEL, "input": texts[i:i + per_request]})
              for i in range(0, len(texts) - per_request + 1, per_request)]
    lua = ["local bodies = {"] + [f"  {json.dumps(b)}," for b in bodies] + ["}", "local i = 0", """
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end"""]
    with open(path, "w") as f:
        f.write("\n".join(lua))
    return path


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(server, script, seconds, concurrency):
    """Requests/s, p50 and p99 (ms) and non-2xx answers of one closed-loop wrk run."""
    run = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "120s", "--latency",
                          "-s", script, server.base + server.path], capture_output=True, text=True, check=True)
    out = run.stdout
    percentile = {int(p): float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests_per_s": rps, "p50_ms": percentile.get(50), "p99_ms": percentile.get(99),
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


# ---------------------------------------------------------------------------------- report
def svg_chart(summary, variants, shapes, subtitle, path):
    """Throughput (texts/s) per variant and request shape, p99 written above each bar."""
    left, top, plot_h, group = 70, 60, 240, 70 * len(variants) + 40
    width, height = left + group * len(shapes) + 30, top + plot_h + 90
    base = top + plot_h
    scale = max([summary[v][s]["texts_per_s"] for v in variants for s in shapes if summary[v].get(s)] + [1]) * 1.15
    colors = ["#1f77b4", "#aec7e8", "#d62728", "#ff9896"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">all-MiniLM-L6-v2, text in: '
           f'throughput (texts/s), p99 above each bar</text>',
           f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">{subtitle}</text>']
    for k in range(5):
        y = base - plot_h * k / 4
        out.append(f'<line x1="{left}" y1="{y}" x2="{width - 30}" y2="{y}" stroke="{"black" if k == 0 else "#ddd"}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{scale * k / 4:.0f}</text>')
    for g, shape in enumerate(shapes):
        x0 = left + group * g + 20
        for i, v in enumerate(variants):
            m = summary[v].get(shape)
            if not m:
                continue
            h = plot_h * m["texts_per_s"] / scale
            x = x0 + 70 * i
            out.append(f'<rect x="{x}" y="{base - h}" width="60" height="{h}" fill="{colors[i % 4]}"/>')
            out.append(f'<text x="{x + 30}" y="{base - h - 16}" text-anchor="middle">{m["texts_per_s"]:.0f}/s</text>')
            out.append(f'<text x="{x + 30}" y="{base - h - 4}" text-anchor="middle" fill="#555">'
                       f'p99 {m["p99_ms"]:.0f} ms</text>')
        out.append(f'<text x="{x0 + 35 * len(variants)}" y="{base + 18}" text-anchor="middle">{shape}</text>')
    for i, v in enumerate(variants):
        out.append(f'<rect x="{left + 150 * i}" y="{height - 30}" width="10" height="10" fill="{colors[i % 4]}"/>')
        out.append(f'<text x="{left + 150 * i + 14}" y="{height - 21}">{v}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--texts", type=int, default=2048)
    p.add_argument("--accuracy", type=int, default=512)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", default=tempfile.mkdtemp(prefix="text_vs_infinity_"))
    args = p.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.build, "checkpoints", "all-MiniLM-L6-v2")
    binary = os.path.join(args.build, "seqserve")
    env = machine_info.describe(packages=("torch", "transformers", "sentence-transformers"), binary=binary)
    print(json.dumps(env, indent=1), flush=True)

    texts = benchmark_texts(args.texts)
    from sentence_transformers import SentenceTransformer
    reference = SentenceTransformer(checkpoint, device="cpu").encode(texts[:args.accuracy], batch_size=32)

    repos = {}
    for precision in ("fp32", "bf16"):
        if f"seqserve_{precision}" in variants:
            repos[precision] = pack(checkpoint, precision, args.out)
    cli, infinity_versions, onnx_dir = None, {}, None
    if any(v.startswith("infinity") for v in variants):
        venv, cli, infinity_versions = infinity_venv(args.build)
        if "infinity_onnx" in variants:
            onnx_dir = onnx_checkpoint(venv, checkpoint, args.out)
    env["infinity"] = infinity_versions

    shapes = {"1 text/request": 1, f"{args.batch} texts/request": args.batch}
    scripts = {shape: wrk_script(texts, n, os.path.join(args.out, f"wrk_{n}.lua")) for shape, n in shapes.items()}
    runs = {v: {shape: [] for shape in shapes} for v in variants}
    accuracy = {}
    for r in range(args.rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for v in order:
            print(f"round {r + 1}: {v}", flush=True)
            try:
                if v.startswith("seqserve"):
                    server = SeqserveServer(binary, repos[v.split("_")[1]])
                elif v == "infinity_torch":
                    server = InfinityServer(cli, checkpoint, "torch", 17997)
                else:
                    server = InfinityServer(cli, onnx_dir, "optimum", 17997)
            except RuntimeError as e:
                print(f"  {v} did not start: {e}", flush=True)
                continue
            try:
                if v not in accuracy:
                    c = cosines(embed(server, texts[:args.accuracy]), reference)
                    accuracy[v] = {"min_cosine": float(c.min()), "mean_cosine": float(c.mean())}
                    print(f"  accuracy vs sentence-transformers: min {c.min():.6f} mean {c.mean():.6f}", flush=True)
                for shape, n in shapes.items():
                    wrk(server, scripts[shape], 5, args.concurrency)  # warm-up
                    m = wrk(server, scripts[shape], args.seconds, args.concurrency)
                    m["texts_per_s"] = m["requests_per_s"] * n
                    runs[v][shape].append(m)
                    print(f"  {shape}: {m['texts_per_s']:.0f} texts/s, p50 {m['p50_ms']:.1f} ms, "
                          f"p99 {m['p99_ms']:.1f} ms, non-2xx {m['non_2xx']}", flush=True)
            finally:
                server.stop()

    variants = [v for v in variants if v in accuracy]  # those that started
    summary = {v: {shape: {k: statistics.median(m[k] for m in ms) for k in ("texts_per_s", "p50_ms", "p99_ms")}
                   | {"non_2xx": sum(m["non_2xx"] + m["socket_errors"] for m in ms)}
                   for shape, ms in runs[v].items() if ms} for v in variants}
    print("\n| variant | accuracy (min / mean cosine vs sentence-transformers) | "
          + " | ".join(f"{s}: texts/s, p50, p99 ms" for s in shapes) + " |")
    print("|---|---|" + "---|" * len(shapes))
    for v in variants:
        cells = [f"{summary[v][s]['texts_per_s']:.0f}, {summary[v][s]['p50_ms']:.1f}, {summary[v][s]['p99_ms']:.1f}"
                 + (f" ({summary[v][s]['non_2xx']} errors)" if summary[v][s]["non_2xx"] else "")
                 for s in shapes]
        print(f"| {v} | {accuracy[v]['min_cosine']:.6f} / {accuracy[v]['mean_cosine']:.6f} | " + " | ".join(cells) + " |")
    infinity = [v for v in variants if v.startswith("infinity")]
    for v in (v for v in variants if v.startswith("seqserve")):
        for peer in infinity:
            print(f"{v} / {peer}: " + ", ".join(
                f"{s} throughput x{summary[v][s]['texts_per_s'] / max(summary[peer][s]['texts_per_s'], 1e-9):.2f}, "
                f"p99 x{summary[v][s]['p99_ms'] / max(summary[peer][s]['p99_ms'], 1e-9):.2f}" for s in shapes))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": env, "args": vars(args), "runs": runs, "summary": summary, "accuracy": accuracy}, f,
                  indent=1)
    svg_chart(summary, variants, list(shapes), f"{env.get('cpu', '')}, {env.get('date', '')}; "
              f"{args.concurrency} clients; median of {args.rounds} round(s)",
              os.path.join(args.out, "text_vs_infinity.svg"))
    print(f"\nwrote {args.out}/results.json and {args.out}/text_vs_infinity.svg")


if __name__ == "__main__":
    main()
