#!/usr/bin/env python3
"""Request memory: what big requests do to a server in a 1000 MiB pod. One 100 MB REST body
OOM-killed a MiniLM pod with a 1000 MiB limit; seqserve now admits the bytes of requests in flight
into a budget (--request-memory-bytes, default a sixteenth of the limit), bounds what gRPC buffers
of messages still arriving (its resource quota, twice that) and caps one body or message
(--max-message-bytes, default half the budget: 31 MiB in 1000 MiB).

Each server runs alone inside a real memory cgroup of --limit-mib (scripts/memory_cgroup.py), with
only `minilm` (the demo pack of all-MiniLM-L6-v2, TorchScript) in a temporary repository. Beside
the big requests, --ordinary-clients gRPC clients keep sending ordinary one-row requests of 64
tokens, one after the other, each with --timeout; each client, and each big gRPC request, on a
connection of its own (--shared-connection: all on one, as one client's requests would be).
Then, round by round (MB = 10^6 bytes):
  rest-1x100    1 REST JSON body of 100 MB
  rest-2x100    2 of them at once
  grpc-2x100    2 gRPC ModelInfer messages of 100 MB (raw_input_contents) at once
  grpc-4x60     4 of 60 MB at once
  rest-chunked  a chunked REST body that never ends (Transfer-Encoding: chunked over a raw socket):
                zeros are sent until the server answers or closes, or 400 MB or 60 s have gone;
                then the body is ended, and the answer read
  rest-8x25     8 REST bodies of 25 MB at once: each under the default max body, together over
                the request memory
Every big request is a KServe v2 infer request for minilm whose inputs (input_ids,
attention_mask, token_type_ids) are each [1, n] zeros, n such that the body or message has the
round's size: valid-looking, and one the model must refuse (n > max_length 256: 400 /
INVALID_ARGUMENT) once it has been decoded. REST requests announce Content-Length, all of a
round's headers are sent first and its bodies 1 s later (so that a server admitting from
Content-Length sees them all at once).

Servers (--variants; each in a fresh cgroup, rounds one after the other):
  seqserve         build/seqserve, default flags
  seqserve-before  --before-binary (before request memory: 256 MiB max message,
                   bodies unaccounted, JSON through a rapidjson DOM), default flags
  python-peer      benchmarks/real_models/python_peer_server.py (grpcio + torch; gRPC only, so
                   its REST rounds are n/a; grpc.max_receive_message_length 64 MiB)
Per round: the server alive afterwards (process running and the cgroup's oom_kill count
unchanged; a dead server is restarted for the next round, and the table says so), the big
requests' statuses (HTTP code or gRPC code, and the start of the message), the ordinary
requests OK / failed during the round, the cgroup's peak during the round (the kernel's, reset
before each round: v1 memory.max_usage_in_bytes, v2 memory.peak where writable; and the highest
memory.current sampled every 20 ms), seconds, and seqserve's request-memory metrics.

  .venv/bin/python benchmarks/memory/request_flood.py [--variants seqserve seqserve-before python-peer] \\
      [--rounds rest-1x100 ...] [--limit-mib 1000] [--out results.json]

Needs root and a memory cgroup controller. Only 127.0.0.1 traffic; servers on ephemeral ports,
stopped at the end. tests/python/test_request_flood.py runs the same rounds against seqserve in
CI and imports the pieces below (bodies, raw REST client, ordinary traffic, peak meter).
"""
import argparse
import dataclasses
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
from common.peer_server import PeerServer
from machine_info import describe as machine, one_line
from memory.pod_memory_limit import model_contract, wait_ready
from memory_cgroup import MemoryCgroup
from seqserve_process import Server

MODEL = "minilm"
MB = 10 ** 6
MIB = 1 << 20
SEND_PIECE = 1 << 20  # bytes per send() of a big body: between two, the client looks for an answer


@dataclasses.dataclass(frozen=True)
class Round:
    name: str
    api: str       # "rest", "grpc" or "chunked" (REST, Transfer-Encoding: chunked, never ended)
    count: int     # requests at once
    megabytes: int  # each request's size; "chunked": the most sent
    seconds: float = 60  # "chunked": the most time spent sending


