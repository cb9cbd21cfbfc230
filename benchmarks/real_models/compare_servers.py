#!/usr/bin/env python3
"""seqserve against what a user would otherwise run, on the real all-MiniLM-L6-v2 and real
sentences, in ONE run with the variants alternating round by round:

  in process (this Python process, torch / ONNX Runtime threads = the usable cores):
    st            sentence-transformers SentenceTransformer(checkpoint).encode(batch_size=32)
                  (it tokenizes and sorts by length itself; tokenizing is inside its time)
    onnx_fp32     ONNX Runtime, CPUExecutionProvider: HF AutoModel + masked mean pooling + L2
                  normalize exported by torch.onnx.export (dynamic batch and sequence axes),
                  length-sorted batches of 32
    ts_fp32/bf16  the TorchScript model.pt of a seqserve-pack pack at that precision, torch.jit.load,
                  length-sorted batches of 32: the in-process limit of the same model and precision
  servers (KServe v2 gRPC on 127.0.0.1, driven by Triton's perf_analyzer with real inputs):
    peer          benchmarks/real_models/python_peer_server.py: grpcio + torch, 4 worker threads,
                  the FP32 TorchScript module, torch's default threads, no batching
    seqserve_fp32 / seqserve_bf16
                  build/seqserve, one model packed by scripts/seqserve-pack --precision fp32|bf16,
                  the config's `instance { ... }` block removed so the defaults apply

Servers: throughput, p50 and p99 at saturation (closed loop, --concurrency clients), then the same
at an open-loop Poisson load of 70% of seqserve FP32's saturation throughput (perf_analyzer
--request-rate-range; "overloaded" when a server cannot keep up). perf_analyzer's own CPU time and
per-request marshalling (Client Send/Recv) are reported, so the client's share of the cores shows.
In process: sentences/s over all the sentences. Accuracy: min and mean cosine similarity of each
variant's embeddings against the in-process FP32 TorchScript ones, over --accuracy sentences.
Inputs: benchmarks/common/sentences.py's real_sentences (Python's standard-library docs), topped up to
--sentences with paragraphs of two consecutive sentences when it has fewer; tokenized by the
checkpoint's tokenizer, truncated to 256 tokens.

Writes <out>/results.json and <out>/compare_servers.svg (throughput and p99 per variant).

  .venv/bin/python benchmarks/real_models/compare_servers.py [--build build] [--rounds 3] \\
      [--concurrency 32] [--requests 1000] [--sentences 4000] [--out DIR] [--quick]

Needs onnxruntime, onnx, onnxscript and onnx-ir in .venv (.venv/bin/pip install -r scripts/requirements-bench.txt);
without them the ONNX variant is skipped, and without `seqserve-pack --precision` the BF16 ones.
Run it on an otherwise idle machine: every variant shares the cores with whatever else runs.
"""
import argparse
import contextlib
import csv
import io
import json
import logging
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
import machine_info  # scripts/ and benchmarks/ are on .venv's path (Note [the tree on the path])
from common.peer_server import PeerServer
from common.sentences import client_tokenizer, real_sentences
from seqserve_process import Server

MODEL = "minilm"
BATCH = 32
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
CORES = len(os.sched_getaffinity(0))
LABELS = {"st": "sentence-transformers FP32", "onnx_fp32": "ONNX Runtime FP32",
          "ts_fp32": "TorchScript FP32 in-process", "ts_bf16": "TorchScript BF16 in-process",
          "peer": "Python gRPC peer FP32", "seqserve_fp32": "seqserve FP32", "seqserve_bf16": "seqserve BF16"}
SERVERS = ("peer", "seqserve_fp32", "seqserve_bf16")


# ---------------------------------------------------------------------------------- environment
def machine():
    """scripts/machine_info.py's description, with the versions of torch and transformers."""
    return machine_info.describe(packages=("torch", "transformers"))


