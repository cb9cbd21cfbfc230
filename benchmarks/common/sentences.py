"""Real English sentences of varied length, offline: the documentation of Python's own standard
library (module, class and function docstrings of a fixed list of modules), split into sentences,
plus whole paragraphs for long inputs. Deterministic for a given Python."""
import importlib
import inspect
import re

MODULES = [
    "argparse", "asyncio", "base64", "bisect", "calendar", "codecs", "collections", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest", "email",
    "enum", "fnmatch", "fractions", "functools", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html", "http.client", "http.server", "imaplib", "inspect", "io", "ipaddress", "itertools", "json",
    "locale", "logging", "lzma", "mailbox", "mimetypes", "numbers", "operator", "optparse", "os",
    "pathlib", "pdb", "pickle", "platform", "poplib", "pprint", "queue", "random", "re", "sched",
    "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket", "socketserver",
    "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "tokenize", "trace", "traceback", "typing", "unittest",
    "urllib.parse", "urllib.request", "uuid", "warnings", "wave", "weakref", "xml.dom.minidom",
    "zipfile", "zoneinfo",
]

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _docstrings():
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        yield inspect.getdoc(module) or ""
        for member_name, member in sorted(vars(module).items()):
            if member_name.startswith("_") or not (inspect.isclass(member) or inspect.isfunction(member)):
                continue
            yield inspect.getdoc(member) or ""
            if inspect.isclass(member):
                for _, method in sorted(vars(member).items()):
                    if inspect.isfunction(method) and not method.__name__.startswith("_"):
                        yield inspect.getdoc(method) or ""


def _prose(text):
    """Whether `text` reads as prose (not code, tables or signatures)."""
    if ">>>" in text or "::" in text or "    " in text:
        return False
    words = text.split()
    letters = sum(c.isalpha() or c.isspace() for c in text)
    return len(words) >= 3 and letters >= 0.85 * len(text) and text[0].isupper()


def client_tokenizer(tokenizer_json, max_length=256):
    """A checkpoint's tokenizer as a client of the server uses it: its tokenizer.json may pad every
    input to a fixed length (MiniLM's pads to 128), so padding is turned off (the server batches
    by length and pads each batch itself) and truncation set to the model's max_length."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def real_sentences(count):
    """`count` distinct sentences (about one in ten a whole paragraph of 60+ words), in a fixed
    order; fewer only if the standard library ran out."""
    sentences, paragraphs, seen = [], [], set()
    for doc in _docstrings():
        for paragraph in doc.split("\n\n"):
            flat = " ".join(paragraph.split())
            if not _prose(flat) or flat in seen:
                continue
            seen.add(flat)
            if len(flat.split()) >= 60:
                paragraphs.append(flat)
            for sentence in _SPLIT.split(flat):
                if _prose(sentence) and sentence not in seen and len(sentence.split()) < 60:
                    seen.add(sentence)
                    sentences.append(sentence)
    out = []
    while len(out) < count and (sentences or paragraphs):
        source = paragraphs if (len(out) % 10 == 9 and paragraphs) or not sentences else sentences
        out.append(source.pop(0))
    return out
