#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ and runs each for a fixed time on a copy of its seed
# corpus. Fails (exit 1) on any crash, leak, timeout, out-of-memory or sanitizer report, and prints
# each target's executions and executions per second.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]        (default 60)
#   tests/fuzz/run.sh --build-only                 (the toolchain check and the build, no run)
#
# Each run replays the target's whole seed corpus first (libFuzzer reads it before it mutates;
# "INITED" in its log), so the regress_* inputs of fixed findings run every time, then fuzzes
# for the rest of SECONDS_PER_TARGET.
#
# Environment (all optional):
#   FUZZ_TARGETS        targets to run (default: all six, space-separated)
#   FUZZ_BUILD_DIR      build directory (default: <repo>/build-fuzz)
#   FUZZ_JOBS           build parallelism (default: 2)
#   FUZZ_PARALLEL       targets run at once, each a single-threaded process (default: 1)
#   FUZZ_SANITIZERS     sanitizers besides libFuzzer (default: address,undefined; empty: none)
#   FUZZ_SKIP_KNOWN_FINDINGS=1  build with the temporary guards around open findings, if any
#                       (findings/README.md; none at present)
#   FUZZ_ARTIFACT_DIR   where crash/leak/timeout inputs go (default: <build>/artifacts)
#   FUZZ_KEEP_CORPUS=1  keep the grown working corpora (their directory is printed)
#   FUZZ_EXTRA_ARGS     extra libFuzzer flags, e.g. "-fork=2" or "-workers=2 -jobs=2"
# It installs nothing: it checks for clang, libFuzzer's runtime (libclang-rt-N-dev), llvm-N
# (llvm-symbolizer, for stack traces), cmake, ninja, protobuf, abseil, rapidjson and ICU, and when any is missing
# fails naming the Debian packages; scripts/install_deps.sh installs them.
set -euo pipefail

BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
  BUILD_ONLY=1
  shift
