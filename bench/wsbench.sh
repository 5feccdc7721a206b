#!/bin/sh
# wsbench.sh - dropind against node + ws and the floor (bench/peers/) on the
# socket path, driven by tools/dropbench: ping closed and open loop, idle
# sessions, presence. Builds dropind and dropbench in build-bench (Release
# -O2, no sanitizers) and the floor peer; installs Debian's node-ws when
# missing (tools/install-deps.sh --bench). Extra arguments go to
# bench/wsbench.py (--rounds, --duration, --idle, --rate, --only, --scenarios).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
"$root/tools/install-deps.sh" --bench
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DDROPIN_SANITIZE=OFF -DDROPIN_WERROR=OFF >/dev/null
nice cmake --build "$build" -j2 --target dropind dropbench >"$build/wsbench-build.log" 2>&1 || {
    tail -30 "$build/wsbench-build.log" >&2
    exit 1
}
nice cc -O2 -Wall -Wextra -o "$build/bin/floor" "$root/bench/peers/floor.c" -lcrypto
exec timeout 900 /usr/bin/python3 "$root/bench/wsbench.py" --bin "$build/bin" "$@"
