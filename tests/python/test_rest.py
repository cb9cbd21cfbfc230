"""KServe v2 REST (the HTTP/JSON protocol as Triton implements it, with its binary tensor
extension) against the real binary: Triton's own HTTP client (tritonclient.http) for what a client
sees, raw HTTP (http.client, sockets) for status codes and error bodies. The gRPC equivalents are
in test_tritonclient.py; the answers must be the same."""
import json
import os
import threading
import time

import ml_dtypes
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from helpers import (demo_repository, encoder_repository, encoder_rest_body, metric, raw_exchange, rest_call,
                     wait_rest_ready)

CASES = ["enc_1x7", "enc_3x33", "enc_2x1", "enc_1x512", "lin_1", "lin_5"]


@pytest.fixture(scope="module")
def rest_server(request, start_server, tmp_path_factory):
    """The demo models (encoder, linear) and the every-datatype model `dtypes` (add_dtypes_model),
    default flags: the server of every test here that needs no flag or batching of its own."""
    repo = demo_repository(request.config.getoption("--repository"), tmp_path_factory.mktemp("rest_repo"))
    add_dtypes_model(repo)
    s = start_server(repository=repo)
    s.client = wait_rest_ready(s)
    yield s
    s.client.close()
    assert s.stop() == 0, s.read_log()[-4000:]


@pytest.fixture(scope="module")
def client(rest_server):
    return rest_server.client


def triton_type(array):
    return {np.dtype(np.int64): "INT64", np.dtype(np.float32): "FP32"}[array.dtype]


def make_inputs(arrays, binary):
    return [httpclient.InferInput(name, list(a.shape), triton_type(a)).set_data_from_numpy(a, binary_data=binary)
            for name, a in arrays.items()]


def json_body(arrays, **extra):
    return {"inputs": [{"name": name, "shape": list(a.shape), "datatype": triton_type(a), "data": a.flatten().tolist()}
                       for name, a in arrays.items()], **extra}


def outputs_of(answer):
    """{name: array} of a JSON-only infer answer (raw REST)."""
    dtypes = {"FP32": np.float32, "INT64": np.int64}
    return {o["name"]: np.array(o["data"], dtype=dtypes[o["datatype"]]).reshape(o["shape"]) for o in answer["outputs"]}


def expect_error(response, status, *fragments):
    assert response.status == status, response
    message = response.error()
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


# ---- health, metadata, configuration, repository ----

