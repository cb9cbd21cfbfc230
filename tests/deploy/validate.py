#!/usr/bin/env python3
"""Validates docker/ and helm/seqserve with real tools, without a Docker engine or a cluster.

Run through tests/deploy/validate.sh (the tools are in .venv-deploy, from scripts/install_deps.sh). Checks:
  docker      hadolint on both Dockerfiles; shellcheck on the shell scripts; the libraries the
              images would carry (docker/collect-runtime-libs.sh, run against the local build)
              resolve every library of the binary; the Debian packages the runtime stage installs
              provide every system library it loads (dpkg)
  flags       every server flag in docker/entrypoint.sh, in the Dockerfiles' run examples and in
              every rendered Deployment is accepted by the binary (`seqserve FLAGS... --help`
              exits 0; an unknown flag or bad value exits 2)
  chart       `helm lint` and `helm install` of several values combinations with Helm's own Go
              library (helm-sdkpy) against a loopback stub API server (tests/deploy/kube_stub.py);
              kubernetes-validate (strict) on every rendered object for the chart's oldest and
              the newest supported Kubernetes (the ServiceMonitor CRD is checked structurally);
              yamllint on Chart.yaml, values.yaml and every rendered manifest; every .Values path
              used by a template exists in values.yaml; every value in values.yaml is commented;
              semantic checks (probes, drain timing, security context, volumes, HPA vs adapter)
  live        starts the binary through docker/entrypoint.sh with only the collected libraries
              ahead on the library path, waits for /readyz, checks docker/healthcheck.sh, what
              both kinds of probes call (gRPC health; /healthz and /readyz) and the REST port's
              /v2/health/ready, scrapes /metrics for every metric the adapter rules (and so the
              HPA) need, then SIGTERM and exit 0. Loopback only.
Prints one PASS/FAIL line per check and ends with "N passed, M failed"; exits 1 on any failure.
"""
import argparse
import asyncio
import contextlib
import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "seqserve"
YAMLLINT_CONFIG = ROOT / "helm" / ".yamllint.yaml"
DOCKERFILES = [ROOT / "docker" / "Dockerfile", ROOT / "docker" / "Dockerfile.gpu"]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.sh"
COLLECT_LIBS = ROOT / "docker" / "collect-runtime-libs.sh"
SHELL_SCRIPTS = [ENTRYPOINT, HEALTHCHECK, COLLECT_LIBS, ROOT / "tests" / "deploy" / "validate.sh"]
TOOLS = Path(sys.executable).parent
NAMESPACE = "inference"
# kubernetes-validate ships schemas up to this version; the chart's Chart.yaml kubeVersion floor.
K8S_NEWEST = "1.37.0"
K8S_OLDEST = "1.27.0"
CRD_KINDS = {"ServiceMonitor"}

# name -> (values overrides, oldest Kubernetes the combination targets)
COMBINATIONS = {
    "default": ({}, K8S_OLDEST),
    "gpu": ({"gpu": {"enabled": True, "runtimeClassName": "nvidia"},
             "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference",
                              "effect": "NoSchedule"}]}, K8S_OLDEST),
    "headless": ({"service": {"headless": {"enabled": True}}}, K8S_OLDEST),
    "servicemonitor": ({"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
                        "service": {"headless": {"enabled": True}},
                        "prometheusAdapter": {"configMap": {"enabled": True}}}, K8S_OLDEST),
    "hpa-off": ({"autoscaling": {"enabled": False}, "replicaCount": 3,
                 "podDisruptionBudget": {"minAvailable": 2}}, K8S_OLDEST),
    "hpa-cpu-only": ({"autoscaling": {"queueWait": {"enabled": False},
                                      "memoryPressure": {"enabled": False}}}, K8S_OLDEST),
    "pvc-create": ({"modelRepository": {"source": "pvc", "pvc": {"create": True,
                                                                 "storageClassName": "nfs"}}},
                   K8S_OLDEST),
    "pvc-existing": ({"modelRepository": {"source": "pvc", "pvc": {"claimName": "models",
                                                                   "subPath": "seqserve"}}},
                     K8S_OLDEST),
    "hostpath": ({"modelRepository": {"source": "hostPath",
                                      "hostPath": {"path": "/mnt/models"}}}, K8S_OLDEST),
    "init-model-image": ({"modelRepository": {"source": "initContainer", "initContainer": {
        "repository": "registry.example/models/encoder", "tag": "2025-01", "sourcePath": "/repo"}}},
        K8S_OLDEST),
    "baked-in-image": ({"modelRepository": {"source": "image"}}, K8S_OLDEST),
    "tuned": ({"server": {"drainTimeoutSeconds": 55, "drainGraceSeconds": 3,
                          "memoryBudgetBytes": 8589934592, "cpuAllocator": "default",
                          "strictReadiness": False, "maxConnectionAgeSeconds": 0,
                          "extraArgs": ["--metrics-address=0.0.0.0"],
                          "extraEnv": [{"name": "TZ", "value": "UTC"}]},
               "lifecycle": {"preStopSleepSeconds": 8}, "fullnameOverride": "encoder-serving"},
              K8S_OLDEST),
    "http-probes-no-rest": ({"probes": {"type": "http"}, "server": {"httpPort": -1}}, K8S_OLDEST),
    "explicit-model-control": ({"server": {"modelControlMode": "explicit", "loadModels": ["encoder", "linear"]}},
                               K8S_OLDEST),
    "poll-model-control": ({"server": {"modelControlMode": "poll", "repositoryPollSeconds": 30}}, K8S_OLDEST),
    # The kubelet's own sleep action is in the API from 1.30 on.
    "prestop-sleep-action": ({"lifecycle": {"preStopMode": "sleepAction"}}, "1.30.0"),
}


