"""KServe v2 REST with Triton's own HTTP client (tritonclient.http) against the real binary:
health, metadata, config, statistics, inference with JSON and with binary tensors, errors
with their HTTP status codes, and the request path shared with gRPC (metrics api="rest")."""
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from helpers import metric


@pytest.fixture(scope="module")
def rest(server, client):  # `client` waits until the server is ready
    return httpclient.InferenceServerClient(url=server.http_url)


def inputs_for(arrays, binary):
    out = []
    for name, array in arrays.items():
        dtype = "INT64" if array.dtype == np.int64 else "FP32"
        i = httpclient.InferInput(name, list(array.shape), dtype)
        i.set_data_from_numpy(array, binary_data=binary)
        out.append(i)
    return out


def raw(server, method, path, body=None, headers=None):
    """(status, parsed JSON or None) of a plain HTTP request."""
    request = urllib.request.Request(f"http://{server.http_url}{path}", data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text else None


def test_health_and_metadata(rest):
    assert rest.is_server_live() and rest.is_server_ready()
    assert rest.is_model_ready("encoder") and rest.is_model_ready("encoder", "1")
    assert not rest.is_model_ready("encoder", "7") and not rest.is_model_ready("nope")
    server = rest.get_server_metadata()
    assert server["name"] == "seqserve" and "binary_tensor_data" in server["extensions"]
    meta = rest.get_model_metadata("encoder")
    assert meta["versions"] == ["1"] and meta["platform"] == "pytorch_libtorch"
    assert {i["name"]: i["shape"] for i in meta["inputs"]} == {"input_ids": [-1, -1], "attention_mask": [-1, -1]}
    config = rest.get_model_config("encoder")
    assert config["max_batch_size"] > 0 and config["input"][0]["dims"] == [-1]
    index = rest.get_model_repository_index()
    assert {"name": "encoder", "version": "1", "state": "READY", "reason": ""} in index


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_matches_reference(rest, reference, binary):
    for case, ref in reference.items():
        if ref["model"] not in ("encoder", "linear"):
            continue
        outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ref["out"]]
        result = rest.infer(ref["model"], inputs_for(ref["in"], binary), outputs=outputs, request_id=case)
        assert result.get_response()["id"] == case
        for name, expected in ref["out"].items():
            np.testing.assert_allclose(result.as_numpy(name), expected, atol=1e-4, rtol=0)


def test_flat_and_nested_data_agree(server):
    ids = [[5, 6, 7, 8]]
    answers = []
    for data in (ids, [x for row in ids for x in row]):
        body = json.dumps({"inputs": [
            {"name": "input_ids", "shape": [1, 4], "datatype": "INT64", "data": data},
            {"name": "attention_mask", "shape": [1, 4], "datatype": "INT64", "data": [1, 1, 1, 1]}],
            "outputs": [{"name": "logits"}]}).encode()
        status, answer = raw(server, "POST", "/v2/models/encoder/infer", body)
        assert status == 200, answer
        assert [o["name"] for o in answer["outputs"]] == ["logits"]  # only what was asked for
        answers.append(answer["outputs"][0]["data"])
    assert answers[0] == answers[1]


def test_statistics_count_rest_inferences(rest, reference):
    before = rest.get_inference_statistics("linear")["model_stats"][0]
    ref = reference["lin_5"]
    for _ in range(2):
        rest.infer("linear", inputs_for(ref["in"], True))
    after = rest.get_inference_statistics("linear")["model_stats"][0]
    assert after["inference_count"] - before["inference_count"] == 10
    assert after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"] == 2


def test_errors_have_status_codes_and_json_messages(server, rest):
    ok_inputs = [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]},
                 {"name": "attention_mask", "shape": [1, 2], "datatype": "INT64", "data": [1, 1]}]
    cases = [
        ("POST", "/v2/models/encoder/infer", b"{not json", 400, "not valid JSON"),
        ("POST", "/v2/models/nope/infer", json.dumps({"inputs": ok_inputs}).encode(), 404, "nope"),
        ("POST", "/v2/models/encoder/infer",
         json.dumps({"inputs": [dict(ok_inputs[0], datatype="FP32", data=[1.0, 2.0]), ok_inputs[1]]}).encode(),
         400, "FP32"),
        ("POST", "/v2/models/encoder/infer",
         json.dumps({"inputs": [dict(ok_inputs[0], data=[1, 2, 3]), ok_inputs[1]]}).encode(), 400, "shape needs 2"),
        ("POST", "/v2/models/encoder/versions/x/infer", json.dumps({"inputs": ok_inputs}).encode(), 400,
         "positive integer"),
        ("POST", "/v2/models/encoder/versions/9/infer", json.dumps({"inputs": ok_inputs}).encode(), 404, "9"),
        ("GET", "/v2/models/encoder/infer", None, 405, "POST"),
        ("GET", "/v2/nothing/here", None, 404, "no route"),
        ("POST", "/v2/models/encoder/infer",
         json.dumps({"inputs": ok_inputs, "parameters": {"timeout": -5}}).encode(), 400, "timeout"),
    ]
    for method, path, body, code, text in cases:
        status, answer = raw(server, method, path, body)
        assert status == code, (path, status, answer)
        assert isinstance(answer["error"], str) and text in answer["error"], (path, answer)
    with pytest.raises(InferenceServerException) as error:
        rest.infer("encoder", inputs_for({"input_ids": np.zeros((1, 3), np.float32)}, True))
    assert "missing input 'attention_mask'" in error.value.message()
    assert error.value.status() == "400"


def test_rest_requests_are_counted_under_their_own_api(server, rest, reference):
    def rest_ok():
        return metric(server, "seqserve_requests_total", model="linear", api="rest", code="OK")
    before = rest_ok()
    rest.infer("linear", inputs_for(reference["lin_5"]["in"], True))
    assert rest_ok() == before + 1