ROUNDS = [Round("rest-1x100", "rest", 1, 100), Round("rest-2x100", "rest", 2, 100),
          Round("grpc-2x100", "grpc", 2, 100), Round("grpc-4x60", "grpc", 4, 60),
          Round("rest-chunked", "chunked", 1, 400, 60), Round("rest-8x25", "rest", 8, 25)]


# ---------------------------------------------------------------------------------- requests
def json_body(names, total_bytes):
    """A KServe v2 JSON infer body of about `total_bytes`: every input in `names` [1, n] of zeros
    ("0," is two bytes: n = total / (2 x inputs)). Valid JSON and a valid-looking request."""
    n = max(1, (total_bytes - 100 * len(names)) // (2 * len(names)))
    data = b"0," * (n - 1) + b"0"
    inputs = b",".join(b'{"name":"%s","shape":[1,%d],"datatype":"INT64","data":[%s]}' % (name.encode(), n, data)
                       for name in names)
    return b'{"inputs":[' + inputs + b']}'


def chunked_prefix(names, n=50_000_000):
    """The start of a JSON body whose first input's data then goes on for ever ("0,0,0,...")."""
    return b'{"inputs":[{"name":"%s","shape":[1,%d],"datatype":"INT64","data":[0' % (names[0].encode(), n)


def grpc_big_request(names, total_bytes):
    """A ModelInferRequest of about `total_bytes` of raw_input_contents: every input [1, n] int64 zeros."""
    from tritonclient.grpc import service_pb2 as pb
    n = max(1, total_bytes // (8 * len(names)))
    request = pb.ModelInferRequest(model_name=MODEL)
    zeros = bytes(8 * n)
    for name in names:
        request.inputs.add(name=name, datatype="INT64", shape=[1, n])
        request.raw_input_contents.append(zeros)
    return request


def ordinary_request(names, rng, length=64):
    """One row of `length` random token ids, all attended, token types 0."""
    from tritonclient.grpc import service_pb2 as pb
    ids = rng.integers(1000, 29000, size=(1, length), dtype=np.int64)
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    request = pb.ModelInferRequest(model_name=MODEL)
    for name in names:
        request.inputs.add(name=name, datatype="INT64", shape=[1, length])
        request.raw_input_contents.append(arrays[name].tobytes())
    return request


def grpc_stub(url, shared=False):
    """A KServe v2 gRPC stub that sends and takes messages of any size, on a connection of its
    own (as a separate client has), or `shared`: on the one connection gRPC's global subchannel
    pool gives every such channel to `url` (as one client's requests share)."""
    import grpc
    from tritonclient.grpc import service_pb2_grpc as pbg
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    channel = grpc.insecure_channel(url, options=options + ([] if shared else [("grpc.use_local_subchannel_pool", 1)]))
    return channel, pbg.GRPCInferenceServiceStub(channel)


# ---------------------------------------------------------------------------------- REST over a raw socket
class RawHttp:
    """One HTTP/1.1 exchange on its own connection to 127.0.0.1:`port`, written by hand so that
    headers and body go separately, the client sees an answer that comes before its body is
    sent, and a body can be chunked for ever. Every socket operation is bounded."""

    def __init__(self, port, timeout=120):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout

    def send_head(self, headers):
        head = f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
               f"Connection: close\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(head.encode())

    def answered(self):
        """Whether the server has written something (an answer) or closed."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def send(self, data):
        """Sends `data` piece by piece, stopping early when the server answers or goes. Returns
        (bytes sent, None or why it stopped)."""
        view, sent = memoryview(data), 0
        while sent < len(data):
            if self.answered():
                return sent, "answered before the body was sent"
            try:
                sent += self.sock.send(view[sent:sent + SEND_PIECE])
            except (BrokenPipeError, ConnectionResetError) as e:
                return sent, type(e).__name__
            except socket.timeout:
                return sent, f"the server read nothing for {self.timeout} s"
        return sent, None

    def read_response(self, timeout=None):
        """(HTTP status or None, message): the answer's JSON "error" (or its body), or why there
        was no answer."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, f"no answer in {timeout or self.timeout} s"
            self.sock.settimeout(remaining)
            try:
                piece = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except ConnectionResetError:
                piece = b""
                if not data:
                    return None, "connection reset without an answer"
            if not piece:
                break
            data += piece
            head, sep, body = data.partition(b"\r\n\r\n")
            length = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                           if l.lower().startswith(b"content-length:")), None)
            if sep and length is not None and len(body) >= length:
                break
        if not data:
            return None, "closed without an answer"
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return None, f"not HTTP: {data[:120]!r}"
        try:
            message = json.loads(body).get("error", body.decode(errors="replace"))
        except (ValueError, AttributeError):
            message = body.decode(errors="replace")
        return status, str(message)

    def close(self):
        self.sock.close()