class Checks:
    """Runs named checks, prints PASS/FAIL lines and counts them."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    @contextlib.contextmanager
    def check(self, name):
        start = time.monotonic()
        try:
            yield
        except Exception as e:  # noqa: BLE001 -- every failure is reported, then the run goes on
            self.failed.append(name)
            detail = str(e) if isinstance(e, (AssertionError, CheckError)) else traceback.format_exc()
            print(f"FAIL {name}: {detail.strip()}", flush=True)
        else:
            self.passed += 1
            print(f"PASS {name} ({time.monotonic() - start:.1f}s)", flush=True)


class CheckError(Exception):
    pass


def run(cmd, **kwargs):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)


def expect_ok(result, what):
    if result.returncode != 0:
        raise CheckError(f"{what}: exit {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def value_paths(tree, prefix=()):
    """Every key path of a values tree, as tuples."""
    paths = set()
    if isinstance(tree, dict):
        for k, v in tree.items():
            paths.add(prefix + (k,))
            paths |= value_paths(v, prefix + (k,))
    return paths


def server_flags(binary):
    out = run([binary, "--help"])
    expect_ok(out, "seqserve --help")
    flags = re.findall(r"^\s+--([a-z][a-z0-9-]*)\s*$", out.stdout + out.stderr, re.M)
    if not flags:
        raise CheckError("no flags found in seqserve --help")
    return flags


def assert_flags_accepted(binary, args, what):
    result = run([binary, *args, "--help"])
    if result.returncode != 0:
        first = (result.stderr or result.stdout).strip().splitlines()[:1]
        raise CheckError(f"{what}: seqserve rejects {args}: exit {result.returncode}: {first}")


# ---- docker ------------------------------------------------------------------------------------

def check_hadolint(checks):
    with checks.check("hadolint: docker/Dockerfile, docker/Dockerfile.gpu (fail at warning or above)"):
        out = run([TOOLS / "hadolint", "--version"])
        print(f"  {out.stdout.strip()}")
        result = run([TOOLS / "hadolint", "--failure-threshold", "warning", *DOCKERFILES])
        findings = (result.stdout + result.stderr).strip()
        print(f"  findings at any level: {findings or 'none'}")
        expect_ok(result, "hadolint")
        ignores = [(p.name, line.strip()) for p in DOCKERFILES for line in p.read_text().splitlines()
                   if "hadolint ignore" in line]
        for name, line in ignores:
            print(f"  inline ignore in {name}: {line}")


def check_shellcheck(checks):
    with checks.check("shellcheck: docker/*.sh, tests/deploy/validate.sh"):
        expect_ok(run([TOOLS / "shellcheck", "--severity=style", *SHELL_SCRIPTS]), "shellcheck")


def runtime_packages(dockerfile):
    """Packages the runtime stage installs: the apt-get install of the last stage."""
    text = dockerfile.read_text().replace("\\\n", " ")
    last_stage = text.split("\nFROM ")[-1]
    m = re.search(r"apt-get install ([^&]*)", last_stage)
    if not m:
        raise CheckError(f"{dockerfile.name}: no apt-get install in the runtime stage")
    return sorted(t for t in m.group(1).split() if not t.startswith("-"))


def dpkg_closure(packages):
    """Packages and their Depends/Pre-Depends, recursively, from the dpkg database."""
    seen, todo = set(), list(packages)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        out = run(["dpkg-query", "-W", "-f=${Status}|${Depends}, ${Pre-Depends}", pkg])
        if out.returncode != 0 or "install ok installed" not in out.stdout:
            raise CheckError(f"{pkg} is not installed here, cannot follow its dependencies")
        seen.add(pkg)
        deps = out.stdout.split("|", 1)[1]
        for alt in filter(None, (d.strip() for d in deps.split(","))):
            name = re.split(r"[\s(:]", alt.split("|")[0].strip())[0]
            if name:
                todo.append(name)
    return seen


def check_runtime_libraries(checks, binary, tmp):
    """The image's library set (collect-runtime-libs.sh) and its Debian packages."""
    lib_dirs = {}
    for mode, extra in (("cpu", []), ("gpu", ["--all"])):
        with checks.check(f"runtime libraries ({mode} image): collect-runtime-libs.sh "
                          f"{' '.join(extra + ['--link'])} resolves every library of the binary"):
            dest = tmp / f"lib-{mode}"
            out = expect_ok(run(["bash", COLLECT_LIBS, *extra, "--link", binary, dest]),
                            "collect-runtime-libs.sh")
            print(f"  {out.stdout.strip()}")
            ldd = run(["ldd", binary], env={"LD_LIBRARY_PATH": str(dest), "PATH": os.environ["PATH"]})
            expect_ok(ldd, "ldd")
            missing = [line.strip() for line in ldd.stdout.splitlines() if "not found" in line]
            assert not missing, f"unresolved: {missing}"
            outside = []
            for line in ldd.stdout.splitlines():
                m = re.match(r"\s*(\S+) => (\S+)", line)
                if not m:
                    continue
                path = m.group(2)
                if not (path.startswith(str(dest) + "/") or re.match(r"/(usr/)?lib(64|32)?/", path)):
                    outside.append(f"{m.group(1)} => {path}")
            assert not outside, f"resolved outside the image's folders: {outside}"
            if mode == "gpu":
                names = {p.name for p in dest.iterdir()}
                for needed in ("libnvrtc.so.13", "libtorch_cuda_linalg.so", "libcusolver.so.12"):
                    assert needed in names, f"--all lacks {needed} (opened with dlopen on GPU use)"
            lib_dirs[mode] = dest

    with checks.check("runtime libraries: the runtime stage's Debian packages provide every system "
                      "library the binary loads (dpkg -S, dependencies from dpkg)"):
        pkgs = [runtime_packages(d) for d in DOCKERFILES]
        assert pkgs[0] == pkgs[1], f"Dockerfile and Dockerfile.gpu install different packages: {pkgs}"
        print(f"  runtime stage installs: {' '.join(pkgs[0])}")
        closure = dpkg_closure(pkgs[0])
        ldd = expect_ok(run(["ldd", binary]), "ldd")
        system = {}
        for line in ldd.stdout.splitlines():
            m = re.match(r"\s*(\S+) => (/(?:usr/)?lib\S+)", line)
            if m:
                system[m.group(1)] = os.path.realpath(m.group(2))
        # dpkg knows files by their path in the package (/lib or /usr/lib, merged /usr or not).
        owners = {}
        candidates = {lib: {path, path.replace("/usr/lib/", "/lib/", 1), path.replace("/lib/", "/usr/lib/", 1)}
                      for lib, path in system.items()}
        out = run(["dpkg", "-S", *sorted(set().union(*candidates.values()))])
        for line in out.stdout.splitlines():
            pkg, _, path = line.partition(": ")
            owners[path.strip()] = pkg.split(":")[0]
        needed = {}
        for lib, paths in candidates.items():
            found = [owners[p] for p in paths if p in owners]
            assert found, f"no Debian package owns {system[lib]} ({lib})"
            needed[lib] = found[0]
        uncovered = {lib: pkg for lib, pkg in needed.items() if pkg not in closure}
        print(f"  system libraries come from: {' '.join(sorted(set(needed.values())))}")
        assert not uncovered, f"not provided by the runtime stage's packages: {uncovered}"
    return lib_dirs


