"""The MongoDB test server for tests: installs (tools/mongo-test-server/
install.sh, a no-op when already installed) and runs CongoDB, a
wire-compatible in-memory server, on a free loopback port.

Usage from pytest or any script:

    from mongo_server import MongoTestServer
    with MongoTestServer() as srv:
        uri = srv.uri("dropin_test")     # mongodb://127.0.0.1:PORT/dropin_test
        srv.stop()                       # the store goes down ...
        srv.start(port=srv.port)         # ... and comes back on the same port

The server is started with --exit-on-stdin-close, so it also ends when this
process dies. real_mongo_uri() returns MONGO_URI when it points at a real
mongod: tests then use it instead and run the cases the test server cannot
(see GAPS)."""
import os
import select
import subprocess
import sys
import time

ROOT = os.environ.get("DROPIN_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SERVER_DIR = os.path.join(ROOT, "tools", "mongo-test-server")

# What CongoDB (smartmongo 2.2.0) does not do like MongoDB, measured.
GAPS = (
    "unique secondary indexes are not enforced",
    "abortTransaction does not roll back",
    "_id must be an ObjectId",
    "integer types come back widened or narrowed",
    "a $-operator update re-clones the document and mangles Binary and "
    "int64-beyond-2^53 fields (replacements are fine)",
    "positional $[] updates and update pipelines are not supported",
)

_installed = False


def real_mongo_uri():
    """MONGO_URI from the environment (a real mongod), or None."""
    uri = os.environ.get("MONGO_URI", "").strip()
    return uri or None


def with_database(uri, database):
    """uri with its database (the path) replaced by database; the query
    string (authSource, replicaSet, ...) is kept."""
    from urllib.parse import urlsplit, urlunsplit
    p = urlsplit(uri)
    return urlunsplit((p.scheme, p.netloc, "/" + database, p.query, p.fragment))


class RealMongo:
    """The real mongod of MONGO_URI, with MongoTestServer's uri() and
    stop() (a no-op: it is not ours to stop)."""

    def __init__(self, uri):
        self.base = uri

    def uri(self, database="dropin_test"):
        return with_database(self.base, database)

    def start(self, port=None):
        return self

    def stop(self):
        pass


def mongo_for_test():
    """What a test that only needs a MongoDB uses: the real mongod of
    MONGO_URI when set, else a freshly started test server. Call stop()."""
    real = real_mongo_uri()
    return RealMongo(real) if real else MongoTestServer().start()


def install():
    """Runs install.sh once per process. Raises RuntimeError on failure."""
    global _installed
    if _installed:
        return
    r = subprocess.run(["sh", os.path.join(SERVER_DIR, "install.sh")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("mongo test server install failed:\n" +
                           r.stdout.decode(errors="replace"))
    _installed = True


class MongoTestServer:
    """One CongoDB process on 127.0.0.1."""

    def __init__(self):
        self.proc = None
        self.port = None

    def start(self, port=0, timeout=30):
        """Starts the server (installing it first when missing) on port
        (0 = a free one) and waits for its ready line. Returns self."""
        if self.proc is not None:
            raise RuntimeError("mongo test server already running")
        install()
        proc = subprocess.Popen(["node", os.path.join(SERVER_DIR, "server.js"),
                                 "--port", str(port), "--exit-on-stdin-close"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=SERVER_DIR)
        deadline = time.time() + timeout
        line = b""
        while time.time() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            ch = os.read(proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
        text = line.decode(errors="replace").strip()
        if not text.startswith("CONGO_READY "):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise RuntimeError("mongo test server did not start (%r):\n%s" %
                               (text, err.decode(errors="replace")))
        fields = dict(kv.split("=", 1) for kv in text.split()[1:] if "=" in kv)
        self.port = int(fields["port"])
        self.proc = proc
        return self

    def stop(self, timeout=10):
        """Stops the server (SIGTERM, then SIGKILL). No-op when stopped."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def uri(self, database="dropin_test"):
        """The connection URI of the running server for database."""
        return "mongodb://127.0.0.1:%d/%s" % (self.port, database)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    # Manual use: python3 mongo_server.py  -> prints the URI, runs until ^C.
    with MongoTestServer() as srv:
        print(srv.uri(), flush=True)
        try:
            srv.proc.wait()
        except KeyboardInterrupt:
            pass
    sys.exit(0)
