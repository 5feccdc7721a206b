#!/usr/bin/env bash
# Installs what building, running and testing dropind needs on Debian 12.
# Checks first and installs only what is missing: a second run costs nothing.
#   tools/install-deps.sh          build + run dependencies
#   tools/install-deps.sh --test   also the test dependencies (pytest, redis, ...)
#   tools/install-deps.sh --bench  also the socket benchmark's peers (bench/wsbench.sh):
#                                  Debian's node-ws for bench/peers/node-ws.js
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libuv1-dev libwebsockets-dev libwebsockets-evlib-uv
      libhiredis-dev libmongoc-dev libbson-dev libmsgpack-dev libjansson-dev
      libcurl4-openssl-dev libssl-dev libsqlite3-dev libargon2-dev uthash-dev
      libjwt-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(libcmocka-dev redis-server valgrind
         python3 python3-pytest python3-websockets python3-redis python3-msgpack
         python3-pymongo python3-requests python3-aiosmtpd
         python3-jwt python3-cryptography
         chromium  # the JS client's browser test (clients/js), headless
         clang-14 libclang-rt-14-dev)  # libFuzzer: tests/fuzz, make fuzz
fi
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(redis-server python3 nodejs node-ws)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${1:-}" = "--test" ]; then
  # The MongoDB wire-compatible test server (CongoDB, from npm) needs node
  # and npm; a machine may already have them from elsewhere (nodesource).
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "install-deps: installing nodejs npm"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends nodejs npm
  fi
  sh "$(dirname "$0")/mongo-test-server/install.sh"
  # optional: test_video.py compares T1 tokens with the official SDK's, and
  # skips that one test without it
  sh "$(dirname "$0")/opentok-ref/install.sh" ||
    echo "install-deps: npm opentok not installed; the T1 byte-for-byte test will skip"

  # The JS client's test packages (clients/js/package-lock.json), when changed.
  js="$(dirname "$0")/../clients/js"
  if [ ! -f "$js/node_modules/.package-lock.json" ] ||
     [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in clients/js"
    (cd "$js" && npm ci --no-audit --no-fund)
  fi
fi