def check_chart_version(checks, binary):
    with checks.check("Chart.yaml appVersion is the binary's version (CMake's project VERSION)"):
        out = expect_ok(run([binary, "--version"]), "seqserve --version").stdout.strip()
        assert out.startswith("seqserve "), out
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        assert str(chart["appVersion"]) == out.split()[1], \
            f"Chart.yaml appVersion {chart['appVersion']!r}, binary says {out!r}: update helm/seqserve/Chart.yaml"


def check_entrypoint_flags(checks, binary, flags):
    with checks.check("flags: the binary rejects an unknown flag and a bad value (the method works)"):
        assert run([binary, "--no-such-flag=1", "--help"]).returncode == 2, "unknown flag not rejected"
        assert run([binary, "--grpc-port=http", "--help"]).returncode == 2, "bad value not rejected"

    with checks.check("flags: the binary accepts every flag docker/entrypoint.sh passes"):
        text = ENTRYPOINT.read_text()
        mapped = dict(re.findall(r"^flag ([a-z-]+) (SEQSERVE_[A-Z_]+)$", text, re.M))
        mapped["model-repository"] = "SEQSERVE_MODEL_REPOSITORY"
        unknown = sorted(set(mapped) - set(flags))
        assert not unknown, f"entrypoint.sh maps flags the binary does not have: {unknown}"
        # A server flag without a variable is still reachable as a container argument: a note only.
        unmapped = sorted(set(flags) - set(mapped) - {"port-file"})
        print(f"  {len(mapped)} flags mapped to SEQSERVE_* variables"
              + (f"; NOTE: no variable for --{', --'.join(unmapped)} (pass it as an argument)"
                 if unmapped else "; every server flag but --port-file has one"))
        sample = {"grpc-address": "0.0.0.0", "grpc-port": "8001", "metrics-address": "0.0.0.0",
                  "metrics-port": "8002", "http-address": "0.0.0.0", "http-port": "8000",
                  "max-message-bytes": "auto", "request-memory-bytes": "auto", "strict-readiness": "true",
                  "drain-timeout": "25", "drain-grace": "2", "max-connection-age": "300",
                  "cpu-allocator": "pool", "memory-budget-bytes": "auto",
                  "model-repository": "/models", "memory-trace": "/tmp/pool.trace", "model-control-mode": "poll"}
        env = dict(os.environ, SEQSERVE_BIN=str(binary))
        env.update({var: sample.get(flag, "1") for flag, var in mapped.items()})
        result = run(["bash", ENTRYPOINT, "--help"], env=env)
        assert result.returncode == 0, f"entrypoint.sh with every variable set: exit {result.returncode}: " \
                                       f"{result.stderr.strip()[:300]}"
        env["SEQSERVE_GRPC_PORT"] = "not-a-port"
        assert run(["bash", ENTRYPOINT, "--help"], env=env).returncode == 2, \
            "entrypoint.sh did not pass SEQSERVE_GRPC_PORT on to the server"

    with checks.check("flags: the Dockerfiles' `docker run` examples pass only accepted flags"):
        count = 0
        for dockerfile in DOCKERFILES:
            for line in dockerfile.read_text().replace("\\\n#", " ").splitlines():
                if not re.match(r"#\s+docker run ", line):
                    continue
                tokens = line.lstrip("#").split()
                images = [i for i, t in enumerate(tokens) if re.match(r"seqserve(-gpu)?:", t)]
                assert images, f"{dockerfile.name}: no image in: {line}"
                args = tokens[images[0] + 1:]
                assert_flags_accepted(binary, args, f"{dockerfile.name}: {line.strip()}")
                count += len(args)
        print(f"  {count} flags in the examples")


