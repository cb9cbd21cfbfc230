"""optimization { precision } served end to end: all-MiniLM-L6-v2 packed in BF16 and INT8_DYNAMIC
by scripts/seqserve-pack, next to the demo repository's FP32 pack, on the real binary
(runtime/base/precision.h, runtime/torch/torch_model.h)."""
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from helpers import cosines, embed_through_server
from common.sentences import client_tokenizer, real_sentences  # benchmarks/common, on .venv's path

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cpu_has(*flags):
    line = next(l for l in open("/proc/cpuinfo") if l.startswith("flags"))
    return any(f in line.split() for f in flags)


@pytest.fixture(scope="module")
def precision_server(request, tmp_path_factory, start_server):
    """minilm (FP32, the build's pack), minilm_bf16 and minilm_int8 (packed here, at most 64 tokens
    and 8 rows to pack fast) and minilm_asks_bf16 (the FP32 pack with a config asking BF16)."""
    repo = tmp_path_factory.mktemp("precision") / "repo"
    checkpoint = os.path.join(request.config.getoption("--checkpoints"), "all-MiniLM-L6-v2")
    for name, precision in (("minilm_bf16", "bf16"), ("minilm_int8", "int8_dynamic")):
        packed = subprocess.run([os.path.join(ROOT, "scripts", "seqserve-pack"), "--hf", checkpoint, "--name", name,
                                 "--repository", str(repo), "--precision", precision, "--max-length", "64",
                                 "--max-batch-size", "8"],
                                # the packer in this interpreter's venv (as test_packer.py), not <repo>/.venv
                                env=dict(os.environ, HF_HUB_OFFLINE="1", SEQSERVE_VENV=sys.prefix),
                                capture_output=True, text=True, timeout=600)
        assert packed.returncode == 0, packed.stderr[-3000:]
    source = os.path.join(request.config.getoption("--repository"), "minilm")
    shutil.copytree(source, repo / "minilm", symlinks=True)
    shutil.copytree(source, repo / "minilm_asks_bf16", symlinks=True)
    config = repo / "minilm_asks_bf16" / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "minilm"', 'name: "minilm_asks_bf16"')
                      + "\noptimization { precision: BF16 }\n")
    server = start_server(repository=str(repo))
    client = grpcclient.InferenceServerClient(url=server.url)
    # One model is UNAVAILABLE on purpose, so the server never reports ready: wait until every
    # model has finished loading one way or the other.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            states = [m.get("state") for m in client.get_model_repository_index(as_json=True).get("models", [])]
        except grpcclient.InferenceServerException:
            states = []
        if len(states) == 4 and all(s in ("READY", "UNAVAILABLE") for s in states):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"models still loading after 300 s:\n{server.read_log()}")
    yield server, client
    server.stop()


def reason(client, model):
    index = {m["name"]: m for m in client.get_model_repository_index(as_json=True)["models"]}
    return index[model]["state"], index[model].get("reason", "")


def embeddings(request, server, model, texts):
    tokenizer = client_tokenizer(os.path.join(request.config.getoption("--checkpoints"), "all-MiniLM-L6-v2",
                                              "tokenizer.json"))
    result = embed_through_server(server, model, tokenizer, texts)
    assert result.dtype == np.float32  # as declared, whatever the model computes in
    return result


def short_sentences(count):
    return [t for t in real_sentences(4 * count) if len(t.split()) < 30][:count]


def test_bf16_serves_fp32_embeddings_within_cosine_0_9999(request, precision_server):
    server, client = precision_server
    state, why = reason(client, "minilm_bf16")
    if not cpu_has("avx512_bf16", "amx_bf16"):
        assert state == "UNAVAILABLE" and "avx512_bf16" in why, (state, why)
        return
    assert state == "READY", why
    texts = short_sentences(100)
    c = cosines(embeddings(request, server, "minilm_bf16", texts), embeddings(request, server, "minilm", texts))
    assert c.min() >= 0.9999, c.min()
    assert c.min() < 1.0  # it did compute in bf16
    assert re.search(r"loading model 'minilm_bf16' version 1 \(.*BF16\)", server.read_log())


def test_int8_dynamic_serves_and_is_coarser(request, precision_server):
    server, client = precision_server
    state, why = reason(client, "minilm_int8")
    assert state == "READY", why
    texts = short_sentences(50)
    c = cosines(embeddings(request, server, "minilm_int8", texts), embeddings(request, server, "minilm", texts))
    # Documented as opt-in for its accuracy (docs/models.md, "Cores, instances and precision").
    assert 0.8 < c.min() < 0.9999, c.min()


def test_a_precision_the_file_cannot_take_is_unavailable_with_what_to_do(precision_server):
    server, client = precision_server
    state, why = reason(client, "minilm_asks_bf16")
    assert state == "UNAVAILABLE", why
    if cpu_has("avx512_bf16", "amx_bf16"):
        # Its weights are frozen into the graph: nothing to cast at load.
        assert "frozen" in why and "seqserve-pack --precision bf16" in why, why
    else:
        assert "avx512_bf16" in why, why
    # The others serve regardless.
    assert reason(client, "minilm")[0] == "READY"
