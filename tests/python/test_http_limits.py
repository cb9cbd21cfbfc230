"""The HTTP ports against untrusted clients: 200 connections that trickle one byte a second must
not delay /metrics or a REST infer, nor grow the server's memory; bodies over the limit get 413
before they are read; a body that does not arrive in time is cut off."""
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

SLOW_CONNECTIONS = 200
SLOW_SECONDS = 10  # the whole trickle phase; every loop below is bounded by it


def infer_body(n=8):
    ids = [101 + i for i in range(n)]
    return json.dumps({"inputs": [
        {"name": "input_ids", "shape": [1, n], "datatype": "INT64", "data": ids},
        {"name": "attention_mask", "shape": [1, n], "datatype": "INT64", "data": [1] * n}]}).encode()


def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


@pytest.fixture(scope="module")
def limited(start_server):
    s = start_server("--max-message-bytes=65536", "--http-body-timeout=2")
    s.wait_ready_http()
    return s


def test_slow_clients_stall_neither_metrics_nor_inference(limited):
    rest = f"http://{limited.http_url}"
    # Half trickle into the REST port, half into the metrics port.
    targets = [limited.http_port, limited.metrics_port]
    request = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
    rss_before = limited.memory_bytes()
    sockets = []
    try:
        for i in range(SLOW_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", targets[i % 2]), timeout=5)
            s.setblocking(False)
            sockets.append(s)
        scrape_times, infer_times = [], []
        deadline = time.monotonic() + SLOW_SECONDS
        sent = 0
        while time.monotonic() < deadline and sent < len(request):
            for s in sockets:
                try:
                    s.send(request[sent:sent + 1])
                except (BlockingIOError, OSError):
                    pass
            sent += 1
            # Each tick: one scrape and one REST infer, each must answer in under 1 s.
            scrape_times.append(timed(lambda: urllib.request.urlopen(
                limited.metrics_url + "/metrics", timeout=5).read()))
            infer_times.append(timed(lambda: urllib.request.urlopen(urllib.request.Request(
                rest + "/v2/models/encoder/infer", data=infer_body()), timeout=5).read()))
            time.sleep(max(0.0, 1.0 - scrape_times[-1] - infer_times[-1]))
        rss_during = limited.memory_bytes()
        open_slow = 0
        for s in sockets:  # the trickling connections were kept open, not dropped
            try:
                s.recv(1)  # b"" (closed) or data (answered): not held open
            except BlockingIOError:
                open_slow += 1
            except OSError:
                pass
    finally:
        for s in sockets:
            s.close()
    assert len(scrape_times) >= 5, "the trickle phase ended early"
    assert max(scrape_times) < 1.0, scrape_times
    assert max(infer_times) < 1.0, infer_times
    assert open_slow >= SLOW_CONNECTIONS * 0.9, open_slow  # the test did hold them
    assert rss_during - rss_before < 64 << 20, (rss_before, rss_during)


def test_body_over_the_limit_is_refused_before_it_is_read(limited):
    body = b"x" * (65536 + 1)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(urllib.request.Request(
            f"http://{limited.http_url}/v2/models/encoder/infer", data=body), timeout=10)
    assert error.value.code == 413
    assert "--max-message-bytes" in json.loads(error.value.read())["error"]


def test_a_body_that_trickles_past_the_body_timeout_is_cut_off(limited):
    body = infer_body()
    s = socket.create_connection(("127.0.0.1", limited.http_port), timeout=10)
    try:
        s.sendall(b"POST /v2/models/encoder/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        start = time.monotonic()
        closed_after = None
        s.settimeout(0.5)
        for byte in body[:20]:  # --http-body-timeout=2, one byte every 0.5 s: bounded to ~10 s
            try:
                s.sendall(bytes([byte]))
                if s.recv(4096) == b"":
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.monotonic() - start
                break
        # Closed once the body was late, not before and not never.
        assert closed_after is not None, "the server kept waiting for a trickling body"
        assert closed_after >= 2.0, closed_after
    finally:
        s.close()
