"""Text in, through the real binary: the OpenAI SDK and TEI's routes on the real all-MiniLM-L6-v2
against sentence-transformers, /predict and /rerank on packed random-weight BERT heads against eager
transformers, KServe BYTES text over gRPC and REST against the token-id path, and every bad input
with its status and message (server/api/text_rest.h, server/serving/request_path.h)."""
import base64
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from helpers import bert_request, concurrently, cosines, metric, rest_call
from common.sentences import client_tokenizer, real_sentences  # benchmarks/common, on .venv's path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MINILM = "all-MiniLM-L6-v2"
MIN_COSINE = 0.9999
PROMPTS = {"query": "query: ", "passage": "passage: "}
LABELS = ["negative", "neutral", "positive"]
HEAD_MAX_LENGTH = 128  # of the classifier and the reranker
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _head_checkpoint(path, minilm, num_labels):
    """A BertForSequenceClassification of MiniLM's vocabulary with random weights (fixed seed) and
    MiniLM's tokenizer: a classifier (3 labels) or a cross-encoder (1)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(num_labels)
    labels = LABELS if num_labels == 3 else ["relevance"]
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=512, type_vocab_size=2,
                        num_labels=num_labels, id2label=dict(enumerate(labels)), initializer_range=0.2,
                        label2id={label: i for i, label in enumerate(labels)})
    BertForSequenceClassification(config).eval().save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(minilm, name), path)


def _pack(tokenize_binary, checkpoint, repository, name, *flags):
    env = dict(os.environ, HF_HUB_OFFLINE="1", SEQSERVE_VENV=sys.prefix, TRANSFORMERS_VERBOSITY="error")
    if tokenize_binary:
        env["SEQSERVE_TOKENIZE"] = tokenize_binary
    subprocess.run([os.path.join(ROOT, "scripts", "seqserve-pack"), "--hf", str(checkpoint), "--repository",
                    str(repository), "--name", name, *flags], env=env, check=True, timeout=600)


@pytest.fixture(scope="module")
def minilm_dir(request):
    return os.path.join(request.config.getoption("--checkpoints"), MINILM)


@pytest.fixture(scope="module")
def text_repository(request, tmp_path_factory, minilm_dir):
    """minilm_text: the real MiniLM with two prompts in its sentence-transformers config and
    Matryoshka widths 256 and 128; classifier and reranker: random-weight heads."""
    work = tmp_path_factory.mktemp("text_checkpoints")
    repo = tmp_path_factory.mktemp("text_repository")
    minilm = work / MINILM
    shutil.copytree(minilm_dir, minilm)
    with open(minilm / "config_sentence_transformers.json") as f:
        st_config = json.load(f)
    st_config.update(prompts=PROMPTS, default_prompt_name=None)
    with open(minilm / "config_sentence_transformers.json", "w") as f:
        json.dump(st_config, f)
    binary = request.config.getoption("--tokenize-binary")
    _pack(binary, minilm, repo, "minilm_text", "--matryoshka-dimensions", "256,128")
    for name, labels, task in (("classifier", 3, "classification"), ("reranker", 1, "rerank")):
        _head_checkpoint(work / name, minilm_dir, labels)
        _pack(binary, work / name, repo, name, "--task", task, "--max-length", str(HEAD_MAX_LENGTH))
    manifest = json.load(open(repo / "minilm_text" / "1" / "seqserve-model.json"))
    assert manifest["task"]["prompts"] == PROMPTS and manifest["task"]["matryoshka_dimensions"] == [256, 128]
    return {"repo": repo, "checkpoints": work}


@pytest.fixture(scope="module")
def text_server(start_server, text_repository):
    """Truncates long texts as sentence-transformers does (--auto-truncate)."""
    s = start_server("--auto-truncate", repository=str(text_repository["repo"]))
    s.wait_ready_http(timeout=300)
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def strict_server(start_server, text_repository, tmp_path_factory):
    """The classifier alone, with the default truncation rule and small limits, for the refusals."""
    repo = tmp_path_factory.mktemp("strict")
    os.symlink(text_repository["repo"] / "classifier", repo / "classifier")
    s = start_server("--max-client-batch-size", "4", "--max-message-bytes", "65536", "--request-memory-bytes",
                     "100000", repository=str(repo))
    s.wait_ready_http(timeout=300)
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def sentence_model(text_repository):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(text_repository["checkpoints"] / MINILM), device="cpu")


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return client_tokenizer(os.path.join(minilm_dir, "tokenizer.json"))


@pytest.fixture(scope="module")
def corpus(sentence_model, tokenizer):
    """1,000 real sentences, some longer than MiniLM's 256 tokens, their token counts (truncated
    at 256, special tokens included) and sentence-transformers' embeddings."""
    sentences = real_sentences(1000)
    counts = [len(e.ids) for e in tokenizer.encode_batch(sentences)]
    assert max(counts) == 256
    return sentences, counts, sentence_model.encode(sentences, batch_size=64)


