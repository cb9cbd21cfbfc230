#!/usr/bin/env bash
# Validates the container images (docker/) and the Helm chart (helm/seqserve) with real tools:
# hadolint, shellcheck, Helm's own library (helm-sdkpy), kubernetes-validate, yamllint, and a live
# run of the server binary (loopback only). No Docker engine, helm binary or cluster needed.
#
# Usage: tests/deploy/validate.sh [--binary PATH] [--model-repository DIR]
#   defaults: build/seqserve and build/model_repository (or $SEQSERVE_BINARY,
#   $SEQSERVE_MODEL_REPOSITORY). Needs a built project (scripts/build.sh).
# The tools go into ${SEQSERVE_DEPLOY_VENV:-.venv-deploy} from scripts/requirements-deploy.txt,
# once (fast when present). Ends with "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SEQSERVE_DEPLOY_VENV:-$ROOT/.venv-deploy}"
REQUIREMENTS="$ROOT/scripts/requirements-deploy.txt"
# helm-sdkpy declares Requires-Python >=3.12, Debian 12 has 3.11: its code is plain cffi and
# runs on 3.11 (this validation is the proof), so it is installed apart with
# --ignore-requires-python, its one dependency (cffi) coming from the requirements file.
HELM_SDKPY="helm-sdkpy==0.1.32"

stamp="$VENV/.seqserve-requirements"
want="$(cat "$REQUIREMENTS")
$HELM_SDKPY"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[deploy] creating virtual environment $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[deploy] installing the validation tools into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
  "$VENV/bin/pip" install -q --no-deps --ignore-requires-python "$HELM_SDKPY"
  printf '%s' "$want" >"$stamp"
fi

exec "$VENV/bin/python" "$ROOT/tests/deploy/validate.py" "$@"
