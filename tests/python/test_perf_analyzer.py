"""Triton's load tool, perf_analyzer, against seqserve for a short fixed window: the proof that
every later benchmark can use it, over gRPC and over REST (-i http). Throughput numbers live in benchmarks/, not here."""
import re
import subprocess

import pytest


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_perf_analyzer_reports_throughput(request, server, client, protocol):
    tool = request.config.getoption("--perf-analyzer")
    if not tool:
        pytest.skip("no --perf-analyzer given")
    run = subprocess.run(
        # Windows of a fixed request count, and a stability bar no loaded machine misses (max/min
        # of the last three windows within 10x): this checks that the tool works with the
        # server, not how fast it is.
        [tool, "-m", "linear", "-i", protocol, "-u", server.url if protocol == "grpc" else server.http_url,
         "--concurrency-range", "1:2",
         "--measurement-mode", "count_windows", "--measurement-request-count", "50",
         "--max-trials", "10", "--stability-percentage", "1000"],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    throughputs = [float(x) for x in re.findall(r"Concurrency: \d+, throughput: ([\d.]+) infer/sec", run.stdout)]
    assert len(throughputs) == 2, run.stdout
    assert all(t > 0 for t in throughputs), run.stdout
    # Server-side statistics came through KServe ModelStatistics (the RPC, or GET .../stats).
    assert "Inference count:" in run.stdout, run.stdout
