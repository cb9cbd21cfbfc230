"""Model control against the real binary (issue #20): --model-control-mode=explicit|poll|none,
tritonclient's load_model / unload_model / get_model_repository_index over gRPC and REST,
version policies (latest, specific, all), in-place version swaps told apart by their answers
(each version has different weights; every answer carries the model_version that computed it),
a broken new version that leaves the old one serving, poll mode's atomic pickup (a version
folder being written is not loaded half-copied; Kubernetes' ConfigMap `..data` symlink swap),
a removed model folder unloaded, path-like names refused, readiness of the models asked for,
the model-control metrics, and a swap under traffic with zero failed requests and the weights'
memory given back.

Every test starts its own server on its own repository (copies of the demo models in the
test's tmp_path), so a test may change the files freely. Every wait polls a state with a
deadline; no sleep stands in for a state the server reports."""
import os
import re
import shutil
import threading
import time

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from helpers import demo_repository, metric, rest_call, wait_rest_ready

# Loads here run at full priority: Note [background load] (a load beside traffic niced to 10) is a
# latency trade measured by benchmarks/model_swap.py; in a busy ctest run a niced load could take
# minutes and these tests assert behaviour, not latency.
FULL_PRIORITY = "--background-load-nice=0"
EXPLICIT = ("--model-control-mode=explicit", FULL_PRIORITY)
POLL = ("--model-control-mode=poll", "--repository-poll-seconds=1", FULL_PRIORITY)
MIB = 1 << 20


# ---- repositories and model versions ----

@pytest.fixture
def source(request):
    """The build's repository (the demo models are copied from it, never changed in place)."""
    return request.config.getoption("--repository")


def make_repository(source, parent, models=("linear",)):
    """A repository of copies (not symlinks) of `models` from the build's repository, in `parent`."""
    parent.mkdir(parents=True, exist_ok=True)
    return demo_repository(source, parent, models)


def scaled_version(source_file, target_file, scale, only=None):
    """Writes `source_file` (TorchScript) with every parameter (or those whose name starts with
    `only`) multiplied by `scale` to `target_file`, creating its folder: a version whose answers
    differ from the original's. Returns the path."""
    module = torch.jit.load(source_file)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if only is None or name.startswith(only):
                p.mul_(scale)
    os.makedirs(os.path.dirname(target_file), exist_ok=True)
    module.save(target_file)
    return target_file


def model_file(repo, model, version):
    return os.path.join(repo, model, str(version), "model.pt")


def set_version_policy(repo, model, policy):
    """Replaces the model's version_policy (None: none, the default latest 1) in its config.pbtxt."""
    path = os.path.join(repo, model, "config.pbtxt")
    text = re.sub(r"^version_policy .*\n", "", open(path).read(), flags=re.MULTILINE)
    if policy:
        text += f"version_policy {policy}\n"
    with open(path, "w") as f:
        f.write(text)


def linear_copy(source, staging, name, scale=None):
    """A copy of the demo linear model named `name` (config without its name line, so the folder
    names it), built in `staging` and returned as its path there, to be renamed into a
    repository in one step. `scale`: its version 1's weights multiplied by it."""
    path = os.path.join(staging, name)
    shutil.copytree(os.path.join(source, "linear"), path)
    config = os.path.join(path, "config.pbtxt")
    text = re.sub(r'^name: "linear"\n', "", open(config).read(), flags=re.MULTILINE)
    with open(config, "w") as f:
        f.write(text)
    if scale is not None:
        scaled_version(os.path.join(source, "linear", "1", "model.pt"), model_file(staging, name, 1), scale)
    return path


def torch_outputs(path, case):
    """{output name: array} of the TorchScript file at `path` on a reference case's inputs."""
    module = torch.jit.load(path)
    with torch.no_grad():
        if case["model"] == "linear":
            return {"output": module(torch.from_numpy(case["in"]["input"])).numpy()}
        logits, scores = module(torch.from_numpy(case["in"]["input_ids"]), torch.from_numpy(case["in"]["attention_mask"]))
        return {"logits": logits.numpy(), "token_scores": scores.numpy()}


# ---- clients, answers, states ----

def start(start_server, repo, *flags):
    """A server on `repo` with `flags`, ready (strict readiness), and a gRPC client."""
    server = start_server(*flags, repository=repo)
    client = grpcclient.InferenceServerClient(url=server.url)
    server.wait_ready(client)
    return server, client


