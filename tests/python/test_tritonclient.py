"""Triton's own Python client (tritonclient.grpc) against seqserve's KServe v2 endpoint."""
import queue

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def make_inputs(arrays):
    inputs = []
    for name, array in arrays.items():
        dtype = "INT64" if array.dtype == np.int64 else "FP32"
        inp = grpcclient.InferInput(name, list(array.shape), dtype)
        inp.set_data_from_numpy(array)
        inputs.append(inp)
    return inputs


def test_liveness_and_readiness(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("encoder")
    assert client.is_model_ready("linear", "1")
    assert not client.is_model_ready("linear", "2")


def test_server_and_model_metadata(client):
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "seqserve"
    meta = client.get_model_metadata("encoder", as_json=True)
    assert meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == ["input_ids", "attention_mask"]
    assert meta["inputs"][0]["datatype"] == "INT64"
    assert meta["inputs"][0]["shape"] == ["-1", "-1"]
    assert [o["name"] for o in meta["outputs"]] == ["logits", "token_scores"]
    linear = client.get_model_metadata("linear", as_json=True)
    assert linear["inputs"][0]["shape"] == ["-1", "1000"]


def test_model_config(client):
    config = client.get_model_config("encoder", as_json=True)["config"]
    assert config["name"] == "encoder"
    assert config["max_batch_size"] == 32
    assert config["input"][0]["data_type"] == "TYPE_INT64"
    assert config["parameters"]["seqserve.batching_mode"]["string_value"] == "LENGTH_BUCKETED"


@pytest.mark.parametrize("case", ["enc_1x7", "enc_3x33", "enc_2x1", "enc_1x512", "lin_1", "lin_5"])
def test_infer_matches_reference(client, reference, case):
    ref = reference[case]
    result = client.infer(ref["model"], make_inputs(ref["in"]), request_id=case)
    assert result.get_response().id == case
    for name, expected in ref["out"].items():
        got = result.as_numpy(name)
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_requested_outputs_only(client, reference):
    ref = reference["enc_3x33"]
    result = client.infer("encoder", make_inputs(ref["in"]),
                          outputs=[grpcclient.InferRequestedOutput("logits")])
    assert result.as_numpy("token_scores") is None
    np.testing.assert_allclose(result.as_numpy("logits"), ref["out"]["logits"], atol=1e-4, rtol=0)


def test_bad_requests_raise_clean_exceptions(client, reference):
    ref = reference["enc_1x7"]
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no_such_model", make_inputs(ref["in"]))
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    assert "unknown model 'no_such_model'" in unknown.value.message()

    wrong = {"input_ids": ref["in"]["input_ids"].astype(np.float32), "attention_mask": ref["in"]["attention_mask"]}
    with pytest.raises(InferenceServerException) as dtype:
        client.infer("encoder", make_inputs(wrong))
    assert dtype.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "datatype FP32, model expects INT64" in dtype.value.message()

    missing = {"input_ids": ref["in"]["input_ids"]}
    with pytest.raises(InferenceServerException) as missing_input:
        client.infer("encoder", make_inputs(missing))
    assert "missing input 'attention_mask'" in missing_input.value.message()
    # The server keeps serving.
    assert client.infer("encoder", make_inputs(ref["in"])).as_numpy("logits").shape == (1, 4)


def test_stream_infer_in_order_with_bad_request(client, reference):
    results = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    try:
        order = ["enc_3x33", "bad", "enc_1x7", "lin_5"]
        for case in order:
            if case == "bad":
                client.async_stream_infer("no_such_model", make_inputs(reference["enc_1x7"]["in"]), request_id=case)
            else:
                ref = reference[case]
                client.async_stream_infer(ref["model"], make_inputs(ref["in"]), request_id=case)
        for case in order:
            result, error = results.get(timeout=60)
            if case == "bad":
                assert error is not None and "unknown model" in error.message()
            else:
                assert error is None, error
                assert result.get_response().id == case
                for name, expected in reference[case]["out"].items():
                    np.testing.assert_allclose(result.as_numpy(name), expected, atol=1e-4, rtol=0)
    finally:
        client.stop_stream()


def test_statistics_count_inferences(client, reference):
    before = client.get_inference_statistics("linear", as_json=True)["model_stats"][0]
    ref = reference["lin_5"]
    for _ in range(3):
        client.infer("linear", make_inputs(ref["in"]))
    after = client.get_inference_statistics("linear", as_json=True)["model_stats"][0]
    assert int(after.get("inference_count", 0)) - int(before.get("inference_count", 0)) == 15
    succeeded = int(after["inference_stats"]["success"].get("count", 0))
    assert succeeded - int(before["inference_stats"]["success"].get("count", 0)) == 3
    assert int(after["inference_stats"]["compute_infer"].get("ns", 0)) > 0
