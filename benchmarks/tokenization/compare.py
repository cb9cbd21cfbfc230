"""Runs the same encode requests through Hugging Face `tokenizers` and seqserve-tokenize.

A request is a dict {"text", "text_pair" (optional), "max_length" (optional), "strategy",
"side"} as runtime/tokenizer/tokenize_tool.cc reads it; an encoding is {"ids", "type_ids"} or
{"error": message}.
"""
import json
import subprocess


def requests_for(texts, seed=7):
    """Single texts and pairs, without and with truncation (LongestFirst at several lengths;
    OnlyFirst, OnlySecond and left-side cuts on a share of them)."""
    import random
    rng = random.Random(seed)
    out = []
    for i, text in enumerate(texts):
        pair = texts[(i * 7919 + 13) % len(texts)]
        out.append({"text": text})
        out.append({"text": text, "text_pair": pair})
        max_length = rng.choice([4, 8, 16, 32, 64, 128, 256])
        strategy = rng.choice(["LongestFirst"] * 4 + ["OnlyFirst", "OnlySecond"])
        side = rng.choice(["Right"] * 3 + ["Left"])
        out.append({"text": text, "max_length": max_length, "strategy": "LongestFirst", "side": side})
        out.append({"text": text, "text_pair": pair, "max_length": max_length, "strategy": strategy, "side": side})
    return out


STRATEGIES = {"LongestFirst": "longest_first", "OnlyFirst": "only_first", "OnlySecond": "only_second"}


def reference(tokenizer_json, requests):
    """`tokenizers`' encodings, padding off, with each request's truncation: requests with the
    same truncation go through one `encode_batch`, and one by one only when the batch fails (a
    truncation `tokenizers` refuses), so that each refusal is kept with its request."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(tokenizer_json)
    tokenizer.no_padding()
    groups = {}
    for i, request in enumerate(requests):
        key = (request.get("max_length") or 0, request.get("strategy"), request.get("side"))
        groups.setdefault(key, []).append(i)
    out = [None] * len(requests)
    for (max_length, strategy, side), members in groups.items():
        if max_length:
            tokenizer.enable_truncation(max_length, strategy=STRATEGIES[strategy], direction=side.lower())
        else:
            tokenizer.no_truncation()
        inputs = [(requests[i]["text"], requests[i]["text_pair"]) if "text_pair" in requests[i] else requests[i]["text"]
                  for i in members]
        try:
            encodings = tokenizer.encode_batch(inputs)
        except Exception:  # one refused truncation fails the batch: redo this group one by one
            encodings = None
        for n, i in enumerate(members):
            if encodings is not None:
                out[i] = {"ids": encodings[n].ids, "type_ids": encodings[n].type_ids}
                continue
            try:
                encoding = tokenizer.encode(requests[i]["text"], requests[i].get("text_pair"))
                out[i] = {"ids": encoding.ids, "type_ids": encoding.type_ids}
            except Exception as e:  # `tokenizers` refuses some truncations; seqserve must refuse them too
                out[i] = {"error": str(e)}
    return out


def seqserve(binary, tokenizer_json, requests, timeout=600):
    """seqserve-tokenize's encodings of the same requests."""
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    done = subprocess.run([binary, tokenizer_json], input=lines.encode(), capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"seqserve-tokenize failed ({done.returncode}): {done.stderr.decode()}")
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def differences(requests, expected, actual):
    """(request, expected, actual) for each request whose encodings differ; an error on both
    sides counts as equal."""
    out = []
    for request, want, got in zip(requests, expected, actual):
        if ("error" in want) != ("error" in got):
            out.append((request, want, got))
        elif "error" not in want and (want["ids"] != got["ids"] or want["type_ids"] != got["type_ids"]):
            out.append((request, want, got))
    if len(expected) != len(actual):
        out.append(("count", len(expected), len(actual)))
    return out