def grpc_inputs(arrays):
    inputs = []
    for name, array in arrays.items():
        inputs.append(grpcclient.InferInput(name, list(array.shape), "INT64" if array.dtype == np.int64 else "FP32"))
        inputs[-1].set_data_from_numpy(array)
    return inputs


def http_inputs(arrays):
    return [httpclient.InferInput(name, list(a.shape), "INT64" if a.dtype == np.int64 else "FP32")
            .set_data_from_numpy(a, binary_data=True) for name, a in arrays.items()]


def infer(client, case, version=""):
    """(version that answered, {output: array}) for a reference case over gRPC."""
    result = client.infer(case["model"], grpc_inputs(case["in"]), model_version=version)
    return result.get_response().model_version, {name: result.as_numpy(name) for name in case["out"]}


def assert_answer(answer, expected_version, expected_outputs):
    version, outputs = answer
    assert version == str(expected_version), (version, expected_version)
    for name, expected in expected_outputs.items():
        np.testing.assert_allclose(outputs[name], expected, atol=1e-4, rtol=0, err_msg=name)


def matches(outputs, expected):
    return all(np.allclose(outputs[n], e, atol=1e-4, rtol=0) for n, e in expected.items())


def error_of(call, *args, **kwargs):
    """The InferenceServerException `call` raises (fails if it returns)."""
    with pytest.raises(InferenceServerException) as error:
        call(*args, **kwargs)
    return error.value


def calls(call, *args):
    """[] when call(*args) returns, else [the InferenceServerException it raised]."""
    try:
        call(*args)
        return []
    except InferenceServerException as e:
        return [e]


def grpc_status(error):
    return error.status().replace("StatusCode.", "")


def model_ready(client, name, version=""):
    """ModelReady; False where the server answers that it has no such model or version."""
    try:
        return client.is_model_ready(name, version)
    except InferenceServerException as e:
        assert grpc_status(e) in ("NOT_FOUND", "UNAVAILABLE"), e
        return False


def index_of(client):
    """The repository index over gRPC: [{"name", "version", "state", "reason"}] (absent fields "")."""
    models = client.get_model_repository_index(as_json=True).get("models", [])
    return [{k: m.get(k, "") for k in ("name", "version", "state", "reason")} for m in models]


def versions_of(index, name):
    """{version: (state, reason)} of one model in an index (version "" for an entry without one)."""
    return {m["version"]: (m["state"], m["reason"]) for m in index if m["name"] == name}


def wait_until(what, probe, done, timeout=60, interval=0.1):
    """Calls `probe` until done(its result) (at most `timeout` s); returns that result, or fails
    with the last one."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s; last seen: {seen}")
        time.sleep(interval)


def wait_versions(client, name, expected, timeout=60):
    """Waits until the index lists `expected` ({version: state or (state, reason)}) for `name`
    (other versions may be listed too); returns the model's versions."""
    def done(seen):
        for version, want in expected.items():
            got = seen.get(str(version))
            if got is None or (got[0] != want if isinstance(want, str) else got != want):
                return False
        return True
    return wait_until(f"{name} versions {expected}", lambda: versions_of(index_of(client), name), done, timeout)


def loads(server, model, result):
    return metric(server, "seqserve_model_loads_total", model=model, result=result, default=0)


def allocated(server):
    return metric(server, "seqserve_memory_allocated_bytes", pool="cpu")


def reserved(server):
    return metric(server, "seqserve_memory_reserved_bytes", pool="cpu")


# ---- explicit mode ----