# ---------------------------------------------------------------------------------- inputs
def benchmark_texts(count):
    """`count` real texts: real_sentences(count), then (if it ran out) paragraphs of two
    consecutive sentences from it, in order - deterministic."""
    texts = real_sentences(count)
    sentences = [t for t in texts if len(t.split()) < 60]  # not its whole paragraphs
    pairs = (f"{a} {b}" for a, b in zip(sentences, sentences[1:]))
    while len(texts) < count:
        texts.append(next(pairs))
    return texts


def tokenize(checkpoint, texts):
    """The client's view: ids, mask and type ids per text, unpadded, at most 256 tokens."""
    tokenizer = client_tokenizer(os.path.join(checkpoint, "tokenizer.json"))
    return [(e.ids, e.attention_mask, e.type_ids) for e in tokenizer.encode_batch(texts)]


def write_perf_inputs(encodings, names, path):
    """perf_analyzer --input-data JSON, one request per text (batch 1, shape [n])."""
    data = [{name: {"content": list(values), "shape": [len(values)]} for name, values in zip(names, e)}
            for e in encodings]
    with open(path, "w") as f:
        json.dump({"data": data}, f)


def sorted_batches(encodings, batch=BATCH):
    """(indices, [ids, mask, types] as padded int64 arrays) in ascending length order."""
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i][0]))
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        width = max(len(encodings[i][0]) for i in chunk)
        arrays = [np.zeros((len(chunk), width), dtype=np.int64) for _ in INPUTS]
        for row, i in enumerate(chunk):
            for array, values in zip(arrays, encodings[i]):
                array[row, :len(values)] = values
        yield chunk, arrays


# ---------------------------------------------------------------------------------- packing
def packer_has_precision():
    run = subprocess.run([os.path.join(ROOT, "scripts", "seqserve-pack"), "--help"], capture_output=True, text=True)
    return "--precision" in run.stdout


def pack(checkpoint, precision, out):
    """A one-model repository <out>/repo_<precision>/minilm packed at `precision`, with the
    config's instance block removed (default instance settings). None when it cannot be packed."""
    repo = os.path.join(out, f"repo_{precision}")
    if os.path.exists(os.path.join(repo, MODEL, "1", "model.pt")):
        print(f"  reusing the {precision} pack in {repo} (from an earlier run with this --out)", flush=True)
        return default_instances(repo)
    cmd = [os.path.join(ROOT, "scripts", "seqserve-pack"), "--hf", checkpoint, "--name", MODEL,
           "--repository", repo, "--force"]
    if packer_has_precision():
        cmd += ["--precision", precision]
    elif precision != "fp32":
        print(f"  seqserve-pack has no --precision: no {precision} pack", flush=True)
        return None
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if run.returncode != 0:
        print(f"  packing {precision} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}", flush=True)
        return None
    print(f"  packed {precision} in {time.monotonic() - started:.0f} s", flush=True)
    return default_instances(repo)


def copy_build_pack(build, out):
    """The build's own FP32 pack of minilm (seqserve-pack at its defaults), copied: --quick skips
    packing FP32 again."""
    repo = os.path.join(out, "repo_fp32")
    shutil.copytree(os.path.join(build, "model_repository", MODEL), os.path.join(repo, MODEL), dirs_exist_ok=True)
    return default_instances(repo)


def default_instances(repo):
    config = os.path.join(repo, MODEL, "config.pbtxt")
    text = re.sub(r"^instance \{[^}]*\}\n?", "", open(config).read(), flags=re.M)
    with open(config, "w") as f:
        f.write(text)
    return repo


# ---------------------------------------------------------------------------------- in process
class TorchScriptRunner:
    def __init__(self, model_path):
        import torch
        self.torch = torch
        self.module = torch.jit.load(model_path).eval()

    def __call__(self, arrays):
        with self.torch.inference_mode():
            return self.module(*(self.torch.from_numpy(a) for a in arrays)).float().numpy()


