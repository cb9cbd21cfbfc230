"""The batcher seen from a client: a full queue answers RESOURCE_EXHAUSTED at once and the server
recovers; expired and cancelled requests are dropped before compute, never computed in vain."""
import time

import pytest
import tritonclient.grpc as grpcclient

from helpers import encoder_inputs, encoder_repository, flood, metric


@pytest.fixture(scope="module")
def small_queue_server(request, start_server):
    repo = encoder_repository(request.config.getoption("--repository"),
                              "batching { max_queue_size: 4 max_batch_tokens: 512 }")
    server = start_server(repository=repo)
    server.wait_ready_http()
    yield server
    assert server.stop() == 0, server.read_log()


def test_full_queue_answers_resource_exhausted_then_recovers(small_queue_server):
    server = small_queue_server
    outcomes = flood(server, 40, 512)
    assert outcomes.count("StatusCode.RESOURCE_EXHAUSTED") > 0, outcomes
    assert set(outcomes) <= {"OK", "StatusCode.RESOURCE_EXHAUSTED"}, outcomes
    assert metric(server, "seqserve_rejections_total", model="encoder", reason="queue_full") == \
        outcomes.count("StatusCode.RESOURCE_EXHAUSTED")
    client = grpcclient.InferenceServerClient(url=server.url)
    assert client.infer("encoder", encoder_inputs(16)).as_numpy("logits").shape == (1, 4)


def test_expired_requests_are_not_computed(small_queue_server):
    server = small_queue_server
    computed_before = metric(server, "seqserve_queue_duration_seconds_count", model="encoder", version="1")
    expired_before = metric(server, "seqserve_rejections_total", model="encoder", reason="deadline")
    cancelled_before = metric(server, "seqserve_rejections_total", model="encoder", reason="cancelled")
    # 4 long requests keep the single instance busy for far longer than the short deadlines.
    outcomes = flood(server, 4, 512, client_timeout=0.05)
    deadline_exceeded = outcomes.count("StatusCode.DEADLINE_EXCEEDED")
    assert deadline_exceeded >= 3, outcomes
    time.sleep(1.0)  # let the server meet them in the queue
    computed = metric(server, "seqserve_queue_duration_seconds_count", model="encoder", version="1") - computed_before
    expired = metric(server, "seqserve_rejections_total", model="encoder", reason="deadline") - expired_before
    # gRPC cancels a call whose deadline passed, so the batcher may see either reason.
    cancelled = metric(server, "seqserve_rejections_total", model="encoder", reason="cancelled") - cancelled_before
    # Whatever did not start computing before its deadline was dropped, not computed.
    assert computed + expired + cancelled >= 4
    assert computed <= 4 - deadline_exceeded + 1, (computed, outcomes)
