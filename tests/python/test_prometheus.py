"""The Helm chart's prometheus-adapter rules against a real Prometheus (Debian's) scraping the real
server: every rule's seriesQuery finds the server's series once they carry the namespace and pod
labels a Kubernetes scrape adds, and its metricsQuery, rendered as prometheus-adapter renders it,
answers one value for the pod that agrees with what /metrics says at the same time. Prometheus
and the server listen on 127.0.0.1 only."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import yaml
from prometheus_client.parser import text_string_to_metric_families

from helpers import encoder_repository, encoder_request

VALUES = os.path.join(os.path.dirname(__file__), "..", "..", "helm", "seqserve", "values.yaml")
LABELS = {"namespace": "test", "pod": "seqserve-0"}
QUEUE_DELAY_S = 0.2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adapter_rules():
    with open(VALUES) as f:
        rules = yaml.safe_load(f)["prometheusAdapter"]["rules"]
    assert rules, "helm/seqserve/values.yaml has no prometheusAdapter.rules"
    return rules


@pytest.fixture(scope="module")
def loaded_server(request, start_server):
    """The encoder alone, whose single requests wait QUEUE_DELAY_S for company (a batch of one
    never fills), with a CPU pool budget so the memory headroom is well below 1; a thread keeps
    it under a light closed-loop load (one request at a time) until the module ends."""
    repo = encoder_repository(request.config.getoption("--repository"),
                              f"batching {{ max_queue_delay_microseconds: {int(QUEUE_DELAY_S * 1e6)} }}")
    server = start_server(f"--memory-budget-bytes={256 << 20}", repository=repo)
    client = grpcclient.InferenceServerClient(url=server.url)
    server.wait_ready(client)
    stop = threading.Event()
    outcomes = []

    def load():
        inputs = encoder_request(np.arange(1, 17))
        deadline = time.monotonic() + 240
        for _ in range(3000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                client.infer("encoder", inputs, client_timeout=30)
                outcomes.append("OK")
            except Exception as e:  # noqa: BLE001
                outcomes.append(repr(e))
                time.sleep(0.1)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    server.load_outcomes = outcomes
    yield server
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert server.stop() == 0, server.read_log()[-4000:]


class Prometheus:
    def __init__(self, target):
        self.binary = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None)
        if self.binary is None:
            pytest.skip("Debian's prometheus binary is not installed (apt-get install prometheus; scripts/install_deps.sh)")
        self.dir = tempfile.mkdtemp(prefix="seqserve_prometheus_")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "seqserve", "metrics_path": "/metrics",
                                "static_configs": [{"targets": [target], "labels": LABELS}]}],
        }
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            yaml.safe_dump(config, f)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={os.path.join(self.dir, 'prometheus.yml')}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def read_log(self):
        self.log.flush()
        return open(self.log.name).read()[-4000:]

    def get(self, path, **params):
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def query(self, expr):
        answer = json.loads(self.get("/api/v1/query", query=expr))
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]

    def wait(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited ({self.proc.returncode}):\n{self.read_log()}")
            try:
                last = predicate()
                if last:
                    return last
            except (OSError, ValueError) as e:
                last = repr(e)
            time.sleep(0.2)
        pytest.fail(f"Prometheus: {what} not within {timeout}s (last: {last!r})\n{self.read_log()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(loaded_server):
    prom = Prometheus(f"127.0.0.1:{loaded_server.metrics_port}")
    try:
        prom.wait("ready", lambda: prom.get("/-/ready") is not None)
        selector = '{job="seqserve",namespace="test",pod="seqserve-0"}'

        def scraped_a_few_times():
            result = prom.query(f"count_over_time(up{selector}[1m])")["result"]
            up = prom.query(f"up{selector}")["result"]
            return bool(result and up) and float(result[0]["value"][1]) >= 3 and up[0]["value"][1] == "1"

        prom.wait("3 successful scrapes of the server", scraped_a_few_times)
        # The load shows: queue waits reached the 30 s mean that Prometheus stores.
        prom.wait("a queue wait above 0 in Prometheus",
                  lambda: any(float(r["value"][1]) > 0 for r in
                              prom.query(f"seqserve_recent_queue_wait_seconds{selector}")["result"]))
        yield prom
    finally:
        prom.stop()


def series_name(series_query):
    match = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", series_query)
    assert match, f"seriesQuery {series_query!r} does not start with a metric name and a selector"
    return match.group(1)


def render(metrics_query, series):
    """As prometheus-adapter renders a metricsQuery for one pod of one namespace (its
    LabelMatchers for a list of pod names is pod=~"a|b", here one name)."""
    text = (metrics_query.replace("<<.Series>>", series)
            .replace("<<.LabelMatchers>>", 'namespace="test",pod=~"seqserve-0"')
            .replace("<<.GroupBy>>", "pod"))
    assert "<<" not in text, f"template field this test does not render: {text}"
    return text


# `[c - ]agg by (<<.GroupBy>>) (<<.Series>>{<<.LabelMatchers>>})`: the shape of the chart's rules,
# evaluated here on a /metrics scrape. A rule of another shape needs this evaluator extended.
RULE_SHAPE = re.compile(r"^\s*(?:(?P<c>[0-9.]+)\s*-\s*)?(?P<agg>max|min|sum|avg)\s+by\s*\(<<\.GroupBy>>\)\s*"
                        r"\(<<\.Series>>\{<<\.LabelMatchers>>\}\)\s*$")


def expected_from_scrape(rule, series, text):
    shape = RULE_SHAPE.match(rule["metricsQuery"])
    assert shape, f"metricsQuery {rule['metricsQuery']!r}: teach expected_from_scrape this shape"
    values = [s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == series]
    assert values, f"{series} is not on /metrics"
    agg = {"max": max, "min": min, "sum": sum, "avg": lambda v: sum(v) / len(v)}[shape["agg"]](values)
    return float(shape["c"]) - agg if shape["c"] else agg


def test_adapter_rules_answer_what_the_server_exports(loaded_server, prometheus):
    rules = adapter_rules()
    names = set()
    for rule in rules:
        series = series_name(rule["seriesQuery"])
        # Discovery: the rule's seriesQuery finds the server's series, with the labels its
        # resource overrides map to Kubernetes objects.
        found = json.loads(prometheus.get("/api/v1/series", **{"match[]": rule["seriesQuery"]}))["data"]
        assert found, f"seriesQuery {rule['seriesQuery']!r} finds nothing"
        assert all(s["__name__"] == series for s in found), found
        for label in rule["resources"]["overrides"]:
            assert all(s.get(label) == LABELS[label] for s in found), (label, found)
        # Naming: the custom metric it becomes.
        assert re.search(rule["name"]["matches"], series), rule["name"]
        name = re.sub(rule["name"]["matches"], rule["name"]["as"], series)
        assert name not in names, f"two rules publish {name}"
        names.add(name)

        # Query: the value the HPA would get, against /metrics around it. Prometheus's sample must
        # come from a scrape after `before` was read.
        query = render(rule["metricsQuery"], series)
        before_time = time.time()
        before = expected_from_scrape(rule, series, loaded_server.scrape())
        prometheus.wait(f"a scrape of {series} after {before_time}", lambda: any(
            float(r["value"][1]) > before_time for r in
            prometheus.query(f'timestamp({series}{{namespace="test",pod="seqserve-0"}})')["result"]), timeout=30)
        result = prometheus.query(query)
        after = expected_from_scrape(rule, series, loaded_server.scrape())
        assert result["resultType"] == "vector", result
        assert len(result["result"]) == 1, (query, result)
        sample = result["result"][0]
        assert sample["metric"] == {"pod": "seqserve-0"}, (query, sample)  # grouped by pod, as the adapter asks
        value = float(sample["value"][1])
        low, high = min(before, after), max(before, after)
        tolerance = 0.01 + 0.05 * max(abs(low), abs(high))
        assert low - tolerance <= value <= high + tolerance, (name, query, value, before, after)

        if series == "seqserve_recent_queue_wait_seconds":
            # Single requests wait QUEUE_DELAY_S for company: the signal shows it.
            assert 0.25 * QUEUE_DELAY_S < value < 10 * QUEUE_DELAY_S, (name, value)
        if series == "seqserve_memory_headroom_ratio":
            # The pool holds the encoder's working memory of its 256 MiB budget.
            assert 0.0 < value < 1.0, (name, value)
    assert {"seqserve_queue_wait_seconds", "seqserve_memory_pressure_ratio"} <= names, names
    assert loaded_server.load_outcomes and all(o == "OK" for o in loaded_server.load_outcomes), \
        loaded_server.load_outcomes[-3:]


def test_every_exported_metric_is_documented(loaded_server):
    """Every metric family /metrics exports under load is named in full in docs/operations.md
    (its metrics table): a metric added without its documentation fails here."""
    with urllib.request.urlopen(f"http://127.0.0.1:{loaded_server.metrics_port}/metrics", timeout=30) as answer:
        exported = set(re.findall(r"^# TYPE (\S+) \w+$", answer.read().decode(), re.M))
    assert len(exported) > 40, exported
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")
    with open(docs) as f:
        documented = set(re.findall(r"\b((?:seqserve|process)_[a-z0-9_]+)\b", f.read()))
    missing = sorted(exported - documented)
    assert not missing, f"exported but not documented in docs/operations.md: {missing}"