@pytest.fixture(scope="module")
def openai_client(text_server):
    import openai
    return openai.OpenAI(base_url=f"http://{text_server.http_url}/v1", api_key="unused", max_retries=0, timeout=120)


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_openai_sdk_embeddings_equal_sentence_transformers(openai_client, corpus, encoding_format):
    sentences, counts, expected = corpus
    got, prompt_tokens = [], 0
    for chunk in _chunks(sentences, 100):
        # The SDK asks for base64 unless told otherwise and decodes it itself.
        kwargs = {"encoding_format": "float"} if encoding_format == "float" else {}
        response = openai_client.embeddings.create(model="minilm_text", input=chunk, **kwargs)
        assert [d.index for d in response.data] == list(range(len(chunk)))
        assert response.model == "minilm_text"
        assert response.usage.total_tokens == response.usage.prompt_tokens
        prompt_tokens += response.usage.prompt_tokens
        got.extend(d.embedding for d in response.data)
    c = cosines(np.asarray(got, dtype=np.float32), expected)
    print(f"\nOpenAI SDK ({encoding_format}): {len(sentences)} sentences, min cosine {c.min():.7f}")
    assert c.min() >= MIN_COSINE, sentences[int(np.argmin(c))]
    assert prompt_tokens == sum(counts)


def test_openai_base64_is_little_endian_float32(text_server):
    body = {"model": "minilm_text", "input": "hello world", "encoding_format": "base64"}
    b64 = rest_call(text_server, "POST", "/v1/embeddings", body).json()["data"][0]["embedding"]
    floats = rest_call(text_server, "POST", "/v1/embeddings", {**body, "encoding_format": "float"}).json()
    vector = np.frombuffer(base64.b64decode(b64), dtype="<f4")
    assert vector.shape == (384,)
    assert np.array_equal(vector, np.asarray(floats["data"][0]["embedding"], dtype=np.float32))


def test_openai_token_ids_and_dimensions(openai_client, sentence_model, tokenizer):
    texts = ["The weather is lovely today.", "He drove to the stadium."]
    full = sentence_model.encode(texts)
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    by_ids = openai_client.embeddings.create(model="minilm_text", input=ids, encoding_format="float")
    assert cosines(np.asarray([d.embedding for d in by_ids.data]), full).min() >= MIN_COSINE
    assert by_ids.usage.prompt_tokens == sum(len(i) for i in ids)
    for width in (256, 128):
        cut = openai_client.embeddings.create(model="minilm_text", input=texts, dimensions=width)
        got = np.asarray([d.embedding for d in cut.data])
        assert got.shape == (2, width)
        expected = full[:, :width] / np.linalg.norm(full[:, :width], axis=1, keepdims=True)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert cosines(got, expected).min() >= MIN_COSINE
    import openai
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.embeddings.create(model="minilm_text", input=texts, dimensions=100)
    assert "can shorten its 384-dimensional embeddings to 256, 128 dimensions, not 100" in str(refused.value)


def test_openai_models(openai_client):
    models = {m.id: m for m in openai_client.models.list().data}
    assert sorted(models) == ["classifier", "minilm_text", "reranker"]
    assert openai_client.models.retrieve("minilm_text").id == "minilm_text"


