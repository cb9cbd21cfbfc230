#!/usr/bin/env bash
# The GPU check: the CUDA pool's unit tests on a real device, libtorch on CUDA with the pool as its
# allocator, and the demo encoder served in-process through the length-bucketed batcher with
# PyTorch's native CUDA caching allocator vs seqserve's pool (as is, and "lean": returning idle
# segments before growing), in fp32, fp16 and bf16, then under
# a device-memory cap. Prints a markdown table last; writes everything under $OUT.
#
#   benchmarks/gpu/check.sh --bundle DIR            on the GPU machine (DIR from bundle.sh)
#   benchmarks/gpu/check.sh --bundle DIR --dry-run  on CPU: the same steps, tiny, the CUDA tests
#                                                   skipping; CI runs this (tests/CMakeLists.txt)
#
# Environment: OUT (results folder; default /tmp/seqserve-gpu-check), PYTHON (the Python whose
# torch supplies libtorch; default python3), REPEATS (runs per configuration; default 3),
# REQUESTS (per run; default 10000), CAP_MIB (device memory left free for the allocator after
# warm-up in the capped runs, MiB, space-separated; default "32 128").
set -uo pipefail

bundle="" dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    *) echo "usage: $0 --bundle DIR [--dry-run]" >&2; exit 2 ;;
  esac
done
[ -d "$bundle/bin" ] || { echo "$0: --bundle DIR (made by bundle.sh) is required" >&2; exit 2; }
bundle="$(cd "$bundle" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-/tmp/seqserve-gpu-check}"
python="${PYTHON:-python3}"
mkdir -p "$out"
log="$out/check.log"
: >"$log"
say() { echo "== $*" | tee -a "$log"; }
failures=0
fail() { echo "FAILED: $*" | tee -a "$log"; failures=$((failures + 1)); }

# libtorch and the CUDA libraries come from this machine's PyTorch (same version as the build's).
torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" \
  || { echo "$0: $python cannot import torch" >&2; exit 1; }
torch_version="$("$python" -c 'import torch; print(torch.__version__)')"
case "$torch_version" in
  2.11.0*) ;;
  *) echo "$0: the bundle was built against torch 2.11.0, this machine has $torch_version" >&2; exit 1 ;;
esac
nvidia_libs="$(find "$(dirname "$(dirname "$torch_lib")")/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')"
export LD_LIBRARY_PATH="$bundle/lib:$torch_lib:${nvidia_libs}${LD_LIBRARY_PATH:-}"
export SEQSERVE_DEMO_REPOSITORY="$bundle/model_repository" SEQSERVE_DEMO_REFERENCE="$bundle/reference"

say "machine"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "torch: $torch_version"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  else
    echo "no nvidia-smi"
  fi
} | tee -a "$log" | tee "$out/machine.txt"
for b in "$bundle"/bin/*; do
  if ldd "$b" | grep -q "not found"; then
    fail "$(basename "$b") has unresolved libraries:"; ldd "$b" | grep "not found" | tee -a "$log"
  fi
done
[ "$failures" -eq 0 ] || exit 1

say "CUDA unit tests (they skip without a device)"
for t in cuda_pool_tests torch_cuda_tests; do
  timeout 180 "$bundle/bin/$t" --gtest_output="xml:$out/$t.xml" >>"$log" 2>&1 || fail "$t"
  grep -E "^\[  (PASSED|SKIPPED|FAILED) " "$log" | tail -n 3
done
if [ "$dry_run" -eq 0 ] && command -v compute-sanitizer >/dev/null; then
  say "compute-sanitizer (memcheck) on the pool's multi-stream stress test"
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$bundle/bin/cuda_pool_tests" --gtest_filter='*Concurrent*:*Stream*' >"$out/compute_sanitizer.log" 2>&1 \
    || fail "compute-sanitizer (see compute_sanitizer.log)"
  tail -n 3 "$out/compute_sanitizer.log" | tee -a "$log"
fi

say "encoder in-process: native allocator vs pool"
if [ "$dry_run" -eq 1 ]; then
  common=(--device=cpu --requests="${REQUESTS:-120}" --concurrency=32 --instances=1 --max-batch-tokens=1024)
  repeats="${REPEATS:-1}" caps=()
else
  common=(--device=cuda --requests="${REQUESTS:-10000}" --concurrency=512 --instances=2 --max-batch-tokens=8192)
  repeats="${REPEATS:-3}"
  read -r -a caps <<<"${CAP_MIB:-32 128}"
fi
results="$out/results.jsonl"
: >"$results"
run_bench() {
  local line
  # A systematic failure must not spend the device lease on 20 more timeouts.
  if [ "$failures" -ge 3 ]; then echo "skipped (too many failures): $*" | tee -a "$log"; return; fi
  if line="$(timeout 120 "$bundle/bin/gpu_encoder_bench" --repository="$bundle/model_repository" \
               --lengths="$bundle/seq_lengths.txt" "${common[@]}" "$@" 2>>"$log")"; then
    echo "$line" | tee -a "$log" >>"$results"
  else
    fail "gpu_encoder_bench $*"
  fi
}
# Allocators alternate within each repeat, so drift on a shared machine hits both alike.
dtypes=(fp32 fp16 bf16)
if [ "$dry_run" -eq 1 ]; then
  # On CPU the server refuses a reduced precision the CPU has no instructions for
  # (runtime/base/precision.h): the dry run takes only what this CPU runs natively.
  flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
  dtypes=(fp32)
  if [[ " $flags " == *" avx512_fp16 "* || " $flags " == *" amx_fp16 "* ]]; then dtypes+=(fp16); fi
  if [[ " $flags " == *" avx512_bf16 "* || " $flags " == *" amx_bf16 "* ]]; then dtypes+=(bf16); fi
fi
for dtype in "${dtypes[@]}"; do
  for ((r = 0; r < repeats; r++)); do
    for allocator in native pool pool-lean; do run_bench --allocator="$allocator" --dtype="$dtype"; done
  done
done
# One stream instead of two: how much of the reserved/allocated ratio is per-stream caching.
for ((r = 0; r < repeats; r++)); do
  for allocator in native pool pool-lean; do run_bench --allocator="$allocator" --dtype=fp32 --instances=1; done
done
for cap in "${caps[@]}"; do
  for allocator in native pool; do run_bench --allocator="$allocator" --dtype=fp32 --memory-cap-mib="$cap"; done
done

say "table"
"$python" "$here/table.py" "$results" "$out/machine.txt" | tee "$out/results.md"
[ "$failures" -eq 0 ] || { echo "$failures step(s) failed; see $log" >&2; exit 1; }