def test_explicit_mode_load_infer_unload_over_grpc(start_server, source, tmp_path, reference):
    repo = make_repository(source, tmp_path / "repo", ("encoder", "linear"))
    server, client = start(start_server, repo, *EXPLICIT, "--load-model=linear")
    index = index_of(client)
    assert versions_of(index, "linear") == {"1": ("READY", "")}, index
    # Never asked for: listed, without a version, not loaded; it does not hold readiness back.
    assert versions_of(index, "encoder") == {"": ("UNAVAILABLE", "not loaded")}, index
    assert client.is_server_ready()
    assert not model_ready(client, "encoder")
    assert_answer(infer(client, reference["lin_5"]), 1, reference["lin_5"]["out"])
    assert grpc_status(error_of(infer, client, reference["enc_3x33"])) in ("UNAVAILABLE", "NOT_FOUND")

    memory_before = allocated(server)
    successes = loads(server, "encoder", "success")
    durations = metric(server, "seqserve_model_load_duration_seconds_count", model="encoder", default=0)
    client.load_model("encoder")  # returns once loaded: everything below holds at once
    assert model_ready(client, "encoder") and model_ready(client, "encoder", "1")
    assert versions_of(index_of(client), "encoder") == {"1": ("READY", "")}
    for case in ("enc_3x33", "enc_1x7"):
        assert_answer(infer(client, reference[case]), 1, reference[case]["out"])
    assert client.is_server_ready()
    assert loads(server, "encoder", "success") == successes + 1
    assert metric(server, "seqserve_model_load_duration_seconds_count", model="encoder") == durations + 1
    assert metric(server, "seqserve_model_versions", model="encoder", state="READY") == 1
    memory_loaded = allocated(server)
    # The encoder's weights are ~14 MB (3.55 M float parameters), held in the pool.
    assert memory_loaded - memory_before >= 12e6, (memory_before, memory_loaded)

    client.unload_model("encoder")  # returns once drained
    assert versions_of(index_of(client), "encoder") == {"1": ("UNAVAILABLE", "unloaded")}
    for version in ("", "1"):
        assert grpc_status(error_of(infer, client, reference["enc_3x33"], version)) == "UNAVAILABLE"
        assert not model_ready(client, "encoder", version)
    assert client.is_server_ready()  # no longer asked for
    assert metric(server, "seqserve_model_versions", model="encoder", state="READY", default=0) == 0
    assert metric(server, "seqserve_model_versions", model="encoder", state="UNAVAILABLE") == 1
    # The weights went back to the pool (what remains is the pool's rounding and small caches).
    wait_until("memory back after unload", lambda: allocated(server),
               lambda now: now <= memory_before + 2 * MIB, timeout=30)
    assert_answer(infer(client, reference["lin_5"]), 1, reference["lin_5"]["out"])  # untouched

    client.load_model("encoder")  # and back again
    assert_answer(infer(client, reference["enc_3x33"]), 1, reference["enc_3x33"]["out"])
    assert versions_of(index_of(client), "encoder") == {"1": ("READY", "")}
    assert loads(server, "encoder", "success") == successes + 2
    assert loads(server, "encoder", "failure") == 0
    assert server.stop() == 0, server.read_log()[-4000:]


def test_explicit_mode_over_rest(start_server, source, tmp_path, reference):
    """The same cycle through tritonclient.http and the raw routes; nothing loaded at start."""
    repo = make_repository(source, tmp_path / "repo", ("encoder", "linear"))
    server = start_server(*EXPLICIT, repository=repo)
    client = wait_rest_ready(server)  # nothing asked for: ready at once
    index = {(m["name"], m.get("version", "")): m for m in client.get_model_repository_index()}
    for name in ("encoder", "linear"):
        assert index[(name, "")]["state"] == "UNAVAILABLE" and index[(name, "")]["reason"] == "not loaded", index
    ref = reference["lin_5"]

    def rest_infer(version=""):
        result = client.infer("linear", http_inputs(ref["in"]), model_version=version)
        return result.get_response()["model_version"], result.as_numpy("output")

    client.load_model("linear")
    assert client.is_model_ready("linear")
    version, output = rest_infer()
    assert version == "1"
    np.testing.assert_allclose(output, ref["out"]["output"], atol=1e-4, rtol=0)
    index = {(m["name"], m.get("version", "")): m for m in client.get_model_repository_index()}
    assert index[("linear", "1")]["state"] == "READY", index

    client.unload_model("linear")  # tritonclient.http sends {"parameters": {"unload_dependents": false}}
    index = {(m["name"], m.get("version", "")): m for m in client.get_model_repository_index()}
    assert (index[("linear", "1")]["state"], index[("linear", "1")]["reason"]) == ("UNAVAILABLE", "unloaded"), index
    assert error_of(rest_infer).status() == "503"
    assert error_of(rest_infer, "1").status() == "503"
    assert not client.is_model_ready("linear")
    assert client.is_server_ready()

    # The raw routes, with an empty body and with {}.
    assert rest_call(server, "POST", "/v2/repository/models/linear/load").status == 200
    assert rest_infer()[0] == "1"
    assert rest_call(server, "POST", "/v2/repository/models/linear/unload", body={}).status == 200
    assert not client.is_model_ready("linear")
    assert rest_call(server, "POST", "/v2/repository/models/linear/load", body={}).status == 200
    assert rest_infer()[0] == "1"
    ready = rest_call(server, "POST", "/v2/repository/index", body={"ready": True})
    assert ready.status == 200 and {(m["name"], m["version"]) for m in ready.json()} == {("linear", "1")}, ready
    client.close()
    assert server.stop() == 0, server.read_log()[-4000:]