def test_tei_embed_equals_sentence_transformers(text_server, corpus, sentence_model):
    sentences, _, expected = corpus
    got = []
    for chunk in _chunks(sentences, 128):
        r = rest_call(text_server, "POST", "/embed", {"inputs": chunk, "truncate": True})
        assert r.status == 200, r
        got.extend(r.json())
    c = cosines(np.asarray(got, dtype=np.float32), expected)
    assert c.min() >= MIN_COSINE, sentences[int(np.argmin(c))]
    # One string gives one vector; prompt_name prepends the sentence-transformers prompt.
    single = rest_call(text_server, "POST", "/embed", {"inputs": sentences[0]}).json()
    assert np.allclose(single[0], got[0], atol=1e-6)
    query = rest_call(text_server, "POST", "/embed", {"inputs": sentences[:8], "prompt_name": "query"}).json()
    reference = sentence_model.encode(sentences[:8], prompt_name="query")
    assert cosines(np.asarray(query), reference).min() >= MIN_COSINE
    assert cosines(np.asarray(query), expected[:8]).max() < 0.9999  # the prompt changed them
    cut = np.asarray(rest_call(text_server, "POST", "/embed", {"inputs": sentences[:4], "dimensions": 128}).json())
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-5)


def _eager_logits(checkpoint, texts, pairs=None):
    """The head's logits in eager transformers, each input alone, truncated as the server truncates
    it (--auto-truncate: to the packed max length, 128)."""
    import torch
    from transformers import AutoModelForSequenceClassification
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, attn_implementation="eager").eval()
    tokenizer = client_tokenizer(os.path.join(checkpoint, "tokenizer.json"), max_length=HEAD_MAX_LENGTH)
    rows = []
    with torch.no_grad():
        for i, text in enumerate(texts):
            e = tokenizer.encode(text, pairs[i]) if pairs else tokenizer.encode(text)
            tensors = {k: torch.tensor([v]) for k, v in
                       (("input_ids", e.ids), ("attention_mask", e.attention_mask), ("token_type_ids", e.type_ids))}
            rows.append(model(**tensors).logits[0].numpy())
    return np.asarray(rows)


def test_tei_predict_equals_eager_transformers(text_server, text_repository):
    texts = real_sentences(40)
    pair = ("A man is eating food.", "A man is eating a piece of bread.")
    logits = _eager_logits(text_repository["checkpoints"] / "classifier", texts)
    raw = rest_call(text_server, "POST", "/predict", {"inputs": [[t] for t in texts], "raw_scores": True}).json()
    scored = rest_call(text_server, "POST", "/predict", {"inputs": [[t] for t in texts]}).json()
    assert len(raw) == len(texts) == len(scored)
    for i in range(len(texts)):
        by_label = {s["label"]: s["score"] for s in raw[i]}
        np.testing.assert_allclose([by_label[label] for label in LABELS], logits[i], atol=1e-4)
        softmax = np.exp(logits[i] - logits[i].max()) / np.exp(logits[i] - logits[i].max()).sum()
        scores = [s["score"] for s in scored[i]]
        assert scores == sorted(scores, reverse=True), scored[i]  # highest first
        np.testing.assert_allclose([{s["label"]: s["score"] for s in scored[i]}[label] for label in LABELS], softmax,
                                   atol=5e-5)
    # One input: one list. A pair ([text, text_pair]) is one input too.
    single = rest_call(text_server, "POST", "/predict", {"inputs": texts[0], "raw_scores": True}).json()
    assert {s["label"] for s in single} == set(LABELS)
    pair_logits = _eager_logits(text_repository["checkpoints"] / "classifier", [pair[0]], [pair[1]])[0]
    got = {s["label"]: s["score"] for s in
           rest_call(text_server, "POST", "/predict", {"inputs": list(pair), "raw_scores": True}).json()}
    np.testing.assert_allclose([got[label] for label in LABELS], pair_logits, atol=1e-4)


def test_tei_rerank_equals_eager_transformers(text_server, text_repository):
    query = "What is the capital of Japan?"
    texts = real_sentences(20)
    logits = _eager_logits(text_repository["checkpoints"] / "reranker", [query] * len(texts), texts)[:, 0]
    r = rest_call(text_server, "POST", "/rerank", {"query": query, "texts": texts, "return_text": True})
    assert r.status == 200, r
    ranked = r.json()
    assert sorted(x["index"] for x in ranked) == list(range(len(texts)))
    assert [x["score"] for x in ranked] == sorted((x["score"] for x in ranked), reverse=True)  # highest first
    for x in ranked:
        assert x["text"] == texts[x["index"]]
        assert abs(x["score"] - 1 / (1 + np.exp(-logits[x["index"]]))) < 1e-5
    raw = rest_call(text_server, "POST", "/rerank", {"query": query, "texts": texts, "raw_scores": True}).json()
    np.testing.assert_allclose([x["score"] for x in sorted(raw, key=lambda x: x["index"])], logits, atol=1e-4)
    assert "text" not in raw[0]