class OnnxRunner:
    """HF AutoModel + masked mean pooling + L2 normalize, as the pack's `embedding`, in ONNX."""

    def __init__(self, checkpoint, out):
        import onnxruntime as ort
        path = os.path.join(out, "minilm.onnx")
        export_onnx(checkpoint, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = CORES
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.version = ort.__version__

    def __call__(self, arrays):
        return self.session.run(None, dict(zip(INPUTS, arrays)))[0]


def export_onnx(checkpoint, path):
    import torch
    from transformers import AutoModel

    class Embedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(checkpoint, attn_implementation="eager")

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # Three distinct example tensors, one row padded: the exporter merges inputs given as one object.
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0, 0, 0], [101, 2023, 2003, 1037, 3231, 6251, 1012, 102]])
    example = (ids, (ids != 0).long(), torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    # Output named apart from "embedding": the exporter names a graph value after aten::embedding.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(Embedding().eval(), example, path,
                          input_names=INPUTS, output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch"}}, dynamo=True)


class SentenceTransformerRunner:
    def __init__(self, checkpoint, texts):
        from sentence_transformers import SentenceTransformer
        self.model = SentenceTransformer(checkpoint, device="cpu")
        self.texts = texts

    def encode(self, indices):
        return self.model.encode([self.texts[i] for i in indices], batch_size=BATCH, convert_to_numpy=True)


def embed(runner, encodings, indices):
    """Embeddings of encodings[indices] in that order, through a batch runner (or st)."""
    if isinstance(runner, SentenceTransformerRunner):
        return runner.encode(indices)
    subset = [encodings[i] for i in indices]
    out = np.zeros((len(subset), 384), dtype=np.float32)
    for chunk, arrays in sorted_batches(subset):
        out[chunk] = runner(arrays)
    return out


def in_process_throughput(runner, encodings):
    started = time.perf_counter()
    embed(runner, encodings, range(len(encodings)))
    return {"throughput": len(encodings) / (time.perf_counter() - started)}


# ---------------------------------------------------------------------------------- servers
def start_servers(build, repos, servers):
    """Starts into `servers` (name -> server) the Python peer and seqserve per packed precision;
    one that does not start is reported and left out. The caller stops what is in `servers`."""
    import tritonclient.grpc as grpcclient
    starts = [("peer", lambda: PeerServer(os.path.join(repos["fp32"], MODEL)))]
    starts += [(f"seqserve_{p}", lambda r=repo: Server(os.path.join(build, "seqserve"), r))
               for p, repo in repos.items() if repo]
    for name, start in starts:
        try:
            server = servers[name] = start()
            wait_model_ready(grpcclient.InferenceServerClient(url=server.url), server)
            loading = re.findall(r"loading model .*", server.read_log()) if hasattr(server, "read_log") else []
            server.note = loading[0] if loading else "python_peer_server.py, 4 workers"
            print(f"  {name} ready at {server.url}: {server.note}", flush=True)
        except Exception as e:  # one server missing must not cost the others' numbers
            print(f"  {name} did not start: {e}", flush=True)
            if name in servers:
                servers.pop(name).stop()


def wait_model_ready(client, server, timeout=600):
    """Until MODEL is ready; raises when the process exits, the server reports the model
    UNAVAILABLE (seqserve's RepositoryIndex gives the reason), or after `timeout` s."""
    from tritonclient.utils import InferenceServerException
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"exited with {server.proc.returncode}")
        try:
            if client.is_model_ready(MODEL):
                return
            for entry in client.get_model_repository_index().models:
                if entry.name == MODEL and entry.state == "UNAVAILABLE":
                    raise RuntimeError(f"model UNAVAILABLE: {entry.reason}")
        except InferenceServerException:
            pass  # not answering yet, or no RepositoryIndex (the peer)
        time.sleep(0.1)
    raise RuntimeError(f"model not ready in {timeout} s")


