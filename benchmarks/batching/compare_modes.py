#!/usr/bin/env python3
"""Compares seqserve's batching modes on the demo encoder with Triton's perf_analyzer, on the
shared sequence-length distribution, in one run on one machine.

For each mode (none, pad_to_max, length_bucketed) it starts the server on a copy of the demo
repository whose encoder config selects that mode, then
  1. saturation: closed loop at --concurrency clients -> throughput, p50/p99 latency, and the
     padding efficiency read from the server's /metrics;
  2. 70% load: open loop at 70% of length_bucketed's saturation rate (the same offered load for
     every mode) -> throughput, p50/p99.
With --inprocess it then runs benchmarks/batching/inprocess_encoder on the same lengths (the
in-process limit: libtorch directly, no gRPC, all sequences known in advance) and prints each
mode's throughput as a fraction of it, so both sides of that ratio come from one run.
Prints markdown tables; writes perf_analyzer's CSVs under --out.

  .venv/bin/python benchmarks/batching/compare_modes.py --build build \
      --lengths ../shared/data/seq_lengths.txt [--samples 1000] [--concurrency 64] \
      [--inprocess] [--no-rate]
"""
import os
import subprocess

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from loadgen import benchmark_arguments, make_inputs, perf  # noqa: E402
from seqserve_process import Server, encoder_repository  # noqa: E402

MODES = {
    # TF Serving's pad_variable_length_inputs has no token budget: one FIFO, batches of up to
    # max_batch_size padded to their longest member.
    "none": "batching { mode: NONE }",
    "pad_to_max": "batching { mode: PAD_TO_MAX max_batch_tokens: 16384 }",
    "length_bucketed": "batching { mode: LENGTH_BUCKETED }",
}


def padding_efficiency(server):
    for line in server.scrape().splitlines():
        if line.startswith('seqserve_padding_efficiency_ratio{model="encoder"'):
            return float(line.split()[-1])
    return float("nan")


def main():
    parser = benchmark_arguments(__doc__, "seqserve_bench_")
    parser.add_argument("--modes", default="length_bucketed,pad_to_max,none")
    parser.add_argument("--server-flag", action="append", default=[])
    parser.add_argument("--inprocess", action="store_true", help="also measure the in-process limit")
    parser.add_argument("--no-rate", action="store_true", help="skip the 70%% open-loop runs")
    parser.add_argument("--variant", action="append", default=[],
                        help='extra mode NAME="batching { ... }" (then name it in --modes)')
    args = parser.parse_args()
    for variant in args.variant:
        name, text = variant.split("=", 1)
        MODES[name] = text

    inputs = os.path.join(args.out, "inputs.json")
    lengths = make_inputs(args.lengths, args.samples, inputs)
    print(f"{len(lengths)} requests, lengths median {int(np.median(lengths))}, max {max(lengths)}; "
          f"concurrency {args.concurrency}; results in {args.out}", flush=True)
    modes = args.modes.split(",")
    saturation, loaded = {}, {}
    rate = None
    for mode in modes:
        work = os.path.join(args.out, mode)
        os.makedirs(work)
        server = Server(os.path.join(args.build, "seqserve"), encoder_repository(os.path.join(args.build, "model_repository"), MODES[mode], os.path.join(work, "repository")),
                        args.server_flag)
        try:
            server.wait_ready_http()
            saturation[mode] = perf(server, inputs, os.path.join(work, "saturation.csv"),
                                    ["--concurrency-range", str(args.concurrency)])
            if saturation[mode] is None:  # a slow mode's windows vary more: one retry, looser
                saturation[mode] = perf(server, inputs, os.path.join(work, "saturation.csv"),
                                        ["--concurrency-range", str(args.concurrency), "--stability-percentage", "50"])
            if saturation[mode] is None:
                raise RuntimeError(open(os.path.join(work, "saturation.csv.log")).read())
            saturation[mode]["padding_efficiency"] = padding_efficiency(server)
            print(mode, "saturation", saturation[mode], flush=True)
            if rate is None:
                rate = max(1, int(0.7 * saturation[mode]["throughput"]))
            if args.no_rate:
                continue
            loaded[mode] = perf(server, inputs, os.path.join(work, "rate.csv"),
                                ["--request-rate-range", str(rate), "--async", "--max-threads", "16",
                                 "--stability-percentage", "50"], timeout=300)
            print(mode, f"at {rate}/s", loaded[mode], flush=True)
        finally:
            server.stop()

    print(f"\n**Saturation** (closed loop, {args.concurrency} clients):\n")
    print("| mode | throughput (infer/s) | p50 (ms) | p99 (ms) | padding efficiency |")
    print("|---|---|---|---|---|")
    for mode in modes:
        s = saturation[mode]
        print(f"| {mode} | {s['throughput']:.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['padding_efficiency']:.2f} |")
    if not args.no_rate:
        print_loaded(modes, loaded, rate)
    if "pad_to_max" in saturation and "length_bucketed" in saturation:
        ratio = saturation["length_bucketed"]["throughput"] / saturation["pad_to_max"]["throughput"]
        print(f"\nlength_bucketed / pad_to_max throughput at saturation: {ratio:.2f}x")
    if "none" in saturation and "length_bucketed" in saturation:
        ratio = saturation["length_bucketed"]["throughput"] / saturation["none"]["throughput"]
        print(f"length_bucketed / none throughput at saturation: {ratio:.2f}x")
    if args.inprocess:
        print_inprocess(args, modes, saturation)


def print_inprocess(args, modes, saturation):
    """Runs the in-process limit on the same lengths and prints server / limit per mode."""
    table = subprocess.run(
        [os.path.join(args.build, "benchmarks", "inprocess_encoder"),
         f"--repository={os.path.join(args.build, 'model_repository')}", f"--lengths={args.lengths}",
         f"--sequences={args.samples}", "--repeats=3", "--threads=1"],
        check=True, capture_output=True, text=True).stdout
    print("\n**In-process limit** (same lengths, libtorch directly, all sequences known in advance):\n")
    print(table)
    rates = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("schedule", "---"):
            try:
                rates[cells[0]] = float(cells[3])
            except ValueError:
                pass
    best = max(rates.values())
    print(f"best schedule: {best:.1f} seq/s")
    for mode in modes:
        print(f"- {mode}: {saturation[mode]['throughput']:.1f} / {best:.1f} = "
              f"**{saturation[mode]['throughput'] / best:.2f}** of the in-process limit")


def print_loaded(modes, loaded, rate):
    print(f"\n**Same offered load**: {rate} req/s (70% of {modes[0]}'s saturation), open loop:\n")
    print("| mode | throughput (infer/s) | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|")
    for mode in modes:
        s = loaded[mode]
        if s is None:
            print(f"| {mode} | overloaded: no stable measurement | | |")
        else:
            print(f"| {mode} | {s['throughput']:.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
