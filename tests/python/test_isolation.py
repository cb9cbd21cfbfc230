"""No request's failure touches another's: a poison request batched with valid ones fails alone,
with a short message, and its companions get the answers they would get alone. Also: the model
repository as pods mount it, and a queue delay of 0."""
import os
import re
import shutil
import tempfile

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient

from helpers import concurrently, encoder_inputs, encoder_repository, encoder_request, metric

OOV = 99999999  # far outside the demo encoder's 1000-entry embedding table


def valid_ids(seed, length=24):
    return np.random.default_rng(seed).integers(1, 1000, size=length)


def oov_among_six_valid(server, client, oov_at):
    """Six valid encoder requests and one with an out-of-vocabulary id at position `oov_at`, sent
    at once to `server`. Returns the six answers alone (from the demo server behind `client`),
    the six results from `server`, and the poison request's result."""
    alone = [client.infer("encoder", encoder_request(valid_ids(s))).as_numpy("logits") for s in range(6)]
    poison = valid_ids(99)
    poison[oov_at] = OOV
    requests = [encoder_request(valid_ids(s)) for s in range(3)] + [encoder_request(poison)] + \
               [encoder_request(valid_ids(s)) for s in range(3, 6)]
    results = concurrently(server, "encoder", requests)
    return alone, results, results.pop(3)


def expect_short(message):
    assert len(message) < 400 and message.count("\n") <= 1, message
    assert "Traceback" not in message and "<--- HERE" not in message, message


def test_out_of_range_token_id_is_refused_and_its_companions_answered(server, client):
    # The demo encoder declares input_ids' valid_range [0, 1000): the poison request never
    # reaches a batch.
    alone, results, error = oov_among_six_valid(server, client, oov_at=5)
    assert isinstance(error, Exception), error
    assert error.status() == "StatusCode.INVALID_ARGUMENT", error
    assert f"input 'input_ids' has value {OOV} at [0, 5], outside its valid range [0, 1000)" in error.message()
    expect_short(error.message())
    for got, want in zip(results, alone):
        assert not isinstance(got, Exception), got
        np.testing.assert_allclose(got.as_numpy("logits"), want, rtol=1e-5, atol=1e-5)


class Poison(torch.nn.Module):
    """x [B, 4] INT64 -> 2x as FP32; raises for any batch holding the value 13."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x == 13).any()):
            raise ValueError("poison value 13 in the batch")
        return (x * 2).to(torch.float32)


class SaysOutOfMemory(torch.nn.Module):
    """Like Poison, but its error reads like an allocator's: only the pool's own refusal may
    count as out of memory."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x == 13).any()):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (but not really)")
        return (x * 2).to(torch.float32)


@pytest.fixture(scope="module")
def bisecting_server(request, start_server):
    """Two models that fail inside forward for one specific input, each batching exactly seven
    single-row requests (a full batch at max_batch_size 7; the 60 s delay never comes due):
    `poison` (a small TorchScript model that raises for 13), and the demo encoder without its
    valid_range (its embedding lookup fails for an out-of-vocabulary id)."""
    repo = tempfile.mkdtemp(prefix="seqserve_poison_")
    for name, module in [("poison", Poison()), ("says_oom", SaysOutOfMemory())]:
        os.makedirs(os.path.join(repo, name, "1"))
        torch.jit.script(module).save(os.path.join(repo, name, "1", "model.pt"))
        with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
            f.write('max_batch_size: 7\n'
                    'input { name: "x" data_type: INT64 dims: [4] }\n'
                    'output { name: "y" data_type: FP32 dims: [4] }\n'
                    'batching { max_queue_delay_microseconds: 60000000 }\n')
    encoder_repository(request.config.getoption("--repository"),
                       "batching { max_queue_delay_microseconds: 60000000 }", out_dir=repo)
    config = os.path.join(repo, "encoder", "config.pbtxt")
    text = re.sub(r" valid_range \{[^}]*\}", "", open(config).read())
    text = text.replace("max_batch_size: 32", "max_batch_size: 7")
    open(config, "w").write(text)
    server = start_server(repository=repo)
    server.wait_ready_http()
    yield server
    assert server.stop() == 0, server.read_log()
    shutil.rmtree(repo, ignore_errors=True)


