#!/usr/bin/env bash
# Collects the shared libraries seqserve needs that do not come from Debian packages (libtorch and
# the CUDA libraries from the PyTorch wheel and its nvidia-* wheels) into one flat folder, for the
# final image stage (which then sets LD_LIBRARY_PATH to that folder).
#
# Usage: collect-runtime-libs.sh [--all] [--link] BINARY DEST_DIR
#   default  exactly the libraries the dynamic loader resolves for BINARY outside /lib and /usr/lib
#            (`ldd`): what the CPU image needs. The wheel is the CUDA build, so this includes
#            libtorch_cuda.so and the CUDA libraries it is linked against (about 2.6 GiB).
#   --all    also every other library of torch/lib and of the nvidia-* wheels next to it (libtorch
#            and CUDA load some with dlopen on first GPU use: NVRTC, cuSOLVER, linalg, ...): what
#            the GPU image needs (about 3.5 GiB).
#   --link   symlink instead of copying (used by tests/deploy to check the set without copying GBs).
#
# Fails if any library of BINARY is not found or if two libraries would land on the same name.
set -euo pipefail

all=0 link=0
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1; shift ;;
    --link) link=1; shift ;;
    *) break ;;
  esac
done
if [ $# -ne 2 ]; then
  echo "usage: $0 [--all] [--link] BINARY DEST_DIR" >&2
  exit 2
fi
binary="$1" dest="$2"

ldd_out="$(ldd "$binary")"
if grep -q "not found" <<<"$ldd_out"; then
  echo "$0: unresolved libraries of $binary:" >&2
  grep "not found" <<<"$ldd_out" >&2
  exit 1
fi

# Libraries resolved outside the system directories: the wheel's.
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// && $3 !~ /^\/(usr\/)?lib(64|32)?\// {print $3}' <<<"$ldd_out")
if [ "${#libs[@]}" -eq 0 ]; then
  echo "$0: $binary resolves no library outside /lib and /usr/lib; is libtorch really linked?" >&2
  exit 1
fi

if [ "$all" -eq 1 ]; then
  # torch/lib is where libtorch.so lives; the nvidia-* wheels sit beside torch/ in site-packages.
  torch_lib="$(dirname "$(readlink -f "$(printf '%s\n' "${libs[@]}" | grep '/libtorch\.so$' | head -n 1)")")"
  site="$(dirname "$(dirname "$torch_lib")")"
  while IFS= read -r f; do libs+=("$f"); done < <(
    find "$torch_lib" "$site/nvidia" -maxdepth 3 -name '*.so*' \( -type f -o -type l \) \
      ! -name 'libtorch_python.so' 2>/dev/null | sort)
fi

mkdir -p "$dest"
declare -A seen=()
for lib in "${libs[@]}"; do
  name="$(basename "$lib")"
  real="$(readlink -f "$lib")"
  if [ -n "${seen[$name]:-}" ]; then
    # Two files with one soname (e.g. libcudart.so.13 from the CUDA toolkit, which the binary's
    # RUNPATH names, and from the nvidia-* wheel): keep the first, the one ldd resolved, which is
    # what the binary loads.
    [ "${seen[$name]}" != "$real" ] && echo "note: $name: using ${seen[$name]}, not $real" >&2
    continue
  fi
  seen[$name]="$real"
  if [ "$link" -eq 1 ]; then
    ln -sf "$real" "$dest/$name"
  else
    cp -L "$lib" "$dest/$name"
  fi
done
echo "collected ${#seen[@]} libraries into $dest ($(du -shL "$dest" | cut -f1))"
