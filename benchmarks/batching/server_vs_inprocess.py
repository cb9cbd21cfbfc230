#!/usr/bin/env python3
"""The server's throughput as a fraction of the in-process limit, measured in alternation.

One seqserve server (the demo encoder as shipped: length_bucketed, 1 instance x 1 thread) stays
up; the script then alternates, --pairs times:
  1. perf_analyzer at saturation (closed loop, --concurrency clients, the shared lengths)
  2. the in-process limit: benchmarks/batching/inprocess_encoder on the same lengths, the best
     schedules (length-sorted batches under 512 and 1024 tokens, all sequences known in advance)
and prints each pair's ratio, then their median. On these shared 2-core machines either number
drifts by +-10% between minutes; pairing them minute by minute makes the ratio comparable.

  .venv/bin/python benchmarks/batching/server_vs_inprocess.py [--pairs 5] [--concurrency 64]
"""
import os
import statistics
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from loadgen import benchmark_arguments, make_inputs, perf  # noqa: E402
from seqserve_process import Server  # noqa: E402


def inprocess_best(args):
    """Best seq/s of the sorted schedules (median of 3 repeats each), and its schedule name."""
    out = subprocess.run(
        [os.path.join(args.build, "benchmarks", "inprocess_encoder"),
         f"--repository={os.path.join(args.build, 'model_repository')}", f"--lengths={args.lengths}",
         f"--sequences={args.samples}", "--repeats=3", "--threads=1", "--schedules=sorted/512,sorted/1024"],
        check=True, capture_output=True, text=True).stdout
    best = (0.0, "")
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("sorted/"):
            best = max(best, (float(cells[3]), cells[0]))
    return best


def main():
    parser = benchmark_arguments(__doc__, "seqserve_ratio_")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()

    inputs = os.path.join(args.out, "inputs.json")
    make_inputs(args.lengths, args.samples, inputs)
    server = Server(os.path.join(args.build, "seqserve"), os.path.join(args.build, "model_repository"), [])
    rows = []
    try:
        server.wait_ready_http()
        for i in range(args.pairs):
            s = perf(server, inputs, os.path.join(args.out, f"saturation{i}.csv"),
                     ["--concurrency-range", str(args.concurrency)])
            if s is None:
                raise RuntimeError(open(os.path.join(args.out, f"saturation{i}.csv.log")).read())
            limit, schedule = inprocess_best(args)
            rows.append((s["throughput"], limit, schedule, s["throughput"] / limit))
            print(f"pair {i}: server {s['throughput']:.1f} infer/s, in-process {limit:.1f} seq/s ({schedule}), "
                  f"ratio {s['throughput'] / limit:.3f}", flush=True)
    finally:
        server.stop()
    print(f"\n| pair | server (infer/s) | in-process limit (seq/s) | best schedule | server / limit |")
    print("|---|---|---|---|---|")
    for i, (server_rate, limit, schedule, ratio) in enumerate(rows):
        print(f"| {i} | {server_rate:.1f} | {limit:.1f} | {schedule} | {ratio:.3f} |")
    ratios = [r[3] for r in rows]
    print(f"\nmedian server / in-process limit: **{statistics.median(ratios):.3f}** "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {len(ratios)} pairs; "
          f"{args.concurrency} clients, {args.samples} requests)")


if __name__ == "__main__":
    main()
