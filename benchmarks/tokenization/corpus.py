"""A deterministic corpus of varied texts for tokenizer equality checks and timing.

Real prose (Python's standard-library documentation, benchmarks/common/sentences.py) and real code
(standard-library source lines), plus texts generated from a fixed seed to cover what breaks
tokenizers: accents and combining marks, case pairs with special mappings (İ, ß, Σ, ǅ), CJK,
Hangul, kana, Arabic, Hebrew, Devanagari, Thai, emoji with skin tones, ZWJ sequences and flags,
control and format characters, runs of every kind of whitespace, very long words, added-token
strings inside text ([CLS], <mask>), random code points from every plane (unassigned included),
and empty ones. `texts(n)` returns n of them; the first ones are the fixed edge cases.
"""
import inspect
import random
import unicodedata

SEED = 20261207

EDGE_CASES = [
    "", " ", "   ", "\t\n", "\x00", "\x00\x01\x02", "\ufffd", "a\x00b", "\u0301", "e\u0301\u0301\u0301",
    "\u200d", "\ufeffhello", "[CLS]", "[CLS] [SEP] [MASK]", "<s>", "<mask>", "hello <mask> world", "a[SEP]b",
    "İstanbul", "STRASSE straße", "ΣΊΣΥΦΟΣ", "ǅemal", "ﬁ ﬂ ﬀ", "Ⅻ ½ ²", "１２３ ＡＢＣ", "ｶﾀｶﾅ",
    "👨‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "🇫🇷🇯🇵", "❤️", "x" * 150, "supercalifragilisticexpialidocious" * 3,
    "https://example.com/path?query=1&b=%20#frag", "user.name+tag@example.co.uk",
    "def f(x):\n    return x ** 2  # square", "日本語のテキスト", "中文文本测试", "한국어 텍스트", "العربية نص",
    "עברית", "हिन्दी पाठ", "ภาษาไทย", "a\u3000b\u00a0c\u2028d\u0085e", "  leading and trailing  ",
    "\U0002B820\U0002B920\U00031350", "\U00011C41\u2E45\U0001E944", "\u0890\u061C\u180E",
]

_WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u2009", "\u200b", "\u0085", "\u2028", "\x0b", "\x0c"]
_CONTROLS = [chr(c) for c in list(range(0, 32)) + [0x7F, 0x85, 0x8F, 0x9F, 0xAD, 0x200B, 0x200C, 0x200D, 0x200E,
                                                    0x2060, 0xFEFF, 0xFFFD, 0x061C, 0x180E, 0xE000, 0xF8FF]]
_EMOJI = ["😀", "🤣", "🥰", "🫨", "🛷", "🩰", "🧑‍💻", "👩‍❤️‍💋‍👨", "👋🏿", "✌️", "🇩🇪", "🏴‍☠️", "☺", "⌚", "🀄"]
_ACCENTS = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēėęěğīįıķłńňőœřśşšťūůűųźżžǎǐǒǔǖǘǚǜ"
_COMBINING = [chr(c) for c in range(0x0300, 0x0370)] + ["\u1AB0", "\u1DC0", "\u20D0", "\uFE20"]
_SCRIPTS = [(0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x0600, 0x06FF), (0x05D0, 0x05EA),
            (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x0400, 0x04FF), (0x0370, 0x03FF), (0x3400, 0x4DBF),
            (0x20000, 0x2A6DF), (0xF900, 0xFAFF), (0x1100, 0x11FF), (0x0530, 0x058F), (0x10A0, 0x10FF)]
_PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["—", "–", "…", "«", "»", "¿", "¡", "§", "¶", "‽",
                                                             "、", "。", "「", "」", "⸻", "⹅", "·"]


def _prose():
    from common.sentences import real_sentences  # benchmarks/common, on .venv's path
    return real_sentences(3000)


def _code_lines():
    import collections, json, textwrap  # noqa: E401 - modules whose source is the code corpus
    lines = []
    for module in (collections, json, textwrap, inspect, random):
        for line in inspect.getsource(module).splitlines():
            if line.strip():
                lines.append(line)
    return lines


def _random_chars(rng, low, high, n):
    return "".join(chr(rng.randint(low, high)) for _ in range(n))


def _any_code_point(rng):
    """A code point from any plane that is assigned in Python's Unicode (14.0 for 3.11), private
    use included: Note [Unicode versions] in runtime/tokenizer/unicode.h says why not unassigned."""
    while True:
        c = rng.choice([rng.randint(0x20, 0x2FFF), rng.randint(0x3000, 0xFFFF), rng.randint(0x10000, 0x3FFFF),
                        rng.randint(0xE0000, 0xE01EF)])
        if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn":
            return chr(c)


def _generated(rng, prose, code):
    words = [w for s in prose[:500] for w in s.split()]
    kind = rng.randrange(14)
    if kind == 0:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
    if kind == 1:
        return "\n".join(rng.choice(code) for _ in range(rng.randint(1, 6)))
    if kind == 2:
        host = ".".join(rng.choice(words).strip(".,;:()").lower() or "x" for _ in range(rng.randint(1, 3)))
        return f"see https://{host}.org/{rng.choice(words)}?id={rng.randint(0, 10**6)}&q={rng.choice(words)} now"
    if kind == 3:
        return " ".join("".join(rng.choice(_ACCENTS + "abcdefghij") for _ in range(rng.randint(1, 12)))
                        for _ in range(rng.randint(1, 10)))
    if kind == 4:
        return " ".join(rng.choice(words) + "".join(rng.choice(_COMBINING) for _ in range(rng.randint(1, 3)))
                        for _ in range(rng.randint(1, 8)))
    if kind == 5:
        low, high = rng.choice(_SCRIPTS)
        return "".join(_random_chars(rng, low, high, rng.randint(1, 12)) + rng.choice(["", " ", "、", ". "])
                       for _ in range(rng.randint(1, 6)))
    if kind == 6:
        return " ".join(rng.choice(_EMOJI) * rng.randint(1, 3) + rng.choice(["", rng.choice(words)])
                        for _ in range(rng.randint(1, 10)))
    if kind == 7:
        return "".join(rng.choice(words) + rng.choice(_CONTROLS) for _ in range(rng.randint(1, 8)))
    if kind == 8:
        return "".join(rng.choice(words) + "".join(rng.choice(_WHITESPACE) for _ in range(rng.randint(1, 5)))
                       for _ in range(rng.randint(1, 8)))
    if kind == 9:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(40, 400)))
    if kind == 10:
        return "".join(rng.choice(words + _PUNCTUATION * 3) for _ in range(rng.randint(1, 30)))
    if kind == 11:
        specials = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "<s>", "</s>", "<mask>", "<pad>", "<unk>"]
        return " ".join(rng.choice(words + specials) for _ in range(rng.randint(1, 12)))
    if kind == 12:
        return "".join(_any_code_point(rng) for _ in range(rng.randint(1, 20)))
    parts = [_generated(rng, prose, code) for _ in range(rng.randint(2, 3))]
    return rng.choice([" ", "", "\n"]).join(parts)


def texts(n=10_000, seed=SEED):
    """n texts: the edge cases, then real prose, real code and generated texts in a fixed mix."""
    rng = random.Random(seed)
    prose, code = _prose(), _code_lines()
    out = list(EDGE_CASES)
    while len(out) < n:
        pick = rng.random()
        if pick < 0.3:
            out.append(rng.choice(prose))
        elif pick < 0.4:
            out.append(rng.choice(code))
        else:
            out.append(_generated(rng, prose, code))
    return out[:n]
