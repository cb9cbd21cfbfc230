#!/usr/bin/env bash
# Builds seqserve and the bundled demo models (only those: the tests are built by
# scripts/test.sh) and serves them: REST on :8000, gRPC on :8001, metrics on :8002.
# Extra arguments go to the server (e.g. --grpc-port=9001).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BUILD_TARGETS="seqserve demo_models real_models" "$ROOT/scripts/build.sh"
exec "$BUILD_DIR/seqserve" --model-repository="$BUILD_DIR/model_repository" "$@"
