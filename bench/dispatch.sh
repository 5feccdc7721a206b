#!/bin/sh
# dispatch.sh - builds dropind in build-bench (Release -O2, no sanitizers) and
# runs bench/dispatch.py with Debian's python3 (python3-websockets installed,
# though the bench uses its own minimal asyncio client): 10k operators online
# on one node, gig.create -> gig.offer latency p50/p99 against a sys.ping
# baseline. Extra arguments go to dispatch.py (e.g. --operators 2000 --gigs 200,
# --tmpdir /dev/shm). The whole run takes about a minute; it stops at 15.
#
# -Werror is off in this build only: the bench measures, the test build
# (make test) is where warnings fail the build.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DDROPIN_SANITIZE=OFF -DDROPIN_WERROR=OFF >/dev/null
cmake --build "$build" -j2 --target dropind >"$build/dispatch-build.log" 2>&1 || {
    tail -30 "$build/dispatch-build.log" >&2
    exit 1
}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exec timeout 900 /usr/bin/python3 "$root/bench/dispatch.py" --dropind "$build/bin/dropind" "$@"
