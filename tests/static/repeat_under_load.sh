#!/usr/bin/env bash
# Runs GoogleTest binaries REPEAT times each, tests shuffled, beside one busy loop per core: the
# CI's check that no unit test depends on timing luck or on the order tests run in (a flaky test
# fails here long before it fails on someone's fresh clone). Only binaries whose tests take
# milliseconds belong here: the ones without libtorch (runtime_unit_tests, server_unit_tests)
# and the pool's.
#
#   tests/static/repeat_under_load.sh REPEAT BINARY...
#
# Fails at the first failing repetition, printing the seed that reproduces its order
# (BINARY --gtest_shuffle --gtest_random_seed=SEED).
set -euo pipefail
repeat="$1"
shift
hogs=()
for _ in $(seq "$(nproc)"); do
  (while :; do :; done) &
  hogs+=($!)
done
log="$(mktemp)"
trap 'kill "${hogs[@]}" 2>/dev/null || true; rm -f "$log"' EXIT
for binary in "$@"; do
  start=$(date +%s)
  # A fixed seed per run would repeat one order; 0 takes it from the clock, and gtest prints it.
  if ! "$binary" --gtest_repeat="$repeat" --gtest_shuffle --gtest_random_seed=0 --gtest_fail_fast \
      --gtest_brief=1 >"$log" 2>&1; then
    echo "$(basename "$binary"): a repetition failed; its seed and failures:"
    grep -E "random seed|FAILED|Failure|error" "$log" | head -40
    exit 1
  fi
  echo "$(basename "$binary"): $repeat shuffled repetitions beside $(nproc) busy loops passed in $(( $(date +%s) - start )) s"
done