# ---- limits: names, parameters, modes ----

PATH_LIKE = ["../linear", "linear/1", "/linear", "..", ".", ".hidden", "a\\b", "", "lin\x00ear", "linear/../linear"]


def test_path_like_names_unknown_names_and_load_parameters_are_refused(start_server, source, tmp_path):
    repo = make_repository(source, tmp_path / "repo")
    os.makedirs(os.path.join(repo, ".hidden", "1"))  # a dot-folder: never a model, whatever it holds
    shutil.copy(os.path.join(repo, "linear", "config.pbtxt"), os.path.join(repo, ".hidden"))
    server, client = start(start_server, repo, *EXPLICIT, "--load-model=linear")
    for name in PATH_LIKE:
        for call in (client.load_model, client.unload_model):
            error = error_of(call, name)
            assert grpc_status(error) == "INVALID_ARGUMENT", (call.__name__, name, error)
    for call in (client.load_model, client.unload_model):
        error = error_of(call, "no_such_model")
        assert grpc_status(error) == "NOT_FOUND", error
        assert "no_such_model" in error.message()
    # Triton's load overrides (a config or files sent with the request) are not taken.
    error = error_of(client.load_model, "linear", config='{"max_batch_size": 8}')
    assert grpc_status(error) == "INVALID_ARGUMENT", error

    # REST: every name that fits one path segment; unknown names 404.
    for name in ["..", ".", ".hidden", "a\\b"]:
        for action in ("load", "unload"):
            response = rest_call(server, "POST", f"/v2/repository/models/{name}/{action}")
            assert response.status == 400, (name, action, response)
            assert response.error()
    # A '/' sent percent-encoded is part of the name, not a path separator.
    answers = {name: rest_call(server, "POST", f"/v2/repository/models/{name}/load")
               for name in ["..%2Flinear", "linear%2F1", "%2E%2E", "a%5Cb"]}
    wrong = {name: answer for name, answer in answers.items() if answer.status != 400}
    assert not wrong, wrong
    # libmicrohttpd ends the decoded path at a NUL: the server sees /v2/repository/models/linear,
    # which is no load route; refused all the same.
    nul = rest_call(server, "POST", "/v2/repository/models/linear%00/load")
    assert 400 <= nul.status < 500, nul
    http = wait_rest_ready(server)
    assert error_of(http.load_model, "..").status() == "400"
    assert error_of(http.load_model, "no_such_model").status() == "404"
    assert error_of(http.unload_model, "no_such_model").status() == "404"
    assert error_of(http.load_model, "linear", config='{"max_batch_size": 8}').status() == "400"
    http.close()

    # Nothing refused changed anything.
    assert versions_of(index_of(client), "linear") == {"1": ("READY", "")}
    assert not any(m["name"] in (".hidden", "no_such_model") for m in index_of(client))
    assert loads(server, "linear", "failure") == 0
    assert server.stop() == 0, server.read_log()[-4000:]


def test_load_model_flag_naming_no_model_is_not_ready(start_server, source, tmp_path):
    """--load-model=NAME asks for NAME: a name the repository lacks stops the server at start,
    or leaves it not ready (strict readiness: every model asked for has a READY version)."""
    repo = make_repository(source, tmp_path / "repo")
    try:
        server = start_server(*EXPLICIT, "--load-model=linear", "--load-model=nosuch", repository=repo)
    except RuntimeError as e:  # exited during start-up
        assert "nosuch" in str(e), str(e)[-2000:]
        return
    client = grpcclient.InferenceServerClient(url=server.url)
    if server.proc.poll() is None:
        wait_versions(client, "linear", {1: "READY"})  # start-up loading done
    if server.proc.poll() is not None:
        assert server.proc.returncode != 0 and "nosuch" in server.read_log()
        return
    assert not client.is_server_ready(), index_of(client)
    server.stop()


@pytest.mark.parametrize("mode", ["none", "poll"])
def test_load_and_unload_refused_outside_explicit_mode(start_server, source, tmp_path, mode, reference):
    repo = make_repository(source, tmp_path / "repo")
    flags = POLL if mode == "poll" else ()  # none: the default, no flag at all
    server, client = start(start_server, repo, *flags)
    for call in (client.load_model, client.unload_model):
        error = error_of(call, "linear")
        assert grpc_status(error) == "FAILED_PRECONDITION", (call.__name__, error)
        assert "--model-control-mode=explicit" in error.message(), error.message()
    for action in ("load", "unload"):
        response = rest_call(server, "POST", f"/v2/repository/models/linear/{action}")
        assert response.status == 400, response
        assert "--model-control-mode=explicit" in response.error()
    # Everything loaded at start, and still is.
    assert versions_of(index_of(client), "linear") == {"1": ("READY", "")}
    assert_answer(infer(client, reference["lin_5"]), 1, reference["lin_5"]["out"])
    assert server.stop() == 0, server.read_log()[-4000:]