# ---- chart -------------------------------------------------------------------------------------

def template_value_paths():
    """(file, path) of every .Values path the templates use, aliases ($x := .Values.a) resolved."""
    used = []
    for tpl in sorted((CHART / "templates").iterdir()):
        text = tpl.read_text()
        aliases = dict(re.findall(r"\$(\w+)\s*:=\s*\.Values((?:\.\w+)+)", text))
        for m in re.finditer(r"\.Values((?:\.\w+)+)", text):
            used.append((tpl.name, tuple(m.group(1).strip(".").split("."))))
        for m in re.finditer(r"\$(\w+)((?:\.\w+)+)", text):
            if m.group(1) in aliases:
                base = aliases[m.group(1)].strip(".").split(".")
                used.append((tpl.name, tuple(base + m.group(2).strip(".").split("."))))
    return used


def check_values_static(checks, values):
    paths = value_paths(values)

    with checks.check("chart: every .Values path used in templates/ exists in values.yaml"):
        used = template_value_paths()
        missing = sorted({f"{f}: .Values.{'.'.join(p)}" for f, p in used if p not in paths})
        print(f"  {len(set(p for _, p in used))} distinct paths used")
        assert not missing, "missing in values.yaml:\n  " + "\n  ".join(missing)

    with checks.check("chart: every override in this test's combinations exists in values.yaml"):
        missing = sorted({f"{name}: {'.'.join(p)}" for name, (over, _) in COMBINATIONS.items()
                          for p in value_paths(over) if not _override_known(values, paths, p)})
        assert not missing, f"unknown values: {missing}"

    with checks.check("chart: every value in values.yaml is commented"):
        uncommented = values_without_comment((CHART / "values.yaml").read_text())
        assert not uncommented, "keys without a comment: " + ", ".join(uncommented)


def _override_known(values, paths, path):
    """A path of values.yaml, or inside a list or a free-form object of it."""
    if path in paths:
        return True
    for n in range(len(path) - 1, 0, -1):
        if path[:n] in paths:
            value = _get(values, path[:n])
            return isinstance(value, list) or (isinstance(value, dict) and _free_form(path[:n]))
    return False


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _free_form(path):
    # Values that take any Kubernetes object (their keys are not the chart's).
    return path[-1] in {"labels", "annotations", "resources", "nodeSelector", "affinity",
                        "podLabels", "podAnnotations", "behavior"}


def values_without_comment(text):
    """Keys of values.yaml with no comment on the line or just above, outside of values documented
    as a whole by a `# --` comment (e.g. resources, whose keys are Kubernetes')."""
    missing, stack = [], []  # stack of (indent, key, documented_as_whole)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)(?:- )?([A-Za-z0-9_.\-/]+):(\s|$)", line)
        if not m or line.lstrip().startswith("#"):
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        above = i  # start of the comment block right above the key
        while above > 0 and lines[above - 1].strip().startswith("#"):
            above -= 1
        commented = above < i or " #" in line
        whole = lines[above].strip().startswith("# --") if above < i else False
        if not commented and not any(s[2] for s in stack) and not line.lstrip().startswith("- "):
            missing.append(".".join([s[1] for s in stack] + [m.group(2)]))
        stack.append((indent, m.group(2), whole))
    return missing


