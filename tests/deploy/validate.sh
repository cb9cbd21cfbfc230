#!/usr/bin/env bash
# Validates the container images (docker/) and the Helm chart (helm/seqserve) with real tools:
# hadolint, shellcheck, Helm's own library (helm-sdkpy), kubernetes-validate, yamllint, and a live
# run of the server binary (loopback only). No Docker engine, helm binary or cluster needed.
#
# Usage: tests/deploy/validate.sh [--binary PATH] [--model-repository DIR]
#   defaults: build/seqserve and build/model_repository (or $SEQSERVE_BINARY,
#   $SEQSERVE_MODEL_REPOSITORY). Needs a built project (scripts/build.sh).
# The tools live in ${SEQSERVE_DEPLOY_VENV:-.venv-deploy}, installed by scripts/install_deps.sh.
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SEQSERVE_DEPLOY_VENV:-$ROOT/.venv-deploy}"
"$ROOT/scripts/install_deps.sh" >/dev/null  # installs the tools into $VENV (fast when present)
exec "$VENV/bin/python" "$ROOT/tests/deploy/validate.py" "$@"