def test_liveness_and_readiness(rest_server, client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("encoder")
    assert client.is_model_ready("linear", "1")
    assert not client.is_model_ready("linear", "2")
    assert not client.is_model_ready("no_such_model")
    for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/encoder/ready", "/v2/models/linear/versions/1/ready"]:
        assert rest_call(rest_server, "GET", path).status == 200, path
    # An unknown version or model is not ready: 503 (the readiness answer) or 404 (unknown).
    for path in ["/v2/models/linear/versions/2/ready", "/v2/models/no_such_model/ready"]:
        assert rest_call(rest_server, "GET", path).status in (404, 503), path


def test_server_and_model_metadata(client):
    server = client.get_server_metadata()
    assert server["name"] == "seqserve"
    assert isinstance(server["version"], str) and server["version"]
    assert {"binary_tensor_data", "model_configuration", "statistics"} <= set(server["extensions"]), server
    meta = client.get_model_metadata("encoder")
    assert meta["name"] == "encoder"
    assert meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == ["input_ids", "attention_mask"]
    assert meta["inputs"][0]["datatype"] == "INT64"
    assert meta["inputs"][0]["shape"] == [-1, -1]  # REST carries shapes as JSON numbers
    assert [o["name"] for o in meta["outputs"]] == ["logits", "token_scores"]
    assert [o["shape"] for o in meta["outputs"]] == [[-1, 4], [-1, -1]]
    linear = client.get_model_metadata("linear", "1")
    assert linear["inputs"][0]["shape"] == [-1, 1000]
    assert linear["outputs"][0]["datatype"] == "FP32"


def test_model_config(client):
    config = client.get_model_config("encoder")  # Triton's REST answer is the config itself
    assert config["name"] == "encoder"
    assert config["max_batch_size"] == 32
    assert config["input"][0]["data_type"] == "TYPE_INT64"
    assert config["output"][0]["data_type"] == "TYPE_FP32"
    assert config["parameters"]["seqserve.batching_mode"]["string_value"] == "LENGTH_BUCKETED"
    assert client.get_model_config("linear", "1")["input"][0]["dims"] == [1000]


def test_repository_index(rest_server, client):
    index = client.get_model_repository_index()
    entries = {(m["name"], m["version"]): m for m in index}
    for name in ["encoder", "linear"]:
        assert entries[(name, "1")]["state"] == "READY", index
        assert "reason" in entries[(name, "1")], index
    ready_only = rest_call(rest_server, "POST", "/v2/repository/index", body={"ready": True})
    assert ready_only.status == 200, ready_only
    assert all(m["state"] == "READY" for m in ready_only.json())
    assert {(m["name"], m["version"]) for m in ready_only.json()} >= {("encoder", "1"), ("linear", "1")}
    expect_error(rest_call(rest_server, "GET", "/v2/repository/index"), 405)


def test_metrics_and_rest_ports_are_split(rest_server):
    """Triton's 8000/8002 split: /metrics, /healthz, /readyz only on the metrics port, /v2 only
    on the REST port."""
    import urllib.error
    import urllib.request
    for path in ["/metrics", "/healthz", "/readyz"]:
        expect_error(rest_call(rest_server, "GET", path), 404)
        with urllib.request.urlopen(rest_server.metrics_url + path, timeout=30) as response:
            assert response.status == 200
    for path in ["/v2", "/v2/health/ready"]:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(rest_server.metrics_url + path, timeout=30)
        assert error.value.code == 404
    assert rest_server.http_port not in (rest_server.port, rest_server.metrics_port)


# ---- inference ----

@pytest.mark.parametrize("form", ["json", "binary", "binary_data_output"])
@pytest.mark.parametrize("case", CASES)
def test_infer_matches_reference(client, reference, case, form):
    ref = reference[case]
    binary = form != "json"
    # No `outputs` makes tritonclient.http ask for all of them with binary_data_output.
    outputs = None if form == "binary_data_output" else \
        [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ref["out"]]
    result = client.infer(ref["model"], make_inputs(ref["in"], binary), outputs=outputs, request_id=case)
    response = result.get_response()
    assert response["id"] == case
    assert response["model_name"] == ref["model"] and response["model_version"] == "1"
    assert sorted(o["name"] for o in response["outputs"]) == sorted(ref["out"])
    for o in response["outputs"]:  # each output came in the form asked for
        assert ("binary_data_size" in o.get("parameters", {})) == binary, o
        assert ("data" in o) == (not binary), o
    for name, expected in ref["out"].items():
        got = result.as_numpy(name)
        assert got.shape == expected.shape, name
        assert got.dtype == np.float32, name
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("binary", [False, True])
def test_requested_outputs_only(client, reference, binary):
    ref = reference["enc_3x33"]
    result = client.infer("encoder", make_inputs(ref["in"], binary),
                          outputs=[httpclient.InferRequestedOutput("logits", binary_data=binary)])
    assert [o["name"] for o in result.get_response()["outputs"]] == ["logits"]
    assert result.as_numpy("token_scores") is None
    np.testing.assert_allclose(result.as_numpy("logits"), ref["out"]["logits"], atol=1e-4, rtol=0)


def test_binary_output_of_one_json_of_the_other(client, reference):
    """Per-output binary_data: one output binary, the other JSON, in the same answer."""
    ref = reference["enc_3x33"]
    result = client.infer("encoder", make_inputs(ref["in"], True),
                          outputs=[httpclient.InferRequestedOutput("logits", binary_data=True),
                                   httpclient.InferRequestedOutput("token_scores", binary_data=False)])
    forms = {o["name"]: ("data" in o, "binary_data_size" in o.get("parameters", {})) for o in result.get_response()["outputs"]}
    assert forms == {"logits": (False, True), "token_scores": (True, False)}, forms
    for name, expected in ref["out"].items():
        np.testing.assert_allclose(result.as_numpy(name), expected, atol=1e-4, rtol=0)


def test_raw_binary_answer_layout(rest_server, reference):
    """Triton's binary extension on the wire: Inference-Header-Content-Length gives the JSON's
    length, the outputs follow it in order, each parameters.binary_data_size bytes."""
    ref = reference["lin_5"]
    x = ref["in"]["input"]
    header = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    r = rest_call(rest_server, "POST", "/v2/models/linear/infer", body=header + x.tobytes(),
                  headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
    assert r.status == 200, r
    n = int(r.headers["Inference-Header-Content-Length"])
    answer = json.loads(r.body[:n])
    (out,) = answer["outputs"]
    assert out["name"] == "output" and out["datatype"] == "FP32" and out["shape"] == [5, 10]
    assert out["parameters"]["binary_data_size"] == 5 * 10 * 4 == len(r.body) - n
    got = np.frombuffer(r.body[n:], dtype="<f4").reshape(5, 10)
    np.testing.assert_allclose(got, ref["out"]["output"], atol=1e-4, rtol=0)


def test_nested_and_flat_data_agree(rest_server, reference):
    for case in ["enc_3x33", "lin_5"]:
        ref = reference[case]
        flat = json_body(ref["in"])
        nested = {"inputs": [{**i, "data": a.tolist()} for i, a in zip(flat["inputs"], ref["in"].values())]}
        assert isinstance(nested["inputs"][0]["data"][0], list)
        path = f"/v2/models/{ref['model']}/infer"
        answers = [rest_call(rest_server, "POST", path, body=b) for b in (flat, nested)]
        assert [a.status for a in answers] == [200, 200], answers
        got_flat, got_nested = (outputs_of(a.json()) for a in answers)
        for name, expected in ref["out"].items():
            np.testing.assert_array_equal(got_flat[name], got_nested[name])
            np.testing.assert_allclose(got_flat[name], expected, atol=1e-4, rtol=0)


def test_version_in_the_path(rest_server, reference):
    ref = reference["lin_1"]
    r = rest_call(rest_server, "POST", "/v2/models/linear/versions/1/infer", body=json_body(ref["in"]))
    assert r.status == 200, r
    assert r.json()["model_version"] == "1"
    np.testing.assert_allclose(outputs_of(r.json())["output"], ref["out"]["output"], atol=1e-4, rtol=0)


def test_statistics_count_inferences(client, reference):
    def linear_stats():
        stats = client.get_inference_statistics("linear")["model_stats"]
        assert [(s["name"], s["version"]) for s in stats] == [("linear", "1")], stats  # only the model asked for
        return stats[0]

    before = linear_stats()
    ref = reference["lin_5"]
    for _ in range(3):
        client.infer("linear", make_inputs(ref["in"], True))
    after = linear_stats()
    assert int(after["inference_count"]) - int(before["inference_count"]) == 15
    success = after["inference_stats"]["success"]
    assert int(success["count"]) - int(before["inference_stats"]["success"]["count"]) == 3
    assert int(after["inference_stats"]["compute_infer"]["ns"]) > 0
    versioned = client.get_inference_statistics("linear", "1")["model_stats"]
    assert [(s["name"], s["version"]) for s in versioned] == [("linear", "1")]
    everything = client.get_inference_statistics()["model_stats"]
    assert {"encoder", "linear"} <= {s["name"] for s in everything}


def test_requests_are_counted_with_api_rest(rest_server, client, reference):
    before = rest_server.scrape()
    ref = reference["lin_1"]

    def count(text, name, **labels):
        """(whether any series `name` is on /metrics, the sum over those whose labels include
        `labels`): 0 where none matches, as a code's series appears with its first answer."""
        from prometheus_client.parser import text_string_to_metric_families
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]
        return bool(samples), sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items()))

    for _ in range(2):
        client.infer("linear", make_inputs(ref["in"], False))
    bad = {"inputs": [{"name": "input", "shape": [1, 999], "datatype": "FP32", "data": [0.0] * 999}]}
    assert rest_call(rest_server, "POST", "/v2/models/linear/infer", body=bad).status == 400
    assert rest_call(rest_server, "POST", "/v2/models/no_such_model/infer", body=bad).status == 404
    # A bad version is a decode error: counted, as over gRPC (it used to be answered before the
    # request path and never counted).
    bad_version = rest_call(rest_server, "POST", "/v2/models/linear/versions/0/infer", body=json_body(ref["in"]))
    assert bad_version.status == 400 and "not a positive integer" in bad_version.error(), bad_version
    after = rest_server.scrape()

    def delta(name, **labels):
        # Before, nothing may have been counted yet; after, `name` must be there (a renamed
        # metric must not read as 0).
        present, now = count(after, name, **labels)
        assert present, f"no series named {name} on /metrics"
        return now - count(before, name, **labels)[1]

    assert delta("seqserve_requests_total", model="linear", api="rest", code="OK") == 2
    assert delta("seqserve_requests_total", model="linear", api="rest", code="INVALID_ARGUMENT") == 2
    assert delta("seqserve_requests_total", model="(unknown)", api="rest", code="NOT_FOUND") == 1
    assert delta("seqserve_request_duration_seconds_count", model="linear", api="rest") == 4
    assert delta("seqserve_requests_total", api="kserve") == 0  # REST is not counted as gRPC