def rest_posts(port, body, count, hold=1.0, timeout=120):
    """`count` POSTs of `body` at once: every connection sends its headers (Content-Length),
    then, `hold` s later, its body, unless the server has answered already. One outcome each."""
    conns = []
    try:
        for _ in range(count):
            conns.append(RawHttp(port, timeout))
            conns[-1].send_head({"Content-Length": len(body)})
        time.sleep(hold)
        outcomes = [None] * count

        def post(i):
            start = time.monotonic()
            early = conns[i].answered()
            sent, stopped = (0, "answered before the body was sent") if early else conns[i].send(body)
            status, message = conns[i].read_response()
            outcomes[i] = {"status": status, "message": message[:200], "sent_mb": round(sent / MB, 1),
                           "stopped": stopped, "seconds": round(time.monotonic() - start, 2)}

        threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=3 * timeout)
        return [o or {"status": None, "message": "client hung"} for o in outcomes]
    finally:
        for c in conns:
            c.close()


def rest_endless_chunked(port, names, max_bytes, max_seconds, timeout=120):
    """A chunked body that goes on until the server answers or closes, or `max_bytes` /
    `max_seconds`; then ended (the last chunk) and its answer read. One outcome."""
    conn = RawHttp(port, timeout)
    try:
        start = time.monotonic()
        conn.send_head({"Transfer-Encoding": "chunked"})
        piece = b",0" * (SEND_PIECE // 2)
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        prefix = chunked_prefix(names)
        sent, stopped = conn.send(b"%x\r\n%s\r\n" % (len(prefix), prefix))
        while stopped is None and sent < max_bytes and time.monotonic() - start < max_seconds:
            n, stopped = conn.send(chunk)
            sent += n
        answered_while_sending = stopped is not None
        if stopped is None:  # still taking it: end the body, then the server answers
            _, stopped = conn.send(b"0\r\n\r\n")
        status, message = conn.read_response()
        return {"status": status, "message": message[:200], "sent_mb": round(sent / MB, 1),
                "answered_while_sending": answered_while_sending, "stopped": stopped,
                "seconds": round(time.monotonic() - start, 2)}
    finally:
        conn.close()


# ---------------------------------------------------------------------------------- gRPC
def grpc_infers(url, request, count, timeout=120, shared=False):
    """`count` ModelInfer calls of `request` at once, each on its own channel (`shared`: see
    grpc_stub). One outcome each."""
    import grpc
    outcomes = [None] * count

    def call(i):
        channel, stub = grpc_stub(url, shared)
        start = time.monotonic()
        try:
            stub.ModelInfer(request, timeout=timeout)
            outcomes[i] = {"status": "OK", "message": ""}
        except grpc.RpcError as e:
            outcomes[i] = {"status": e.code().name, "message": (e.details() or "")[:200]}
        finally:
            channel.close()
        outcomes[i]["seconds"] = round(time.monotonic() - start, 2)

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout + 60)
    return [o or {"status": None, "message": "client hung"} for o in outcomes]


def send_big(rnd, names, grpc_url, http_port, timeout=120, shared=False):
    """The round's big requests against a server; their outcomes (None: a REST round and a
    server without REST)."""
    if rnd.api == "grpc":
        return grpc_infers(grpc_url, grpc_big_request(names, rnd.megabytes * MB), rnd.count, timeout, shared)
    if http_port is None:
        return None
    if rnd.api == "chunked":
        return [rest_endless_chunked(http_port, names, rnd.megabytes * MB, rnd.seconds, timeout)]
    return rest_posts(http_port, json_body(names, rnd.megabytes * MB), rnd.count, timeout=timeout)


