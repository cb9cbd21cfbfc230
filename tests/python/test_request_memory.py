"""Note [request bytes] and Note [REST hang-ups] against the real binary: request bytes are
admitted within --request-memory-bytes (REST from Content-Length before the body is read, a
chunked body as it grows, gRPC messages once received), refusals are 429 / RESOURCE_EXHAUSTED
naming the bytes and the budget, the server keeps serving and every charge comes back; a REST
client that hangs up while its request waits in the batcher has it cancelled, never computed."""
import json
import socket
import threading
import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from helpers import (encoder_inputs, encoder_repository, encoder_rest_body, metric, raw_exchange, rest_call,
                     wait_rest_ready)

BUDGET = 4_000_000   # --request-memory-bytes
LARGEST = 8_000_000  # --max-message-bytes: a body may be larger than the budget allows at once


@pytest.fixture(scope="module")
def small_memory_server(start_server, demo_models):
    server = start_server(f"--request-memory-bytes={BUDGET}", f"--max-message-bytes={LARGEST}",
                          repository=demo_models)
    wait_rest_ready(server).close()
    yield server
    assert server.stop() == 0, server.read_log()[-4000:]


def assert_serving_and_nothing_held(server):
    ok = rest_call(server, "POST", "/v2/models/encoder/infer", body=encoder_rest_body(np.arange(1, 9)))
    assert ok.status == 200, ok
    deadline = time.monotonic() + 30
    while metric(server, "seqserve_request_memory_bytes") != 0:
        assert time.monotonic() < deadline, "request memory was never given back"
        time.sleep(0.05)


def test_an_announced_body_that_does_not_fit_is_429_before_it_is_read(small_memory_server):
    server = small_memory_server
    refused = metric(server, "seqserve_request_memory_refusals_total")
    # Only the headers are sent: the answer comes without a byte of the body.
    status, answer = raw_exchange(server.http_port, b"POST /v2/models/encoder/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n")
    assert status == 429, answer
    assert b"5000000 bytes" in answer and b"of the %d bytes" % BUDGET in answer, answer
    assert b"Retry-After: 1" in answer, answer
    assert metric(server, "seqserve_request_memory_refusals_total") == refused + 1
    assert_serving_and_nothing_held(server)