def server_embeddings(url, encodings, indices):
    """One request per text (batch 1) with tritonclient, as a user's client sends them."""
    import tritonclient.grpc as grpcclient
    client = grpcclient.InferenceServerClient(url=url)
    out = []
    for i in indices:
        inputs = []
        for name, values in zip(INPUTS, encodings[i]):
            tensor = grpcclient.InferInput(name, [1, len(values)], "INT64")
            tensor.set_data_from_numpy(np.asarray([values], dtype=np.int64))
            inputs.append(tensor)
        result = client.infer(MODEL, inputs, outputs=[grpcclient.InferRequestedOutput("embedding")])
        out.append(result.as_numpy("embedding")[0])
    return np.stack(out)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def perf(server, inputs, csv_path, load_args, requests):
    """One perf_analyzer measurement of exactly `requests` requests (--request-count: no
    stabilization search; the rounds give the spread). Throughput and latencies come from the
    per-request timestamps of its --profile-export-file (its own throughput counts whole seconds);
    also the CPU the client (perf_analyzer, its start included) and the server used, and the
    client's marshalling per request. None-valued numbers when perf_analyzer failed (see the .log)."""
    profile = csv_path + ".profile.json"
    cmd = [os.path.join(ROOT, "scripts", "perf_analyzer"), "-m", MODEL, "-i", "grpc", "-u", server.url,
           "--input-data", inputs, "--percentile=99", "--request-count", str(requests), "-f", csv_path,
           "--profile-export-file", profile, *load_args]
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, started = cpu_seconds(server.proc.pid), time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - started
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(server.proc.pid) - server_before
    open(csv_path + ".log", "w").write(run.stdout + run.stderr)
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
    result = {"throughput": None, "p50_ms": None, "p99_ms": None, "client_cores": client_cpu / wall,
              "client_cpu_ms_per_request": 1000 * client_cpu / requests}
    if run.returncode == 0 and os.path.exists(profile):
        result.update(timings(profile))
        result["server_cores"] = server_cpu / result.pop("span_s")
        row = next(csv.DictReader(open(csv_path)))
        result["client_send_recv_us"] = float(row["Client Send"]) + float(row["Client Recv"])
    if os.path.exists(profile):
        os.remove(profile)  # ~10 kB a request: inputs and outputs included
    return result


def timings(profile):
    """Throughput (requests / first send to last response), offered rate (requests / send span),
    p50 and p99 latency from a perf_analyzer profile export."""
    requests = json.load(open(profile))["experiments"][0]["requests"]
    sends = np.array([r["timestamp"] for r in requests], dtype=np.float64) / 1e9
    done = np.array([r["response_timestamps"][-1] for r in requests], dtype=np.float64) / 1e9
    latency_ms = 1000 * (done - sends)
    span = done.max() - sends.min()
    return {"throughput": float(len(requests) / span),
            "offered_rate": float((len(requests) - 1) / max(1e-9, np.ptp(sends))),
            "p50_ms": float(np.percentile(latency_ms, 50)), "p99_ms": float(np.percentile(latency_ms, 99)),
            "span_s": float(span)}


# ---------------------------------------------------------------------------------- report
def cosine(a, b):
    sims = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min_cosine": float(sims.min()), "mean_cosine": float(sims.mean())}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(measurements):
    """name -> {load -> {key -> median over rounds}}."""
    out = {}
    for name, loads in measurements.items():
        out[name] = {}
        for load, runs in loads.items():
            keys = sorted({k for r in runs for k in r} - {"kept_up"})
            out[name][load] = {k: median([r.get(k) for r in runs]) for k in keys}
            if load == "open_loop":
                out[name][load]["kept_up_rounds"] = sum(bool(r.get("kept_up")) for r in runs)
            out[name][load]["rounds"] = [r.get("throughput") for r in runs]
    return out


def ratio(a, b):
    return a / b if a and b else None


def ratios(summary):
    def sat(name):
        return (summary.get(name, {}).get("saturation") or {}).get("throughput")
    pairs = [("seqserve FP32 / Python peer", "seqserve_fp32", "peer"),
             ("seqserve FP32 / sentence-transformers", "seqserve_fp32", "st"),
             ("seqserve BF16 / ONNX FP32", "seqserve_bf16", "onnx_fp32"),
             ("seqserve FP32 / in-process TorchScript FP32", "seqserve_fp32", "ts_fp32"),
             ("seqserve BF16 / in-process TorchScript BF16", "seqserve_bf16", "ts_bf16"),
             ("seqserve BF16 / seqserve FP32", "seqserve_bf16", "seqserve_fp32")]
    return {label: ratio(sat(a), sat(b)) for label, a, b in pairs}