# ---- errors: status codes and {"error": "..."} bodies ----

def test_malformed_bodies_are_400(rest_server):
    for body in [b"{not json", b"", b"[1, 2]", b'{"inputs": 3}', b'{"id": 5, "inputs": []}']:
        expect_error(rest_call(rest_server, "POST", "/v2/models/linear/infer", body=body,
                               headers={"Content-Type": "application/json"}), 400)
    expect_error(rest_call(rest_server, "POST", "/v2/models/linear/infer", body=b'{"inputs": [{"name": "input"',
                           headers={"Content-Type": "application/json"}), 400, "JSON")


def test_unknown_models_versions_and_routes_are_404(rest_server, reference):
    body = json_body(reference["lin_1"]["in"])
    expect_error(rest_call(rest_server, "POST", "/v2/models/no_such_model/infer", body=body), 404,
                 "unknown model 'no_such_model'")
    expect_error(rest_call(rest_server, "POST", "/v2/models/linear/versions/7/infer", body=body), 404)
    for path in ["/v2/models/no_such_model", "/v2/models/no_such_model/config", "/v2/models/no_such_model/stats",
                 "/v2/models/linear/versions/7", "/v2/nothing", "/v3", "/", "/v2/models/encoder/bogus",
                 "/v2/models/encoder/versions/1/infer/more", "/metrics"]:
        expect_error(rest_call(rest_server, "GET", path), 404)


