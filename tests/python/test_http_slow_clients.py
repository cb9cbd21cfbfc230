"""Slow clients (slowloris) on both HTTP ports: 200 connections into the REST port and 200 into
the metrics port, each sending its request one byte per second, must neither delay /metrics nor a
REST infer (each answers in under 1 s, on new connections, throughout) nor grow the server's
memory; when they go away the server serves as before. Loopback only; every loop is bounded."""
import socket
import time
import urllib.request

import pytest

from helpers import encoder_repository, encoder_rest_body, rest_call, wait_rest_ready

SLOW_PER_PORT = 200
PHASE_SECONDS = 12
TICK_SECONDS = 1.0   # one byte per connection per tick
ANSWER_SECONDS = 1.0  # the bound on every scrape and infer during the phase
RSS_GROWTH_BYTES = 64 << 20


@pytest.fixture(scope="module")
def slow_server(request, start_server):
    # Idle and body timeouts well past the phase: the trickling connections stay open, so the
    # server has to serve others while holding them (a byte a second is not silence anyway).
    # The demo encoder alone, as the build's repository has it.
    repo = encoder_repository(request.config.getoption("--repository"), "batching { mode: LENGTH_BUCKETED }")
    s = start_server("--http-idle-timeout=60", "--http-body-timeout=60", repository=repo)
    wait_rest_ready(s).close()
    yield s
    assert s.stop() == 0, s.read_log()[-4000:]


def slow_requests():
    """(port kind, request bytes) for each slow connection: on the REST port half trickle their
    headers, half send their headers at once and trickle the body; on the metrics port all
    trickle a GET's headers. Each request is longer than the phase has ticks."""
    body = (b'{"inputs": [{"name": "input_ids", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}, '
            b'{"name": "attention_mask", "shape": [1, 4], "datatype": "INT64", "data": [1, 1, 1, 1]}]}')
    post = (b"POST /v2/models/encoder/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    get = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 64 + b"\r\n\r\n"
    out = []
    for i in range(SLOW_PER_PORT):
        out.append(("rest", b"", post + body) if i % 2 == 0 else ("rest", post, body))  # (sent at once, trickled)
        out.append(("metrics", b"", get))
    return out


def timed(fn):
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def scrape(server):
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10) as response:
        return response.status, response.read()


def test_slow_clients_delay_neither_metrics_nor_inference(slow_server):
    server = slow_server
    body = encoder_rest_body([101, 102, 103, 104, 105, 106, 107, 108])
    # Warm: the first infer and scrape allocate what they keep, outside the measured growth.
    for _ in range(3):
        assert rest_call(server, "POST", "/v2/models/encoder/infer", body=body).status == 200
        assert scrape(server)[0] == 200
    rss_before = server.memory_bytes()
    ports = {"rest": server.http_port, "metrics": server.metrics_port}
    plan = slow_requests()
    sockets, trickles = [], []
    scrape_times, infer_times, failures, rss = [], [], [], []
    try:
        for kind, at_once, trickle in plan:
            s = socket.create_connection(("127.0.0.1", ports[kind]), timeout=10)
            if at_once:
                s.sendall(at_once)
            s.setblocking(False)
            sockets.append(s)
            trickles.append(trickle)
        assert len(trickles[0]) > PHASE_SECONDS / TICK_SECONDS + 2, "a slow request must outlast the phase"
        phase_end = time.monotonic() + PHASE_SECONDS
        tick = 0
        while time.monotonic() < phase_end and tick < PHASE_SECONDS / TICK_SECONDS + 2:
            tick_start = time.monotonic()
            for s, trickle in zip(sockets, trickles):
                if tick < len(trickle) - 1:  # never the last byte: no slow request completes
                    try:
                        s.send(trickle[tick:tick + 1])
                    except (BlockingIOError, OSError):
                        pass
            seconds, (status, _) = timed(lambda: scrape(server))
            scrape_times.append(seconds)
            if status != 200:
                failures.append(("scrape", status))
            seconds, answer = timed(lambda: rest_call(server, "POST", "/v2/models/encoder/infer", body=body, timeout=10))
            infer_times.append(seconds)
            if answer.status != 200 or [o["shape"] for o in answer.json()["outputs"]] != [[1, 4], [1, 8]]:
                failures.append(("infer", answer))
            rss.append(server.memory_bytes())
            tick += 1
            time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - tick_start)))
        held = 0
        for s in sockets:  # still open: nothing to read, no EOF, no reset
            try:
                s.recv(1)  # b"" (closed) or a byte (answered): not held
            except BlockingIOError:
                held += 1
            except OSError:
                pass
    finally:
        for s in sockets:
            s.close()
    assert not failures, failures[:5]
    assert len(scrape_times) >= PHASE_SECONDS / TICK_SECONDS - 2, f"only {len(scrape_times)} ticks in the phase"
    assert max(scrape_times) < ANSWER_SECONDS, [round(t, 3) for t in scrape_times]
    assert max(infer_times) < ANSWER_SECONDS, [round(t, 3) for t in infer_times]
    # The test held its connections open to the end; otherwise it proved nothing (if the server
    # is meant to cut slow clients sooner than the phase, shorten the phase below that).
    assert held >= 0.95 * len(sockets), f"{held} of {len(sockets)} slow connections were still open"
    assert max(rss) - rss_before < RSS_GROWTH_BYTES, (rss_before, max(rss))
    # Gone, they leave a server that serves and holds no more memory than during the phase.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if rest_call(server, "GET", "/v2/health/ready").status == 200:
            break
        time.sleep(0.1)
    answer = rest_call(server, "POST", "/v2/models/encoder/infer", body=body)
    assert answer.status == 200, answer
    assert scrape(server)[0] == 200
    assert server.memory_bytes() - rss_before < RSS_GROWTH_BYTES
