"""The model's tokenizer, packed with it: tokenizer.json copied into the version, its SHA-256 and
family in the manifest, and reference texts (non-ASCII ones and a pair among them) with the ids
Hugging Face `tokenizers` gives them, truncated to the model's max length. The server tokenizes
the references again at every load and refuses the version if one id differs
(runtime/repository/tokenizer_check.h).

At packing the same references also go through seqserve's own tokenizer (seqserve-tokenize, the
C++ code the server runs): a tokenizer.json with a component seqserve does not implement is
refused here with its name, and one whose ids would differ is refused before anything is written.
Without that binary (a packer used outside a seqserve build) the tokenizer is packed unchecked and
the server's load-time check is the first one.

A checkpoint with only a slow tokenizer's files (vocab.txt, sentencepiece models) gets the
tokenizer.json that `transformers` converts them to, as its fast tokenizer would use.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from seqpack.errors import UsageError
from seqpack.progress import progress

FILE = "tokenizer.json"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Real texts of several scripts and shapes; the last reference is the paragraph, cut at max length.
TEXTS = [
    "Hello",
    "A man is playing a guitar on the stage.",
    "Crème brûlée in São Paulo, naïve façade, Øresund — ¿qué tal?",
    "東京は日本の首都です。",
    "القاهرة هي عاصمة مصر",
    "I ❤️ robots 🤖 and my family 👨‍👩‍👧 too!",
    "Ünïcödé   whitespace\tand\nnewlines",
    "",
]
PAIR = ("how far is the moon from the earth",
        "The Moon orbits Earth at an average distance of 384,400 km, about 30 times Earth's diameter.")
PARAGRAPH = ("The old lighthouse stood at the edge of the cliff for more than two hundred years, guiding fishing "
             "boats and merchant ships through the narrow channel between the rocks. ")


def find_binary(given=None):
    """seqserve-tokenize: --tokenizer-binary, $SEQSERVE_TOKENIZE, PATH, then this tree's build."""
    for candidate in (given, os.environ.get("SEQSERVE_TOKENIZE"), shutil.which("seqserve-tokenize"),
                      os.path.join(ROOT, "build", "runtime", "tokenizer", "seqserve-tokenize")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _tokenizer_json(tokenizer_dir):
    """The directory's tokenizer.json text, or the one `transformers` converts its files to."""
    path = os.path.join(tokenizer_dir, FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    from transformers import AutoTokenizer
    try:
        fast = AutoTokenizer.from_pretrained(tokenizer_dir, use_fast=True)
        return fast.backend_tokenizer.to_str()
    except Exception as e:  # no fast conversion for this tokenizer: packed without one
        progress(f"note: {tokenizer_dir} has no {FILE} and transformers cannot make one "
                 f"({type(e).__name__}); packed without a tokenizer (clients send token ids)")
        return None


def _requests(max_length):
    paragraph = PARAGRAPH * (1 + 4 * max_length // len(PARAGRAPH.split()))
    requests = [{"text": text} for text in TEXTS + [paragraph]]
    requests.append({"text": PAIR[0], "text_pair": PAIR[1]})
    for request in requests:
        request["max_length"] = max_length
    return requests


def _reference_ids(tokenizer_text, requests):
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_str(tokenizer_text)
    tokenizer.no_padding()
    out = []
    for request in requests:
        tokenizer.enable_truncation(request["max_length"])
        encoding = tokenizer.encode(request["text"], request.get("text_pair"))
        out.append({"ids": encoding.ids, "type_ids": encoding.type_ids})
    return out


def _check_with_seqserve(binary, path, requests, expected):
    lines = "".join(json.dumps(dict(r, strategy="LongestFirst", side="Right")) + "\n" for r in requests)
    try:
        done = subprocess.run([binary, path], input=lines.encode(), capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise UsageError(f"{binary} did not answer within 300 s")
    if done.returncode == 2:
        raise UsageError(f"seqserve cannot serve this tokenizer: {done.stderr.decode().strip()}")
    if done.returncode != 0:
        raise UsageError(f"{binary} failed ({done.returncode}): {done.stderr.decode().strip()}")
    actual = [json.loads(line) for line in done.stdout.decode().splitlines()]
    if len(actual) != len(requests):
        raise UsageError(f"{binary} answered {len(actual)} of {len(requests)} reference texts")
    for request, want, got in zip(requests, expected, actual):
        if got != want:
            raise UsageError(f"seqserve's tokenizer gives {got} for {request['text'][:60]!r} where Hugging Face "
                             f"tokenizers gives {want}; this tokenizer.json cannot be served exactly")


class Packed:
    """A checked tokenizer, ready to write: its tokenizer.json bytes and the manifest section."""

    def __init__(self, data, manifest):
        self.data = data
        self.manifest = manifest

    def write(self, version_dir):
        with open(os.path.join(version_dir, FILE), "wb") as f:
            f.write(self.data)


def prepare(source, max_length, binary):
    """The checkpoint's tokenizer with its references, checked (before anything is exported, so a
    tokenizer seqserve cannot serve costs seconds); None when the checkpoint has none."""
    if not source.tokenizer_dir:
        return None
    text = _tokenizer_json(source.tokenizer_dir)
    if text is None:
        return None
    data = text.encode("utf-8")
    family = json.loads(text).get("model", {}).get("type", "")
    requests = _requests(max_length)
    expected = _reference_ids(text, requests)
    if binary:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, FILE)
            with open(path, "wb") as f:
                f.write(data)
            _check_with_seqserve(binary, path, requests, expected)
        checked = f"seqserve's tokenizer gives the same ids ({binary})"
    else:
        checked = "not checked against seqserve's tokenizer (no seqserve-tokenize found); the server checks at load"
    progress(f"tokenizer: {family}, {len(requests)} reference texts with Hugging Face tokenizers' ids; {checked}")
    import tokenizers
    digest = hashlib.sha256(data).hexdigest()
    references = []
    for request, encoding in zip(requests, expected):
        reference = {"text": request["text"], "ids": encoding["ids"], "type_ids": encoding["type_ids"]}
        if "text_pair" in request:
            reference["text_pair"] = request["text_pair"]
        references.append(reference)
    return Packed(data, {"file": FILE, "sha256": digest, "family": family, "max_length": max_length,
                         "tokenizers_version": tokenizers.__version__, "references": references})