def test_bad_version_strings_are_400(rest_server, reference):
    body = json_body(reference["lin_1"]["in"])
    for version in ["abc", "-1", "0", "1.5"]:
        expect_error(rest_call(rest_server, "POST", f"/v2/models/linear/versions/{version}/infer", body=body), 400)
    expect_error(rest_call(rest_server, "GET", "/v2/models/linear/versions/abc"), 400)


def test_wrong_methods_are_405(rest_server):
    for method, path, allowed in [("GET", "/v2/models/linear/infer", "POST"),
                                  ("PUT", "/v2/models/linear/infer", "POST"),
                                  ("POST", "/v2/health/ready", "GET"),
                                  ("POST", "/v2/models/linear", "GET"),
                                  ("DELETE", "/v2", "GET")]:
        r = rest_call(rest_server, method, path, body=b"" if method != "GET" else None)
        expect_error(r, 405)
        assert allowed in r.headers.get("Allow", ""), (method, path, r.headers)  # RFC 9110: 405 carries Allow


def test_bad_inputs_are_400_and_say_what(rest_server, reference):
    ref = reference["enc_1x7"]
    ids = ref["in"]["input_ids"]
    path = "/v2/models/encoder/infer"

    def body(**change):
        b = encoder_rest_body(ids)
        b["inputs"][0].update(change)
        return b

    expect_error(rest_call(rest_server, "POST", path, body=body(datatype="FP32", data=ids.astype(np.float32).flatten().tolist())),
                 400, "datatype FP32, model expects INT64")
    expect_error(rest_call(rest_server, "POST", path, body=body(datatype="UINT16")), 400, "UINT16")
    expect_error(rest_call(rest_server, "POST", path, body=body(datatype="BYTES")), 400, "BYTES")
    expect_error(rest_call(rest_server, "POST", path, body=body(shape=[1, 9])), 400)  # 7 values for 9
    expect_error(rest_call(rest_server, "POST", path, body=body(data=ids.flatten().tolist()[:-1])), 400)
    expect_error(rest_call(rest_server, "POST", path, body=body(data=[1.5] * 7)), 400)  # not integers
    expect_error(rest_call(rest_server, "POST", path, body=body(data="1 2 3")), 400)
    expect_error(rest_call(rest_server, "POST", path, body=body(shape="1x7")), 400)
    missing = encoder_rest_body(ids)
    del missing["inputs"][1]
    expect_error(rest_call(rest_server, "POST", path, body=missing), 400, "missing input 'attention_mask'")
    # Binary data: a binary_data_size that runs past the body, and a size that is not the shape's.
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 1000], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 4000}}]}).encode()
    for payload in [b"\0" * 3996, b"\0" * 4004]:
        expect_error(rest_call(rest_server, "POST", "/v2/models/linear/infer", body=header + payload,
                               headers={"Inference-Header-Content-Length": str(len(header))}), 400)
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 1000], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 3996}}]}).encode()
    expect_error(rest_call(rest_server, "POST", "/v2/models/linear/infer", body=header + b"\0" * 3996,
                           headers={"Inference-Header-Content-Length": str(len(header))}), 400)
    expect_error(rest_call(rest_server, "POST", "/v2/models/linear/infer", body=header,
                           headers={"Inference-Header-Content-Length": str(len(header) + 10)}), 400)
    expect_error(rest_call(rest_server, "POST", "/v2/models/linear/infer", body=header,
                           headers={"Inference-Header-Content-Length": "many"}), 400)
    # The server keeps serving.
    r = rest_call(rest_server, "POST", path, body=json_body(ref["in"]))
    assert r.status == 200, r
    np.testing.assert_allclose(outputs_of(r.json())["logits"], ref["out"]["logits"], atol=1e-4, rtol=0)


