#!/bin/sh
# cluster.sh - builds dropind in build-bench (Release -O2, no sanitizers) and
# runs bench/cluster.py with Debian's python3: a redis-server, the MongoDB
# test server (tools/mongo-test-server, installed when missing) and three
# dropind nodes on loopback; a customer on node a, 2000 operators on nodes
# b and c; gig.create on a -> gig.offer on b/c latency p50/p99 against a
# sys.ping and a Redis pub/sub round trip. Extra arguments go to cluster.py
# (e.g. --operators 500 --gigs 100). About two minutes; it stops at 15.
#
# -Werror is off in this build only: the bench measures, `make test` polices
# warnings.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
sh "$root/tools/mongo-test-server/install.sh" >/dev/null
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DDROPIN_SANITIZE=OFF -DDROPIN_WERROR=OFF >/dev/null
cmake --build "$build" -j2 --target dropind >"$build/cluster-build.log" 2>&1 || {
    tail -30 "$build/cluster-build.log" >&2
    exit 1
}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exec timeout 900 /usr/bin/python3 "$root/bench/cluster.py" --dropind "$build/bin/dropind" "$@"