# ---- versions: swaps, policies, failures (explicit mode) ----

def test_reload_swaps_in_a_new_version_and_policies_choose_the_served_ones(start_server, source, tmp_path, reference):
    repo = make_repository(source, tmp_path / "repo")
    case = reference["lin_5"]
    expected = {1: case["out"]}
    server, client = start(start_server, repo, *EXPLICIT, "--load-model=linear")
    assert_answer(infer(client, case), 1, expected[1])

    expected[2] = torch_outputs(scaled_version(model_file(repo, "linear", 1), model_file(repo, "linear", 2), 2.0), case)
    assert not matches(expected[2], expected[1])
    successes = loads(server, "linear", "success")
    client.load_model("linear")  # re-reads the folders: version 2 is new, the default policy serves only it
    assert_answer(infer(client, case), 2, expected[2])
    assert_answer(infer(client, case, "2"), 2, expected[2])
    assert grpc_status(error_of(infer, client, case, "1")) in ("NOT_FOUND", "UNAVAILABLE")
    assert not model_ready(client, "linear", "1") and model_ready(client, "linear", "2")
    assert loads(server, "linear", "success") == successes + 1  # version 2 only; 1 was not reloaded
    # load_model returned once 2 was ready; 1 then drains and unloads.
    wait_versions(client, "linear", {1: ("UNAVAILABLE", "unloaded"), 2: ("READY", "")})

    set_version_policy(repo, "linear", "{ all {} }")
    client.load_model("linear")
    assert versions_of(index_of(client), "linear") == {"1": ("READY", ""), "2": ("READY", "")}
    assert_answer(infer(client, case, "1"), 1, expected[1])
    assert_answer(infer(client, case, "2"), 2, expected[2])
    assert_answer(infer(client, case), 2, expected[2])  # no version: the highest ready one

    set_version_policy(repo, "linear", "{ specific { versions: [1] } }")
    client.load_model("linear")
    assert_answer(infer(client, case), 1, expected[1])
    assert grpc_status(error_of(infer, client, case, "2")) in ("NOT_FOUND", "UNAVAILABLE")
    assert not model_ready(client, "linear", "2")
    wait_versions(client, "linear", {1: ("READY", ""), 2: ("UNAVAILABLE", "unloaded")})

    expected[3] = torch_outputs(scaled_version(model_file(repo, "linear", 1), model_file(repo, "linear", 3), 3.0), case)
    set_version_policy(repo, "linear", "{ latest { num_versions: 2 } }")
    client.load_model("linear")
    assert_answer(infer(client, case), 3, expected[3])
    assert_answer(infer(client, case, "2"), 2, expected[2])
    assert grpc_status(error_of(infer, client, case, "1")) in ("NOT_FOUND", "UNAVAILABLE")
    wait_versions(client, "linear", {1: ("UNAVAILABLE", "unloaded"), 2: ("READY", ""), 3: ("READY", "")})
    assert metric(server, "seqserve_model_versions", model="linear", state="READY") == 2
    assert loads(server, "linear", "failure") == 0
    assert server.stop() == 0, server.read_log()[-4000:]


