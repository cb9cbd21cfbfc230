#!/usr/bin/env python3
"""Compares two builds of seqserve on a demo model (the encoder, or the real MiniLM with --model
minilm) with Triton's perf_analyzer, alternating
them round by round in one run, so that a change's cost on valid traffic is read as a ratio of
medians measured side by side (these machines are shared and noisy).

Each build serves its own demo repository (<build>/model_repository, so each runs the config its
code understands) with the encoder's batching as shipped; the load is the shared length
distribution at saturation (closed loop, --concurrency clients).

  .venv/bin/python benchmarks/batching/compare_builds.py --baseline /tmp/old/build \
      --build build [--model encoder|minilm] [--rounds 3] [--samples 1000] [--concurrency 64]
"""
import os
import statistics

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from loadgen import benchmark_arguments, make_inputs, perf  # noqa: E402
from seqserve_process import Server  # noqa: E402


def main():
    parser = benchmark_arguments(__doc__, "seqserve_builds_")
    parser.add_argument("--baseline", required=True, help="build folder of the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="encoder", choices=("encoder", "minilm"))
    args = parser.parse_args()
    inputs = os.path.join(args.out, "inputs.json")
    # MiniLM as packed for the demo serves up to 256 tokens; longer lengths are cut to it.
    minilm = args.model == "minilm"
    lengths = make_inputs(args.lengths, args.samples, inputs, token_type_ids=minilm, max_length=256 if minilm else None)
    print(f"{args.model}: {len(lengths)} requests, concurrency {args.concurrency}; results in {args.out}", flush=True)
    builds = {"baseline": args.baseline, "change": args.build}
    results = {name: [] for name in builds}
    for round_index in range(args.rounds):
        # Alternate which build goes first, so neither always runs on a warmer machine.
        order = list(builds) if round_index % 2 == 0 else list(reversed(builds))
        for name in order:
            build = builds[name]
            server = Server(os.path.join(build, "seqserve"), os.path.join(build, "model_repository"))
            try:
                server.wait_ready_http()
                csv_path = os.path.join(args.out, f"{name}-{round_index}.csv")
                result = perf(server, inputs, csv_path, ["--concurrency-range", str(args.concurrency)],
                              model=args.model)
                if result is None:
                    raise RuntimeError(open(csv_path + ".log").read())
                results[name].append(result)
                print(f"round {round_index} {name}: {result}", flush=True)
            finally:
                server.stop()

    print(f"\n**Saturation** (closed loop, {args.concurrency} clients), medians of {args.rounds} rounds:\n")
    print("| build | throughput (infer/s) | p50 (ms) | p99 (ms) | per-round throughput |")
    print("|---|---|---|---|---|")
    for name in builds:
        rows = results[name]
        median = {k: statistics.median(r[k] for r in rows) for k in ("throughput", "p50_ms", "p99_ms")}
        per_round = ", ".join(f"{r['throughput']:.1f}" for r in rows)
        print(f"| {name} | {median['throughput']:.1f} | {median['p50_ms']:.1f} | {median['p99_ms']:.1f} | {per_round} |")
    ratios = [c["throughput"] / b["throughput"] for b, c in zip(results["baseline"], results["change"])]
    print(f"\nchange / baseline throughput per round: {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
