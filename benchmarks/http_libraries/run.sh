#!/usr/bin/env bash
# HTTP library comparison for seqserve's REST and metrics ports: libmicrohttpd, cpp-httplib and
# Boost.Beast, each as a tiny standalone server (see *_server.cc), measured one after another in
# one run and printed side by side as a markdown table.
#
#   ./run.sh            wrk 10 s per phase, 15 s slow-client phase
#   ./run.sh --quick    wrk 3 s per phase,   8 s slow-client phase (a smoke run)
#
# Env: BASE_PORT (default 18480; the servers use BASE_PORT+1..+3), OUT_DIR (default: a fresh
# /tmp/http_libraries.XXXX holding the raw wrk/JSON outputs and table.md), NOTE (a line printed
# in bold above the table, e.g. "taken while a compile was running").
# Servers listen on 127.0.0.1 only and are killed at the end (also on error / Ctrl-C).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

WRK_S=10 SLOW_S=15 MODE=full
if [[ "${1:-}" == "--quick" ]]; then WRK_S=3 SLOW_S=8 MODE=quick; shift; fi
[[ $# -eq 0 ]] || { echo "usage: $0 [--quick]" >&2; exit 2; }
SLOW_CONNS=200 PROBE_TIMEOUT=5
BASE_PORT="${BASE_PORT:-18480}"
OUT_DIR="${OUT_DIR:-$(mktemp -d /tmp/http_libraries.XXXX)}"
mkdir -p "$OUT_DIR"
LIBS=(libmicrohttpd cpp-httplib beast)
declare -A BIN=([libmicrohttpd]=mhd_server [cpp-httplib]=httplib_server [beast]=beast_server)

for lib in "${LIBS[@]}"; do
  [[ -x "$here/bin/${BIN[$lib]}" ]] || { "$here/build.sh"; break; }
done
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

SERVER_PID=""
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do  # up to 5 s for a clean exit, then SIGKILL
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT INT TERM

wait_ready() {  # port; up to 5 s
  for _ in $(seq 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/health/ready" 2>/dev/null \
      | grep -q 200 && return 0
    sleep 0.1
  done
  return 1
}

vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo ""; }

ver_mhd="$(dpkg-query -W -f='${Version}' libmicrohttpd-dev 2>/dev/null || echo '?')"
ver_httplib="$(dpkg-query -W -f='${Version}' libcpp-httplib-dev 2>/dev/null || echo '?')"
ver_boost="$(dpkg-query -W -f='${Version}' libboost-dev 2>/dev/null || echo '?')"
cpu="$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
python3 - "$OUT_DIR/meta.json" <<PY
import json, sys
json.dump({
  "mode": "$MODE", "cpu": """$cpu""", "nproc": $(nproc), "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
  "loadavg": "$(cut -d' ' -f1-3 /proc/loadavg)", "wrk_s": $WRK_S, "slow_s": $SLOW_S,
  "slow_conns": $SLOW_CONNS, "probe_timeout_s": $PROBE_TIMEOUT, "note": """${NOTE:-}""",
  "versions": {"libmicrohttpd": "$ver_mhd", "cpp-httplib": "$ver_httplib", "beast": "Boost $ver_boost"},
}, open(sys.argv[1], "w"))
PY

i=0
for lib in "${LIBS[@]}"; do
  i=$((i + 1))
  port=$((BASE_PORT + i))
  if curl -s -m 1 -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
    echo "run.sh: port $port already in use; set BASE_PORT" >&2; exit 1
  fi
  echo "== $lib on 127.0.0.1:$port" >&2
  "$here/bin/${BIN[$lib]}" "$port" 2>"$OUT_DIR/$lib.server.stderr" &
  SERVER_PID=$!
  wait_ready "$port" || { echo "run.sh: $lib did not become ready" >&2; cat "$OUT_DIR/$lib.server.stderr" >&2; exit 1; }
  vmrss "$SERVER_PID" >"$OUT_DIR/$lib.rss_start"

  echo "   a) wrk GET /v2/health/ready ${WRK_S}s" >&2
  timeout $((WRK_S + 15)) wrk -t2 -c32 -d"${WRK_S}s" --latency \
    "http://127.0.0.1:$port/v2/health/ready" >"$OUT_DIR/$lib.get.wrk" 2>&1 || true
  echo "   b) wrk POST /v2/models/m/infer ${WRK_S}s" >&2
  timeout $((WRK_S + 15)) wrk -t2 -c32 -d"${WRK_S}s" --latency -s "$here/infer.lua" \
    "http://127.0.0.1:$port/v2/models/m/infer" >"$OUT_DIR/$lib.post.wrk" 2>&1 || true
  sleep 1  # let connections from wrk wind down
  echo "   c) slow clients ${SLOW_CONNS} x 1 byte/s for ${SLOW_S}s" >&2
  timeout $((SLOW_S + 15)) python3 "$here/slow_clients.py" --port "$port" --pid "$SERVER_PID" \
    --conns "$SLOW_CONNS" --duration "$SLOW_S" --probe-timeout "$PROBE_TIMEOUT" \
    >"$OUT_DIR/$lib.slow.json" 2>"$OUT_DIR/$lib.slow.stderr" || true
  stop_server
  if [[ -s "$OUT_DIR/$lib.server.stderr" ]]; then
    echo "   server stderr: $(wc -l <"$OUT_DIR/$lib.server.stderr") line(s), first: $(head -1 "$OUT_DIR/$lib.server.stderr")" >&2
  fi
done

python3 "$here/make_table.py" "$OUT_DIR" "${LIBS[@]}" | tee "$OUT_DIR/table.md"
echo >&2
echo "raw outputs: $OUT_DIR" >&2