fi
SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ] ||
   ! [[ "${FUZZ_PARALLEL:-1}" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET] | $0 --build-only   (FUZZ_PARALLEL: a positive number)" >&2
  exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${FUZZ_JOBS:-2}"
PARALLEL="${FUZZ_PARALLEL:-1}"
TARGETS="${FUZZ_TARGETS:-fuzz_predict_request fuzz_kserve_request fuzz_rest_request fuzz_model_config fuzz_data_type fuzz_tokenizer}"
SANITIZERS="${FUZZ_SANITIZERS-address,undefined}"
SKIP_KNOWN="${FUZZ_SKIP_KNOWN_FINDINGS:-0}"
ARTIFACTS="${FUZZ_ARTIFACT_DIR:-$BUILD_DIR/artifacts}"
read -r -a EXTRA_ARGS <<<"${FUZZ_EXTRA_ARGS:-}"

log() { echo "[fuzz] $*"; }

# --- Toolchain ------------------------------------------------------------------------------------
find_clang() {
  local c
  for c in clang++ clang++-14 clang++-15 clang++-16; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
  done
  return 1
}

libfuzzer_links() {  # $1: clang++
  local dir
  dir="$(mktemp -d)"
  printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
    >"$dir/t.cc"
  "$1" -fsanitize=fuzzer,address,undefined "$dir/t.cc" -o "$dir/t" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}

missing_packages() {
  local pkgs=() cxx major
  command -v cmake >/dev/null 2>&1 || pkgs+=(cmake)
  command -v ninja >/dev/null 2>&1 || pkgs+=(ninja-build)
  command -v protoc >/dev/null 2>&1 || pkgs+=(protobuf-compiler)
  [ -f /usr/include/google/protobuf/message.h ] || pkgs+=(libprotobuf-dev)
  ls /usr/lib/*/cmake/absl/abslConfig.cmake >/dev/null 2>&1 || pkgs+=(libabsl-dev)
  [ -f /usr/include/rapidjson/document.h ] || pkgs+=(rapidjson-dev)  # the REST parser's
  [ -f /usr/include/unicode/uchar.h ] || pkgs+=(libicu-dev)           # the tokenizer's
  if cxx="$(find_clang)"; then
    major="$("$cxx" -dumpversion | cut -d. -f1)"
    libfuzzer_links "$cxx" || pkgs+=("libclang-rt-${major}-dev")
    command -v llvm-symbolizer >/dev/null 2>&1 || [ -x "/usr/lib/llvm-${major}/bin/llvm-symbolizer" ] ||
      pkgs+=("llvm-${major}")
  else
    pkgs+=(clang libclang-rt-14-dev llvm-14)  # Debian 12's clang is 14
  fi
  echo "${pkgs[@]}"
}

check_toolchain() {
  local missing
  missing="$(missing_packages)"
  [ -z "$missing" ] && return 0
  echo "[fuzz] missing Debian packages: $missing" >&2
  echo "[fuzz] run scripts/install_deps.sh (it installs them; this script installs nothing)" >&2
  exit 1
}

check_toolchain
CXX_BIN="$(find_clang)"
MAJOR="$("$CXX_BIN" -dumpversion | cut -d. -f1)"
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in "$(command -v llvm-symbolizer || true)" "/usr/lib/llvm-${MAJOR}/bin/llvm-symbolizer"; do
    if [ -n "$s" ] && [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH="$s"; break; fi
  done
fi

# --- Build ------------------------------------------------------------------------------------------
SKIP_FLAG=OFF
[ "$SKIP_KNOWN" = "1" ] && SKIP_FLAG=ON
log "configuring $BUILD_DIR (clang: $CXX_BIN, sanitizers: ${SANITIZERS:-none}, skip known findings: $SKIP_FLAG)"
cmake -S "$HERE" -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER="$CXX_BIN" \
  -DSEQSERVE_FUZZ_SANITIZERS="$SANITIZERS" -DSEQSERVE_FUZZ_SKIP_KNOWN_FINDINGS="$SKIP_FLAG" >/dev/null
log "building ($JOBS jobs)"
# shellcheck disable=SC2086  # a list of target names
cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS
if [ "$BUILD_ONLY" = "1" ]; then
  log "built: $TARGETS"
  exit 0
fi

# --- Run ---------------------------------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:symbolize=1}"
mkdir -p "$ARTIFACTS"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/seqserve-fuzz.XXXXXX")"
if [ "${FUZZ_KEEP_CORPUS:-0}" = "1" ]; then
  log "working corpora and logs: $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi

declare -A DICT=(
  [fuzz_predict_request]="$HERE/request.dict"
  [fuzz_kserve_request]="$HERE/request.dict"
  [fuzz_model_config]="$HERE/model_config.dict"
  [fuzz_rest_request]="$HERE/rest.dict"
)

stat_of() {  # $1: log, $2: stat name
  sed -n "s/^stat::$2: *\([0-9]*\).*/\1/p" "$1" | tail -n 1
}

run_target() {  # $1: target; its log in $WORK/$1.log, its exit code in $WORK/$1.rc
  local t="$1" corpus="$WORK/corpus/$1" rc
  mkdir -p "$corpus"
  if [ -d "$HERE/corpus/$t" ]; then cp -R "$HERE/corpus/$t/." "$corpus/"; fi
  local args=(-max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -rss_limit_mb=2048 -timeout=10
              -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t-")
  [ -n "${DICT[$t]:-}" ] && args+=(-dict="${DICT[$t]}")
  log "running $t for ${SECONDS_PER_TARGET}s (corpus: $(find "$corpus" -type f | wc -l) seeds)"
  set +e
  "$BUILD_DIR/$t" "${args[@]}" "${EXTRA_ARGS[@]}" "$corpus" >"$WORK/$t.log" 2>&1
  rc=$?
  set -e
  echo "$rc" >"$WORK/$t.rc"
}

# FUZZ_PARALLEL targets at a time, each a single-threaded process.
running=0
for t in $TARGETS; do
  if [ "$running" -ge "$PARALLEL" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait

failed=()
summary=()
for t in $TARGETS; do
  corpus="$WORK/corpus/$t"
  logfile="$WORK/$t.log"
  rc="$(cat "$WORK/$t.rc" 2>/dev/null || echo "?")"
  execs="$(stat_of "$logfile" number_of_executed_units)"
  per_sec="$(stat_of "$logfile" average_exec_per_sec)"
  rss="$(stat_of "$logfile" peak_rss_mb)"
  line="$(printf '%-22s execs %12s   exec/s %8s   peak rss %5s MB   corpus %5s files' \
          "$t" "${execs:-?}" "${per_sec:-?}" "${rss:-?}" "$(find "$corpus" -type f | wc -l)")"
  note=""
  grep -q "INITED" "$logfile" || note=", its seed corpus was not replayed"
  if [ "$rc" != "0" ] || [ -n "$note" ] ||
     grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FUZZ_CHECK failed|SUMMARY: ' "$logfile"; then
    line="$line   FAILED (exit $rc$note)"
    failed+=("$t")
    echo "----- $t: last lines of its log -----" >&2
    tail -n 60 "$logfile" >&2
    echo "----- artifacts: $ARTIFACTS/$t-* -----" >&2
  fi
  summary+=("$line")
  log "$line"
done

echo
echo "seqserve fuzzing, ${SECONDS_PER_TARGET}s per target (sanitizers: ${SANITIZERS:-none}, skip known findings: $SKIP_FLAG)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]} (reproduce: $BUILD_DIR/<target> <artifact>)" >&2
  exit 1
fi
echo "no crash, leak or sanitizer report"
