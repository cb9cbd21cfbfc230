#!/usr/bin/env python3
"""Server throughput and memory with seqserve's CPU pool (with and without its footprint ceiling)
vs libtorch's default CPU allocator, in one run on one machine; then records an allocation trace of the same workload and replays it
through the pool and two baselines (benchmarks/memory/replay_trace.cc).

For each allocator: start the server on the demo repository, drive the encoder at saturation with
perf_analyzer (shared length distribution), and read the process's peak RSS (VmHWM) and, for the
pool, its statistics from /metrics.

  .venv/bin/python benchmarks/memory/compare_allocators.py --build build \
      --lengths ../shared/data/seq_lengths.txt [--samples 1000] [--concurrency 64]
"""
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from loadgen import benchmark_arguments, make_inputs, perf  # noqa: E402
from seqserve_process import Server  # noqa: E402


def pool_metrics(server):
    values = {}
    for line in server.scrape().splitlines():
        if line.startswith("seqserve_memory_") and not line.startswith("#"):
            name = line.split("{")[0]
            values[name] = float(line.split()[-1])
    return values


def main():
    args = benchmark_arguments(__doc__, "seqserve_alloc_").parse_args()
    inputs = os.path.join(args.out, "inputs.json")
    make_inputs(args.lengths, args.samples, inputs)
    repository = os.path.join(args.build, "model_repository")
    print(f"results in {args.out}", flush=True)

    variants = {
        "pool": ["--cpu-allocator=pool"],
        "pool, no footprint ceiling": ["--cpu-allocator=pool", "--memory-footprint-ceiling=false"],
        "default": ["--cpu-allocator=default"],
    }
    rows = []
    for allocator, flags in variants.items():
        server = Server(os.path.join(args.build, "seqserve"), repository, flags)
        try:
            server.wait_ready_http()
            csv = os.path.join(args.out, allocator.replace(" ", "_").replace(",", "") + ".csv")
            result = perf(server, inputs, csv, ["--concurrency-range", str(args.concurrency)])
            if result is None:
                raise RuntimeError(open(csv + ".log").read())
            result["peak_rss_mib"] = server.memory_bytes("VmHWM") / 2**20
            result["pool"] = pool_metrics(server) if allocator != "default" else {}
            rows.append((allocator, result))
            print(allocator, result, flush=True)
        finally:
            server.stop()

    # The same workload once more with the pool tracing every allocation, then the replay.
    trace = os.path.join(args.out, "encoder.trace")
    server = Server(os.path.join(args.build, "seqserve"), repository, [f"--memory-trace={trace}"])
    try:
        server.wait_ready_http()
        perf(server, inputs, os.path.join(args.out, "traced.csv"), ["--concurrency-range", str(args.concurrency)])
    finally:
        server.stop()
    replay = subprocess.run([os.path.join(args.build, "benchmarks", "replay_trace"), trace],
                            capture_output=True, text=True, timeout=600)

    print(f"\n**Server at saturation** (closed loop, {args.concurrency} clients, encoder):\n")
    print("| CPU allocator | throughput (infer/s) | p50 (ms) | p99 (ms) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for allocator, r in rows:
        print(f"| {allocator} | {r['throughput']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['peak_rss_mib']:.0f} |")
    for allocator, r in rows:
        pool = r["pool"]
        if not pool:
            continue
        print(f"\n{allocator}, after the run: peak reserved {pool['seqserve_memory_peak_reserved_bytes'] / 2**20:.1f} MiB, "
              f"peak allocated {pool['seqserve_memory_peak_allocated_bytes'] / 2**20:.1f} MiB "
              f"(ratio {pool['seqserve_memory_peak_reserved_bytes'] / pool['seqserve_memory_peak_allocated_bytes']:.3f}), "
              f"backend allocations {pool['seqserve_memory_backend_allocations_total']:.0f}, "
              f"grows {pool['seqserve_memory_backend_grows_total']:.0f}, "
              f"decommits {pool['seqserve_memory_backend_decommits_total']:.0f}, "
              f"commits {pool['seqserve_memory_backend_commits_total']:.0f}, "
              f"cache hit ratio {pool['seqserve_memory_cache_hit_ratio']:.4f}, "
              f"fragmentation {pool['seqserve_memory_fragmentation_ratio']:.3f}")
    print("\n**Trace replay** (" + os.path.basename(trace) + "):\n")
    print(replay.stdout + replay.stderr)


if __name__ == "__main__":
    main()
