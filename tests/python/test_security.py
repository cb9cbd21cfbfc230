"""TLS and mutual TLS on the gRPC port (certificates generated here with openssl), and the
request limits: each answered with its status while the server keeps serving."""
import os
import subprocess
import tempfile
import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from helpers import encoder_inputs


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs():
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate signed by
    it, and a second CA that signed nothing the server trusts."""
    d = tempfile.mkdtemp(prefix="seqserve_certs_")
    for ca in ["ca", "other_ca"]:
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ca, ext in [("server", "ca", ["-extfile", "server.ext"]), ("client", "ca", []),
                          ("rogue_client", "other_ca", [])]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)
    return {name: os.path.join(d, name) for name in ["ca", "other_ca", "server", "client", "rogue_client"]}


def live(url, **tls):
    client = grpcclient.InferenceServerClient(url=url, **tls)
    return client.is_server_live(client_timeout=10)


def test_tls_handshake_succeeds_with_the_ca_and_fails_otherwise(start_server, demo_models, certs):
    server = start_server(f"--tls-cert={certs['server']}.pem", f"--tls-key={certs['server']}.key", repository=demo_models)
    server.wait_ready_http()
    assert live(server.url, ssl=True, root_certificates=certs["ca"] + ".pem")
    client = grpcclient.InferenceServerClient(url=server.url, ssl=True, root_certificates=certs["ca"] + ".pem")
    assert client.infer("encoder", encoder_inputs(8)).as_numpy("logits").shape == (1, 4)
    with pytest.raises(InferenceServerException):
        live(server.url, ssl=True, root_certificates=certs["other_ca"] + ".pem")  # untrusted server cert
    with pytest.raises(InferenceServerException):
        live(server.url)  # plaintext against a TLS port
    assert server.stop() == 0, server.read_log()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(start_server, demo_models, certs):
    server = start_server(f"--tls-cert={certs['server']}.pem", f"--tls-key={certs['server']}.key",
                          f"--tls-client-ca={certs['ca']}.pem", repository=demo_models)
    server.wait_ready_http()
    ca = certs["ca"] + ".pem"
    assert live(server.url, ssl=True, root_certificates=ca,
                private_key=certs["client"] + ".key", certificate_chain=certs["client"] + ".pem")
    with pytest.raises(InferenceServerException):
        live(server.url, ssl=True, root_certificates=ca)  # no client certificate
    with pytest.raises(InferenceServerException):
        live(server.url, ssl=True, root_certificates=ca,
             private_key=certs["rogue_client"] + ".key", certificate_chain=certs["rogue_client"] + ".pem")
    assert server.stop() == 0, server.read_log()


def test_bad_tls_flags_are_refused_at_startup(request):
    binary = request.config.getoption("--seqserve-binary")
    run = subprocess.run([binary, "--model-repository=/nonexistent", "--tls-cert=/x.pem"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "--tls-cert and --tls-key go together" in run.stderr


@pytest.fixture(scope="module")
def limited_server(start_server, demo_models):
    server = start_server("--max-message-bytes=100000", "--max-request-elements=5000", "--default-deadline=0.001",
                          repository=demo_models)
    server.wait_ready_http()
    yield server
    assert server.stop() == 0, server.read_log()


def linear(rows):
    x = np.zeros((rows, 1000), dtype=np.float32)
    inp = grpcclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return [inp]


def test_each_limit_answers_its_status_and_the_server_keeps_serving(limited_server):
    client = grpcclient.InferenceServerClient(url=limited_server.url)
    # Message size: 30 rows x 1000 FP32 = 120 KB > 100 KB.
    with pytest.raises(InferenceServerException) as size:
        client.infer("linear", linear(30), client_timeout=30)
    assert size.value.status() == "StatusCode.RESOURCE_EXHAUSTED", size.value
    # Elements: 6 rows x 1000 = 6000 > 5000 (24 KB: under the message limit).
    with pytest.raises(InferenceServerException) as elements:
        client.infer("linear", linear(6), client_timeout=30)
    assert elements.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "--max-request-elements" in elements.value.message()
    # Default deadline: 1 ms, shorter than the 2 ms a lone request waits for its batch.
    with pytest.raises(InferenceServerException) as deadline:
        client.infer("encoder", encoder_inputs(8))
    assert deadline.value.status() == "StatusCode.DEADLINE_EXCEEDED", deadline.value
    # Sequence longer than the model allows.
    with pytest.raises(InferenceServerException) as length:
        client.infer("encoder", encoder_inputs(513), client_timeout=30)
    assert length.value.status() == "StatusCode.INVALID_ARGUMENT"
    # A request with its own (generous) deadline is served.
    assert client.infer("linear", linear(2), client_timeout=30).as_numpy("output").shape == (2, 10)
    assert client.is_server_ready()


def test_max_concurrent_streams_queues_calls_beyond_the_limit(start_server, demo_models):
    """HTTP/2 semantics: a call beyond --max-concurrent-streams on a connection is not refused
    but waits for a free stream, so with one stream held open a second call times out, and runs
    once the stream closes."""
    server = start_server("--max-concurrent-streams=1", repository=demo_models)
    server.wait_ready_http()
    client = grpcclient.InferenceServerClient(url=server.url)
    assert client.infer("encoder", encoder_inputs(8), client_timeout=30).as_numpy("logits").shape == (1, 4)
    answers = []
    client.start_stream(callback=lambda result, error: answers.append(error or result))
    client.async_stream_infer("encoder", encoder_inputs(8))
    deadline = time.monotonic() + 60  # the stream is open and answered: it holds the one slot
    while not answers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(answers) == 1 and not isinstance(answers[0], InferenceServerException), answers
    with pytest.raises(InferenceServerException) as waited:
        client.infer("encoder", encoder_inputs(8), client_timeout=1)
    assert waited.value.status() == "StatusCode.DEADLINE_EXCEEDED", waited.value
    client.stop_stream()
    assert client.infer("encoder", encoder_inputs(8), client_timeout=30).as_numpy("logits").shape == (1, 4)
    assert server.stop() == 0, server.read_log()