def test_client_sees_status_codes(client, reference):
    """tritonclient.http raises InferenceServerException with the HTTP status and the message."""
    ref = reference["enc_1x7"]
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no_such_model", make_inputs(ref["in"], True))
    assert unknown.value.status() == "404"
    assert "unknown model 'no_such_model'" in unknown.value.message()
    wrong = {"input_ids": ref["in"]["input_ids"].astype(np.float32), "attention_mask": ref["in"]["attention_mask"]}
    with pytest.raises(InferenceServerException) as dtype:
        client.infer("encoder", make_inputs(wrong, False))
    assert dtype.value.status() == "400"
    assert "datatype FP32, model expects INT64" in dtype.value.message()
    assert client.infer("encoder", make_inputs(ref["in"], True)).as_numpy("logits").shape == (1, 4)


def test_deadline_in_parameters_is_504(rest_server, client, reference):
    """parameters.timeout is in microseconds: 1 µs has passed before any batch can form, so the
    request is dropped before compute, whatever the machine's speed."""
    ref = reference["enc_1x512"]
    r = rest_call(rest_server, "POST", "/v2/models/encoder/infer", body=json_body(ref["in"], parameters={"timeout": 1}))
    message = expect_error(r, 504)
    assert "deadline" in message.lower(), message
    with pytest.raises(InferenceServerException) as expired:
        client.infer("encoder", make_inputs(ref["in"], True), timeout=1)
    assert expired.value.status() == "504"
    for bad in ["soon", -5, 1.5]:
        expect_error(rest_call(rest_server, "POST", "/v2/models/encoder/infer",
                               body=json_body(ref["in"], parameters={"timeout": bad})), 400, "timeout")
    # A generous timeout answers.
    result = client.infer("encoder", make_inputs(ref["in"], True), timeout=120_000_000)
    np.testing.assert_allclose(result.as_numpy("logits"), ref["out"]["logits"], atol=1e-4, rtol=0)


# ---- --max-message-bytes ----

LIMIT = 65536


@pytest.fixture(scope="module")
def small_body_server(request, start_server, tmp_path_factory):
    s = start_server(f"--max-message-bytes={LIMIT}",
                     repository=demo_repository(request.config.getoption("--repository"),
                                                tmp_path_factory.mktemp("linear_repo"), ["linear"]))
    wait_rest_ready(s).close()
    yield s
    assert s.stop() == 0, s.read_log()[-4000:]


