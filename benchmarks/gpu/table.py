#!/usr/bin/env python3
"""Turns gpu_encoder_bench's JSON lines into the markdown table of benchmarks/gpu/check.sh.

Usage: table.py RESULTS.jsonl [MACHINE.txt]
One row per (dtype, instances, memory cap, allocator): medians over the repeats of each number, so one
noisy run on a shared machine does not decide the comparison. Standard library only (it runs on
the GPU machine's Python).
"""
import json
import statistics
import sys


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    with open(sys.argv[1]) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            print("".join("    " + line for line in f))
    groups = {}
    for r in runs:
        groups.setdefault((r["dtype"], r["instances"], r["memory_cap_mib"], r["allocator"]), []).append(r)
    print("| dtype | instances | cap MiB | allocator | runs | ok / failed | infer/s | batch p50 ms | batch p99 ms "
          "| request p99 ms | peak reserved MiB | peak allocated MiB | reserved / allocated "
          "| cudaMalloc calls | allocator OOMs | batch splits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    mib = 1 << 20
    for (dtype, instances, cap, allocator), rows in sorted(groups.items(), key=lambda kv: (kv[0][2], -kv[0][1], kv[0][0], kv[0][3])):
        stats = rows[0]["has_memory_stats"]
        print(f"| {dtype} | {instances} | {cap or '-'} | {allocator} | {len(rows)} "
              f"| {median(rows, 'ok'):.0f} / {median(rows, 'requests') - median(rows, 'ok'):.0f} "
              f"| {median(rows, 'throughput'):.0f} | {median(rows, 'batch_p50_ms'):.2f} "
              f"| {median(rows, 'batch_p99_ms'):.2f} | {median(rows, 'request_p99_ms'):.1f} "
              + (f"| {median(rows, 'peak_reserved_bytes') / mib:.1f} | {median(rows, 'peak_allocated_bytes') / mib:.1f} "
                 f"| {median(rows, 'reserved_over_allocated'):.3f} | {median(rows, 'device_allocations'):.0f} "
                 f"| {median(rows, 'allocator_ooms'):.0f} " if stats else "| - | - | - | - | - ")
              + f"| {median(rows, 'batch_splits'):.0f} |")
    print()
    for (dtype, instances, cap, allocator), rows in sorted(groups.items()):
        native = groups.get((dtype, instances, cap, "native"))
        if allocator == "native" or not native:
            continue
        line = (f"- {dtype}, {instances} instance(s){f', cap {cap} MiB' if cap else ''}: {allocator}/native throughput "
                f"{median(rows, 'throughput') / median(native, 'throughput'):.3f}")
        if rows[0]["has_memory_stats"] and native[0]["has_memory_stats"]:
            line += (f"; reserved/allocated {median(rows, 'reserved_over_allocated'):.3f} ({allocator}) vs "
                     f"{median(native, 'reserved_over_allocated'):.3f} (native)")
        print(line)


if __name__ == "__main__":
    main()