def test_tei_tokenize_and_info(text_server, tokenizer):
    texts = ["Héllo, wörld!", "東京は日本の首都です。"]
    got = rest_call(text_server, "POST", "/tokenize", {"inputs": texts, "model": "minilm_text"}).json()
    assert [[t["id"] for t in row] for row in got] == [e.ids for e in tokenizer.encode_batch(texts)]
    info = rest_call(text_server, "GET", "/info").json()
    assert info["model_id"] == "minilm_text" and info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256 and info["auto_truncate"] is True


def test_kserve_text_over_grpc_and_rest_equals_token_ids(text_server, tokenizer):
    texts = real_sentences(24)
    grpc = grpcclient.InferenceServerClient(url=text_server.url)
    encodings = tokenizer.encode_batch(texts)
    by_ids = np.concatenate([r.as_numpy("embedding") for r in concurrently(
        text_server, "minilm_text", [bert_request(e.ids, e.attention_mask, e.type_ids) for e in encodings])])
    strings = np.array([t.encode() for t in texts], dtype=np.object_)
    text = grpcclient.InferInput("text", [len(texts)], "BYTES")
    text.set_data_from_numpy(strings)
    over_grpc = grpc.infer("minilm_text", [text]).as_numpy("embedding")
    rest = httpclient.InferenceServerClient(url=text_server.http_url)
    for binary in (False, True):
        rest_text = httpclient.InferInput("text", [len(texts)], "BYTES")
        rest_text.set_data_from_numpy(strings, binary_data=binary)
        over_rest = rest.infer("minilm_text", [rest_text]).as_numpy("embedding")
        np.testing.assert_allclose(over_rest, by_ids, atol=2e-6)
    np.testing.assert_allclose(over_grpc, by_ids, atol=2e-6)
    # Cross-encoders take text_pair beside text.
    pair = grpcclient.InferInput("text_pair", [len(texts)], "BYTES")
    pair.set_data_from_numpy(strings[::-1].copy())
    query = grpcclient.InferInput("text", [len(texts)], "BYTES")
    query.set_data_from_numpy(np.array([b"a query"] * len(texts), dtype=np.object_))
    assert grpc.infer("reranker", [query, pair]).as_numpy("logits").shape == (len(texts), 1)


def test_predict_texts_equal_token_ids(text_server, tokenizer):
    """seqserve.v1 Predict with `texts`: the messages from predict.proto through protobuf's runtime
    (seqpack.config_proto), the call through grpcio's generic stub."""
    import grpc
    from seqpack.config_proto import messages
    request_class = messages()["seqserve.v1.PredictRequest"]
    response_class = messages()["seqserve.v1.PredictResponse"]
    texts = real_sentences(8)
    with grpc.insecure_channel(text_server.url) as channel:
        predict = channel.unary_unary("/seqserve.v1.PredictionService/Predict",
                                      request_serializer=request_class.SerializeToString,
                                      response_deserializer=response_class.FromString)
        response = predict(request_class(model_name="minilm_text", texts=texts), timeout=60)
    out = response.outputs[0]
    assert out.name == "embedding" and list(out.shape) == [len(texts), 384]
    got = np.frombuffer(out.data, dtype="<f4").reshape(len(texts), 384)
    encodings = tokenizer.encode_batch(texts)
    by_ids = np.concatenate([r.as_numpy("embedding") for r in concurrently(
        text_server, "minilm_text", [bert_request(e.ids, e.attention_mask, e.type_ids) for e in encodings])])
    np.testing.assert_allclose(got, by_ids, atol=2e-6)


def test_a_text_above_one_mib_is_refused(text_server):
    """Note [text size cap]: one text is at most 1 MiB, whatever truncation asks for."""
    r = rest_call(text_server, "POST", "/embed", {"inputs": ["fine", "a" * (1 << 20) + "a"], "truncate": True})
    assert r.status == 400, r
    assert r.json()["error"] == "input 1: text is 1048577 bytes; the tokenizer takes at most 1048576 bytes (1 MiB) per text"
    assert rest_call(text_server, "POST", "/embed", {"inputs": "fine"}).status == 200


