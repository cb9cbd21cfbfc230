#!/usr/bin/env bash
# Packs what benchmarks/gpu/check.sh needs from a build tree into one folder that can travel to a
# GPU machine which has PyTorch 2.11 (same wheel as here) but none of Debian's C++ libraries:
#   bin/   gpu_encoder_bench, cuda_pool_tests, torch_cuda_tests (built here, against the pinned wheel)
#   lib/   the shared libraries they need that are neither glibc/libstdc++ nor libtorch/CUDA
#          (abseil, protobuf, ...): the GPU machine brings its own libtorch and CUDA libraries
#   model_repository/, reference/   the exported demo models and their reference outputs
#   seq_lengths.txt                 the shared length distribution
#
# Usage: bundle.sh BUILD_DIR DEST_DIR [LENGTHS_FILE]
# Note [prebuilt bundle]: the GPU machine has CMake and PyTorch but no gRPC, protobuf, abseil or
# GoogleTest, and device minutes are scarce, so the binaries are compiled here (where CI proves
# they compile) and run there against that machine's identical libtorch.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 BUILD_DIR DEST_DIR [LENGTHS_FILE]" >&2
  exit 2
fi
build="$(cd "$1" && pwd)" dest="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
lengths="${3:-$root/../shared/data/seq_lengths.txt}"
binaries=("$build/benchmarks/gpu_encoder_bench" "$build/tests/cuda_pool_tests" "$build/tests/torch_cuda_tests")
for b in "${binaries[@]}"; do
  [ -x "$b" ] || { echo "$0: $b is missing; build with the CUDA toolkit present" >&2; exit 1; }
done

rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib"
cp "${binaries[@]}" "$dest/bin/"
# Debug info is most of their size (13 MiB -> ~2 MiB); symbols stay for backtraces.
strip --strip-debug "$dest"/bin/*
cp -r "$build/model_repository" "$build/reference" "$dest/"
if [ -f "$lengths" ]; then
  cp "$lengths" "$dest/seq_lengths.txt"
else
  # A checkout without ../shared (CI's clean clone): 1000 fixed pseudo-random lengths, spread
  # log-uniformly over 8..512, so the dry run still sees varied shapes.
  echo "note: no $lengths; writing synthetic lengths" >&2
  awk 'BEGIN { x = 12345; for (i = 0; i < 1000; i++) { x = (x * 1103515245 + 12345) % 2147483648;
       printf "%d\n", int(exp(log(8) + (x / 2147483648) * (log(512) - log(8)))) } }' >"$dest/seq_lengths.txt"
fi

# Libraries from the system directories, minus the C/C++ runtime every Linux has (and must come
# from the machine itself).
declare -A seen=()
for b in "${binaries[@]}"; do
  while read -r name path; do
    case "$name" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libutil.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*) continue ;;
    esac
    [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    cp -L "$path" "$dest/lib/$name"
  done < <(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib(64)?\// {print $1, $3}')
done
echo "bundled ${#binaries[@]} binaries and ${#seen[@]} libraries into $dest ($(du -sh "$dest" | cut -f1))"
