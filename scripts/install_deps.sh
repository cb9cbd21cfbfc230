#!/usr/bin/env bash
# Installs everything seqserve needs to build, test and benchmark, on Debian 12.
#
# Idempotent: safe to run twice, and fast (seconds) when everything is present.
#   - Debian packages: gRPC, protobuf, abseil, prometheus-cpp, GoogleTest, Google Benchmark, tools,
#     clang with libFuzzer's runtime and llvm-symbolizer (tests/fuzz/run.sh).
#   Tests never install anything: this script is the one place that does.
#   - Project-local Python virtual environments:
#       .venv         libtorch from the official PyTorch wheel pinned to torch==2.11.0, and the
#                     clients users of inference servers already trust (tritonclient, ...);
#       .venv-perf    Triton's perf_analyzer (scripts/requirements-perf.txt says why apart);
#       .venv-deploy  the Dockerfile/Helm validation tools (hadolint, kubernetes-validate, ...).
#     Override the locations with SEQSERVE_VENV, SEQSERVE_PERF_VENV, SEQSERVE_DEPLOY_VENV.
#
# Note [why the wheel's libtorch]: the GPU machine runs PyTorch 2.11; taking libtorch from the same
# wheel keeps the C++ API identical here and there, and the wheel is the CUDA build, so the CUDA code
# path compiles and links on GPU-less machines. pip's cache keeps the large download once per machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEQSERVE_VENV:-$ROOT/.venv}"
PERF_VENV="${SEQSERVE_PERF_VENV:-$ROOT/.venv-perf}"
DEPLOY_VENV="${SEQSERVE_DEPLOY_VENV:-$ROOT/.venv-deploy}"
TORCH_VERSION="2.11.0"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libcivetweb-dev libgtest-dev libgmock-dev libbenchmark-dev
  grpc-proto prometheus yamllint python3-venv libb64-0d clang libssl-dev
  libmicrohttpd-dev rapidjson-dev
  # runtime/tokenizer/: Unicode data, normalization and regexes
  libicu-dev
  # tests/fuzz/run.sh: libFuzzer's runtime and llvm-symbolizer for Debian 12's clang 14 (the
  # runtime is only "recommended" by clang, so absent after --no-install-recommends)
  libclang-rt-14-dev llvm-14
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
# install_venv DIR REQUIREMENTS [PACKAGE...]: creates DIR if needed and installs REQUIREMENTS
# into it, then PACKAGEs without their dependencies and Python-version check, unless exactly
# that was installed there before.
install_venv() {
  local dir="$1" requirements="$2" stamp="$1/.seqserve-requirements" want
  shift 2
  want="$(cat "$requirements") $*"
  if [ ! -x "$dir/bin/python" ]; then
    echo "[deps] creating virtual environment $dir"
    "$PY" -m venv "$dir"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[deps] installing $(basename "$requirements") into $dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q -r "$requirements"
    if (($#)); then "$dir/bin/pip" install -q --no-deps --ignore-requires-python "$@"; fi
    printf '%s' "$want" >"$stamp"
  fi
}
install_venv "$VENV" "$ROOT/scripts/requirements.txt"
install_venv "$PERF_VENV" "$ROOT/scripts/requirements-perf.txt"
# Note [helm-sdkpy]: Helm's Go library with Python bindings, for rendering the chart without a
# helm binary. It declares Requires-Python >= 3.12 while Debian 12 has 3.11; its code is plain
# cffi and runs on 3.11 (tests/deploy/validate.sh is the proof), so it goes in apart.
install_venv "$DEPLOY_VENV" "$ROOT/scripts/requirements-deploy.txt" "helm-sdkpy==0.1.32"
# Note [the tree on the path]: scripts/ (seqserve_process, seqpack, machine_info, ...) and
# benchmarks/ (loadgen, the benchmark modules tests reuse) are importable from .venv's Python by
# a .pth file, so tests and benchmarks import them instead of each patching sys.path.
"$VENV/bin/python" - "$ROOT" <<'PYEOF'
import os, site, sys
root = sys.argv[1]
path = os.path.join(site.getsitepackages()[0], "seqserve-tree.pth")
want = "".join(os.path.join(root, d) + "\n" for d in ("scripts", "benchmarks"))
if not os.path.exists(path) or open(path).read() != want:
    with open(path, "w") as f:
        f.write(want)
PYEOF
"$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__"
"$ROOT/scripts/perf_analyzer" --version >/dev/null 2>&1 || {
  echo "[deps] perf_analyzer does not start" >&2; exit 1; }
echo "[deps] ok: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') in $VENV"