def test_broken_new_version_leaves_the_old_one_serving(start_server, source, tmp_path, reference):
    repo = make_repository(source, tmp_path / "repo")
    case = reference["lin_5"]
    server, client = start(start_server, repo, *EXPLICIT, "--load-model=linear")
    v2 = torch_outputs(scaled_version(model_file(repo, "linear", 1), model_file(repo, "linear", 2), 2.0), case)
    client.load_model("linear")
    assert_answer(infer(client, case), 2, v2)

    os.makedirs(os.path.join(repo, "linear", "3"))
    with open(model_file(repo, "linear", 3), "wb") as f:
        f.write(b"this is not a TorchScript archive\n" * 64)
    failures = loads(server, "linear", "failure")
    error = error_of(client.load_model, "linear")
    assert re.search(r"\b3\b", error.message()), error.message()  # names the version that failed
    assert_answer(infer(client, case), 2, v2)
    versions = versions_of(index_of(client), "linear")
    assert versions["2"][0] == "READY", versions  # (its reason may say why it still serves)
    assert versions["3"][0] == "UNAVAILABLE" and versions["3"][1] not in ("", "unloaded", "not loaded"), versions
    assert loads(server, "linear", "failure") == failures + 1
    assert model_ready(client, "linear") and not model_ready(client, "linear", "3")
    assert client.is_server_ready()  # linear has a READY version

    # A model asked for whose only version fails holds strict readiness back until unloaded.
    os.rename(linear_copy(source, str(tmp_path / "staging"), "broken"), os.path.join(repo, "broken"))
    with open(model_file(repo, "broken", 1), "wb") as f:
        f.write(b"garbage")
    error = error_of(client.load_model, "broken")
    assert "broken" in error.message(), error.message()
    assert versions_of(index_of(client), "broken")["1"][0] == "UNAVAILABLE"
    assert not client.is_server_ready()
    client.unload_model("broken")
    assert client.is_server_ready()
    assert_answer(infer(client, case), 2, v2)
    assert server.stop() == 0, server.read_log()[-4000:]


# ---- poll mode ----

def test_poll_mode_loads_a_version_only_once_it_is_completely_written(start_server, source, tmp_path, reference):
    repo = make_repository(source, tmp_path / "repo")
    staging = str(tmp_path / "staging")
    case = reference["lin_5"]
    server, client = start(start_server, repo, *POLL)
    v2_file = scaled_version(model_file(repo, "linear", 1), os.path.join(staging, "v2.pt"), 2.0)
    v2, v2_bytes = torch_outputs(v2_file, case), open(v2_file, "rb").read()
    failures = loads(server, "linear", "failure")

    def v2_untouched():
        """Version 1 answers; version 2 is not loaded, loading or failed."""
        assert_answer(infer(client, case), 1, case["out"])
        state = versions_of(index_of(client), "linear").get("2", ("", ""))[0]
        assert state not in ("READY", "LOADING"), state
        assert loads(server, "linear", "failure") == failures

    # The model file written in 40 pieces ~0.15 s apart (6 s, six polls): it changes between any
    # two polls, so a server that honours "unchanged across two polls" never acts on it.
    os.makedirs(os.path.join(repo, "linear", "2"))
    pieces = np.array_split(np.frombuffer(v2_bytes, dtype=np.uint8), 40)
    with open(model_file(repo, "linear", 2), "wb") as f:
        for piece in pieces:
            f.write(piece.tobytes())
            f.flush()
            v2_untouched()
            time.sleep(0.1)  # the writer's pace, not a synchronization
    wait_versions(client, "linear", {2: "READY"}, timeout=30)
    assert_answer(infer(client, case), 2, v2)
    wait_versions(client, "linear", {1: ("UNAVAILABLE", "unloaded"), 2: ("READY", "")}, timeout=30)
    assert loads(server, "linear", "failure") == failures

    # Version 3 fully written under another name: without model.pt the folder is not a version.
    # A model folder renamed in at the same moment marks the polls: once it is loaded (two polls
    # after), and once more with a second one, version 3 has been seen as often, and ignored.
    v3_file = scaled_version(model_file(repo, "linear", 1), os.path.join(staging, "v3.pt"), 3.0)
    v3 = torch_outputs(v3_file, case)
    os.makedirs(os.path.join(repo, "linear", "3"))
    shutil.copy(v3_file, os.path.join(repo, "linear", "3", "model.pt.partial"))
    for marker in ("marker_a", "marker_b"):
        os.rename(linear_copy(source, staging, marker), os.path.join(repo, marker))
        wait_versions(client, marker, {1: "READY"}, timeout=30)
        # A model that appeared after start-up is counted under its own name, not "(unknown)".
        marker_answer = infer(client, dict(case, model=marker))
        assert marker_answer[0] == "1", marker_answer
        assert metric(server, "seqserve_requests_total", model=marker, api="kserve", code="OK") == 1
        assert_answer(infer(client, case), 2, v2)
        assert versions_of(index_of(client), "linear").get("3", ("", ""))[0] not in ("READY", "LOADING")
    os.rename(os.path.join(repo, "linear", "3", "model.pt.partial"), model_file(repo, "linear", 3))
    wait_versions(client, "linear", {3: "READY"}, timeout=30)
    assert_answer(infer(client, case), 3, v3)
    assert loads(server, "linear", "failure") == failures
    assert server.stop() == 0, server.read_log()[-4000:]


