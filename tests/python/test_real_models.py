"""Real models through the real binary: all-MiniLM-L6-v2 as packed by the build (`minilm`,
TorchScript, and `minilm_pt2`, AOTInductor) against sentence-transformers, random-weight checkpoints
of two other architectures against eager transformers, and the self-checking load (a tampered
reference output, a wrong SHA-256 and a .pt2 manifest from another PyTorch release)."""
import hashlib
import json
import os
import shutil
import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from helpers import bert_request, concurrently, cosines, embed_through_server, metric  # noqa: F401
from common.sentences import client_tokenizer, real_sentences  # benchmarks/common, on .venv's path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MINILM = "all-MiniLM-L6-v2"
MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def checkpoints(request):
    return request.config.getoption("--checkpoints")


@pytest.fixture(scope="module")
def real_server(request, start_server, tmp_path_factory):
    """One server for the file's real models, all with default flags: minilm and minilm_pt2 from
    the demo repository, and the random-weight architectures the build packed (the
    self-checking loads and the memory budget need servers of their own)."""
    repo = tmp_path_factory.mktemp("real_models")
    for option, models in (("--repository", ["minilm", "minilm_pt2"]),
                           ("--packed-repository", ["bert_base_classifier", "distilbert_embedding"])):
        for model in models:
            os.symlink(os.path.abspath(os.path.join(request.config.getoption(option), model)), repo / model)
    s = start_server(repository=str(repo))
    s.wait_ready(grpcclient.InferenceServerClient(url=s.url), timeout=300)
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def real_client(real_server):
    return grpcclient.InferenceServerClient(url=real_server.url)


@pytest.fixture(scope="module")
def sentence_model(checkpoints):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(os.path.join(checkpoints, MINILM), device="cpu")


@pytest.fixture(scope="module")
def tokenizer(checkpoints):
    return client_tokenizer(os.path.join(checkpoints, MINILM, "tokenizer.json"))


README_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


def test_minilm_is_the_genuine_checkpoint(sentence_model):
    """sentence-transformers' README example: these three sentences give 0.6660, 0.1046, 0.1411."""
    e = sentence_model.encode(README_SENTENCES)
    s = e @ e.T
    assert [round(float(s[0, 1]), 4), round(float(s[0, 2]), 4), round(float(s[1, 2]), 4)] == [0.6660, 0.1046, 0.1411]


@pytest.fixture(scope="module")
def corpus(sentence_model, tokenizer):
    """1,000 real sentences (6 to 256 tokens) and sentence-transformers' embeddings of them."""
    sentences = real_sentences(1000)
    assert len(sentences) == 1000
    lengths = [len(e.ids) for e in tokenizer.encode_batch(sentences)]
    assert min(lengths) < 10 and max(lengths) == 256, (min(lengths), max(lengths))
    return sentences, sentence_model.encode(sentences, batch_size=64)


@pytest.mark.parametrize("model", ["minilm", "minilm_pt2"])
def test_minilm_through_server_equals_sentence_transformers(real_server, tokenizer, corpus, model, record_property):
    sentences, expected = corpus
    got = embed_through_server(real_server, model, tokenizer, sentences)
    c = cosines(got, expected)
    worst = int(np.argmin(c))
    record_property("min_cosine", float(c.min()))
    print(f"\n{model}: {len(sentences)} sentences, min cosine {c.min():.7f} (sentence {worst}), median {np.median(c):.7f}")
    assert c.min() >= MIN_COSINE, (model, c.min(), sentences[worst])
    readme = embed_through_server(real_server, model, tokenizer, README_SENTENCES)
    s = readme @ readme.T
    assert np.allclose([s[0, 1], s[0, 2], s[1, 2]], [0.6660, 0.1046, 0.1411], atol=6e-5), s


def test_minilm_refuses_what_the_export_does_not_cover(real_client):
    """Beyond the exported dynamic ranges (256 tokens, 64 rows) and the vocabulary: INVALID_ARGUMENT
    before the model sees it."""
    for inputs, words in [
        (bert_request(np.ones((1, 257)), np.ones((1, 257)), np.zeros((1, 257))), "257"),
        (bert_request(np.ones((65, 4)), np.ones((65, 4)), np.zeros((65, 4))), "65"),
        (bert_request([101, 30522, 102], [1, 1, 1], [0, 0, 0]), "30522"),
    ]:
        with pytest.raises(InferenceServerException) as e:
            real_client.infer("minilm_pt2", inputs)
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT", e.value
        assert words in e.value.message(), e.value.message()