def check_yamllint(checks, files, what):
    with checks.check(f"yamllint: {what}"):
        expect_ok(run([TOOLS / "yamllint", "--strict", "-c", YAMLLINT_CONFIG, *files]), "yamllint")


def render_chart(checks, tmp):
    """helm lint, then helm install of every combination against the stub API."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from kube_stub import KubeStub  # noqa: E402

    assert os.environ.get("HELM_DRIVER") == "memory"  # set by main() before Helm's runtime starts
    import helm_sdkpy  # noqa: E402

    rendered = {}
    with KubeStub() as stub:
        config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=stub.kubeconfig(NAMESPACE))

        with checks.check(f"helm lint (Helm's Go library via helm-sdkpy {helm_sdkpy.get_version()})"):
            result = asyncio.run(helm_sdkpy.Lint(config).run(str(CHART)))
            messages = result.get("Messages") or []
            # Helm severities: 1 info, 2 warning, 3 error. helm-sdkpy drops the message texts.
            for msg in messages:
                print(f"  severity {msg.get('Severity')} on {msg.get('Path')}")
            bad = [m for m in messages if (m.get("Severity") or 0) >= 2]
            assert not bad and not result.get("Errors"), f"lint: {result}"

        for name, (overrides, _) in COMBINATIONS.items():
            with checks.check(f"helm install (rendered by Helm against the stub API): {name}"):
                stub.created.clear()
                release = asyncio.run(helm_sdkpy.Install(config).run(
                    "demo", str(CHART), values=overrides or None, wait=False, timeout=60))
                assert release["info"]["status"] == "deployed", release["info"]
                docs = [d for d in yaml.safe_load_all(release["manifest"]) if d]
                assert docs, "nothing rendered"
                # Helm's kube client mapped and created every object through the API.
                made = sorted((kind, name) for _, kind, _, name in stub.created)
                assert made == sorted((d["kind"], d["metadata"]["name"]) for d in docs), made
                asyncio.run(helm_sdkpy.Uninstall(config).run("demo", wait=False))
                path = tmp / f"rendered-{name}.yaml"
                # Helm ends its manifest with an empty line (its format, not the chart's).
                path.write_text(release["manifest"].rstrip("\n") + "\n")
                rendered[name] = (docs, release["info"].get("notes", ""), path)
                print(f"  {', '.join(d['kind'] for d in docs)}")

        refusals = [
            ("an unknown modelRepository.source", {"modelRepository": {"source": "nfs"}},
             "modelRepository.source must be one of"),
            ("an unknown probes.type", {"probes": {"type": "tcp"}}, "probes.type must be grpc or http"),
            ("probes.service with probes.type http", {"probes": {"type": "http", "service": "encoder"}},
             "probes.type http has no per-model probe"),
            ("server.httpPort 0 (a free port cannot be published)", {"server": {"httpPort": 0}},
             "server.httpPort must be 1..65535, or -1"),
        ]
        for what, bad_values, message in refusals:
            with checks.check(f"helm install refuses {what}"):
                try:
                    asyncio.run(helm_sdkpy.Install(config).run("bad", str(CHART), values=bad_values, wait=False))
                except helm_sdkpy.HelmError as e:
                    assert message in str(e), str(e)
                else:
                    raise CheckError(f"rendered although {what}: {bad_values}")

    with KubeStub(git_version="v1.26.5") as old:
        with checks.check("helm install refuses Kubernetes 1.26 (kubeVersion >=1.27: gRPC probes)"):
            config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=old.kubeconfig(NAMESPACE))
            try:
                asyncio.run(helm_sdkpy.Install(config).run("old", str(CHART), wait=False))
            except helm_sdkpy.HelmError as e:
                assert "kubeVersion" in str(e) or "incompatible" in str(e), str(e)
            else:
                raise CheckError("installed on Kubernetes 1.26")
    return rendered


def check_schemas(checks, rendered):
    import kubernetes_validate  # noqa: E402

    for name, (docs, _, _) in rendered.items():
        oldest = COMBINATIONS[name][1]
        versions = [oldest, K8S_NEWEST]
        with checks.check(f"kubernetes-validate --strict {' and '.join(versions)}: {name}"):
            errors = []
            for doc in docs:
                if doc["kind"] in CRD_KINDS:
                    continue
                for version in versions:
                    try:
                        kubernetes_validate.validate(doc, version, strict=True)
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"{doc['kind']}/{doc['metadata']['name']} @ {version}: "
                                      f"{getattr(e, 'message', e)}")
            assert not errors, "\n  ".join(errors)


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def check_rendered_semantics(checks, rendered, values, binary):
    rules = values["prometheusAdapter"]["rules"]
    adapter_names = {r["name"]["as"] for r in rules}
    for name, (docs, notes, _) in rendered.items():
        overrides = COMBINATIONS[name][0]
        v = deep_merge(values, overrides)
        with checks.check(f"rendered objects behave as configured: {name}"):
            semantic_checks(name, docs, notes, v, adapter_names)
        with checks.check(f"flags: the binary accepts the rendered Deployment's args: {name}"):
            container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
            assert_flags_accepted(binary, container["args"], name)


def semantic_checks(name, docs, notes, v, adapter_names):
    [dep] = by_kind(docs, "Deployment")
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    [server] = [c for c in spec["containers"] if c["name"] == "seqserve"]
    flags = dict(a[2:].split("=", 1) for a in server["args"] if a.startswith("--") and "=" in a)
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert int(flags["grpc-port"]) == ports["grpc"] and int(flags["metrics-port"]) == ports["metrics"]

    # REST: the container port and the flag agree; -1 (off) exposes no port.
    if int(v["server"]["httpPort"]) >= 0:
        assert int(flags["http-port"]) == ports["http"], (flags, ports)
    else:
        assert "http" not in ports and int(flags["http-port"]) == -1, (flags, ports)

    # Probes: native gRPC on the gRPC port (or HTTP on the metrics port's /healthz, /readyz);
    # the startup probe allows the configured warm-up.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if v["probes"]["type"] == "http":
            path = "/healthz" if probe == "livenessProbe" else "/readyz"
            assert server[probe]["httpGet"] == {"path": path, "port": "metrics"}, (probe, server[probe])
        else:
            assert server[probe]["grpc"] == {"port": ports["grpc"], "service": ""}, (probe, server[probe])
    warmup = server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"]
    assert warmup >= 120, f"startup probe allows only {warmup} s of warm-up"

    # Drain: grace period above preStop + drain grace + drain timeout.
    pre_stop = server["lifecycle"]["preStop"]
    pause = int(pre_stop["sleep"]["seconds"]) if "sleep" in pre_stop else int(pre_stop["exec"]["command"][1])
    assert pause == v["lifecycle"]["preStopSleepSeconds"]
    drain = float(flags["drain-timeout"]) + float(flags.get("drain-grace", 0))
    assert spec["terminationGracePeriodSeconds"] > pause + drain, \
        f"terminationGracePeriodSeconds {spec['terminationGracePeriodSeconds']} <= {pause} + {drain}"

    # Security: non-root, read-only root filesystem with an emptyDir on /tmp.
    psc = spec["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, psc
    for c in spec["containers"] + spec.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
    volumes = {vol["name"]: vol for vol in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert spec["automountServiceAccountToken"] is False

    # Model repository, per source.
    source = v["modelRepository"]["source"]
    repo_mount = mounts.get(flags["model-repository"])
    if source == "image":
        assert repo_mount is None and "model-repository" not in volumes
    else:
        assert repo_mount and repo_mount["readOnly"] is True, "repository not mounted read-only"
        vol = volumes[repo_mount["name"]]
        if source == "pvc":
            claim = v["modelRepository"]["pvc"]["claimName"] or f"{dep['metadata']['name']}-models"
            assert vol["persistentVolumeClaim"] == {"claimName": claim, "readOnly": True}, vol
            assert by_kind(docs, "PersistentVolumeClaim") == [] or \
                by_kind(docs, "PersistentVolumeClaim")[0]["metadata"]["name"] == claim
            assert bool(by_kind(docs, "PersistentVolumeClaim")) == v["modelRepository"]["pvc"]["create"]
            assert repo_mount.get("subPath", "") == v["modelRepository"]["pvc"]["subPath"]
        elif source == "hostPath":
            assert vol["hostPath"]["path"] == v["modelRepository"]["hostPath"]["path"]
        elif source == "initContainer":
            assert "emptyDir" in vol
            [init] = spec["initContainers"]
            assert any(m["name"] == repo_mount["name"] for m in init["volumeMounts"])
            repo = v["modelRepository"]["initContainer"]["repository"]
            assert init["image"].startswith(repo + ":" if repo else server["image"]), init["image"]
    if source != "initContainer":
        assert "initContainers" not in spec

    # GPU.
    limits = server["resources"].get("limits", {})
    if v["gpu"]["enabled"]:
        assert limits.get("nvidia.com/gpu") == v["gpu"]["count"], limits
        assert server["image"].startswith(v["gpu"]["image"]["repository"] + ":")
        assert spec.get("runtimeClassName") == (v["gpu"]["runtimeClassName"] or None)
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        assert len(spec["tolerations"]) == len(v["tolerations"]) + len(v["gpu"]["tolerations"])
    else:
        assert "nvidia.com/gpu" not in limits and "runtimeClassName" not in spec

    # Services: select the pods, target the container's named ports.
    pod_labels = pod["metadata"]["labels"]
    services = by_kind(docs, "Service")
    assert len(services) == (2 if v["service"]["headless"]["enabled"] else 1)
    for svc in services:
        assert svc["spec"]["selector"].items() <= pod_labels.items(), svc["metadata"]["name"]
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in ports, p
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == (1 if v["service"]["headless"]["enabled"] else 0)
    main_svc = [s for s in services if s not in headless][0]
    assert main_svc["metadata"]["name"] in notes, "NOTES.txt does not name the service"

    # ServiceMonitor: scrapes the metrics port of the main service only.
    monitors = by_kind(docs, "ServiceMonitor")
    assert len(monitors) == (1 if v["serviceMonitor"]["enabled"] else 0)
    for sm in monitors:
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        sel = sm["spec"]["selector"]
        assert sel["matchLabels"].items() <= main_svc["metadata"]["labels"].items()
        for svc in headless:
            assert any(e["operator"] == "DoesNotExist" and e["key"] in svc["metadata"]["labels"]
                       for e in sel.get("matchExpressions", [])), "ServiceMonitor would scrape twice"
        assert [e["port"] for e in sm["spec"]["endpoints"]] == ["metrics"]
        assert all(e["path"] == "/metrics" for e in sm["spec"]["endpoints"])

    # HPA: targets the Deployment; its Pods metrics are the adapter rules' names; CPU fallback.
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    if v["autoscaling"]["enabled"]:
        [hpa] = hpas
        assert "replicas" not in dep["spec"], "replicas rendered although the HPA owns them"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": dep["metadata"]["name"]}
        pods_metrics = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
        assert pods_metrics <= adapter_names, f"HPA metrics {pods_metrics} not made by the adapter rules"
        want = {v["autoscaling"][k]["metricName"] for k in ("queueWait", "memoryPressure")
                if v["autoscaling"][k]["enabled"]}
        assert pods_metrics == want, (pods_metrics, want)
        has_cpu = any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
        assert has_cpu == v["autoscaling"]["cpu"]["enabled"]
        if has_cpu:
            assert "cpu" in server["resources"]["requests"], "CPU utilization needs a CPU request"
    else:
        assert not hpas and dep["spec"]["replicas"] == v["replicaCount"]

    # Adapter rules ConfigMap: the same rules as values.yaml.
    maps = [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-adapter-rules")]
    assert len(maps) == (1 if v["prometheusAdapter"]["configMap"]["enabled"] else 0)
    for cm in maps:
        assert yaml.safe_load(cm["data"]["config.yaml"])["rules"] == v["prometheusAdapter"]["rules"]

    # PodDisruptionBudget selects the pods.
    [pdb] = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    if str(v["podDisruptionBudget"]["minAvailable"]) != "":
        assert pdb["spec"]["minAvailable"] == v["podDisruptionBudget"]["minAvailable"]


# ---- live --------------------------------------------------------------------------------------

def scrape_names(text):
    """{metric name: [label strings]} of a Prometheus text exposition."""
    names = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s", line)
        if m:
            names.setdefault(m.group(1), []).append(m.group(2) or "")
    return names


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 -- loopback only
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def check_live(checks, binary, repo, lib_dir, values, tmp):
    rules = values["prometheusAdapter"]["rules"]
    series = {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", r["seriesQuery"]).group(0): r for r in rules}
    port_file = tmp / "ports.txt"
    log = open(tmp / "seqserve.log", "w")
    env = {"PATH": os.environ["PATH"], "LD_LIBRARY_PATH": str(lib_dir), "SEQSERVE_BIN": str(binary),
           "SEQSERVE_MODEL_REPOSITORY": str(repo), "SEQSERVE_GRPC_ADDRESS": "127.0.0.1",
           "SEQSERVE_GRPC_PORT": "0", "SEQSERVE_METRICS_PORT": "0", "SEQSERVE_HTTP_PORT": "0",
           "SEQSERVE_DRAIN_TIMEOUT": "10"}
    proc = subprocess.Popen(["bash", str(ENTRYPOINT), f"--port-file={port_file}"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        ports = {}
        with checks.check("live: the server starts through docker/entrypoint.sh with the collected "
                          "libraries and /readyz answers 200 (at most 120 s)"):
            deadline = time.monotonic() + 120
            status = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"server exited {proc.returncode}: {(tmp / 'seqserve.log').read_text()[-2000:]}"
                if port_file.exists() and "metrics_port=" in port_file.read_text():
                    ports = dict(line.split("=", 1) for line in port_file.read_text().split())
                    status, _ = http_get(f"http://127.0.0.1:{ports['metrics_port']}/readyz")
                    if status == 200:
                        break
                time.sleep(0.2)
            assert status == 200, f"/readyz not 200 within 120 s (last {status})"
            print(f"  ports {ports}")
        if not ports:
            return
        metrics_port, grpc_port = int(ports["metrics_port"]), int(ports["grpc_port"])

        with checks.check("live: what probes.type http calls answers 200 (/healthz, /readyz on the "
                          "metrics port), and so does REST's /v2/health/ready on the http port"):
            for path in ("/healthz", "/readyz"):
                status, _ = http_get(f"http://127.0.0.1:{metrics_port}{path}")
                assert status == 200, f"{path}: {status}"
            http_port = int(ports.get("http_port", -1))
            assert http_port > 0, f"no REST port in the port file: {ports}"
            status, _ = http_get(f"http://127.0.0.1:{http_port}/v2/health/ready")
            assert status == 200, f"/v2/health/ready: {status}"

        with checks.check("live: docker/healthcheck.sh (the image's HEALTHCHECK) exits 0"):
            hc = run(["bash", HEALTHCHECK], env={"PATH": os.environ["PATH"],
                                                  "SEQSERVE_METRICS_PORT": str(metrics_port)}, timeout=10)
            expect_ok(hc, "healthcheck.sh")

        with checks.check("live: grpc.health.v1 Check (what the Kubernetes gRPC probes call) is "
                          "SERVING for \"\" and for each model"):
            import grpc  # noqa: E402
            from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
            models = sorted(p.name for p in Path(repo).iterdir() if (p / "config.pbtxt").exists())
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                for service in [""] + models:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                    assert reply.status == health_pb2.HealthCheckResponse.SERVING, (service, reply)
            print(f"  SERVING: \"\", {', '.join(models)}")

        with checks.check("live: /metrics has every series the adapter rules (so the HPA) use"):
            status, text = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert status == 200, status
            names = scrape_names(text)
            for name, rule in series.items():
                assert name in names, f"{name} (adapter rule for {rule['name']['as']}) not exported"
                assert re.search(rule["name"]["matches"], name), (rule["name"]["matches"], name)
                print(f"  {name} -> {rule['name']['as']}: {names[name]}")
            assert any('pool="cpu"' in labels for labels in names["seqserve_memory_headroom_ratio"]), \
                "no seqserve_memory_headroom_ratio{pool=\"cpu\"}"
            assert all("model=" in labels and "version=" in labels
                       for labels in names["seqserve_recent_queue_wait_seconds"])
    finally:
        with checks.check("live: SIGTERM drains and the server exits 0 (at most 60 s)"):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise CheckError("no exit within 60 s of SIGTERM")
            assert rc == 0, f"exit {rc}"
        log.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("SEQSERVE_BINARY", str(ROOT / "build" / "seqserve")))
    parser.add_argument("--model-repository", default=os.environ.get(
        "SEQSERVE_MODEL_REPOSITORY", str(ROOT / "build" / "model_repository")))
    args = parser.parse_args()
    binary = Path(args.binary).resolve()
    repo = Path(args.model_repository).resolve()
    for path in (binary, repo):
        if not path.exists():
            sys.exit(f"{path} does not exist: build the project first (scripts/build.sh)")

    # Helm's Go runtime reads the environment the process started with, so HELM_DRIVER=memory
    # (releases kept in memory, not as Secrets in the stub) and Helm's folders are set by
    # starting this script again with them.
    if os.environ.get("HELM_DRIVER") != "memory":
        helm_home = tempfile.mkdtemp(prefix="seqserve-deploy-helm-")
        env = dict(os.environ, HELM_DRIVER="memory", SEQSERVE_DEPLOY_HELM_HOME=helm_home)
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = os.path.join(helm_home, var.lower())
        env.pop("KUBECONFIG", None)
        rc = subprocess.run([sys.executable, __file__, *sys.argv[1:]], env=env).returncode
        shutil.rmtree(helm_home, ignore_errors=True)
        return rc

    start = time.monotonic()
    checks = Checks()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="seqserve-deploy-") as tmp_name:
        tmp = Path(tmp_name)
        check_hadolint(checks)
        check_shellcheck(checks)
        lib_dirs = check_runtime_libraries(checks, binary, tmp)
        flags = server_flags(binary)
        check_entrypoint_flags(checks, binary, flags)
        check_chart_version(checks, binary)
        check_values_static(checks, values)
        check_yamllint(checks, [CHART / "Chart.yaml", CHART / "values.yaml"], "Chart.yaml, values.yaml")
        rendered = render_chart(checks, tmp)
        check_yamllint(checks, [path for _, _, path in rendered.values()],
                       f"the {len(rendered)} rendered manifests (ServiceMonitor included)")
        check_schemas(checks, rendered)
        check_rendered_semantics(checks, rendered, values, binary)
        check_live(checks, binary, repo, lib_dirs.get("cpu", binary.parent), values, tmp)

    print(f"\ndeploy validation took {time.monotonic() - start:.0f}s")
    if checks.failed:
        print("failed: " + "; ".join(checks.failed))
    print(f"{checks.passed} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
