#!/usr/bin/env bash
# Builds everything and runs the whole test suite (unit, end-to-end, Triton client and
# perf_analyzer tests) with ctest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600
