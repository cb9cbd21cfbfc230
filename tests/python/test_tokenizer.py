"""seqserve's C++ tokenizer (runtime/tokenizer/) against Hugging Face `tokenizers`, the reference:
every id and type id equal on 10,000 varied texts for each supported family, single and paired,
with and without truncation; hostile inputs equal or refused, in bounded time; components it does
not implement refused by name. The tokenizer runs as seqserve-tokenize (one process per batch of
requests, JSON lines in and out)."""
import json
import subprocess

import pytest
from tokenization import compare, corpus, families


@pytest.fixture(scope="module")
def binary(request):
    path = request.config.getoption("--tokenize-binary")
    if not path:
        pytest.skip("needs --tokenize-binary (ctest passes it)")
    return path


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    return families.build(str(tmp_path_factory.mktemp("tokenizers")))


@pytest.fixture(scope="module")
def requests():
    texts = corpus.texts(10_000)
    assert len(set(texts)) > 8_000, "the corpus must be varied, not one text repeated"
    return compare.requests_for(texts)


def _assert_equal(requests, expected, actual):
    diffs = compare.differences(requests, expected, actual)
    shown = "\n".join(f"  {r!r:.300}\n    tokenizers: {w!s:.300}\n    seqserve:   {g!s:.300}" for r, w, g in diffs[:5])
    assert not diffs, f"{len(diffs)} of {len(requests)} encodings differ, first ones:\n{shown}"


@pytest.mark.parametrize("family", families.FAMILIES)
def test_every_id_equals_tokenizers(binary, tokenizer_files, requests, family):
    path = tokenizer_files[family]
    expected = compare.reference(path, requests)
    # The check has teeth: the corpus makes truncation, pairs and errors all happen.
    assert sum("error" in e for e in expected) < len(expected) // 10
    assert any(r.get("max_length") and len(e.get("ids", [])) == r["max_length"] for r, e in zip(requests, expected))
    _assert_equal(requests, expected, compare.seqserve(binary, path, requests))


HOSTILE = {
    "NUL and C0 controls": "".join(chr(c) for c in range(32)) * 10,
    "lone combining marks": "\u0301\u0302\u0303 \u0308" * 500,
    "1 MB without spaces": "abcdefghij" * 100_000,
    "1 MB of one letter": "a" * 1_000_000,
    "100,000 emoji": "😀" * 100_000,
    "100,000 ZWJ family emoji": "👨‍👩‍👧" * 20_000,
    "empty": "",
    "only whitespace": " \t\n\u3000" * 10_000,
    "1 MB of spaces": " " * 1_000_000,
    "deep punctuation": "([{<" * 50_000,
}


@pytest.mark.parametrize("family", families.FAMILIES)
def test_hostile_texts_equal_tokenizers_or_fail_clearly_in_bounded_time(binary, tokenizer_files, family):
    """Equal ids, or (only where a tokenizer.json regex meets a run longer than its 8 MB matching
    budget, Note [regex stack]) a refusal that says so; never different ids, a crash or a hang."""
    path = tokenizer_files[family]
    requests = [{"text": text} for text in HOSTILE.values()]
    requests += [{"text": text, "max_length": 128, "strategy": "LongestFirst", "side": "Right"} for text in HOSTILE.values()]
    expected = compare.reference(path, requests)
    actual = compare.seqserve(binary, path, requests, timeout=120)
    refused = [i for i, got in enumerate(actual) if "8 MB budget" in got.get("error", "")]
    for i in refused:
        assert requests[i]["text"] == HOSTILE["1 MB of spaces"] and family == "xlmr", (family, requests[i]["text"][:20])
    keep = [i for i in range(len(requests)) if i not in refused]
    _assert_equal([requests[i] for i in keep], [expected[i] for i in keep], [actual[i] for i in keep])


def _refusal(binary, tmp_path, tokenizer_json):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(tokenizer_json))
    done = subprocess.run([binary, str(path)], input=b'{"text": "hello"}\n', capture_output=True, timeout=60)
    return done.returncode, done.stderr.decode()


@pytest.mark.parametrize("where,component,expected", [
    ("normalizer", {"type": "Precompiled", "precompiled_charsmap": ""}, "normalizer 'Precompiled'"),
    ("pre_tokenizer", {"type": "Split", "pattern": {"String": " "}, "behavior": "Removed", "invert": False},
     "pre-tokenizer 'Split'"),
    ("post_processor", {"type": "Future"}, "post-processor 'Future'"),
    ("model", {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "model 'WordLevel'"),
])
def test_unsupported_component_is_refused_by_name(binary, tokenizer_files, tmp_path, where, component, expected):
    with open(tokenizer_files["minilm"]) as f:
        tokenizer_json = json.load(f)
    code, _ = _refusal(binary, tmp_path, tokenizer_json)
    assert code == 0, "the unchanged tokenizer must load, or the refusals below prove nothing"
    tokenizer_json[where] = component
    code, message = _refusal(binary, tmp_path, tokenizer_json)
    assert code == 2 and expected in message and "does not implement" in message, message


def test_unsupported_nested_component_and_option_are_refused_by_name(binary, tokenizer_files, tmp_path):
    with open(tokenizer_files["roberta"]) as f:
        tokenizer_json = json.load(f)
    tokenizer_json["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "StripAccents"}]}
    code, message = _refusal(binary, tmp_path, tokenizer_json)
    assert code == 2 and "normalizer 'StripAccents'" in message, message
    with open(tokenizer_files["roberta"]) as f:
        tokenizer_json = json.load(f)
    tokenizer_json["model"]["dropout"] = 0.1
    code, message = _refusal(binary, tmp_path, tokenizer_json)
    assert code == 2 and "'dropout'" in message, message
    with open(tokenizer_files["roberta"]) as f:
        tokenizer_json = json.load(f)
    tokenizer_json["added_tokens"][0]["single_word"] = True
    code, message = _refusal(binary, tmp_path, tokenizer_json)
    assert code == 2 and "'single_word'" in message, message
