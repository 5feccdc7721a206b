#!/usr/bin/env python3
"""with_mongo.py CMD [ARG...] - runs CMD with a MongoDB to test against.

When MONGO_URI is set (a real mongod), CMD gets DROPIN_TEST_MONGO_URI=MONGO_URI
and DROPIN_MONGO_REAL=1, so the cases the test server cannot pass run too.
Otherwise the CongoDB test server is installed when missing, started on a
free loopback port, CMD runs with DROPIN_TEST_MONGO_URI pointing at it, and
the server is stopped afterwards. The exit status is CMD's (127 when it
cannot be run, 1 when the server cannot be started)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mongo_server import MongoTestServer, real_mongo_uri  # noqa: E402


def main(argv):
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    env = dict(os.environ)
    real = real_mongo_uri()
    if real:
        env["DROPIN_TEST_MONGO_URI"] = real
        env["DROPIN_MONGO_REAL"] = "1"
        print("with_mongo: using the real mongod of MONGO_URI", flush=True)
        return run(argv, env)
    srv = MongoTestServer()
    try:
        srv.start()
    except Exception as e:  # noqa: BLE001 - report any failure plainly
        print("with_mongo: %s" % e, file=sys.stderr)
        return 1
    try:
        env["DROPIN_TEST_MONGO_URI"] = srv.uri("dropin_test")
        env.pop("DROPIN_MONGO_REAL", None)
        print("with_mongo: CongoDB test server at %s" % env["DROPIN_TEST_MONGO_URI"],
              flush=True)
        return run(argv, env)
    finally:
        srv.stop()


def run(argv, env):
    try:
        return subprocess.call(argv, env=env)
    except OSError as e:
        print("with_mongo: cannot run %s: %s" % (argv[0], e), file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
