"""The REST port against a client that sends its body too slowly: cut off after
--http-body-timeout. (Slow headers: test_http_slow_clients.py; body limits: test_rest.py.)"""
import json
import socket
import time

import pytest

def infer_body(n=8):
    ids = [101 + i for i in range(n)]
    return json.dumps({"inputs": [
        {"name": "input_ids", "shape": [1, n], "datatype": "INT64", "data": ids},
        {"name": "attention_mask", "shape": [1, n], "datatype": "INT64", "data": [1] * n}]}).encode()


@pytest.fixture(scope="module")
def limited(start_server, demo_models):
    s = start_server("--http-body-timeout=2", repository=demo_models)
    s.wait_ready_http()
    return s


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
