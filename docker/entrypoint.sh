#!/usr/bin/env bash
# Container entrypoint for seqserve: maps SEQSERVE_* environment variables to server flags and execs
# the server, so that it is PID 1 and receives SIGTERM itself (it then drains and exits 0).
#
#   SEQSERVE_MODEL_REPOSITORY    --model-repository     (default /models)
#   SEQSERVE_GRPC_ADDRESS        --grpc-address
#   SEQSERVE_GRPC_PORT           --grpc-port
#   SEQSERVE_METRICS_ADDRESS     --metrics-address
#   SEQSERVE_METRICS_PORT        --metrics-port
#   SEQSERVE_HTTP_ADDRESS        --http-address
#   SEQSERVE_HTTP_PORT           --http-port (KServe v2 REST)
#   SEQSERVE_MAX_MESSAGE_BYTES   --max-message-bytes
#   SEQSERVE_REQUEST_MEMORY_BYTES  --request-memory-bytes
#   SEQSERVE_STRICT_READINESS    --strict-readiness
#   SEQSERVE_MODEL_CONTROL_MODE  --model-control-mode   (none | explicit | poll)
#   SEQSERVE_REPOSITORY_POLL_SECONDS  --repository-poll-seconds
#   (--load-model is repeatable: pass it as container arguments)
#   SEQSERVE_DRAIN_TIMEOUT       --drain-timeout        (seconds)
#   SEQSERVE_DRAIN_GRACE         --drain-grace          (seconds)
#   SEQSERVE_MAX_CONNECTION_AGE  --max-connection-age   (seconds)
#   SEQSERVE_CPU_ALLOCATOR       --cpu-allocator        (pool | default)
#   SEQSERVE_MEMORY_BUDGET_BYTES --memory-budget-bytes
#   SEQSERVE_MEMORY_TRACE        --memory-trace         (file; under /tmp, the root is read-only)
#
# An unset or empty variable leaves the server's default. Arguments given to the container come
# after these flags and win (the server keeps the last value of a repeated flag). A first argument
# that is not a flag is run instead of the server (e.g. `docker run -it IMAGE bash`).
# Threads are not a server flag: by default they follow the container's CPU quota (runtime/resources/host_cpu.h);
# a model's config.pbtxt may fix them (`instance { count intra_op_threads }`).
set -euo pipefail

if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

SEQSERVE_BIN="${SEQSERVE_BIN:-/opt/seqserve/bin/seqserve}"
args=("--model-repository=${SEQSERVE_MODEL_REPOSITORY:-/models}")

# flag NAME VARIABLE: appends --NAME=$VARIABLE when the variable is set and not empty.
flag() {
  local value="${!2:-}"
  if [ -n "$value" ]; then args+=("--$1=$value"); fi
}
flag grpc-address SEQSERVE_GRPC_ADDRESS
flag grpc-port SEQSERVE_GRPC_PORT
flag metrics-address SEQSERVE_METRICS_ADDRESS
flag metrics-port SEQSERVE_METRICS_PORT
flag http-address SEQSERVE_HTTP_ADDRESS
flag http-port SEQSERVE_HTTP_PORT
flag max-message-bytes SEQSERVE_MAX_MESSAGE_BYTES
flag request-memory-bytes SEQSERVE_REQUEST_MEMORY_BYTES
flag strict-readiness SEQSERVE_STRICT_READINESS
flag model-control-mode SEQSERVE_MODEL_CONTROL_MODE
flag repository-poll-seconds SEQSERVE_REPOSITORY_POLL_SECONDS
flag drain-timeout SEQSERVE_DRAIN_TIMEOUT
flag drain-grace SEQSERVE_DRAIN_GRACE
flag max-connection-age SEQSERVE_MAX_CONNECTION_AGE
flag cpu-allocator SEQSERVE_CPU_ALLOCATOR
flag memory-budget-bytes SEQSERVE_MEMORY_BUDGET_BYTES
flag memory-trace SEQSERVE_MEMORY_TRACE

exec "$SEQSERVE_BIN" "${args[@]}" "$@"
