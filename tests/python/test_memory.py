"""The server under a small memory budget: a burst of long sequences keeps being answered,
batches are formed to fit the budget instead of crashing the process, and the counters show it."""
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from helpers import encoder_inputs, encoder_repository, flood, metric


@pytest.fixture(scope="module")
def budget_server(request, start_server):
    # A token budget of exactly 24 x 512: the burst below fills its bucket only once all 24
    # requests are queued (and the 30 s delay never comes due first), so without the memory
    # check it would run as one batch of 24 x 512 tokens, whose attention scores alone need
    # ~100 MB per layer: far more than the 160 MB pool allows.
    repo = encoder_repository(request.config.getoption("--repository"),
                              "batching { max_batch_tokens: 12288 max_queue_delay_microseconds: 30000000 }")
    server = start_server("--memory-budget-bytes=160000000", repository=repo)
    server.wait_ready_http()
    yield server
    assert server.stop() == 0, server.read_log()


def test_burst_of_long_sequences_is_batched_to_fit_and_all_succeed(budget_server):
    server = budget_server
    outcomes = flood(server, 24, 512)
    assert outcomes == ["OK"] * 24, outcomes
    # The batcher stopped batches short by their predicted memory (splitting on OOM is the
    # fallback, tested in model_executor_test.cc).
    assert metric(server, "seqserve_batches_memory_limited_total", model="encoder", version="1") > 0
    assert metric(server, "seqserve_memory_peak_reserved_bytes", pool="cpu") <= 160000000
    assert metric(server, "seqserve_rejections_total", model="encoder", reason="oom") == 0
    client = grpcclient.InferenceServerClient(url=server.url)
    assert client.is_server_ready()
    assert client.infer("encoder", encoder_inputs(64)).as_numpy("logits").shape == (1, 4)


def test_request_too_big_alone_gets_resource_exhausted(request, start_server):
    # 24 MB: the weights (14 MB) and short sequences fit; one 512-token sequence does not, even
    # alone. Warm-up stays short so that the model becomes ready under this budget.
    repo = encoder_repository(request.config.getoption("--repository"),
                              "batching { max_batch_tokens: 512 } warmup { lengths: [1, 16] }")
    server = start_server("--memory-budget-bytes=24000000", repository=repo)
    server.wait_ready_http()
    client = grpcclient.InferenceServerClient(url=server.url)
    with pytest.raises(InferenceServerException) as error:
        client.infer("encoder", encoder_inputs(512))
    assert error.value.status() == "StatusCode.RESOURCE_EXHAUSTED", error.value
    # Refused before compute when the cost model predicts it cannot fit ("memory"), else by the
    # pool when it runs ("oom"): either way, alone, with a message that says memory.
    assert "memory" in error.value.message()
    assert (metric(server, "seqserve_rejections_total", model="encoder", reason="oom")
            + metric(server, "seqserve_rejections_total", model="encoder", reason="memory")) == 1
    # The server keeps serving what fits.
    assert client.infer("encoder", encoder_inputs(16)).as_numpy("logits").shape == (1, 4)
    assert client.is_server_ready()
    assert server.stop() == 0, server.read_log()


@pytest.mark.parametrize("ceiling", [True, False])
def test_footprint_ceiling_keeps_the_pool_at_its_live_peak(request, start_server, ceiling):
    # Note [footprint ceiling]: with it (the default) the CPU pool gives back free pages instead
    # of passing its previous peak, so its peak footprint stays within the bound (two pages per
    # free block plus one 64 KiB growth step) of the peak live bytes. Without it the encoder's
    # warm-up at 512 tokens leaves ~2.5 MiB of holes at the peak.
    server = start_server(f"--memory-footprint-ceiling={str(ceiling).lower()}",
                          repository=request.config.getoption("--repository"))
    server.wait_ready_http()
    assert flood(server, 16, 512) == ["OK"] * 16
    reserved = metric(server, "seqserve_memory_peak_reserved_bytes", pool="cpu")
    allocated = metric(server, "seqserve_memory_peak_allocated_bytes", pool="cpu")
    decommits = metric(server, "seqserve_memory_backend_decommits_total", pool="cpu")
    if ceiling:
        assert reserved <= allocated + 1_000_000, (reserved, allocated)
        assert decommits > 0
    else:
        assert reserved > allocated + 1_000_000, (reserved, allocated)
        assert decommits == 0
        assert metric(server, "seqserve_memory_decommitted_bytes", pool="cpu") == 0
    assert server.stop() == 0, server.read_log()