def test_poll_mode_follows_a_configmap_data_symlink_swap(start_server, source, tmp_path, reference):
    """Kubernetes' ConfigMap volume: <root>/..data -> ..<timestamp>, each model a symlink
    through ..data; an update writes a new timestamp folder and renames a new ..data over the old."""
    root = tmp_path / "configmap"
    make_repository(source, root / "..2026_12_01_00_00_00.1")
    os.symlink("..2026_12_01_00_00_00.1", root / "..data")
    os.symlink(os.path.join("..data", "linear"), root / "linear")
    case = reference["lin_5"]
    server, client = start(start_server, str(root), *POLL)
    assert versions_of(index_of(client), "linear") == {"1": ("READY", "")}
    assert_answer(infer(client, case), 1, case["out"])

    new = root / "..2026_12_01_00_05_00.2"
    make_repository(source, new)
    v2 = torch_outputs(scaled_version(model_file(str(new), "linear", 1), model_file(str(new), "linear", 2), 2.0), case)
    os.symlink(new.name, root / "..data_tmp")
    os.rename(root / "..data_tmp", root / "..data")  # atomic: the whole new tree at once
    shutil.rmtree(root / "..2026_12_01_00_00_00.1")  # as the kubelet does
    wait_versions(client, "linear", {2: "READY"}, timeout=30)
    assert_answer(infer(client, case), 2, v2)
    wait_versions(client, "linear", {1: ("UNAVAILABLE", "unloaded"), 2: ("READY", "")}, timeout=30)
    # Hidden entries are no models.
    assert {m["name"] for m in index_of(client)} == {"linear"}
    assert server.stop() == 0, server.read_log()[-4000:]


def test_poll_mode_reloads_a_changed_version_and_unloads_a_removed_model(start_server, source, tmp_path, reference):
    repo = make_repository(source, tmp_path / "repo")
    staging = str(tmp_path / "staging")
    os.rename(linear_copy(source, staging, "spare"), os.path.join(repo, "spare"))
    case = reference["lin_5"]
    spare_case = dict(case, model="spare")
    server, client = start(start_server, repo, *POLL)
    assert_answer(infer(client, spare_case), 1, case["out"])
    successes = loads(server, "linear", "success")

    # Version 1 of linear replaced (new weights renamed over model.pt): reloaded in place.
    changed = torch_outputs(scaled_version(model_file(repo, "linear", 1), os.path.join(staging, "v1b.pt"), 0.5), case)
    os.rename(os.path.join(staging, "v1b.pt"), model_file(repo, "linear", 1))
    wait_until("linear 1 answers with its new weights", lambda: infer(client, case),
               lambda answer: matches(answer[1], changed), timeout=30)
    assert_answer(infer(client, case), 1, changed)
    assert loads(server, "linear", "success") == successes + 1
    wait_versions(client, "linear", {1: ("READY", "")})

    # The spare folder moved out of the repository (one rename): unloaded.
    os.rename(os.path.join(repo, "spare"), os.path.join(staging, "spare_removed"))
    wait_until("spare unloaded", lambda: versions_of(index_of(client), "spare"),
               lambda seen: all(state == "UNAVAILABLE" for state, _ in seen.values()), timeout=30)
    assert grpc_status(error_of(infer, client, spare_case)) in ("UNAVAILABLE", "NOT_FOUND")
    assert not model_ready(client, "spare")
    assert_answer(infer(client, case), 1, changed)
    assert client.is_server_ready()
    assert server.stop() == 0, server.read_log()[-4000:]


# ---- a swap under traffic ----

