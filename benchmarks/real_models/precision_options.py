#!/usr/bin/env python3
"""What each `optimization { precision }` costs and gains on all-MiniLM-L6-v2, on this CPU.

For FP32, BF16, FP16 and INT8_DYNAMIC: packs the model with `scripts/seqserve-pack --precision`
(TorchScript), then in one run, alternating round by round,
  - in-process throughput of the packed model.pt (torch.jit.load, torch threads = the usable
    cores, length-sorted batches of 32 over --sentences real sentences);
  - accuracy against FP32 over the same sentences: min and mean cosine similarity;
and finally whether seqserve serves each pack on this machine (one server on all four: READY, or
UNAVAILABLE with its reason, e.g. FP16 on a CPU without avx512_fp16).

  .venv/bin/python benchmarks/real_models/precision_options.py [--sentences 1000] [--rounds 3] [--out DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time


from real_models.compare_servers import (MODEL, ROOT, TorchScriptRunner, benchmark_texts, cosine, embed, in_process_throughput,  # noqa: E402
                             machine, pack, tokenize)
from seqserve_process import Server

PRECISIONS = ["fp32", "bf16", "fp16", "int8_dynamic"]


def served_state(build, repos, out):
    """{precision: "READY" or the reason it is UNAVAILABLE}, from one server on all packs."""
    import tritonclient.grpc as grpcclient
    both = os.path.join(out, "all_precisions")
    for precision, repo in repos.items():
        name = f"{MODEL}_{precision}"
        shutil.copytree(os.path.join(repo, MODEL), os.path.join(both, name), dirs_exist_ok=True)
        config = os.path.join(both, name, "config.pbtxt")
        text = open(config).read().replace(f'name: "{MODEL}"', f'name: "{name}"')
        open(config, "w").write(text)
    server = Server(os.path.join(build, "seqserve"), both)
    try:
        client = grpcclient.InferenceServerClient(url=server.url)
        states = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            index = {m["name"]: m for m in client.get_model_repository_index(as_json=True).get("models", [])}
            if len(index) == len(repos) and all(m.get("state") in ("READY", "UNAVAILABLE") for m in index.values()):
                for precision in repos:
                    m = index[f"{MODEL}_{precision}"]
                    states[precision] = "READY" if m["state"] == "READY" else f"UNAVAILABLE: {m.get('reason', '')}"
                return states
            time.sleep(0.2)
        raise RuntimeError(server.read_log())
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="seqserve_precisions_"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = machine()
    print(f"{env['date']}  CPU {env['cpu']}, {env['usable_cores']} usable cores, flags "
          + ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in env["flags"].items())
          + f"; torch {env['torch']}; results in {args.out}", flush=True)
    checkpoint = os.path.join(args.build, "checkpoints", "all-MiniLM-L6-v2")
    encodings = tokenize(checkpoint, benchmark_texts(args.sentences))
    lengths = sorted(len(e[0]) for e in encodings)
    print(f"{len(encodings)} texts, tokens median {statistics.median(lengths)} max {lengths[-1]}", flush=True)

    repos = {p: pack(checkpoint, p, args.out) for p in PRECISIONS}
    repos = {p: r for p, r in repos.items() if r is not None}
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    runners = {p: TorchScriptRunner(os.path.join(r, MODEL, "1", "model.pt")) for p, r in repos.items()}
    everything = range(len(encodings))
    reference = embed(runners["fp32"], encodings, everything)
    accuracy = {}
    for p, runner in runners.items():
        accuracy[p] = cosine(embed(runner, encodings, everything), reference)
        print(f"accuracy {p}: min cosine {accuracy[p]['min_cosine']:.6f}, mean {accuracy[p]['mean_cosine']:.6f}",
              flush=True)
    speed = {p: [] for p in runners}
    for r in range(args.rounds):
        for p in (PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]):
            if p in runners:
                speed[p].append(in_process_throughput(runners[p], encodings)["throughput"])
                print(f"round {r} {p}: {speed[p][-1]:.1f} sentences/s", flush=True)
    served = served_state(args.build, repos, args.out)

    base = statistics.median(speed["fp32"])
    print("\n| precision | in-process sentences/s (median) | vs FP32 | min cosine to FP32 | mean cosine | seqserve here |")
    print("|---|---|---|---|---|---|")
    for p in runners:
        s = statistics.median(speed[p])
        print(f"| {p.upper()} | {s:.1f} | {s / base:.2f}x | {accuracy[p]['min_cosine']:.6f} | "
              f"{accuracy[p]['mean_cosine']:.6f} | {served[p]} |")
    json.dump({"machine": env, "accuracy": accuracy, "throughput": speed, "served": served},
              open(os.path.join(args.out, "results.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
