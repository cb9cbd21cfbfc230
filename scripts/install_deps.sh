#!/usr/bin/env bash
# Installs everything seqserve needs to build, test and benchmark, on Debian 12.
#
# Idempotent: safe to run twice, and fast (seconds) when everything is present.
#   - Debian packages: gRPC, protobuf, abseil, prometheus-cpp, GoogleTest, Google Benchmark, tools.
#   - A project-local Python virtual environment (default: ./.venv, override with SEQSERVE_VENV)
#     holding libtorch from the official PyTorch wheel pinned to torch==2.11.0, plus the Python
#     tools that users of inference servers already trust (tritonclient, perf-analyzer, ...).
#
# Note [why the wheel's libtorch]: the GPU machine runs PyTorch 2.11; taking libtorch from the same
# wheel keeps the C++ API identical here and there, and the wheel is the CUDA build, so the CUDA code
# path compiles and links on GPU-less machines. pip's cache keeps the large download once per machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEQSERVE_VENV:-$ROOT/.venv}"
PERF_VENV="${SEQSERVE_PERF_VENV:-$ROOT/.venv-perf}"
TORCH_VERSION="2.11.0"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libcivetweb-dev libgtest-dev libgmock-dev libbenchmark-dev
  grpc-proto prometheus yamllint python3-venv libb64-0d
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[deps] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY="${PYTHON:-python3}"
# install_venv DIR REQUIREMENTS: creates DIR if needed and installs REQUIREMENTS into it, unless
# that exact file was installed there before.
install_venv() {
  local dir="$1" requirements="$2" stamp="$1/.seqserve-requirements" want
  want="$(cat "$requirements")"
  if [ ! -x "$dir/bin/python" ]; then
    echo "[deps] creating virtual environment $dir"
    "$PY" -m venv "$dir"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[deps] installing $(basename "$requirements") into $dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q -r "$requirements"
    printf '%s' "$want" >"$stamp"
  fi
}
install_venv "$VENV" "$ROOT/scripts/requirements.txt"
install_venv "$PERF_VENV" "$ROOT/scripts/requirements-perf.txt"
"$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__"
"$ROOT/scripts/perf_analyzer" --version >/dev/null 2>&1 || {
  echo "[deps] perf_analyzer does not start" >&2; exit 1; }
echo "[deps] ok: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') in $VENV"
