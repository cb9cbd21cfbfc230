"""Helpers shared by the client-side tests: temporary repositories, requests, metric reads."""
import threading

import numpy as np
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families
from seqserve_process import encoder_repository  # noqa: F401  (re-exported for the tests)


def encoder_inputs(length, seed=0):
    ids = np.random.default_rng(seed).integers(0, 1000, size=(1, length), dtype=np.int64)
    inputs = [grpcclient.InferInput("input_ids", [1, length], "INT64"),
              grpcclient.InferInput("attention_mask", [1, length], "INT64")]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(np.ones_like(ids))
    return inputs


def metric(server, name, **labels):
    for family in text_string_to_metric_families(server.scrape()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def flood(server, count, length, client_timeout=None):
    """`count` concurrent requests of `length` tokens; returns their outcomes."""
    outcomes = []
    lock = threading.Lock()
    done = threading.Semaphore(0)
    client = grpcclient.InferenceServerClient(url=server.url)

    def callback(result, error):
        with lock:
            outcomes.append("OK" if error is None else error.status())
        done.release()

    for i in range(count):
        client.async_infer("encoder", encoder_inputs(length, i), callback, client_timeout=client_timeout)
    for _ in range(count):
        assert done.acquire(timeout=120), "a request never completed"
    return outcomes
