#!/usr/bin/env python3
"""How to spend the process's cores on all-MiniLM-L6-v2: instances x intra-op threads.

Each layout is a copy of the demo repository's `minilm` (TorchScript) whose config.pbtxt says
`instance { count: C intra_op_threads: T }`; all copies are served by one server and measured
alternately, round by round, with Triton's perf_analyzer at saturation (closed loop,
--concurrency clients, real sentences tokenized by the checkpoint's tokenizer). The measurement
behind Note [cores from the pod] in runtime/resources/host_cpu.h.

  .venv/bin/python benchmarks/real_models/instance_layouts.py [--layouts 1x1,1x2,2x1,2x2] [--rounds 3]
"""
import os
import re
import shutil
import statistics

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from loadgen import benchmark_arguments, perf
from real_models.compare_formats import sentence_inputs
from seqserve_process import Server


def layout_repository(build, layouts, out):
    """One model per layout 'CxT', named minilm_CxT."""
    repo = os.path.join(out, "layouts")
    os.makedirs(repo, exist_ok=True)
    source = os.path.join(build, "model_repository", "minilm")
    for layout in layouts:
        count, threads = layout.split("x")
        name = f"minilm_{layout}"
        dest = os.path.join(repo, name)
        if not os.path.exists(dest):
            shutil.copytree(source, dest)
        config = open(os.path.join(source, "config.pbtxt")).read()
        config = re.sub(r'name: "minilm"', f'name: "{name}"', config)
        config = re.sub(r"instance \{[^}]*\}", "", config)
        config += f"\ninstance {{ count: {count} intra_op_threads: {threads} device: CPU }}\n"
        open(os.path.join(dest, "config.pbtxt"), "w").write(config)
    return repo


def main():
    parser = benchmark_arguments(__doc__, "seqserve_layouts_")
    parser.add_argument("--layouts", default="1x1,1x2,2x1,2x2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.set_defaults(concurrency=32)
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    checkpoint = os.path.join(args.build, "checkpoints", "all-MiniLM-L6-v2")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    os.makedirs(args.out, exist_ok=True)
    print(f"CPU {cpu}, {len(os.sched_getaffinity(0))} usable cores; results in {args.out}", flush=True)
    inputs = os.path.join(args.out, "sentences.json")
    lengths = sentence_inputs(checkpoint, args.samples, inputs)
    print(f"{len(lengths)} sentences, tokens median {statistics.median(lengths)} max {max(lengths)}; "
          f"concurrency {args.concurrency}", flush=True)
    results = {l: [] for l in layouts}
    server = Server(os.path.join(args.build, "seqserve"), layout_repository(args.build, layouts, args.out))
    try:
        import tritonclient.grpc as grpcclient
        server.wait_ready(grpcclient.InferenceServerClient(url=server.url), timeout=600)
        for r in range(args.rounds):
            for layout in (layouts if r % 2 == 0 else layouts[::-1]):
                result = perf(server, inputs, os.path.join(args.out, f"{layout}_{r}.csv"),
                              ["--concurrency-range", str(args.concurrency)], model=f"minilm_{layout}")
                print(f"round {r} {layout}: {result}", flush=True)
                if result:
                    results[layout].append(result)
    finally:
        server.stop()
    base = statistics.median(x["throughput"] for x in results[layouts[0]])
    print(f"\n| instances x threads | sentences/s (median) | vs {layouts[0]} | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for layout in layouts:
        if not results[layout]:
            print(f"| {layout} | no stable measurement | | | |")
            continue
        med = {k: statistics.median(x[k] for x in results[layout]) for k in ("throughput", "p50_ms", "p99_ms")}
        print(f"| {layout} | {med['throughput']:.1f} | {med['throughput'] / base:.2f} | "
              f"{med['p50_ms']:.0f} | {med['p99_ms']:.0f} |")


if __name__ == "__main__":
    main()
