"""Helpers shared by the client-side tests: temporary repositories, requests, metric reads."""
import threading

import numpy as np
import tritonclient.grpc as grpcclient
from prometheus_client.parser import text_string_to_metric_families
from seqserve_process import encoder_repository  # noqa: F401  (re-exported for the tests)


def demo_repository(source, parent, models=("encoder", "linear")):
    """A new repository in the empty directory `parent` (a pytest tmp_path, removed by pytest)
    holding copies of `models` from `source` (by default the demo models only: the build's
    repository also holds MiniLM twice, ~7 s more to load at every start)."""
    import os
    import shutil
    repo = str(parent)
    for model in models:
        shutil.copytree(os.path.join(source, model), os.path.join(repo, model))
    return repo


def encoder_request(ids):
    """Encoder inputs for token `ids` (one row if 1-D, else [rows, length]), all attended."""
    ids = np.asarray(ids, dtype=np.int64)
    ids = ids.reshape(1, -1) if ids.ndim == 1 else ids
    inputs = [grpcclient.InferInput("input_ids", list(ids.shape), "INT64"),
              grpcclient.InferInput("attention_mask", list(ids.shape), "INT64")]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(np.ones_like(ids))
    return inputs


def encoder_inputs(length, seed=0, rows=1):
    """Encoder inputs of random token ids, `rows` x `length`."""
    return encoder_request(np.random.default_rng(seed).integers(0, 1000, size=(rows, length), dtype=np.int64))


MISSING = object()  # metric()'s and series_error()'s "no default given"


def series_error(name, labels, found):
    """The AssertionError for a series `name`{`labels`} a scrape lacks; `found`: [(sample name,
    labels dict)] of that scrape. Lists the series of that name that do exist (or, when there is
    none, the names closest to it)."""
    import difflib
    same = sorted(str(dict(sorted(l.items()))) for n, l in found if n == name)
    if same:
        where = f"series of {name} that exist: " + "; ".join(same)
    else:
        close = difflib.get_close_matches(name, sorted({n for n, _ in found}), n=5, cutoff=0.6)
        where = f"no series named {name} at all (closest names: {', '.join(close) or 'none'})"
    return AssertionError(f"no sample {name}{dict(sorted(labels.items()))} in the scrape; {where}")


def metric(server, name, *, default=MISSING, **labels):
    """The value of the first sample `name` whose labels include `labels`, from a scrape of
    `server`. A missing series is an error (a renamed metric must not read as 0), unless the
    caller passes `default=` for a series that legitimately may not exist yet."""
    found = []
    for family in text_string_to_metric_families(server.scrape()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
            found.append((s.name, s.labels))
    if default is not MISSING:
        return default
    raise series_error(name, labels, found)


def concurrently(server, model, requests, client_timeout=120):
    """Sends every request (a list of InferInputs each) at once; returns, in request order, each
    one's result or its InferenceServerException. Waits at most 180 s for the answers."""
    client = grpcclient.InferenceServerClient(url=server.url)
    results = [None] * len(requests)
    done = threading.Semaphore(0)

    def callback(i):
        def record(result, error):
            results[i] = error if error is not None else result
            done.release()
        return record

    for i, inputs in enumerate(requests):
        client.async_infer(model, inputs, callback(i), client_timeout=client_timeout)
    for _ in requests:
        assert done.acquire(timeout=180), "a request never completed"
    return results


def flood(server, count, length, client_timeout=None):
    """`count` concurrent encoder requests of `length` tokens; returns their outcomes ("OK" or
    the status)."""
    results = concurrently(server, "encoder", [encoder_inputs(length, i) for i in range(count)], client_timeout)
    return ["OK" if not isinstance(r, Exception) else r.status() for r in results]


def bert_request(ids, mask, type_ids=None):
    arrays = [("input_ids", ids), ("attention_mask", mask)] + ([("token_type_ids", type_ids)] if type_ids is not None else [])
    inputs = []
    for name, array in arrays:
        array = np.asarray(array, dtype=np.int64).reshape(1, -1) if np.ndim(array) == 1 else np.asarray(array, np.int64)
        inputs.append(grpcclient.InferInput(name, list(array.shape), "INT64"))
        inputs[-1].set_data_from_numpy(array)
    return inputs


def embed_through_server(server, model, tokenizer, sentences):
    """Each sentence as its own request, all at once (so the batcher mixes lengths)."""
    encodings = tokenizer.encode_batch(sentences)
    requests = [bert_request(e.ids, e.attention_mask, e.type_ids) for e in encodings]
    results = concurrently(server, model, requests)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    return np.concatenate([r.as_numpy("embedding") for r in results])


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class RestResponse:
    """One answer from the REST port: status, headers (case-insensitive), raw body."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        import json
        return json.loads(self.body)

    def error(self):
        """The "error" string of a KServe v2 error answer; fails if the body is not one."""
        import json
        assert self.headers.get("Content-Type", "").startswith("application/json"), (self.status, self.headers, self.body)
        body = json.loads(self.body)
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
        return body["error"]

    def __repr__(self):
        return f"RestResponse({self.status}, {self.body[:500]!r})"


def rest_call(server, method, path, body=None, headers=None, timeout=60):
    """One request on a new connection to `server`'s REST port (127.0.0.1); `body` may be bytes,
    str or a JSON-able object (sent as JSON). Bounded by `timeout` seconds per socket operation."""
    import http.client
    import json
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return RestResponse(response.status, response.headers, response.read())
    finally:
        conn.close()


def raw_exchange(port, request_bytes, timeout=15):
    """Sends `request_bytes` (tolerating a server that answers and closes before reading them
    all) and returns the status code of the answer, or fails after `timeout` s."""
    import re
    import socket
    import time
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    answer = b""
    try:
        try:
            s.sendall(request_bytes)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while b"\r\n" not in answer and time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            answer += chunk
    finally:
        s.close()
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    assert match, f"no HTTP answer in {timeout}s: {answer[:200]!r}"
    return int(match.group(1)), answer


def encoder_rest_body(ids, **extra):
    """A KServe v2 REST JSON infer body for the encoder: token `ids` ([rows, length] or one row),
    all attended; `extra` goes into the body (e.g. parameters=..., outputs=...)."""
    ids = np.asarray(ids, dtype=np.int64)
    ids = ids.reshape(1, -1) if ids.ndim == 1 else ids
    return {"inputs": [
        {"name": "input_ids", "shape": list(ids.shape), "datatype": "INT64", "data": ids.flatten().tolist()},
        {"name": "attention_mask", "shape": list(ids.shape), "datatype": "INT64", "data": [1] * ids.size}], **extra}


def wait_rest_ready(server, timeout=120):
    """A tritonclient.http client on `server`'s REST port once /v2/health/ready says so; fails
    (with the server's log) when the port does not answer as KServe v2 REST in `timeout` s."""
    import time
    import tritonclient.http as httpclient
    probe = httpclient.InferenceServerClient(url=server.http_url, connection_timeout=5, network_timeout=5)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"seqserve exited (code {server.proc.returncode}):\n{server.read_log()}")
        try:
            if probe.is_server_ready():
                probe.close()
                return httpclient.InferenceServerClient(url=server.http_url, connection_timeout=60, network_timeout=120)
            last = "not ready"
        except Exception as e:  # noqa: BLE001  (a port that does not speak HTTP fails in many ways)
            last = repr(e)
        time.sleep(0.1)
    raise RuntimeError(f"REST port {server.http_url} not ready (KServe v2 /v2/health/ready) in {timeout}s; "
                       f"last: {last}\n{server.read_log()[-4000:]}")
