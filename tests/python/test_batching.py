"""The batcher seen from a client: a full queue answers RESOURCE_EXHAUSTED at once and the server
recovers; expired and cancelled requests are dropped before compute, never computed in vain."""

import threading
import time

import pytest
import tritonclient.grpc as grpcclient

from helpers import encoder_inputs, encoder_repository, flood, metric


def encoder_server(request, start_server, batching):
    """Yields a server on the demo encoder with `batching` as its batching block; checks that it
    stops cleanly."""
    repo = encoder_repository(request.config.getoption("--repository"), batching)
    server = start_server(repository=repo)
    server.wait_ready_http()
    yield server
    assert server.stop() == 0, server.read_log()


@pytest.fixture(scope="module")
def small_queue_server(request, start_server):
    # Four places in the queue, and a batch that neither fills (4 x 512 < 4096) nor comes due
    # for 10 s: the first four requests of a burst wait there and every later one finds the
    # queue full, however fast or loaded the machine.
    yield from encoder_server(request, start_server,
                              "batching { max_queue_size: 4 max_batch_tokens: 4096 max_queue_delay_microseconds: 10000000 }")


def test_full_queue_answers_resource_exhausted_then_recovers(small_queue_server):
    server = small_queue_server
    outcomes = flood(server, 40, 512)
    assert sorted(outcomes) == ["OK"] * 4 + ["StatusCode.RESOURCE_EXHAUSTED"] * 36, outcomes
    assert metric(server, "seqserve_rejections_total", model="encoder", reason="queue_full") == \
        outcomes.count("StatusCode.RESOURCE_EXHAUSTED")
    client = grpcclient.InferenceServerClient(url=server.url)
    assert client.infer("encoder", encoder_inputs(16)).as_numpy("logits").shape == (1, 4)


@pytest.fixture(scope="module")
def holding_server(request, start_server):
    """A queue that holds requests for 30 s before running a batch that is not full, and a token
    budget no four of this test's requests can fill: requests wait in the queue, not in compute."""
    yield from encoder_server(request, start_server,
                              "batching { max_queue_delay_microseconds: 30000000 max_batch_tokens: 4096 }")


def test_expired_requests_are_not_computed(holding_server):
    # Four 512-token requests with the request's own deadline, KServe's "timeout" parameter of
    # 50 ms: their bucket is not full (4 x 512 < 4096) and it is not due for 30 s. The order the
    # test is about is forced, not raced: the requests carry no client time-out, so the server
    # accepts every one of them; the test waits until all four are in the queue (queue depth),
    # then past their deadline (which counts from their arrival, before the depth was seen).
    # Only then does a request come that fills the bucket: the batcher must drop the four dead
    # ones (and answer them) before it returns that batch, and compute the 8-row request alone.
    server = holding_server
    def counters():
        # A code's seqserve_requests_total series appears with its first answer.
        return (metric(server, "seqserve_queue_duration_seconds_count", model="encoder", version="1"),
                metric(server, "seqserve_rejections_total", model="encoder", reason="deadline"),
                metric(server, "seqserve_requests_total", model="encoder", api="kserve", code="DEADLINE_EXCEEDED",
                       default=0.0))
    computed_before, dropped_before, died_before = counters()
    client = grpcclient.InferenceServerClient(url=server.url)
    outcomes, answered = [], threading.Semaphore(0)

    def record(result, error):
        outcomes.append("OK" if error is None else error.status())
        answered.release()

    for i in range(4):
        client.async_infer("encoder", encoder_inputs(512, i), record, timeout=50_000)  # µs
    deadline = time.monotonic() + 60
    while metric(server, "seqserve_queue_depth", model="encoder", version="1") < 4:
        assert time.monotonic() < deadline, "the four requests never reached the queue"
        time.sleep(0.02)
    time.sleep(0.1)  # past every one's 50 ms deadline
    eight_rows = encoder_inputs(512, seed=9, rows=8)
    assert client.infer("encoder", eight_rows, client_timeout=60).as_numpy("logits").shape == (8, 4)
    for _ in range(4):
        assert answered.acquire(timeout=60), "a dead request was never answered"
    assert outcomes == ["StatusCode.DEADLINE_EXCEEDED"] * 4, outcomes
    computed, dropped, died = (after - before for after, before in zip(counters(), (computed_before, dropped_before, died_before)))
    assert computed == 1, computed  # the 8-row request, and none of the four
    # All four reached the batcher, were dropped there and were answered DEADLINE_EXCEEDED.
    assert dropped == died == 4, (dropped, died)
