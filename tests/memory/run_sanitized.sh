#!/usr/bin/env bash
# Builds memory/ standalone with a sanitizer and runs its tests (the multi-threaded stress test
# included) under it. Usage: run_sanitized.sh thread|address BUILD_DIR
set -euo pipefail
MODE="$1"
BUILD_DIR="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmake -S "$ROOT/memory" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEQSERVE_SANITIZE="$MODE" >/dev/null
cmake --build "$BUILD_DIR" --target memory_tests -j "$(nproc)" >/dev/null
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1"
"$BUILD_DIR/tests/memory/memory_tests" --gtest_brief=1