# ---------------------------------------------------------------------------------- beside them
class OrdinaryTraffic:
    """`clients` threads, each sending one-row requests of `length` tokens over gRPC, one after
    the other, each with `timeout`, from start() until stop() (at most `max_requests` each),
    each client on its own connection (`shared`: see grpc_stub). After a failure a client waits
    0.2 s (a dead server must not make it spin)."""

    def __init__(self, url, names, clients=2, length=64, timeout=30, max_requests=100_000, shared=False):
        self.url, self.names, self.length, self.timeout, self.shared = url, names, length, timeout, shared
        self.clients, self.max_requests = clients, max_requests
        self.ok, self.failed, self.codes = 0, 0, {}
        self.lock, self.stopping, self.threads = threading.Lock(), threading.Event(), []

    def _client(self, c):
        import grpc
        rng = np.random.default_rng(c)
        channel, stub = grpc_stub(self.url, self.shared)
        try:
            for _ in range(self.max_requests):
                if self.stopping.is_set():
                    return
                try:
                    response = stub.ModelInfer(ordinary_request(self.names, rng, self.length), timeout=self.timeout)
                    code = "OK" if list(response.outputs[0].shape)[:1] == [1] else "wrong shape"
                except grpc.RpcError as e:
                    code = f"{e.code().name}: {(e.details() or '')[:160]}"
                with self.lock:
                    if code == "OK":
                        self.ok += 1
                    else:
                        self.failed += 1
                        self.codes[code] = self.codes.get(code, 0) + 1
                if code != "OK":
                    self.stopping.wait(0.2)
        finally:
            channel.close()

    def start(self):
        self.threads = [threading.Thread(target=self._client, args=(c,), daemon=True) for c in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        """Stops sending; waits for the requests in flight (bounded by their timeout)."""
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 30)
        with self.lock:
            return {"ok": self.ok, "failed": self.failed, "codes": dict(self.codes),
                    "hung": sum(t.is_alive() for t in self.threads)}


class PeakMeter:
    """The cgroup's peak while in the `with`: the kernel's (reset on entry where the kernel lets
    us: v1 memory.max_usage_in_bytes; v2 memory.peak, writable since Linux 6.12, per open file)
    and the highest memory.current sampled every `interval` s. result() in MiB."""

    def __init__(self, cgroup, interval=0.02):
        self.cgroup, self.interval = cgroup, interval
        self.sampled, self.reset, self.peak_fd = 0, False, None
        self.stopping = threading.Event()

    def _reset_kernel_peak(self):
        try:
            if self.cgroup.version == 1:
                with open(os.path.join(self.cgroup.path, "memory.max_usage_in_bytes"), "w") as f:
                    f.write("0")
                return True
            self.peak_fd = os.open(os.path.join(self.cgroup.path, "memory.peak"), os.O_RDWR)
            os.write(self.peak_fd, b"reset\n")
            return True
        except OSError:
            if self.peak_fd is not None:
                os.close(self.peak_fd)
                self.peak_fd = None
            return False

    def _kernel_peak(self):
        if self.peak_fd is not None:
            return int(os.pread(self.peak_fd, 64, 0))
        return self.cgroup.peak_bytes()

    def _sample(self):
        while not self.stopping.wait(self.interval):
            try:
                self.sampled = max(self.sampled, self.cgroup.current_bytes())
            except OSError:
                return

    def __enter__(self):
        self.reset = self._reset_kernel_peak()
        self.start = self.sampled = self.cgroup.current_bytes()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.kernel = self._kernel_peak()
        self.end = self.cgroup.current_bytes()
        if self.peak_fd is not None:
            os.close(self.peak_fd)

    def result(self):
        mib = lambda b: None if b is None else round(b / MIB, 1)  # noqa: E731
        return {"start_mib": mib(self.start), "peak_mib": mib(self.kernel), "peak_reset": self.reset,
                "sampled_max_mib": mib(self.sampled), "end_mib": mib(self.end)}


REQUEST_MEMORY_METRICS = ("seqserve_request_memory_bytes", "seqserve_request_memory_peak_bytes",
                          "seqserve_request_memory_budget_bytes", "seqserve_request_memory_refusals_total")


def request_memory_metrics(server):
    """seqserve's request-memory series ({} for a server without them or without metrics)."""
    from prometheus_client.parser import text_string_to_metric_families
    try:
        text = server.scrape()
    except Exception:  # noqa: BLE001 (a dead or busy server has no metrics: reported as such)
        return {}
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name in REQUEST_MEMORY_METRICS}


