"""Triton's load tool, perf_analyzer, against seqserve for a short fixed window: the proof that
every later benchmark can use it. Throughput numbers live in benchmarks/, not here."""
import re
import subprocess

import pytest


def test_perf_analyzer_reports_throughput(request, server, client):
    tool = request.config.getoption("--perf-analyzer")
    if not tool:
        pytest.skip("no --perf-analyzer given")
    run = subprocess.run(
        # Windows of a fixed request count, and a stability bar no loaded machine misses (max/min
        # of the last three windows within 10x): this checks that the tool works with the
        # server, not how fast it is.
        [tool, "-m", "linear", "-i", "grpc", "-u", server.url, "--concurrency-range", "1:2",
         "--measurement-mode", "count_windows", "--measurement-request-count", "50",
         "--max-trials", "10", "--stability-percentage", "1000"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    throughputs = [float(x) for x in re.findall(r"Concurrency: \d+, throughput: ([\d.]+) infer/sec", run.stdout)]
    assert len(throughputs) == 2, run.stdout
    assert all(t > 0 for t in throughputs), run.stdout
    # Server-side statistics came through the KServe ModelStatistics RPC.
    assert "Inference count:" in run.stdout, run.stdout