@pytest.mark.parametrize("model,error", [
    ("poison", "ValueError: poison value 13 in the batch"),
    # Not out of memory, whatever it says: bisected like any model error, never split as OOM,
    # and INTERNAL, not RESOURCE_EXHAUSTED.
    ("says_oom", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (but not really)"),
])
def test_a_model_that_raises_for_one_input_fails_only_that_request(bisecting_server, model, error):
    server = bisecting_server
    values = [1, 2, 3, 13, 5, 6, 7]
    requests = []
    for v in values:
        x = grpcclient.InferInput("x", [1, 4], "INT64")
        x.set_data_from_numpy(np.full((1, 4), v, dtype=np.int64))
        requests.append([x])
    results = concurrently(server, model, requests)
    for v, got in zip(values, results):
        if v == 13:
            assert isinstance(got, Exception), got
            assert got.status() == "StatusCode.INTERNAL", got
            assert got.message().endswith(error), got.message()
            expect_short(got.message())
        else:
            assert not isinstance(got, Exception), (v, got)
            np.testing.assert_array_equal(got.as_numpy("y"), np.full((1, 4), 2.0 * v, dtype=np.float32))
    # 7 -> 3 + 4 -> ... -> the poison alone: 2 or 3 bisections, by where it landed in the batch.
    assert metric(server, "seqserve_batch_bisections_total", model=model, version="1") >= 2
    assert metric(server, "seqserve_model_failures_total", model=model, version="1") == 1
    assert metric(server, "seqserve_batch_splits_total", model=model, version="1") == 0
    assert metric(server, "seqserve_rejections_total", model=model, reason="oom") == 0
    # This model's full text went to the log (rate-limited), not to the client.
    log = server.read_log()
    assert re.search(rf"model '{model}' version 1 instance \d+: model execution failed \(model error; full text follows", log), log
    assert error in log and "Traceback of TorchScript" in log


def test_out_of_vocabulary_id_without_a_range_is_isolated_by_bisection(bisecting_server, client):
    server = bisecting_server
    alone, results, error = oov_among_six_valid(server, client, oov_at=0)
    assert isinstance(error, Exception) and error.status() == "StatusCode.INTERNAL", error
    assert "index out of range" in error.message(), error.message()
    expect_short(error.message())
    for got, want in zip(results, alone):
        assert not isinstance(got, Exception), got
        np.testing.assert_allclose(got.as_numpy("logits"), want, rtol=1e-5, atol=1e-5)
    assert metric(server, "seqserve_batch_bisections_total", model="encoder", version="1") >= 2
    assert metric(server, "seqserve_model_failures_total", model="encoder", version="1") == 1


def test_repository_mounted_as_pods_mount_it_becomes_ready(request, start_server):
    """lost+found (an ext4 volume's root), dot-folders, Kubernetes' ConfigMap layout (`..data`
    and the models as symlinks through it) and a stray README: the real models serve and the
    server (strict readiness, the default) becomes ready."""
    demo = request.config.getoption("--repository")
    repo = tempfile.mkdtemp(prefix="seqserve_mounted_")
    stamp = "..2026_12_01_10_00_00.000000001"
    shutil.copytree(os.path.join(demo, "encoder"), os.path.join(repo, stamp, "encoder"))
    os.symlink(stamp, os.path.join(repo, "..data"))
    os.symlink(os.path.join("..data", "encoder"), os.path.join(repo, "encoder"))
    shutil.copytree(os.path.join(demo, "linear"), os.path.join(repo, "linear"))
    os.makedirs(os.path.join(repo, "lost+found"))
    os.makedirs(os.path.join(repo, ".git", "objects"))
    os.makedirs(os.path.join(repo, ".snapshot", "1"))
    with open(os.path.join(repo, "README.md"), "w") as f:
        f.write("models of this pod\n")
    server = start_server(repository=repo)
    server.wait_ready_http()
    client = grpcclient.InferenceServerClient(url=server.url)
    assert client.is_server_ready()
    index = client.get_model_repository_index(as_json=True)
    assert sorted(m["name"] for m in index["models"]) == ["encoder", "linear"], index
    assert client.infer("encoder", encoder_inputs(16)).as_numpy("logits").shape == (1, 4)
    log = server.read_log()
    for entry in ["lost+found", ".git", ".snapshot", "..data", stamp, "README.md"]:
        assert log.count(f"skipping '{entry}'") == 1, (entry, log)
    assert "unavailable" not in log, log
    assert server.stop() == 0, server.read_log()
    shutil.rmtree(repo, ignore_errors=True)


def test_queue_delay_zero_is_kept_and_serves_a_lone_request(request, start_server):
    # proto3 used to read 0 as "unset" and substitute the default; now it means "run at once".
    repo = encoder_repository(request.config.getoption("--repository"),
                              "batching { max_queue_delay_microseconds: 0 }")
    server = start_server(repository=repo)
    server.wait_ready_http()
    client = grpcclient.InferenceServerClient(url=server.url)
    config = client.get_model_config("encoder", as_json=True)["config"]
    assert int(config["dynamic_batching"].get("max_queue_delay_microseconds", 0)) == 0, config
    assert client.infer("encoder", encoder_inputs(16), client_timeout=60).as_numpy("logits").shape == (1, 4)
    assert server.stop() == 0, server.read_log()