def summarize(outcomes):
    """"413 x2, 429 x1" from outcomes (None: n/a)."""
    if outcomes is None:
        return "n/a"
    counts = {}
    for o in outcomes:
        key = str(o["status"]) if o["status"] is not None else f"no answer ({o['message'][:40]})"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items()))


# ---------------------------------------------------------------------------------- one variant
VARIANTS = ("seqserve", "seqserve-before", "python-peer")


class Target:
    """One variant's server in its cgroup; start() again after it died."""

    def __init__(self, variant, args, repo, cgroup):
        self.variant, self.args, self.repo, self.cgroup = variant, args, repo, cgroup
        self.server, self.starts = None, 0

    @property
    def http_port(self):
        return getattr(self.server, "http_port", None)

    def start(self):
        if self.variant == "python-peer":
            self.server = PeerServer(os.path.join(self.repo, MODEL), self.cgroup.prefix)
            if self.server.url is None:
                raise RuntimeError(f"peer exited while starting:\n{self.server.read_log()[-2000:]}")
        else:
            binary = self.args.binary if self.variant == "seqserve" else self.args.before_binary
            self.server = Server(binary, self.repo, prefix=self.cgroup.prefix)
        self.starts += 1
        wait_ready(self.server, self.variant != "python-peer", self.args.ready_timeout)

    def alive(self):
        return self.server is not None and self.server.proc.poll() is None

    def metrics(self):
        return request_memory_metrics(self.server) if self.variant != "python-peer" and self.alive() else {}

    def stop(self):
        if self.server is None:
            return None
        code = self.server.stop()
        if self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait()
        shutil.rmtree(self.server.dir, ignore_errors=True)
        return code


def run_round(rnd, target, names, args):
    """One round against a running server: the big requests with ordinary traffic beside."""
    cgroup = target.cgroup
    row = {"variant": target.variant, "round": rnd.name}
    if rnd.api != "grpc" and target.variant == "python-peer":
        return dict(row, big="n/a (no REST)", outcomes=None)
    kills_before = cgroup.oom_kills() or 0
    metrics_before = target.metrics()
    start = time.monotonic()
    with PeakMeter(cgroup) as peak:
        traffic = OrdinaryTraffic(target.server.url, names, args.ordinary_clients, timeout=args.timeout,
                                  shared=args.shared_connection).start()
        time.sleep(0.5)
        outcomes = send_big(rnd, names, target.server.url, target.http_port, args.big_timeout, args.shared_connection)
        time.sleep(0.5)
        ordinary = traffic.stop()
    row.update(seconds=round(time.monotonic() - start, 1), outcomes=outcomes, big=summarize(outcomes),
               ordinary=ordinary, **peak.result())
    row["oom_kills"] = (cgroup.oom_kills() or 0) - kills_before
    row["alive"] = target.alive() and row["oom_kills"] == 0
    if target.variant != "python-peer":
        after = target.metrics()
        row["metrics"] = after
        refusals = "seqserve_request_memory_refusals_total"
        if refusals in after:
            row["refusals"] = int(after[refusals] - metrics_before.get(refusals, 0))
    if not target.alive():
        row["exit_code"] = target.server.proc.poll()
        row["log_tail"] = target.server.read_log()[-3000:]
    return row


def run_variant(variant, args, repo, names, rounds):
    """Every round against one server in a fresh cgroup; a server that died is started again
    for the next round."""
    cgroup, reason = MemoryCgroup.try_create(args.limit_mib * MIB)
    if cgroup is None:
        return [{"variant": variant, "round": "-", "skipped": reason}]
    rows = []
    target = Target(variant, args, repo, cgroup)
    try:
        target.start()
        if variant != "python-peer":
            print(f"{variant}: " + "\n  ".join(startup_lines(target.server.read_log())), flush=True)
        restarted = False
        for rnd in rounds:
            if not target.alive():
                target.stop()
                target.start()
                restarted = True
            row = run_round(rnd, target, names, args)
            row["restarted_before"] = restarted
            restarted = False
            rows.append(row)
            print(table_row(row), flush=True)
    except Exception as e:  # noqa: BLE001 (a server that cannot start again is a result)
        rows.append({"variant": variant, "round": "-", "skipped": f"{type(e).__name__}: {str(e)[:1500]}"})
        print(f"{variant}: {e}", flush=True)
    finally:
        target.stop()
        cgroup.close()
    return rows