@pytest.mark.parametrize("model,task", [("bert_base_classifier", "classification"), ("distilbert_embedding", "embedding")])
def test_packed_architectures_equal_eager_transformers(real_server, checkpoints, model, task):
    """Random-weight checkpoints of two more architectures, packed by the build (BERT-base-sized
    classifier as TorchScript, DistilBERT embedding as .pt2), served in mixed-length batches:
    equal to eager PyTorch on the same checkpoint."""
    import torch
    import transformers
    directory = os.path.join(checkpoints, model)
    manifest_path = os.path.join(real_server.repository, model, "1", "seqserve-model.json")
    manifest = json.load(open(manifest_path))
    if task == "classification":
        eager = transformers.AutoModelForSequenceClassification.from_pretrained(directory, attn_implementation="eager")
    else:
        eager = transformers.AutoModel.from_pretrained(directory, attn_implementation="eager")
    eager.eval()
    takes_types = "token_type_ids" in json.dumps(manifest["references"][0]["inputs"])
    vocab = eager.config.vocab_size
    rng = np.random.default_rng(7)
    lengths = [1, 3, 17, 40, 64, 5, 33, 64]
    rows = [rng.integers(1000, vocab, size=n) for n in lengths]
    requests = [bert_request(r, np.ones_like(r), np.zeros_like(r) if takes_types else None) for r in rows]
    results = concurrently(real_server, model, requests)
    for ids, result in zip(rows, results):
        assert not isinstance(result, Exception), result
        with torch.no_grad():
            t = torch.tensor(ids).unsqueeze(0)
            out = eager(input_ids=t, attention_mask=torch.ones_like(t))
        if task == "classification":
            want, got = out.logits.numpy(), result.as_numpy("logits")
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
        else:
            h = out.last_hidden_state  # the packer's default pooling: masked mean
            want, got = h.mean(1).numpy(), result.as_numpy("embedding")
            assert cosines(got, want).min() >= MIN_COSINE
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)


