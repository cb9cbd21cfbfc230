"""The /metrics, /healthz and /readyz endpoints, checked with a scrape before and after a known
sequence of requests, and with Prometheus's own promtool."""
import shutil
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from helpers import MISSING, series_error


def scrape(server):
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return response.read().decode()


def samples(text):
    """{(sample name, frozenset(labels)): value}"""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(snapshot, name, *, default=MISSING, **labels):
    """The sample `name` with exactly `labels` in a samples() snapshot. A missing series is an
    error, unless the caller passes `default=` for one that legitimately may not exist yet."""
    key = (name, frozenset(labels.items()))
    if key in snapshot:
        return snapshot[key]
    if default is not MISSING:
        return default
    raise series_error(name, labels, [(n, dict(l)) for n, l in snapshot])


def linear_inputs(rows=2):
    x = np.ones((rows, 1000), dtype=np.float32)
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return [inp]


def expected_device():
    """What seqserve_build_info's device label says: "cuda" when libtorch sees a CUDA device,
    else "cpu" (server/main.cc), whatever the models' instances ask for. This interpreter's torch
    is the wheel the binary's libtorch comes from, on the same machine."""
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def test_counters_move_by_exactly_what_was_sent(server, client, server_version, torch_version):
    before = samples(scrape(server))
    for _ in range(3):
        client.infer("linear", linear_inputs(rows=2))
    bad = grpcclient.InferInput("input", [1, 999], "FP32")
    bad.set_data_from_numpy(np.ones((1, 999), dtype=np.float32))
    with pytest.raises(InferenceServerException):
        client.infer("linear", [bad])
    with pytest.raises(InferenceServerException):
        client.infer("no_such_model", linear_inputs())
    after = samples(scrape(server))

    def delta(name, new=False, **labels):
        """after - before. `new`: a series the server creates on its first count (a code's
        requests, a histogram's first observation), so it may not exist before this test."""
        return value(after, name, **labels) - value(before, name, default=0.0 if new else MISSING, **labels)

    assert delta("seqserve_requests_total", new=True, model="linear", api="kserve", code="OK") == 3
    assert delta("seqserve_requests_total", new=True, model="linear", api="kserve", code="INVALID_ARGUMENT") == 1
    assert delta("seqserve_requests_total", new=True, model="(unknown)", api="kserve", code="NOT_FOUND") == 1
    assert delta("seqserve_rejections_total", new=True, model="linear", reason="invalid") == 1
    assert delta("seqserve_request_duration_seconds_count", new=True, model="linear", api="kserve") == 4
    assert delta("seqserve_request_duration_seconds_sum", new=True, model="linear", api="kserve") > 0
    assert delta("seqserve_queue_duration_seconds_count", model="linear", version="1") == 3
    assert delta("seqserve_compute_duration_seconds_count", model="linear", version="1") == 3
    assert delta("seqserve_tokens_total", model="linear", version="1", kind="real") == 6
    batches = delta("seqserve_batches_total", model="linear", version="1")
    assert 1 <= batches <= 3
    assert delta("seqserve_batch_rows_count", model="linear", version="1") == batches
    assert delta("seqserve_batch_rows_sum", model="linear", version="1") == 6
    assert value(after, "seqserve_build_info", version=server_version, torch_version=torch_version,
                 device=expected_device()) == 1
    assert value(after, "seqserve_inflight_requests") == 0
    assert value(after, "process_resident_memory_bytes") > 0


def test_padding_metrics_for_sequences(server, client, reference):
    before = samples(scrape(server))
    ref = reference["enc_3x33"]
    inputs = []
    for name, array in ref["in"].items():
        inp = grpcclient.InferInput(name, list(array.shape), "INT64")
        inp.set_data_from_numpy(array)
        inputs.append(inp)
    client.infer("encoder", inputs)
    after = samples(scrape(server))
    real = value(after, "seqserve_tokens_total", model="encoder", version="1", kind="real") - \
        value(before, "seqserve_tokens_total", model="encoder", version="1", kind="real")
    assert real == 3 * 33
    assert value(after, "seqserve_batch_padded_length_tokens_count", model="encoder", version="1") >= 1
    assert 0 < value(after, "seqserve_padding_efficiency_ratio", model="encoder", version="1") <= 1


def test_promtool_accepts_a_live_scrape(server, client):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool (Debian package 'prometheus') is not installed; run scripts/install_deps.sh")
    client.infer("linear", linear_inputs())
    run = subprocess.run([promtool, "check", "metrics"], input=scrape(server), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "" and run.stderr.strip() == "", run.stdout + run.stderr


def test_health_endpoints_and_nothing_else(server, client):
    for path, body in [("/healthz", "ok\n"), ("/readyz", "ready\n")]:
        with urllib.request.urlopen(server.metrics_url + path, timeout=10) as response:
            assert response.status == 200 and response.read().decode() == body
    for path in ["/", "/metrics/../etc/passwd", "/model_repository"]:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(server.metrics_url + path, timeout=10)
        assert error.value.code == 404
    request = urllib.request.Request(server.metrics_url + "/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 405
