#!/bin/sh
# grid.sh - builds grid_bench with -O2 in build-bench (Release), starts a
# private redis-server on a free loopback port without persistence, runs the
# benchmark against it, prints the table and stops redis. Extra arguments go to
# grid_bench (e.g. --n 100000 --runs 3).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DDROPIN_SANITIZE=OFF >/dev/null
cmake --build "$build" -j2 --target grid_bench >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >"$build/redis-bench.log" 2>&1 &
rpid=$!
trap 'kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true' EXIT INT TERM
i=0
until redis-cli -p "$port" ping >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 50 ]; then echo "redis-server did not start (see $build/redis-bench.log)" >&2; exit 1; fi
    sleep 0.1
done
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(redis-server --version | cut -d' ' -f3)"
"$build/bin/grid_bench" --redis-port "$port" "$@"