def test_body_over_max_message_bytes_is_413(small_body_server, reference):
    s = small_body_server
    # Announced by Content-Length: refused without reading it (the body is never sent).
    status, answer = raw_exchange(s.http_port, b"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))
    assert status == 413, answer
    # Sent whole.
    big = rest_call(s, "POST", "/v2/models/linear/infer", body=b" " * (LIMIT + 1), headers={"Content-Type": "application/json"})
    expect_error(big, 413)
    # Under the limit it answers (1000 FP32 in JSON is about 20 KB).
    ref = reference["lin_1"]
    ok = rest_call(s, "POST", "/v2/models/linear/infer", body=json_body(ref["in"]))
    assert ok.status == 200, ok
    np.testing.assert_allclose(outputs_of(ok.json())["output"], ref["out"]["output"], atol=1e-4, rtol=0)


def test_chunked_body_over_max_message_bytes_is_413(small_body_server, reference):
    """Without Content-Length (Transfer-Encoding: chunked) the limit is met while the body
    arrives: the answer is still 413 with its JSON error, not a dropped connection."""
    s = small_body_server
    chunk = b"x" * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // len(chunk) + 1)) + b"0\r\n\r\n"
    status, answer = raw_exchange(s.http_port, b"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    assert status == 413, answer
    # A chunked body under the limit is read whole and answered.
    ref = reference["lin_1"]
    body = json.dumps(json_body(ref["in"])).encode()
    pieces = [body[i:i + 4096] for i in range(0, len(body), 4096)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    status, answer = raw_exchange(s.http_port, b"POST /v2/models/linear/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    assert status == 200, answer


# ---- 429: queue full ----

@pytest.fixture(scope="module")
def small_queue_server(request, start_server):
    # Two places in the queue and a batch that neither fills (2 x 512 < 4096) nor comes due for
    # 8 s: two long requests wait there, and a third finds the queue full.
    repo = encoder_repository(request.config.getoption("--repository"),
                              "batching { max_queue_size: 2 max_batch_tokens: 4096 max_queue_delay_microseconds: 8000000 }")
    s = start_server(repository=repo)
    wait_rest_ready(s).close()
    yield s
    assert s.stop() == 0, s.read_log()[-4000:]


def test_full_queue_is_429(small_queue_server):
    s = small_queue_server
    body = encoder_rest_body(np.random.default_rng(0).integers(0, 1000, size=(1, 512)))
    results = []
    waiting = [threading.Thread(target=lambda: results.append(rest_call(s, "POST", "/v2/models/encoder/infer", body=body)))
               for _ in range(2)]
    for t in waiting:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while metric(s, "seqserve_inflight_requests") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert metric(s, "seqserve_inflight_requests") == 2
        start = time.monotonic()
        full = rest_call(s, "POST", "/v2/models/encoder/infer", body=body)
        expect_error(full, 429)
        assert time.monotonic() - start < 6, "the refusal waited for the queue"
    finally:
        for t in waiting:
            t.join(timeout=60)
    assert [r.status for r in results] == [200, 200], results
    assert metric(s, "seqserve_requests_total", model="encoder", api="rest", code="RESOURCE_EXHAUSTED") == 1


# ---- every datatype ----

DTYPES = ["BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64"]
NUMPY = {"BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
         "INT64": np.int64, "FP16": np.float16, "BF16": ml_dtypes.bfloat16, "FP32": np.float32, "FP64": np.float64}
JSON_DTYPES = [d for d in DTYPES if d not in ("FP16", "BF16")]  # JSON carries no half-precision data

DTYPES_MODEL = '''
import torch


class Dtypes(torch.nn.Module):
    """One input per datatype; each output is its input + 1 (BOOL: negated)."""

    def forward(self, b, u8, i8, i16, i32, i64, f16, bf16, f32, f64):
        return (torch.logical_not(b), u8 + 1, i8 + 1, i16 + 1, i32 + 1, i64 + 1, f16 + 1, bf16 + 1, f32 + 1, f64 + 1)


torch.jit.script(Dtypes().eval()).save(OUT)
'''


def dtype_inputs():
    """[2, 4] per datatype, at the edges of each type's range (+1 stays in range, and is exact for
    the floating-point values; INT64 beyond 2^53, where a double would round)."""
    values = {
        "BOOL": [[True, False, True, True], [False, False, True, False]],
        "UINT8": [[0, 1, 127, 254], [200, 3, 9, 100]],
        "INT8": [[-128, -1, 0, 126], [5, -7, 64, -100]],
        "INT16": [[-32768, -1, 0, 32766], [1000, -1000, 7, 3]],
        "INT32": [[-2**31, -1, 0, 2**31 - 2], [65536, -65536, 7, 3]],
        "INT64": [[-2**63, -1, 2**53 + 1, 2**62 + 1], [2**63 - 2, 0, -(2**53) - 3, 42]],
        "FP16": [[0.5, -2.25, 1024.0, 3.0], [-0.125, 7.5, 0.0, -1.0]],
        "BF16": [[0.5, -2.25, 64.0, 3.0], [-0.125, 7.5, 0.0, -1.0]],
        "FP32": [[0.1, -1e30, 3.5, 1e-3], [123456.78, -0.0, 2.5e-8, 7.0]],
        "FP64": [[0.1, -1e300, 3.5, 1e-10], [2.0**-40, 123456789.123, -7.25, 1e15]],
    }
    return {d: np.array(v, dtype=NUMPY[d]) for d, v in values.items()}


def dtype_expected(array):
    if array.dtype == np.bool_:
        return np.logical_not(array)
    if array.dtype == ml_dtypes.bfloat16:
        return (array.astype(np.float32) + 1).astype(ml_dtypes.bfloat16)
    return (array + array.dtype.type(1)).astype(array.dtype)  # integers wrap as torch does; none here do


def add_dtypes_model(repo):
    """Exports DTYPES_MODEL into `repo` as `dtypes`, with its config."""
    import subprocess
    import sys
    os.makedirs(os.path.join(repo, "dtypes", "1"))
    script = os.path.join(repo, "export_dtypes.py")  # TorchScript reads the module's source from its file
    with open(script, "w") as f:
        f.write(f"OUT = {os.path.join(repo, 'dtypes', '1', 'model.pt')!r}\n" + DTYPES_MODEL)
    export = subprocess.run([sys.executable, script], timeout=300, capture_output=True, text=True)
    assert export.returncode == 0, export.stdout + export.stderr
    os.remove(script)
    with open(os.path.join(repo, "dtypes", "config.pbtxt"), "w") as f:
        f.write('name: "dtypes"\nmax_batch_size: 8\n')
        for d in DTYPES:
            f.write(f'input {{ name: "IN_{d}" data_type: {d} dims: [4] }}\n')
        for d in DTYPES:
            f.write(f'output {{ name: "OUT_{d}" data_type: {d} dims: [4] }}\n')
        f.write("instance { count: 1 intra_op_threads: 1 device: CPU }\n")


@pytest.fixture(scope="module")
def dtypes_server(rest_server):
    """The `dtypes` model is served by rest_server."""
    return rest_server


def test_dtypes_model_metadata(dtypes_server):
    meta = dtypes_server.client.get_model_metadata("dtypes")
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [(f"IN_{d}", d, [-1, 4]) for d in DTYPES]
    assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [(f"OUT_{d}", d) for d in DTYPES]
    config = dtypes_server.client.get_model_config("dtypes")
    assert [i["data_type"] for i in config["input"]] == [f"TYPE_{d}" for d in DTYPES]


def flat(data):
    return [x for item in data for x in flat(item)] if isinstance(data, list) else [data]


def check_dtype_outputs(result, arrays, json_outputs):
    forms = {o["name"]: "data" in o for o in result.get_response()["outputs"]}
    assert forms == {f"OUT_{d}": d in json_outputs for d in DTYPES}, forms
    for o in result.get_response()["outputs"]:  # JSON data as JSON types: true/false, integers, numbers
        if "data" in o:
            kind = {"BOOL": bool, "FP32": float, "FP64": float}.get(o["datatype"], int)
            assert all(type(v) is kind or (kind is float and type(v) is int) for v in flat(o["data"])), o
    for d, array in arrays.items():
        got = result.as_numpy(f"OUT_{d}")
        expected = dtype_expected(array)
        assert got.dtype == expected.dtype and got.shape == expected.shape, (d, got.dtype, got.shape)
        if d == "BF16":
            got, expected = got.astype(np.float32), expected.astype(np.float32)
        np.testing.assert_array_equal(got, expected, err_msg=d)


def test_every_dtype_round_trips_in_binary(dtypes_server):
    arrays = dtype_inputs()
    inputs = [httpclient.InferInput(f"IN_{d}", [2, 4], d).set_data_from_numpy(a, binary_data=True) for d, a in arrays.items()]
    outputs = [httpclient.InferRequestedOutput(f"OUT_{d}", binary_data=True) for d in DTYPES]
    check_dtype_outputs(dtypes_server.client.infer("dtypes", inputs, outputs=outputs), arrays, json_outputs=[])


def test_every_json_dtype_round_trips_in_json(dtypes_server):
    """Every datatype JSON can carry goes as JSON both ways; FP16 and BF16, which it cannot, go
    binary in the same request (Triton lets a request mix the two)."""
    arrays = dtype_inputs()
    inputs = [httpclient.InferInput(f"IN_{d}", [2, 4], d).set_data_from_numpy(a, binary_data=d not in JSON_DTYPES)
              for d, a in arrays.items()]
    outputs = [httpclient.InferRequestedOutput(f"OUT_{d}", binary_data=d not in JSON_DTYPES) for d in DTYPES]
    check_dtype_outputs(dtypes_server.client.infer("dtypes", inputs, outputs=outputs), arrays, json_outputs=JSON_DTYPES)


def dtypes_json_body(change):
    """A raw body for the dtypes model: JSON data for every datatype JSON carries, FP16/BF16 as
    binary after the JSON; `change(d, entry)` may edit an input's entry (giving a binary one
    "data" turns it into JSON)."""
    entries, binary = [], b""
    for d, a in dtype_inputs().items():
        entry = {"name": f"IN_{d}", "shape": [2, 4], "datatype": d}
        if d in JSON_DTYPES:
            entry["data"] = a.tolist()
        change(d, entry)
        if "data" not in entry:
            entry["parameters"] = {"binary_data_size": a.nbytes}
            binary += a.tobytes()
        entries.append(entry)
    header = json.dumps({"inputs": entries}).encode()
    return header + binary, {"Inference-Header-Content-Length": str(len(header))}


@pytest.mark.parametrize("half", ["FP16", "BF16"])
def test_half_precision_json_data_rounds_like_binary(dtypes_server, half):
    """Unlike Triton, seqserve takes FP16/BF16 as JSON numbers (rounded to nearest): the answer is
    the one the same values give in binary."""
    values = [[0.5, 1.0, 2.0, 3.0], [0.1, -1.5, 100.0, 1e-3]]

    def as_json(d, entry):
        if d == half:
            entry.pop("parameters", None)
            entry["data"] = values
    body, headers = dtypes_json_body(as_json)
    as_json_answer = rest_call(dtypes_server, "POST", "/v2/models/dtypes/infer", body=body, headers=headers)
    assert as_json_answer.status == 200, as_json_answer
    body, headers = dtypes_json_body(lambda d, entry: None)
    reference = rest_call(dtypes_server, "POST", "/v2/models/dtypes/infer", body=body, headers=headers)
    assert reference.status == 200, reference
    # JSON inputs answer with JSON outputs (no binary requested): FP16/BF16 outputs as numbers.
    out = {o["name"]: o for o in as_json_answer.json()["outputs"]}[f"OUT_{half}"]
    # Each value rounded to nearest in its type, plus one in that type: exactly what binary gives.
    sent = np.array(values, dtype=np.float64).astype(NUMPY[half])
    expected = dtype_expected(sent).astype(np.float64)
    got = np.array(out["data"], dtype=np.float64).reshape(2, 4)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype,bad", [("UINT8", 256), ("UINT8", -1), ("INT8", 128), ("INT16", -32769),
                                       ("INT32", 2**31), ("INT64", 2**63), ("INT32", 1.5), ("BOOL", 1),
                                       ("FP32", "x"), ("FP64", True)])
def test_json_values_outside_their_datatype_are_400(dtypes_server, dtype, bad):
    def poison(d, entry):
        if d == dtype:
            entry["data"][0][0] = bad
    body, headers = dtypes_json_body(poison)
    expect_error(rest_call(dtypes_server, "POST", "/v2/models/dtypes/infer", body=body, headers=headers), 400, dtype)
