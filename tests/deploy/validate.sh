#!/usr/bin/env bash
# Validates the container images (docker/) and the Helm chart (helm/seqserve) with real tools:
# hadolint, shellcheck, Helm's own library (helm-sdkpy), kubernetes-validate, yamllint, and a live
# run of the server binary (loopback only). No Docker engine, helm binary or cluster needed.
#
# Usage: tests/deploy/validate.sh [--binary PATH] [--model-repository DIR]
#   defaults: build/seqserve and build/model_repository (or $SEQSERVE_BINARY,
#   $SEQSERVE_MODEL_REPOSITORY). Needs a built project (scripts/build.sh).
# The tools live in ${SEQSERVE_DEPLOY_VENV:-.venv-deploy}, installed by scripts/install_deps.sh
# (this script installs nothing: it fails, naming that script, when they are missing).
# Ends with "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SEQSERVE_DEPLOY_VENV:-$ROOT/.venv-deploy}"
# Tests install nothing: the tools are scripts/install_deps.sh's job. Its stamp is written once
# the venv holds everything scripts/requirements-deploy.txt asks for.
STAMP="$VENV/.seqserve-requirements"
REQUIREMENTS="$ROOT/scripts/requirements-deploy.txt"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$STAMP" ]; then
  echo "validate.sh: the deploy tools' virtual environment $VENV is missing or incomplete;" \
       "run scripts/install_deps.sh (or set SEQSERVE_DEPLOY_VENV)" >&2
  exit 1
fi
if [[ "$(cat "$STAMP")" != "$(cat "$REQUIREMENTS")"* ]]; then
  echo "validate.sh: $VENV was installed from another scripts/requirements-deploy.txt;" \
       "run scripts/install_deps.sh" >&2
  exit 1
fi
exec "$VENV/bin/python" "$ROOT/tests/deploy/validate.py" "$@"
