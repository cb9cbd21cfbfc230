"""Tokenization speed, one thread: seqserve's tokenizer (seqserve-tokenize --bench, C++ in
process) against Hugging Face `tokenizers` (Rust, from Python: `encode` per text, and
`encode_batch` with its thread pool held to one thread) on the same texts, same tokenizer.json,
same truncation, padding off. Rounds alternate between the two; medians and ratios reported.

  .venv/bin/python benchmarks/tokenization/bench.py --binary build/runtime/tokenizer/seqserve-tokenize \
      [--families minilm,roberta,xlmr] [--seconds 3] [--rounds 3] [--json out.json]

Texts: "prose" is 2,000 real sentences (the shape of embedding traffic), "varied" the equality
tests' 10,000-text corpus (scripts, emoji, controls, long words). Truncation at 256 tokens.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Rayon (the thread pool behind encode_batch) reads this when it starts: one worker thread.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenization import corpus, families  # noqa: E402

MAX_LENGTH = 256


def _texts():
    varied = corpus.texts(10_000)
    return {"prose": corpus._prose()[:2000], "varied": varied}


def _seqserve(binary, path, texts, seconds):
    lines = "".join(json.dumps({"text": t, "max_length": MAX_LENGTH}) + "\n" for t in texts)
    done = subprocess.run([binary, path, "--bench", str(seconds)], input=lines.encode(), capture_output=True,
                          check=True, timeout=seconds * 10 + 120)
    result = json.loads(done.stdout)
    return result["us_per_text"], result["tokens_per_second"]


def _hf(path, texts, seconds, batch):
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_LENGTH)
    count = tokens = 0
    start = time.perf_counter()
    while True:
        if batch:
            encodings = tokenizer.encode_batch(texts)
            tokens += sum(len(e.ids) for e in encodings)
        else:
            for text in texts:
                tokens += len(tokenizer.encode(text).ids)
        count += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed * 1e6 / count, tokens / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--families", default="minilm,roberta,xlmr")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import platform
    import machine_info  # scripts/machine_info.py
    info = machine_info.describe()
    print(f"# {machine_info.one_line(info)}", flush=True)
    import tokenizers
    print(f"# tokenizers {tokenizers.__version__}, python {platform.python_version()}, one thread, "
          f"truncation {MAX_LENGTH}, padding off", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = families.build(tmp, args.families.split(","))
        for name, texts in _texts().items():
            for family, path in paths.items():
                runs = {"seqserve": [], "hf_encode": [], "hf_encode_batch": []}
                for _ in range(args.rounds):
                    runs["seqserve"].append(_seqserve(args.binary, path, texts, args.seconds))
                    runs["hf_encode"].append(_hf(path, texts, args.seconds, batch=False))
                    runs["hf_encode_batch"].append(_hf(path, texts, args.seconds, batch=True))
                us = {k: statistics.median(v[0] for v in r) for k, r in runs.items()}
                tps = {k: statistics.median(v[1] for v in r) for k, r in runs.items()}
                row = {"texts": name, "family": family, "us_per_text": us, "tokens_per_second": tps,
                       "speedup_vs_encode": us["hf_encode"] / us["seqserve"],
                       "speedup_vs_encode_batch": us["hf_encode_batch"] / us["seqserve"]}
                rows.append(row)
                print(f"{name:7s} {family:8s} µs/text: seqserve {us['seqserve']:7.2f}  tokenizers encode "
                      f"{us['hf_encode']:7.2f}  encode_batch {us['hf_encode_batch']:7.2f}   "
                      f"tokens/s seqserve {tps['seqserve']:,.0f}   seqserve faster x{row['speedup_vs_encode']:.2f} "
                      f"(encode) x{row['speedup_vs_encode_batch']:.2f} (encode_batch)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