def test_swap_under_traffic_fails_no_request_and_gives_the_memory_back(start_server, source, tmp_path, reference):
    """4 client threads send encoder and linear requests back to back while the encoder swaps to
    version 2 (its classifier's weights doubled, so its logits are exactly twice version 1's):
    no request fails, each answer is exactly one version's and tagged with it."""
    repo = make_repository(source, tmp_path / "repo", ("encoder", "linear"))
    server, client = start(start_server, repo, *EXPLICIT, "--load-model=*")
    assert {m["name"]: m["state"] for m in index_of(client)} == {"encoder": "READY", "linear": "READY"}
    cases = ["enc_1x7", "enc_2x1", "lin_1", "enc_1x7"]  # short, so that 2 cores keep up
    v2_file = scaled_version(model_file(repo, "encoder", 1), model_file(repo, "encoder", 2), 2.0, only="cls.")
    expected = {("encoder", 1): {c: reference[c]["out"] for c in cases if c.startswith("enc")},
                ("encoder", 2): {c: torch_outputs(v2_file, reference[c]) for c in cases if c.startswith("enc")},
                ("linear", 1): {"lin_1": reference["lin_1"]["out"]}}
    assert not matches(expected[("encoder", 2)]["enc_1x7"], expected[("encoder", 1)]["enc_1x7"])
    memory_before = allocated(server)  # idle, encoder 1 and linear 1 loaded
    reserved_before = reserved(server)  # what their warm-ups left committed in the pool
    successes = loads(server, "encoder", "success")

    stop = threading.Event()
    lock = threading.Lock()
    load_errors = []
    answers = []  # (thread, model, versions whose values it matches, model_version, time sent)
    failures = []

    def send(thread):
        own = grpcclient.InferenceServerClient(url=server.url)
        deadline = time.monotonic() + 60
        i = thread
        while not stop.is_set() and time.monotonic() < deadline:
            name = cases[i % len(cases)]
            i += 1
            case = reference[name]
            sent = time.monotonic()
            try:
                tag, outputs = infer(own, case)
            except InferenceServerException as e:
                with lock:
                    failures.append(e)
                continue
            by_values = [v for (m, v), outs in expected.items() if m == case["model"] and matches(outputs, outs[name])]
            with lock:
                answers.append((thread, case["model"], by_values, tag, sent))

    def answered(since=0.0):
        """The threads with an encoder answer to a request sent after `since`."""
        with lock:
            return {t for t, model, _, _, sent in answers if model == "encoder" and sent > since}

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until("every thread answered", answered, lambda seen: len(seen) == 4, timeout=60)
        loading = threading.Thread(target=lambda: load_errors.extend(calls(client.load_model, "encoder")))
        loading.start()
        # The index shows version 2 LOADING (its load and warm-up take seconds) while 1 serves.
        seen = wait_until("encoder 2 LOADING or READY", lambda: versions_of(index_of(client), "encoder"),
                          lambda seen: seen.get("2", ("", ""))[0] in ("LOADING", "READY"), timeout=60)
        assert seen["2"][0] == "LOADING" and seen["1"][0] == "READY", seen
        gauge_while_loading = metric(server, "seqserve_model_versions", model="encoder", state="LOADING", default=0)
        loading.join(timeout=120)
        assert not loading.is_alive() and not load_errors, load_errors
        swapped = time.monotonic()
        wait_until("every thread answered after the swap", lambda: answered(swapped),
                   lambda seen: len(seen) == 4, timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures[:5]
    versions = {}
    for thread, model, by_values, tag, sent in answers:
        assert len(by_values) == 1, (model, by_values, tag)  # exactly one version's answer
        assert tag == str(by_values[0]), (model, by_values, tag)  # and tagged with that version
        versions.setdefault(model, set()).add(tag)
        if model == "encoder" and sent > swapped:
            assert tag == "2"  # sent after load_model returned: runs version 2
    assert versions == {"encoder": {"1", "2"}, "linear": {"1"}}, versions
    assert gauge_while_loading == 1
    assert loads(server, "encoder", "success") == successes + 1
    assert loads(server, "encoder", "failure") == 0

    wait_versions(client, "encoder", {1: ("UNAVAILABLE", "unloaded"), 2: ("READY", "")}, timeout=60)
    # Memory: one encoder's weights again, as before the load, so the same level within 1 MiB
    # (measured: exactly the same bytes, 14,253,568; one copy of the weights left behind would be
    # 14 MB more; the 1 MiB leaves room for the pool's rounding and small caches).
    after = wait_until("memory back after the old version unloaded", lambda: allocated(server),
                       lambda now: abs(now - memory_before) <= MIB, timeout=30)
    # The pool gives the freed memory back, not just to its cache (Note [unload gives memory back]
    # in server/main.cc): reserved bytes are no higher than before the load, though the traffic
    # after the swap committed its batches' memory again (measured: 47.6 MiB before, 0.04 MiB
    # right after an idle unload; without the give-back they stayed at the swap's peak, ~69 MiB).
    reserved_after = reserved(server)
    assert reserved_after <= reserved_before + MIB, (reserved_before, reserved_after)
    print(f"allocated before {memory_before:.0f}, after {after:.0f}; reserved before {reserved_before:.0f}, "
          f"after {reserved_after:.0f}; answers {len(answers)}")
    assert server.stop() == 0, server.read_log()[-4000:]
