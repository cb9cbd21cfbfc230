#!/usr/bin/env bash
# Builds the three servers of the HTTP library comparison into ./bin (one compile at a time,
# at low priority, so it can run next to the main build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$here/bin"
CXX="${CXX:-g++}"
FLAGS=(-std=c++17 -O2 -pthread -Wall -Wextra)
cc() { echo "build: $*" >&2; nice -n 19 "$CXX" "${FLAGS[@]}" "$@"; }

cc "$here/mhd_server.cc" -o "$here/bin/mhd_server" -lmicrohttpd
# Debian's cpp-httplib is the split (compiled) variant: take its defines and library from
# pkg-config; the defines must match the ones the .so was built with.
cc $(pkg-config --cflags cpp-httplib) "$here/httplib_server.cc" -o "$here/bin/httplib_server" \
  $(pkg-config --libs cpp-httplib)
cc "$here/beast_server.cc" -o "$here/bin/beast_server"
echo "build: ok -> $here/bin" >&2
