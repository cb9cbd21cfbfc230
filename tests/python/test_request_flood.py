"""Request memory, never OOM-killed by big requests: the real server, with only the demo
all-MiniLM-L6-v2 and default flags, inside a real memory cgroup of 1000 MiB (a pod's limit; one
100 MB REST body once OOM-killed such a pod). Round by round, beside two clients of ordinary
one-row requests (each client, and each big gRPC request, on a connection of its own), it gets big requests (MB = 10^6 bytes): REST 1 x 100 MB, 2 x 100 MB at once,
gRPC 2 x 100 MB, 4 x 60 MB, a chunked REST body that never ends, and REST 6 x 25 MB at once (each
under the default max body of 31 MiB, together over the request memory of 62 MiB). Every big
request is minilm's three inputs, each [1, n] zeros: valid-looking, refused by the model once
decoded (n > max_length: 400). After each round the server must be alive with no OOM kill in
the cgroup, every big request refused with a clear status (REST 413 / 429 naming the bytes, gRPC
RESOURCE_EXHAUSTED) or, for the 25 MB ones, answered 400 for their length; every ordinary request
answered (in gRPC rounds, a few may be reset by gRPC's own quota: GRPC_QUOTA_RESET below); the
cgroup's peak under the limit. The bodies, the raw REST client, the ordinary
traffic and the peak meter are benchmarks/memory/request_flood.py's (which also runs the server
from before request memory and a Python peer through the same rounds)."""
import os
import time

import pytest
import tritonclient.grpc as grpcclient

from helpers import metric
from memory_cgroup import MemoryCgroup  # scripts/
from test_memory_limit import minilm_only, wait_model_ready

from memory.request_flood import OrdinaryTraffic, PeakMeter, Round, send_big, summarize  # benchmarks/

LIMIT = 1000 << 20
ROUNDS = [Round("rest-1x100", "rest", 1, 100), Round("rest-2x100", "rest", 2, 100),
          Round("grpc-2x100", "grpc", 2, 100), Round("grpc-4x60", "grpc", 4, 60),
          Round("rest-chunked", "chunked", 1, 200, 30), Round("rest-6x25", "rest", 6, 25)]
TIMEOUT = 120  # every request's client timeout (and socket operation's): generous on a loaded machine


def refused_clearly(rnd, outcome):
    """Why `outcome` is not what round `rnd` allows (None: it is)."""
    status, message = outcome["status"], outcome["message"]
    if rnd.api == "grpc":
        return None if status == "RESOURCE_EXHAUSTED" else "not RESOURCE_EXHAUSTED"
    if status in (413, 429):
        return None if "bytes" in message else "a refusal that does not name the bytes"
    if rnd.megabytes <= 25 and status == 400:  # fits alone: decoded, then refused by the model
        return None if "exceeds model 'minilm' maximum of 256" in message else "a 400 not for its length"
    return "not refused"


def run_round(rnd, server, cgroup, names):
    """The round's big requests with ordinary traffic beside; what the assertions need."""
    kills = cgroup.oom_kills() or 0
    refusals = metric(server, "seqserve_request_memory_refusals_total")
    with PeakMeter(cgroup) as peak:
        traffic = OrdinaryTraffic(server.url, names, clients=2, timeout=TIMEOUT).start()
        time.sleep(0.5)
        outcomes = send_big(rnd, names, server.url, server.http_port, TIMEOUT)
        time.sleep(0.5)
        ordinary = traffic.stop()
    alive = server.proc.poll() is None
    return {"round": rnd.name, "alive": alive, "oom_kills": (cgroup.oom_kills() or 0) - kills,
            "big": summarize(outcomes), "outcomes": outcomes, "ordinary": ordinary, **peak.result(),
            "refusals": metric(server, "seqserve_request_memory_refusals_total") - refusals if alive else None}


# gRPC's resource quota under pressure resets streams of any client (Note [gRPC receive memory]
# in server/main.cc): with two 100 MB messages arriving at once, an ordinary gRPC request beside
# them may be reset too. Measured: none in the rounds run alone, 2 of 38 in one of 20 runs beside
# two busy loops (benchmarks/RESULTS.md). Such resets are what gRPC can do, not what seqserve
# chooses; the test allows them in gRPC rounds only, as a small minority, never a hang.
GRPC_QUOTA_RESET = "RST_STREAM with error code 11"


def ordinary_failures_allowed(rnd, ordinary):
    """Whether round `rnd`'s failed ordinary requests are only gRPC's quota resets, and few."""
    if rnd.api != "grpc" or not ordinary["failed"]:
        return not ordinary["failed"]
    only_resets = all(GRPC_QUOTA_RESET in code for code in ordinary["codes"])
    return only_resets and ordinary["failed"] * 10 <= ordinary["ok"] + ordinary["failed"]


def problems(rnd, r):
    """What is wrong with round `rnd`'s result `r` (the server alive: checked before)."""
    found = [f"OOM kill in the cgroup ({r['oom_kills']})"] if r["oom_kills"] else []
    found += [f"big request {o}: {why}" for o in r["outcomes"] if (why := refused_clearly(rnd, o))]
    ordinary = r["ordinary"]
    if ordinary["hung"] or not ordinary["ok"] or not ordinary_failures_allowed(rnd, ordinary):
        found.append(f"ordinary requests: {ordinary}")
    if r["peak_mib"] is not None and r["peak_mib"] * (1 << 20) >= LIMIT:
        found.append(f"cgroup peak {r['peak_mib']} MiB: at the limit")
    if rnd.name == "rest-6x25" and not r["refusals"]:  # each under the max body, together over the request memory
        found.append("none refused by request memory (seqserve_request_memory_refusals_total unchanged)")
    return found


def test_big_requests_in_a_1000_mib_pod_are_refused_and_ordinary_ones_answered(request, tmp_path, start_server):
    cgroup, reason = MemoryCgroup.try_create(LIMIT)
    if cgroup is None:
        pytest.skip(f"no memory cgroup of 1000 MiB: {reason}")
    with cgroup:
        repo, names, _ = minilm_only(request, tmp_path)
        server = start_server(repository=repo, prefix=cgroup.prefix)
        wait_model_ready(server, grpcclient.InferenceServerClient(url=server.url))
        budget = metric(server, "seqserve_request_memory_budget_bytes")
        assert budget == LIMIT // 16, server.read_log()[-3000:]  # Note [budget from the pod]
        # Every round runs (a round's problems do not hide the next one's), unless the server died.
        wrong = {}
        for rnd in ROUNDS:
            r = run_round(rnd, server, cgroup, tuple(names))
            print(r["round"], r["big"], r["ordinary"], r["start_mib"], r["peak_mib"], r["sampled_max_mib"], r["refusals"])
            assert r["alive"], (f"server exited with {server.proc.returncode} in {rnd.name} (cgroup oom_kill "
                                f"{r['oom_kills']}): {r}; earlier rounds: {wrong}\nserver log:\n{server.read_log()[-3000:]}")
            if found := problems(rnd, r):
                wrong[rnd.name] = found + [f"outcomes {r['outcomes']}"]
        assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items()) + f"\nserver log:\n{server.read_log()[-3000:]}"
        # Every charge given back once the answers are out (a REST charge lives until its
        # connection is done: bounded wait).
        deadline = time.monotonic() + 30
        while metric(server, "seqserve_request_memory_bytes") != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(server, "seqserve_request_memory_bytes") == 0, server.read_log()[-3000:]
        assert 0 < metric(server, "seqserve_request_memory_peak_bytes") <= budget
        assert server.stop() == 0, server.read_log()[-3000:]
