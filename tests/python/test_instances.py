"""Instances from the pod's cores, and one copy of the weights for all of them, on the real
all-MiniLM-L6-v2 of the demo repository (runtime/resources/host_cpu.h, runtime/torch/torch_model.h)."""
import os
import re
import shutil
import subprocess
import uuid

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from helpers import embed_through_server, metric
from common.sentences import client_tokenizer, real_sentences  # benchmarks/common, on .venv's path


def one_model_repository(request, tmp_path, model, instance=""):
    """A repository holding the demo `model` with `instance` as its only instance settings."""
    source = os.path.join(request.config.getoption("--repository"), model)
    dest = tmp_path / "repo" / model
    shutil.copytree(source, dest, symlinks=True)
    config = re.sub(r"instance \{[^}]*\}", "", open(os.path.join(source, "config.pbtxt")).read())
    (dest / "config.pbtxt").write_text(config + "\n" + instance + "\n")
    return str(tmp_path / "repo")


def ready(server):
    client = grpcclient.InferenceServerClient(url=server.url)
    server.wait_ready(client, timeout=300)
    return client


def layout(server, model):
    return (metric(server, "seqserve_cpu_budget_cores"),
            metric(server, "seqserve_model_instances", model=model, version="1"),
            metric(server, "seqserve_model_intra_op_threads", model=model, version="1"))


def minilm_tokenizer(request):
    return client_tokenizer(os.path.join(request.config.getoption("--checkpoints"), "all-MiniLM-L6-v2", "tokenizer.json"))


def test_instances_default_to_the_cores_of_the_process(request, tmp_path, start_server):
    repo = one_model_repository(request, tmp_path, "minilm")
    server = start_server(repository=repo)
    ready(server)
    cores, instances, threads = layout(server, "minilm")
    assert 1 <= cores <= len(os.sched_getaffinity(0))
    assert (instances, threads) == (min(cores, 4), cores // min(cores, 4))
    assert f"CPU budget: {int(cores)} core" in server.read_log()
    server.stop()

    # The affinity mask binds: one CPU, one instance.
    pinned = start_server(repository=repo, prefix=("taskset", "-c", str(min(os.sched_getaffinity(0)))))
    ready(pinned)
    assert layout(pinned, "minilm") == (1, 1, 1)
    pinned.stop()

    # config.pbtxt overrides, and the other setting follows from the cores.
    fixed = start_server(repository=one_model_repository(request, tmp_path / "fixed", "minilm", "instance { count: 3 }"))
    ready(fixed)
    assert layout(fixed, "minilm")[1:] == (3, max(1, int(cores) // 3))
    fixed.stop()


def cpu_cgroup_with_quota(cores):
    """A real cgroup (v1 cpu controller or v2 cpu.max) limited to `cores`, and the command that
    moves a process into it; None where this machine does not let us make one (not root, no
    cpu controller)."""
    name = f"seqserve_test_{uuid.uuid4().hex[:8]}"
    quota = int(cores * 100000)
    v2_controllers = "/sys/fs/cgroup/cgroup.subtree_control"
    v2 = os.path.exists(v2_controllers) and "cpu" in open(v2_controllers).read().split()
    for base, files in (("/sys/fs/cgroup/cpu", {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": str(quota)}),
                        ("/sys/fs/cgroup", {"cpu.max": f"{quota} 100000"} if v2 else None)):
        if files is None or not os.path.isdir(base):
            continue
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
            for f, v in files.items():
                with open(os.path.join(path, f), "w") as out:
                    out.write(v)
        except OSError:
            if os.path.isdir(path):
                os.rmdir(path)
            continue
        # Moving a process in may still be refused (a delegated or read-only hierarchy): try it.
        if subprocess.run(["sh", "-c", f"echo $$ > {path}/cgroup.procs"], capture_output=True).returncode != 0:
            subprocess.run(["rmdir", path], check=False)
            continue
        return path, ("sh", "-c", f'echo $$ > {path}/cgroup.procs && exec "$@"', "sh")
    return None


def test_a_cgroup_cpu_quota_sets_the_budget(request, tmp_path, start_server):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs at least 2 CPUs to tell a 1-core quota from the affinity mask")
    made = cpu_cgroup_with_quota(1)
    if made is None:
        pytest.skip("cannot create a CPU cgroup here (needs root and a cpu controller)")
    path, prefix = made
    try:
        server = start_server(repository=one_model_repository(request, tmp_path, "minilm"), prefix=prefix)
        ready(server)
        assert layout(server, "minilm") == (1, 1, 1), server.read_log()
        assert "cgroup quota 1 cores" in server.read_log()
        server.stop()
    finally:
        subprocess.run(["rmdir", path], check=False)


@pytest.mark.parametrize("model", ["minilm", "minilm_pt2"])
def test_instances_share_one_copy_of_the_weights(request, tmp_path, start_server, model):
    texts = real_sentences(12)
    measured = {}
    for count in (1, 4):
        repo = one_model_repository(request, tmp_path / str(count), model, f"instance {{ count: {count} intra_op_threads: 1 }}")
        server = start_server(repository=repo)
        ready(server)
        embeddings = embed_through_server(server, model, minilm_tokenizer(request), texts)
        measured[count] = {"rss": server.memory_bytes(), "allocated": metric(server, "seqserve_memory_allocated_bytes"),
                           "embeddings": embeddings}
        assert layout(server, model)[1] == count
        server.stop()
    one, four = measured[1], measured[4]
    np.testing.assert_allclose(four["embeddings"], one["embeddings"], atol=1e-5)
    # all-MiniLM-L6-v2's weights are 90 MB: three more copies would add 270 MB.
    weights = 90e6
    if model == "minilm":  # TorchScript weights live in the pool; a .pt2 keeps its own
        assert one["allocated"] > 0.9 * weights
        assert four["allocated"] <= 1.1 * one["allocated"], measured
    assert four["rss"] - one["rss"] < 1.5 * weights, (four["rss"], one["rss"])
