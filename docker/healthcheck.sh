#!/usr/bin/env bash
# Docker HEALTHCHECK for seqserve (Kubernetes uses its own probes instead: gRPC, or with the
# chart's probes.type http this same /readyz): exits 0 when GET /readyz on the metrics port
# answers 200, i.e. every model is loaded and warmed up and the server is not draining. Needs
# only bash (no curl in the image).
#   SEQSERVE_METRICS_PORT       port to ask (default 8002)
#   SEQSERVE_HEALTHCHECK_HOST   address to ask (default 127.0.0.1)
set -euo pipefail
host="${SEQSERVE_HEALTHCHECK_HOST:-127.0.0.1}"
port="${SEQSERVE_METRICS_PORT:-8002}"
exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
IFS= read -r -t 5 status <&3
[[ "$status" == HTTP/1.?" 200"* ]]