def test_a_chunked_body_is_charged_as_it_grows(small_memory_server):
    server = small_memory_server
    chunk = b"[" + b"0," * 32767 + b"0]"
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6_000_000 // len(chunk))) + b"0\r\n\r\n"
    status, answer = raw_exchange(server.http_port, b"POST /v2/models/encoder/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + pieces)
    assert status == 429, answer
    assert b"sent in chunks" in answer and b"--request-memory-bytes" in answer, answer
    assert b"Retry-After: 1" in answer, answer
    assert_serving_and_nothing_held(server)


def test_decoded_tensors_are_charged_beside_their_body(small_memory_server):
    """A 2.4 MB body fits the budget; its two int64 tensors of 300,000 elements (4.8 MB) do not:
    refused 429 before they are decoded. Half of it fits with its tensors and is answered."""
    server = small_memory_server
    big = rest_call(server, "POST", "/v2/models/encoder/infer", body=encoder_rest_body(np.ones((1, 300_000))))
    assert big.status == 429, big
    assert "input 'input_ids', decoded," in big.error(), big
    assert_serving_and_nothing_held(server)


def test_grpc_messages_are_charged_and_bounded_before_they_are_buffered(small_memory_server):
    """A gRPC message is charged once gRPC hands it over: a 1 MB one (refused afterwards by
    validation: too long for the encoder) shows in the peak. One of 5 MB fits gRPC's receive
    quota (32 MB: four of the largest, Note [budget from the pod]) but not the budget: refused
    RESOURCE_EXHAUSTED, naming the flag; the server serves on and holds nothing after."""
    server = small_memory_server
    client = grpcclient.InferenceServerClient(url=server.url, channel_args=[
        ("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)])
    with pytest.raises(InferenceServerException) as invalid:
        client.infer("encoder", encoder_inputs(62_500), client_timeout=60)  # 2 x 62,500 int64: 1 MB
    assert invalid.value.status() == "StatusCode.INVALID_ARGUMENT", invalid.value
    assert metric(server, "seqserve_request_memory_peak_bytes") >= 1_000_000
    with pytest.raises(InferenceServerException) as refused:
        client.infer("encoder", encoder_inputs(312_500), client_timeout=60)  # 5 MB
    assert refused.value.status() == "StatusCode.RESOURCE_EXHAUSTED", refused.value
    assert "--request-memory-bytes" in refused.value.message(), refused.value
    # Over --max-message-bytes as well.
    with pytest.raises(InferenceServerException) as too_large:
        client.infer("encoder", encoder_inputs(625_000), client_timeout=60)
    assert too_large.value.status() == "StatusCode.RESOURCE_EXHAUSTED", too_large.value
    assert client.infer("encoder", encoder_inputs(16)).as_numpy("logits").shape == (1, 4)
    assert_serving_and_nothing_held(server)


@pytest.fixture(scope="module")
def holding_server(request, start_server):
    """A batch that neither fills (4 x 512 < 4096 tokens) nor comes due for 30 s: requests wait in
    the queue until one request fills their bucket."""
    repo = encoder_repository(request.config.getoption("--repository"),
                              "batching { max_queue_delay_microseconds: 30000000 max_batch_tokens: 4096 }")
    server = start_server(repository=repo)
    wait_rest_ready(server).close()
    yield server
    assert server.stop() == 0, server.read_log()[-4000:]


def test_a_rest_client_that_hangs_up_is_cancelled_not_computed(holding_server):
    """Four REST requests wait in the queue; their clients hang up. The order is forced: the test
    waits until all four are queued, then closes the connections, then waits until the server
    has seen all four hang-ups, and only then sends the request that fills their bucket. The
    batcher must drop the four (counted as cancelled, and as REST answers CANCELLED) and compute
    the filling request alone."""
    server = holding_server

    def counters():
        return (metric(server, "seqserve_queue_duration_seconds_count", model="encoder", version="1"),
                metric(server, "seqserve_rejections_total", model="encoder", reason="cancelled"),
                metric(server, "seqserve_requests_total", model="encoder", api="rest", code="CANCELLED", default=0.0),
                metric(server, "seqserve_rest_hangups_total"))

    before = counters()
    body = json.dumps(encoder_rest_body(np.arange(1, 513) % 1000)).encode()
    connections = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
        s.sendall(b"POST /v2/models/encoder/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        connections.append(s)
    deadline = time.monotonic() + 60
    while metric(server, "seqserve_queue_depth", model="encoder", version="1") < 4:
        assert time.monotonic() < deadline, "the four requests never reached the queue"
        time.sleep(0.02)
    # Waiting, each holds its two decoded tensors (2 x 512 int64), not its JSON body.
    assert metric(server, "seqserve_request_memory_bytes") == 4 * 2 * 512 * 8
    for s in connections:
        s.close()
    while metric(server, "seqserve_rest_hangups_total") < before[3] + 4:
        assert time.monotonic() < deadline, "the server never noticed the four hang-ups"
        time.sleep(0.02)
    client = grpcclient.InferenceServerClient(url=server.url)
    assert client.infer("encoder", encoder_inputs(512, seed=9, rows=8), client_timeout=60).as_numpy(
        "logits").shape == (8, 4)
    computed, dropped, cancelled, hangups = (a - b for a, b in zip(counters(), before))
    assert computed == 1, computed  # the filling request, none of the four
    assert dropped == cancelled == hangups == 4, (dropped, cancelled, hangups)


def test_answered_rest_requests_are_not_taken_for_hang_ups(small_memory_server):
    """Clients that read their answer and then close are not hang-ups."""
    server = small_memory_server
    before = metric(server, "seqserve_rest_hangups_total")
    results = []

    def one():
        results.append(rest_call(server, "POST", "/v2/models/encoder/infer",
                                 body=encoder_rest_body(np.arange(1, 33))).status)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [200] * 8, results
    assert metric(server, "seqserve_rest_hangups_total") == before
