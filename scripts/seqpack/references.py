"""The manifest's references: requests the packed model must answer as eager PyTorch did.

Real sentences of clearly different lengths (3, about 12, about 40 tokens, and a paragraph cut at
the max length), tokenized with the directory's own tokenizer, each a request of one row; plus one
request of three rows right-padded to the longest (pad id, attention 0). A directory without a
tokenizer gets deterministic pseudo-random token ids of the same lengths instead, and says so in
the reference's `text`.
"""
import os

import torch

from seqpack.errors import UsageError
from seqpack.progress import progress

SENTENCES = [
    "Hello",
    "A man is playing a guitar on the stage.",
    "Sentence embeddings map a piece of text to a fixed-size vector, so that texts with similar "
    "meanings end up close to each other and can be compared, clustered or searched with simple "
    "vector arithmetic.",
]
PARAGRAPH = (
    "The old lighthouse stood at the edge of the cliff for more than two hundred years, guiding "
    "fishing boats and merchant ships through the narrow channel between the rocks. Every evening "
    "the keeper climbed the spiral staircase, trimmed the wick, polished the great lens and watched "
    "the beam sweep across the dark water. When electric lamps replaced the oil burners, the keeper "
    "stayed on to look after the machinery, and when the light was finally automated he moved into "
    "the village below, where he spent his last years telling visitors about storms, shipwrecks and "
    "the night a whale surfaced in the harbour. "
)
PSEUDO_LENGTHS = (3, 12, 40)
SEED = 20240601


def _tokenizer(source):
    if not source.tokenizer_dir:
        return None
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(source.tokenizer_dir)
    except Exception as e:  # a tokenizer that does not load is reported, and replaced by pseudo-random ids
        progress(f"note: the tokenizer in {source.tokenizer_dir} does not load ({type(e).__name__}: "
                 f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); references use pseudo-random ids")
        return None


def _rows_from_tokenizer(tokenizer, source, loaded, names):
    max_length = source.max_length
    paragraph = PARAGRAPH
    while len(tokenizer(paragraph)["input_ids"]) <= max_length:
        paragraph += PARAGRAPH
    rows = []
    for text in SENTENCES + [paragraph]:
        enc = tokenizer(text, truncation=True, max_length=max_length)
        ids = list(enc["input_ids"])
        row = {"input_ids": ids, "attention_mask": [1] * len(ids)}
        if "token_type_ids" in names:
            row["token_type_ids"] = list(enc.get("token_type_ids") or [0] * len(ids))
        bad = [i for i in ids if not 0 <= i < loaded.vocab_size]
        if bad:
            raise UsageError(f"the tokenizer in {source.tokenizer_dir} gives token id {bad[0]}, outside the model's "
                             f"embedding table [0, {loaded.vocab_size}): tokenizer and weights do not match")
        label = text if text is not paragraph else (
            f"{PARAGRAPH.strip()} [repeated, truncated to {len(ids)} tokens]")
        rows.append((label, row))
    return rows


def _pseudo_rows(source, loaded, names):
    generator = torch.Generator().manual_seed(SEED)
    rows = []
    for length in list(PSEUDO_LENGTHS) + [source.max_length]:
        length = min(length, source.max_length)
        ids = torch.randint(0, loaded.vocab_size, (length,), generator=generator)
        ids = torch.where(ids == loaded.pad_token_id, (ids + 1) % loaded.vocab_size, ids).tolist()
        row = {"input_ids": ids, "attention_mask": [1] * length}
        if "token_type_ids" in names:
            row["token_type_ids"] = [0] * length
        rows.append((f"pseudo-random token ids, seed {SEED}, {length} tokens (no tokenizer in "
                     f"{os.path.basename(source.root_dir)})", row))
    return rows


def build(eager, source, loaded, names, output_name):
    """The references, as dicts in the manifest's JSON shape."""
    tokenizer = _tokenizer(source)
    rows = (_rows_from_tokenizer(tokenizer, source, loaded, names) if tokenizer is not None
            else _pseudo_rows(source, loaded, names))
    # Distinct lengths only (a short max length can cut several texts to the same length).
    seen, singles = set(), []
    for text, row in rows:
        if len(row["input_ids"]) not in seen:
            seen.add(len(row["input_ids"]))
            singles.append((text, row))
    requests = [(text, {n: [row[n]] for n in names}) for text, row in singles]

    batch_rows = [row for _, row in singles[:3]][:source.max_batch_size]
    if len(batch_rows) >= 2:
        longest = max(len(r["input_ids"]) for r in batch_rows)
        pad = {"input_ids": loaded.pad_token_id, "attention_mask": 0, "token_type_ids": 0}
        padded = {n: [r[n] + [pad[n]] * (longest - len(r[n])) for r in batch_rows] for n in names}
        lengths = ", ".join(str(len(r["input_ids"])) for r in batch_rows)
        label = (f"the first {len(batch_rows)} references as one request of {len(batch_rows)} rows ({lengths} tokens), "
                 f"right-padded to {longest} (attention_mask 0 on padding)")
        if tokenizer is not None:
            label += ": " + " | ".join(text for text, _ in singles[:len(batch_rows)])
        requests.append((label, padded))

    references = []
    with torch.no_grad():
        for text, tensors in requests:
            inputs = [torch.tensor(tensors[n], dtype=torch.int64) for n in names]
            out = eager(*inputs).float()
            if not torch.isfinite(out).all():
                raise UsageError(f"eager PyTorch gives non-finite {output_name} for reference '{text[:40]}'")
            references.append({
                "text": text,
                "inputs": [{"name": n, "shape": list(t.shape), "int64_data": t.flatten().tolist()}
                           for n, t in zip(names, inputs)],
                "outputs": [{"name": output_name, "shape": list(out.shape),
                             "float_data": [float(v) for v in out.flatten().tolist()]}],
            })
    return references, tokenizer is not None