def startup_lines(log):
    """What seqserve logged at startup about its memory budgets."""
    wanted = ("request memory", "max message", "budget", "memory after loading")
    return [l.split("] ", 1)[-1] for l in log.splitlines() if any(w in l.lower() for w in wanted)][:8]


# ---------------------------------------------------------------------------------- report
HEADER = ("| server | round | alive after | OOM kills | big requests | ordinary OK / failed | cgroup MiB before "
          "| peak MiB | sampled max MiB | s | refusals |\n|---|---|---|---|---|---|---|---|---|---|---|")


def table_row(r):
    if "skipped" in r:
        return f"| {r['variant']} | {r['round']} | skipped: {r['skipped'][:200]} |" + " |" * 8
    if r.get("outcomes") is None and "seconds" not in r:
        return f"| {r['variant']} | {r['round']} | n/a | | {r['big']} | | | | | | |"
    code = r.get("exit_code")
    alive = "yes" if r["alive"] else "**no** (" + (f"killed, signal {-code}" if code and code < 0 else f"exit {code}") + ")"
    if r.get("restarted_before"):
        alive += " (restarted before)"
    o = r["ordinary"]
    ordinary = f"{o['ok']} / {o['failed']}" + (f" ({'; '.join(f'{k[:60]} ×{v}' for k, v in o['codes'].items())})"
                                                if o["codes"] else "")
    f = lambda v: "—" if v is None else v  # noqa: E731
    return (f"| {r['variant']} | {r['round']} | {alive} | {r['oom_kills']} | {r['big']} | {ordinary} "
            f"| {f(r['start_mib'])} | {f(r['peak_mib'])} | {f(r['sampled_max_mib'])} | {r['seconds']} "
            f"| {f(r.get('refusals'))} |")


def messages(rows):
    """The first message of each (variant, round, status), for the text under the table."""
    lines = []
    for r in rows:
        seen = set()
        for o in r.get("outcomes") or []:
            if o["status"] not in seen:
                seen.add(o["status"])
                lines.append(f"- {r['variant']} {r['round']}: {o['status']}: {o['message'][:200]}")
    return lines


def arguments():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--rounds", nargs="+", choices=[r.name for r in ROUNDS], default=[r.name for r in ROUNDS])
    p.add_argument("--limit-mib", type=int, default=1000)
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "seqserve"))
    p.add_argument("--before-binary", default="/work/before/build/seqserve")
    p.add_argument("--repository", default=os.path.join(ROOT, "build", "model_repository"),
                   help="where minilm is packed (only minilm is served)")
    p.add_argument("--ordinary-clients", type=int, default=2)
    p.add_argument("--timeout", type=float, default=30, help="per ordinary request, seconds")
    p.add_argument("--shared-connection", action="store_true",
                   help="ordinary and big gRPC requests on one connection, as one client's requests are "
                        "(default: each client its own)")
    p.add_argument("--big-timeout", type=float, default=120, help="per big request (and socket operation), seconds")
    p.add_argument("--ready-timeout", type=float, default=180)
    p.add_argument("--out", help="write the results as JSON here")
    return p.parse_args()


def main():
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally blocks remove the cgroups
    info = machine()
    print(one_line(info), flush=True)
    repo = tempfile.mkdtemp(prefix="seqserve_flood_")
    os.symlink(os.path.abspath(os.path.join(args.repository, MODEL)), os.path.join(repo, MODEL))
    names = tuple(model_contract(os.path.join(repo, MODEL))["inputs"])
    rounds = [r for r in ROUNDS if r.name in args.rounds]
    results = {"machine": info, "args": vars(args), "rows": []}
    try:
        for variant in args.variants:
            results["rows"] += run_variant(variant, args, repo, names, rounds)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)
    print(f"\n{info['date']}; {info['cpu']}, {info['usable_cores']} cores; "
          + ", ".join(k for k, v in info["flags"].items() if v) + f"; cgroup limit {args.limit_mib} MiB\n")
    print(HEADER)
    for r in results["rows"]:
        print(table_row(r))
    print("\nMessages (the first of each status):\n" + "\n".join(messages(results["rows"])))
    for r in results["rows"]:
        if r.get("log_tail"):
            print(f"\n{r['variant']} {r['round']}: died; log tail:\n{r['log_tail'][-1500:]}")
    if args.out:
        print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