def _entry(src_repo, src, dst_repo, dst, edit_manifest=None, edit_tokenizer=None, rehash=False):
    """dst: a copy of model src (config renamed, model file linked, manifest edited; tokenizer.json
    copied, edited, and with `rehash` its new SHA-256 written to the manifest)."""
    os.makedirs(os.path.join(dst_repo, dst, "1"))
    config = open(os.path.join(src_repo, src, "config.pbtxt")).read().replace(f'name: "{src}"', f'name: "{dst}"')
    open(os.path.join(dst_repo, dst, "config.pbtxt"), "w").write(config)
    manifest = json.load(open(os.path.join(src_repo, src, "1", "seqserve-model.json")))
    os.symlink(os.path.abspath(os.path.join(src_repo, src, "1", manifest["model_file"])), os.path.join(dst_repo, dst, "1", manifest["model_file"]))
    if edit_manifest:
        edit_manifest(manifest)
    if "tokenizer" in manifest:
        tokenizer = json.load(open(os.path.join(src_repo, src, "1", manifest["tokenizer"]["file"]), encoding="utf-8"))
        if edit_tokenizer:
            edit_tokenizer(tokenizer)
        path = os.path.join(dst_repo, dst, "1", manifest["tokenizer"]["file"])
        with open(path, "w", encoding="utf-8") as f:
            json.dump(tokenizer, f, ensure_ascii=False)
        if rehash or not edit_tokenizer:
            manifest["tokenizer"]["sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    json.dump(manifest, open(os.path.join(dst_repo, dst, "1", "seqserve-model.json"), "w"))


def _tamper_reference(m):
    m["references"][1]["outputs"][0]["float_data"][5] += 0.05


def _tamper_token_id(m):
    m["tokenizer"]["references"][3]["ids"][2] += 1


def _unsupported_normalizer(tokenizer):
    tokenizer["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": ""}


def _changed_vocabulary(tokenizer):
    vocab = tokenizer["model"]["vocab"]
    vocab["東"], vocab["京"] = vocab["京"], vocab["東"]


def test_self_checking_loads(request, start_server, tmp_path, torch_version):
    """A tampered reference output (TorchScript and .pt2), a wrong SHA-256, a .pt2 manifest from
    another PyTorch and one from a CPU with an instruction set this one lacks; a packed tokenizer
    whose reference ids were tampered with, whose file was edited after packing, that uses a
    component seqserve does not implement, or that tokenizes differently (a changed vocabulary with
    a matching SHA-256): each of those models is UNAVAILABLE with the reason that says which, in
    RepositoryIndex, in ModelMetadata / inference errors and in the log, while an intact copy serves."""
    demo = request.config.getoption("--repository")
    repo = str(tmp_path / "repo")
    os.makedirs(repo)
    _entry(demo, "minilm", repo, "intact")
    _entry(demo, "minilm", repo, "tampered_reference", _tamper_reference)
    _entry(demo, "minilm", repo, "wrong_sha256", lambda m: m.update(sha256="0" * 64))
    _entry(demo, "minilm_pt2", repo, "pt2_from_other_pytorch", lambda m: m.update(pytorch_version="2.10.0+cu128"))
    _entry(demo, "minilm_pt2", repo, "pt2_tampered_reference", _tamper_reference)
    _entry(demo, "minilm_pt2", repo, "pt2_from_another_cpu", lambda m: m.update(cpu_flags=m["cpu_flags"] + ["avx1024"]))
    _entry(demo, "minilm", repo, "tampered_token_ids", _tamper_token_id)
    _entry(demo, "minilm", repo, "tokenizer_edited", edit_tokenizer=_changed_vocabulary)
    _entry(demo, "minilm", repo, "tokenizer_unsupported", edit_tokenizer=_unsupported_normalizer, rehash=True)
    _entry(demo, "minilm", repo, "tokenizer_different", edit_tokenizer=_changed_vocabulary, rehash=True)
    server = start_server(repository=repo)
    client = grpcclient.InferenceServerClient(url=server.url)
    deadline = time.monotonic() + 300
    while True:
        index = client.get_model_repository_index(as_json=True)["models"]
        if len(index) == 10 and all(m.get("state") in ("READY", "UNAVAILABLE") for m in index):
            break
        assert time.monotonic() < deadline, index
        time.sleep(0.2)
    by_name = {m["name"]: m for m in index}
    expected = {
        "tampered_reference": "reference 1",
        "wrong_sha256": "does not match its manifest: SHA-256",
        "pt2_from_other_pytorch": f"compiled by PyTorch 2.10.0+cu128 but this server runs libtorch {torch_version}",
        "pt2_tampered_reference": "reference 1",
        "pt2_from_another_cpu": "on a CPU with avx1024, which this CPU lacks",
        "tampered_token_ids": "tokenizer check: reference 3 (\"東京は日本の首都です。\") tokenizes to [101, 1879, 1755,",
        "tokenizer_edited": "tokenizer check: tokenizer.json has SHA-256",
        "tokenizer_unsupported": "tokenizer.json uses the normalizer 'Precompiled', which seqserve does not implement",
        "tokenizer_different": "tokenizer check: reference 3 (\"東京は日本の首都です。\") tokenizes to [101, 1755, 1879,",
    }
    assert by_name["intact"]["state"] == "READY", by_name
    log = server.read_log()
    for name, words in expected.items():
        assert by_name[name]["state"] == "UNAVAILABLE", by_name[name]
        assert words in by_name[name]["reason"], by_name[name]
        check = "tokenizer check" if "token" in name else "manifest check failed"
        assert f"model '{name}' version 1 is unavailable: {check}: " in log
        with pytest.raises(InferenceServerException) as e:
            client.get_model_metadata(name)
        assert words in e.value.message(), e.value.message()
    for name in ("tampered_reference", "pt2_tampered_reference"):
        assert "output 'embedding' element 5 is" in by_name[name]["reason"], by_name[name]
    ok = client.infer("intact", bert_request([101, 7592, 102], [1, 1, 1], [0, 0, 0]))
    assert ok.as_numpy("embedding").shape == (1, 384)
    assert server.stop() == 0, server.read_log()


def test_readme_client_example(real_server, checkpoints):
    """scripts/examples/embed.py, the README's client, prints sentence-transformers' numbers."""
    import subprocess
    import sys
    example = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "examples", "embed.py")
    out = subprocess.run([sys.executable, example, "--url", real_server.url, "--model", "minilm_pt2",
                          "--tokenizer", os.path.join(checkpoints, MINILM, "tokenizer.json"), *README_SENTENCES],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["0.6660", "0.1046", "0.1411"], out.stdout


def test_pt2_under_a_small_budget_serves_a_big_request_in_row_chunks(request, start_server, tmp_path):
    """A .pt2 under a pool budget (60 MB; 64 x 256 tokens of MiniLM in one batch would need
    ~200 MB of attention scores): the big request is cut into row chunks that fit, its rows are
    those of the same sentences sent alone, the small requests beside it are answered, and the
    pool stays within its budget."""
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(os.path.abspath(os.path.join(request.config.getoption("--repository"), "minilm_pt2")), repo / "minilm_pt2")
    server = start_server("--memory-budget-bytes=60000000", repository=str(repo))
    client = grpcclient.InferenceServerClient(url=server.url)
    server.wait_ready(client, timeout=300)
    ids = np.arange(64 * 256).reshape(64, 256) % 20000 + 1000
    big = bert_request(ids, np.ones((64, 256)), np.zeros((64, 256)))
    small = [bert_request(np.full(n, 1000 + n), np.ones(n), np.zeros(n)) for n in (3, 20, 60)]
    results = concurrently(server, "minilm_pt2", [small[0], big, small[1], small[2]])
    for r in results:
        assert not isinstance(r, Exception), r
    embedding = results[1].as_numpy("embedding")
    assert embedding.shape == (64, 384)
    for row in (0, 31, 63):
        alone = client.infer("minilm_pt2", bert_request(ids[row], np.ones(256), np.zeros(256))).as_numpy("embedding")
        np.testing.assert_allclose(embedding[row], alone[0], rtol=1e-4, atol=1e-5)
    for r in results[0:1] + results[2:]:
        assert r.as_numpy("embedding").shape == (1, 384)
    assert metric(server, "seqserve_chunked_requests_total", model="minilm_pt2", version="1") >= 1
    assert metric(server, "seqserve_memory_peak_reserved_bytes", pool="cpu") <= 60000000
    assert server.stop() == 0, server.read_log()