def fmt(value, digits=1):
    return "n/a" if value is None else f"{value:.{digits}f}"


def open_loop_cells(open_loop):
    if open_loop is None:
        return "- | -"
    if open_loop.get("p50_ms") is None:
        return "failed (see the .log) | -"
    if not open_loop.get("kept_up_rounds"):
        return f"overloaded: served {fmt(open_loop.get('throughput'))}/s | -"
    partly = "" if open_loop["kept_up_rounds"] == len(open_loop["rounds"]) else \
        f" (kept up in {open_loop['kept_up_rounds']} of {len(open_loop['rounds'])} rounds)"
    return f"{fmt(open_loop['p50_ms'], 0)} | {fmt(open_loop['p99_ms'], 0)}{partly}"


def print_table(summary, accuracy, rate):
    print(f"\n| variant | sentences/s at saturation | p50 ms | p99 ms | open loop {fmt(rate)}/s: p50 ms | p99 ms "
          f"| client cores | server cores | min cos vs TS FP32 | mean cos |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in LABELS:
        if name not in summary and name not in accuracy:
            continue
        sat = summary.get(name, {}).get("saturation", {})
        acc = accuracy.get(name, {})
        cells = [fmt(sat.get(k), d) if name in SERVERS else "-"
                 for k, d in (("p50_ms", 0), ("p99_ms", 0), ("client_cores", 2), ("server_cores", 2))]
        print(f"| {LABELS[name]} | {fmt(sat.get('throughput'))} | {cells[0]} | {cells[1]} | "
              f"{open_loop_cells(summary.get(name, {}).get('open_loop'))} | {cells[2]} | {cells[3]} | "
              f"{fmt(acc.get('min_cosine'), 6)} | {fmt(acc.get('mean_cosine'), 6)} |")


def svg_chart(summary, subtitle, path):
    """Grouped bars per variant: throughput at saturation (blue, left axis) and p99 at saturation
    (red, right axis; servers only). Plain SVG, no plotting library."""
    names = [n for n in LABELS if (summary.get(n, {}).get("saturation") or {}).get("throughput")]
    bars = [(summary[n]["saturation"]["throughput"], summary[n]["saturation"].get("p99_ms")) for n in names]
    left, right, top, plot_h, slot = 150, 80, 60, 260, 110
    width, height = left + slot * len(names) + right, top + plot_h + 130
    base = top + plot_h
    scales = [max([b[k] or 0 for b in bars] + [1]) * 1.15 for k in (0, 1)]
    colors = ["#1f77b4", "#d62728"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
           f'all-MiniLM-L6-v2: throughput and p99 latency at saturation</text>',
           f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">{subtitle}</text>']
    for k in range(5):  # grid and both axes' ticks
        y = base - plot_h * k / 4
        out.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="{"black" if k == 0 else "#ddd"}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end" fill="{colors[0]}">{scales[0] * k / 4:.0f}</text>')
        out.append(f'<text x="{width - right + 6}" y="{y + 4}" fill="{colors[1]}">{scales[1] * k / 4:.0f}</text>')
    for x, angle, text, color in ((left - 50, -90, "sentences/s", colors[0]), (width - 30, 90, "p99 ms", colors[1])):
        y = top + plot_h / 2
        out.append(f'<text x="{x}" y="{y}" transform="rotate({angle} {x} {y})" text-anchor="middle" '
                   f'fill="{color}">{text}</text>')
    for i, (name, values) in enumerate(zip(names, bars)):
        x = left + slot * i + 15
        for j, value in enumerate(values):
            if value:
                h = plot_h * value / scales[j]
                out.append(f'<rect x="{x + 40 * j}" y="{base - h}" width="36" height="{h}" fill="{colors[j]}"/>')
                out.append(f'<text x="{x + 40 * j + 18}" y="{base - h - 3}" text-anchor="middle">{value:.0f}</text>')
        out.append(f'<text x="{x + 40}" y="{base + 16}" text-anchor="end" '
                   f'transform="rotate(-30 {x + 40} {base + 16})">{LABELS[name]}</text>')
    for j, text in enumerate(["throughput, sentences/s", "p99 latency, ms (servers)"]):
        out.append(f'<rect x="{left + 200 * j}" y="{height - 18}" width="10" height="10" fill="{colors[j]}"/>')
        out.append(f'<text x="{left + 200 * j + 14}" y="{height - 9}">{text}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ---------------------------------------------------------------------------------- main
def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--requests", type=int, default=1000, help="requests per perf_analyzer measurement")
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--accuracy", type=int, default=600, help="sentences compared against TorchScript FP32")
    parser.add_argument("--out", default=None, help="results folder (default: a fresh temporary one)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 round, 300 sentences, 100 for accuracy, 100-request measurements, "
                             "concurrency 8, the build's FP32 pack instead of packing FP32 again")
    if "--quick" in sys.argv[1:]:  # its values are defaults: flags given with it still win
        parser.set_defaults(rounds=1, sentences=300, accuracy=100, requests=100, concurrency=8)
    args = parser.parse_args()
    args.out = args.out or tempfile.mkdtemp(prefix="seqserve_servers_")
    os.makedirs(args.out, exist_ok=True)
    return args


def in_process_runners(checkpoint, repos, texts, out):
    import torch
    import transformers
    torch.set_num_threads(CORES)
    transformers.utils.logging.disable_progress_bar()
    runners = {"st": lambda: SentenceTransformerRunner(checkpoint, texts),
               "onnx_fp32": lambda: OnnxRunner(checkpoint, out)}
    for precision, repo in repos.items():
        if repo:
            runners[f"ts_{precision}"] = lambda r=repo: TorchScriptRunner(os.path.join(r, MODEL, "1", "model.pt"))
    made = {}
    for name, make in runners.items():
        try:
            made[name] = make()
        except Exception as e:  # e.g. onnxruntime not installed
            print(f"  {name}: not available ({type(e).__name__}: {e})", flush=True)
    return made


def rotated(items, r):
    return items[r % len(items):] + items[:r % len(items)] if items else items


def measure_accuracy(runners, servers, encodings, count):
    """Cosine of every variant against in-process TorchScript FP32, on `count` texts spread over
    the set (every k-th), which also warms every variant up."""
    indices = list(range(0, len(encodings), max(1, len(encodings) // count)))[:count]
    if "ts_fp32" not in runners:
        return {}
    reference = embed(runners["ts_fp32"], encodings, indices)
    accuracy = {}
    for name, runner in runners.items():
        accuracy[name] = cosine(embed(runner, encodings, indices), reference)
    for name, server in servers.items():
        accuracy[name] = cosine(server_embeddings(server.url, encodings, indices), reference)
    print("accuracy vs TorchScript FP32 over", len(indices), "texts:",
          {n: round(a["min_cosine"], 6) for n, a in accuracy.items()}, flush=True)
    return accuracy


def run_rounds(args, runners, servers, encodings, inputs):
    """Each round: every server at saturation, every in-process variant over all texts, every
    server at the open-loop rate (70% of seqserve FP32's median saturation so far); the order
    within each group rotates from round to round. Returns (measurements, the last rate)."""
    measurements = {name: {"saturation": []} for name in runners}
    measurements.update({name: {"saturation": [], "open_loop": []} for name in servers})
    rate = None
    for r in range(args.rounds):
        for name in rotated(list(servers), r):
            result = perf(servers[name], inputs, os.path.join(args.out, f"{name}_sat_{r}.csv"),
                          ["--concurrency-range", str(args.concurrency)], max(args.requests, 4 * args.concurrency))
            measurements[name]["saturation"].append(result)
            print(f"round {r} {name} saturation: {_short(result)}", flush=True)
        idle_before, started = {n: cpu_seconds(s.proc.pid) for n, s in servers.items()}, time.monotonic()
        for name in rotated(list(runners), r):
            result = in_process_throughput(runners[name], encodings)
            measurements[name]["saturation"].append(result)
            print(f"round {r} {name}: {result['throughput']:.1f} sentences/s", flush=True)
        idle = sum(cpu_seconds(s.proc.pid) - idle_before[n] for n, s in servers.items()) / (time.monotonic() - started)
        print(f"round {r}: the idle servers used {idle:.3f} cores during the in-process runs", flush=True)
        base = median([m.get("throughput") for m in measurements.get("seqserve_fp32", {}).get("saturation", [])])
        if not base:
            continue
        rate = 0.7 * base
        for name in rotated(list(servers), r):
            result = perf(servers[name], inputs, os.path.join(args.out, f"{name}_open_{r}.csv"),
                          ["--request-rate-range", f"{rate:.1f}", "--request-distribution", "poisson", "--async",
                           "--max-threads", "8"], max(args.requests, math.ceil(2 * rate)))  # perf_analyzer: >= rate
            # Kept up: served at least 90% of the rate perf_analyzer offered (the last requests'
            # latency ends the span, so even a server that keeps up shows a little under it).
            result["kept_up"] = bool(result["throughput"]) and result["throughput"] >= 0.9 * result.get("offered_rate", 0)
            measurements[name]["open_loop"].append(result)
            print(f"round {r} {name} open loop {rate:.1f}/s: {_short(result)}", flush=True)
    return measurements, rate


def _short(result):
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()}


def main():
    args = arguments()
    env = machine()
    quota = f" (cgroup quota {env['cgroup_cpu_quota']:g} cores)" if env["cgroup_cpu_quota"] else ""
    print(f"{env['date']}  CPU {env['cpu']}, {CORES} usable cores{quota}; flags "
          + ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in env["flags"].items())
          + f"; torch {env['torch']}; results in {args.out}", flush=True)
    checkpoint = os.path.join(args.build, "checkpoints", "all-MiniLM-L6-v2")
    texts = benchmark_texts(args.sentences)
    encodings = tokenize(checkpoint, texts)
    lengths = [len(e[0]) for e in encodings]
    print(f"{len(texts)} texts, tokens min {min(lengths)} median {statistics.median(lengths)} max {max(lengths)}",
          flush=True)
    inputs = os.path.join(args.out, "inputs.json")
    write_perf_inputs(encodings, INPUTS, inputs)

    print("packing", flush=True)
    repos = {"fp32": copy_build_pack(args.build, args.out) if args.quick else pack(checkpoint, "fp32", args.out),
             "bf16": pack(checkpoint, "bf16", args.out)}
    print("in-process variants", flush=True)
    runners = in_process_runners(checkpoint, repos, texts, args.out)
    print("servers", flush=True)
    servers = {}
    try:
        start_servers(args.build, repos, servers)
        accuracy = measure_accuracy(runners, servers, encodings, args.accuracy)
        measurements, rate = run_rounds(args, runners, servers, encodings, inputs)
    finally:
        for server in servers.values():
            server.stop()

    summary = summarize(measurements)
    notes = {name: server.note for name, server in servers.items()}
    print_table(summary, accuracy, rate)
    print("\nratios of saturation throughput:")
    for label, value in ratios(summary).items():
        print(f"  {label}: {fmt(value, 2)}")
    results = {"machine": env, "args": vars(args), "texts": len(texts),
               "tokens": {"min": min(lengths), "median": statistics.median(lengths), "max": max(lengths)},
               "servers": notes, "open_loop_rate": rate, "summary": summary, "ratios": ratios(summary), "accuracy": accuracy,
               "onnxruntime": getattr(runners.get("onnx_fp32"), "version", None)}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    svg_chart(summary, f"{env['cpu']}, {CORES} cores, {env['date']}; {args.concurrency} clients; "
                       f"median of {args.rounds} round(s)", os.path.join(args.out, "compare_servers.svg"))
    print(f"\nwrote {args.out}/results.json and {args.out}/compare_servers.svg")


if __name__ == "__main__":
    main()
