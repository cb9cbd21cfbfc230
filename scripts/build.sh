#!/usr/bin/env bash
# Installs dependencies (idempotent) and builds seqserve, its tests and the demo models into
# ${BUILD_DIR:-build}. BUILD_TARGETS (default: everything) builds only those targets, e.g.
# scripts/serve.sh's "seqserve demo_models real_models": no test binaries, no test models.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/install_deps.sh"
export CCACHE_BASEDIR="$ROOT"  # cache hits across checkouts in different folders
# The target graph for ctest include_layering (CMake's file API answers queries that exist
# before it runs; CMakeLists.txt writes the same query for builds made without this script).
mkdir -p "$BUILD_DIR/.cmake/api/v1/query" && touch "$BUILD_DIR/.cmake/api/v1/query/codemodel-v2"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# shellcheck disable=SC2086 # BUILD_TARGETS is a list
cmake --build "$BUILD_DIR" -j "$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