def test_text_metrics(text_server):
    rest_call(text_server, "POST", "/v1/embeddings", {"model": "minilm_text", "input": ["one", "two"]})
    assert metric(text_server, "seqserve_text_requests_total", model="minilm_text", api="openai", task="embedding") >= 1
    assert metric(text_server, "seqserve_text_tokens_per_request_count", model="minilm_text", api="openai") >= 1
    assert metric(text_server, "seqserve_tokenization_seconds_count", model="minilm_text", api="openai") >= 1
    assert metric(text_server, "seqserve_requests_total", model="minilm_text", api="openai", code="OK") >= 1


LONG = "word " * 200  # 202 tokens; the classifier takes 128


@pytest.mark.parametrize("path, body, status, message", [
    ("/v1/embeddings", {"model": "classifier", "input": []}, 400, "\"input\" is empty: send at least one text"),
    ("/v1/embeddings", {"model": "classifier", "input": ["a", 5]}, 400, "\"input\"[1] is not a string"),
    ("/v1/embeddings", {"model": "nope", "input": "a"}, 404, "unknown model 'nope'"),
    ("/v1/embeddings", {"model": "classifier", "input": "a"}, 400,
     "model 'classifier' is a classification model, not embedding"),
    ("/v1/embeddings", {"input": "a"}, 400, "\"model\" is missing"),
    ("/v1/embeddings", {"model": "classifier", "input": "a", "encoding_format": "hex"}, 400,
     "\"encoding_format\" must be \"float\" or \"base64\""),
    ("/predict", {"inputs": LONG}, 400, "input 0 is 202 tokens long, more than the model takes (128)"),
    ("/predict", {"inputs": [["a"], ["b"], ["c"], ["d"], ["e"]]}, 400,
     "5 inputs in one request; this server takes at most 4 (--max-client-batch-size)"),
    ("/predict", {"inputs": [["a"], ["b", "c"]]}, 400, "inputs mix single texts and pairs"),
    ("/predict", {"inputs": 3}, 400, "each input must be a string, [text] or [text, text_pair]"),
    ("/embed", {"inputs": "a"}, 404, "no ready model does embedding from text"),
    ("/rerank", {"query": "q", "texts": ["a"], "model": "classifier"}, 400,
     "model 'classifier' is a classification model, not rerank"),
    ("/predict", {"inputs": "a", "truncation_direction": "up"}, 400, "\"truncation_direction\" must be"),
])
def test_bad_input_is_refused_with_a_clear_message(strict_server, path, body, status, message):
    r = rest_call(strict_server, "POST", path, body)
    assert r.status == status, r
    error = r.json()["error"]
    if path.startswith("/v1/"):
        assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
        error = error["message"]
    else:
        assert r.json()["error_type"] == "Validation"
    assert message in error, error


def test_bad_bytes_and_sizes_are_refused(strict_server):
    invalid_utf8 = b'{"model": "classifier", "inputs": "caf\xe9"}'
    r = rest_call(strict_server, "POST", "/predict", invalid_utf8)
    assert r.status == 400 and "invalid UTF-8" in r.json()["error"], r
    r = rest_call(strict_server, "POST", "/predict", b'{"inputs": ')
    assert r.status == 400 and "not valid JSON" in r.json()["error"], r
    # The reliability issue's byte limit holds for text bodies: refused before they are read.
    r = rest_call(strict_server, "POST", "/predict", {"inputs": "x" * 70000})
    assert r.status == 413, r
    # ... and so does the request memory: a body within the message limit whose parse does not fit.
    r = rest_call(strict_server, "POST", "/predict", {"inputs": ["y" * 60000]})
    assert r.status == 429, r
    assert "request body, parsed, of 600" in r.json()["error"] and "--request-memory-bytes" in r.json()["error"], r
    r = rest_call(strict_server, "GET", "/v1/embeddings")
    assert r.status == 405 and r.headers["Allow"] == "POST", r
    # Truncation asked for by the request is honoured without --auto-truncate.
    r = rest_call(strict_server, "POST", "/predict", {"inputs": LONG, "truncate": True})
    assert r.status == 200, r
    # The server keeps serving after all of the above.
    assert rest_call(strict_server, "POST", "/predict", {"inputs": "fine"}).status == 200
