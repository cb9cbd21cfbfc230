#!/usr/bin/env bash
# Builds seqserve and serves the bundled demo models: gRPC on :8001, metrics on :8002.
# Extra arguments go to the server (e.g. --grpc-port=9001).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh"
exec "$BUILD_DIR/seqserve" --model-repository="$BUILD_DIR/model_repository" "$@"
