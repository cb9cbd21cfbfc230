#!/usr/bin/env bash
# Runs the timing-sensitive tests N times in a row with CPU-bound processes beside them, and
# stops at the first failure: the check that no test depends on timing luck. Not part of ctest
# (it takes N times the suite); run it by hand after changing a test's waits.
#
#   tests/sweep_under_load.sh [N=20] [HOGS=nproc] [ctest selection...]
#
# The default selection is every test but the ones whose run does not depend on timing and
# that take long: the sanitizer rebuilds of memory/ (the same tests run here uninstrumented),
# the time-boxed fuzzers, the GPU dry run and the static deploy checks.
#
# HOGS busy loops (one per core by default) compete with the tests for the CPU all along, as a
# parallel build would. Uses the build in ${BUILD_DIR:-build}; logs under /tmp/seqserve-sweep.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
RUNS="${1:-20}"
HOGS="${2:-$(nproc)}"
shift $(( $# < 2 ? $# : 2 ))
SELECT=("$@")
((${#SELECT[@]})) || SELECT=(-E "sanitizer|fuzz_targets|gpu_check_dry_run|deploy_validate")
LOGS=/tmp/seqserve-sweep
mkdir -p "$LOGS"
hogs=()
for _ in $(seq "$HOGS"); do
  (while :; do :; done) &
  hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
echo "[sweep] $RUNS runs of ctest ${SELECT[*]} beside $HOGS busy loops; CPU:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for i in $(seq "$RUNS"); do
  start=$(date +%s)
  if ! ctest --test-dir "$BUILD_DIR" "${SELECT[@]}" --output-on-failure --timeout 900 >"$LOGS/run-$i.log" 2>&1; then
    echo "[sweep] run $i FAILED (log: $LOGS/run-$i.log)"
    grep -E "Failed|\*\*\*" "$LOGS/run-$i.log" | head -20
    exit 1
  fi
  echo "[sweep] run $i passed in $(( $(date +%s) - start )) s"
done
echo "[sweep] all $RUNS runs passed"
