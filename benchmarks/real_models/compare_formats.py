#!/usr/bin/env python3
"""all-MiniLM-L6-v2 as TorchScript (`minilm`) and as an AOTInductor package (`minilm_pt2`), side
by side in one run, as the build packed them into <build>/model_repository:

  1. deployment latency: process start -> SERVING (gRPC health) of a server holding only that
     model, median of --starts runs, the formats alternating;
  2. packing time of each format by scripts/seqserve-pack, from the checkpoint directory, with a
     fresh Inductor cache (what a first deployment pays);
  3. throughput and p50/p99 at saturation with Triton's perf_analyzer (closed loop,
     --concurrency clients), requests being real sentences (benchmarks/common/sentences.py) tokenized
     by the checkpoint's tokenizer, both models on one server, alternating round by round.

  .venv/bin/python benchmarks/real_models/compare_formats.py [--build build] [--starts 5] [--rounds 3]
"""
import json
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from common.sentences import client_tokenizer, real_sentences  # benchmarks/ and scripts/ on .venv's path
from loadgen import benchmark_arguments, perf
from seqserve_process import Server

MODELS = ["minilm", "minilm_pt2"]


def single_model_repository(build, model, out):
    repo = os.path.join(out, f"repo_{model}")
    if not os.path.exists(repo):
        os.makedirs(repo)
        os.symlink(os.path.join(build, "model_repository", model), os.path.join(repo, model))
    return repo


def start_to_serving(build, repo):
    """Seconds from Popen to gRPC health SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    started = time.monotonic()
    server = Server(os.path.join(build, "seqserve"), repo)
    try:
        stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(server.url))
        while time.monotonic() - started < 300:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            time.sleep(0.01)
        raise RuntimeError(server.read_log())
    finally:
        server.stop()


def pack_seconds(fmt, checkpoint, out):
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=tempfile.mkdtemp(prefix="inductor_", dir=out), HF_HUB_OFFLINE="1")
    repo = os.path.join(out, f"packed_{fmt}")
    started = time.monotonic()
    subprocess.run([os.path.join(ROOT, "scripts", "seqserve-pack"), "--hf", checkpoint, "--name", "m",
                    "--repository", repo, "--format", fmt, "--force"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def sentence_inputs(checkpoint, samples, path):
    tokenizer = client_tokenizer(os.path.join(checkpoint, "tokenizer.json"))
    data, lengths = [], []
    for e in tokenizer.encode_batch(real_sentences(samples)):
        n = len(e.ids)
        lengths.append(n)
        data.append({"input_ids": {"content": e.ids, "shape": [n]},
                     "attention_mask": {"content": e.attention_mask, "shape": [n]},
                     "token_type_ids": {"content": e.type_ids, "shape": [n]}})
    json.dump({"data": data}, open(path, "w"))
    return lengths


def main():
    parser = benchmark_arguments(__doc__, "seqserve_formats_")
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.set_defaults(concurrency=32)
    args = parser.parse_args()
    checkpoint = os.path.join(args.build, "checkpoints", "all-MiniLM-L6-v2")
    print(f"results in {args.out}", flush=True)

    starts = {m: [] for m in MODELS}
    for i in range(args.starts):
        for m in (MODELS if i % 2 == 0 else MODELS[::-1]):
            starts[m].append(start_to_serving(args.build, single_model_repository(args.build, m, args.out)))
    print("start -> SERVING (s):", {m: [round(x, 2) for x in v] for m, v in starts.items()}, flush=True)

    packing = {"minilm": pack_seconds("torchscript", checkpoint, args.out),
               "minilm_pt2": pack_seconds("pt2", checkpoint, args.out)}
    print("packing (s):", {m: round(v, 1) for m, v in packing.items()}, flush=True)

    inputs = os.path.join(args.out, "sentences.json")
    lengths = sentence_inputs(checkpoint, args.samples, inputs)
    print(f"{len(lengths)} sentences, tokens min {min(lengths)} median {statistics.median(lengths)} "
          f"max {max(lengths)}; concurrency {args.concurrency}", flush=True)
    load = {m: [] for m in MODELS}
    server = Server(os.path.join(args.build, "seqserve"), os.path.join(args.build, "model_repository"))
    try:
        import tritonclient.grpc as grpcclient
        server.wait_ready(grpcclient.InferenceServerClient(url=server.url), timeout=300)
        for r in range(args.rounds):
            for m in (MODELS if r % 2 == 0 else MODELS[::-1]):
                result = perf(server, inputs, os.path.join(args.out, f"{m}_{r}.csv"),
                              ["--concurrency-range", str(args.concurrency)], model=m)
                print(f"round {r} {m}: {result}", flush=True)
                if result:
                    load[m].append(result)
    finally:
        server.stop()

    def med(m, key):
        values = [x[key] for x in load[m]]
        return statistics.median(values) if values else float("nan")

    print("\n| | minilm (TorchScript) | minilm_pt2 (.pt2) | pt2 / TorchScript |")
    print("|---|---|---|---|")
    rows = [("start -> SERVING, median s", statistics.median(starts["minilm"]), statistics.median(starts["minilm_pt2"])),
            ("packing, s", packing["minilm"], packing["minilm_pt2"]),
            ("throughput, sentences/s (median)", med("minilm", "throughput"), med("minilm_pt2", "throughput")),
            ("p50 latency, ms (median)", med("minilm", "p50_ms"), med("minilm_pt2", "p50_ms")),
            ("p99 latency, ms (median)", med("minilm", "p99_ms"), med("minilm_pt2", "p99_ms"))]
    for name, ts, pt2 in rows:
        print(f"| {name} | {ts:.2f} | {pt2:.2f} | {pt2 / ts:.2f} |")


if __name__ == "__main__":
    main()
