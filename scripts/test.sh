#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit, end-to-end, Triton client and
# perf_analyzer tests) with ctest, several tests at a time.
#
# CTEST_JOBS (default 4): ctest slots. Most end-to-end tests wait on servers, sockets and queue
# delays, so more tests than cores run well side by side; the ones that assert latencies run
# alone (RUN_SERIAL) and the ones that keep both cores busy take two slots (PROCESSORS 2):
# tests/CMakeLists.txt, tests/python/CMakeLists.txt. Measured on 2 cores, ctest alone: -j 4 449 s
# (91% of both cores busy), -j 3 471 s; one at a time it was ~13 min (fuzzing 30 s per target).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 -j "${CTEST_JOBS:-4}"
