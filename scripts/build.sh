#!/usr/bin/env bash
# Installs dependencies (idempotent) and builds seqserve, its tests and the demo models into
# ${BUILD_DIR:-build}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/install_deps.sh"
export CCACHE_BASEDIR="$ROOT"  # cache hits across checkouts in different folders
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
