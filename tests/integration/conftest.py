"""Shared fixtures: start a real dropind on a free loopback port and talk to
it with real clients (websockets, requests). DROPIND names the binary (ctest
sets it); the default is the ASan build of `make test`."""
import asyncio
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import msgpack
import pytest
import requests
import websockets

ROOT = os.environ.get("DROPIN_SOURCE_DIR",
                      os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DROPIND = os.environ.get("DROPIND", os.path.join(ROOT, "build-asan", "bin", "dropind"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_uri(tmpdir, name):
    """The store a node uses: SQLite in tmpdir, or under DROPIN_TEST_STORE=mongodb
    a database called after name on DROPIN_TEST_MONGO_URI (a real mongod when
    MONGO_URI was set for with_mongo.py, else the test server). Two nodes
    given the same name share one store; every SQLite node of a test shares
    tmpdir's file."""
    if os.environ.get("DROPIN_TEST_STORE") == "mongodb":
        from mongo_server import with_database
        from urllib.parse import urlsplit
        base = os.environ["DROPIN_TEST_MONGO_URI"]
        return with_database(base, (urlsplit(base).path.strip("/") or "dropin_test") + "_" + name)
    return "sqlite:%s" % os.path.join(tmpdir, "dropin.db")


class Node:
    """One dropind process. args are extra --key value pairs."""

    def __init__(self, tmpdir, args=(), port=None, store=None):
        self.port = port or free_port()
        self.tmpdir = tmpdir
        self.killed = False
        self.log_path = os.path.join(tmpdir, "dropind-%d.log" % self.port)
        if store is None:
            store = store_uri(tmpdir, "%d" % self.port)
        self.store = store
        self.args = ["--listen", "127.0.0.1:%d" % self.port, "--store", self.store,
                     "--log_level", "debug"] + list(args)
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def ws_url(self):
        return "ws://127.0.0.1:%d/ws" % self.port

    def start(self, timeout=float(os.environ.get("DROPIND_START_TIMEOUT", "15"))):
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        # DROPIND_PREFIX runs the node under a tool (make chaos: valgrind)
        prefix = os.environ.get("DROPIND_PREFIX", "").split()
        self.proc = subprocess.Popen(prefix + [DROPIND, "-c", os.path.join(ROOT, "conf", "dropind.conf")]
                                     + self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dropind exited with %s:\n%s" % (self.proc.returncode,
                                                                    self.read_log()))
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("dropind did not start:\n" + self.read_log())

    def stop(self, sig=signal.SIGTERM, timeout=float(os.environ.get("DROPIND_STOP_TIMEOUT", "15"))):
        """Stops the node; returns its exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self):
        """SIGKILL: the node dies with its timers, as a crashed host would."""
        self.proc.kill()
        self.proc.wait()
        self.killed = True

    def read_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


@pytest.fixture
def node_factory():
    """Starts nodes on demand; every node is stopped at the end and must have
    exited cleanly (exit 0, no sanitizer report)."""
    tmp = tempfile.TemporaryDirectory(prefix="dropin-")
    nodes = []

    def make(args=(), start=True, tmpdir=None, store=None):
        n = Node(tmpdir or tmp.name, args, store=store)
        nodes.append(n)
        return n.start() if start else n

    make.tmpdir = tmp.name
    yield make
    failures = []
    for n in nodes:
        if n.proc is None or n.killed:
            continue
        rc = n.stop()
        log = n.read_log()
        if rc not in (0, None) or "ERROR: AddressSanitizer" in log or "runtime error:" in log:
            failures.append("node %d exited %s:\n%s" % (n.port, rc, log[-6000:]))
    tmp.cleanup()
    assert not failures, "\n".join(failures)


@pytest.fixture
def node(node_factory):
    return node_factory()


_open_clients = []


# The events of PROTOCOL.md section 1; any other "ev" is a frame no test expects.
EVENTS = {"session.state", "gig.offer", "gig.offer_revoked", "gig.updated", "inbox.message",
          "job.updated", "push"}


class UnexpectedFrame(AssertionError):
    """A frame the client did not ask for: a reply to no request it sent with
    that id (a stray reply, e.g. to a request without id), an event PROTOCOL.md
    does not name, or something that is no envelope at all."""


class Client:
    """A WebSocket client speaking the envelope in JSON or MessagePack.

    Strict: every frame read through call/event/update/flush is checked. A
    reply must answer an id this client sent and has not had answered yet,
    an event must be one of PROTOCOL.md's, with data; anything else fails the
    test at once (UnexpectedFrame). Replies to ids sent with send() wait in
    self.replies. recv() is the raw escape hatch for tests of odd frames."""

    def __init__(self, ws, codec):
        self.ws = ws
        self.codec = codec
        self.next_id = 1
        self.events = []
        self.sent = set()     # ids sent and not answered yet
        self.replies = {}     # answers to ids sent with send(), not yet taken

    @classmethod
    async def connect(cls, url, codec="json", headers=None, **kw):
        sub = ["dropin.v1.msgpack"] if codec == "msgpack" else (
            ["dropin.v1.json"] if codec == "json" else None)
        kw.setdefault("close_timeout", 2)
        ws = await websockets.connect(url, subprotocols=sub, extra_headers=headers or {},
                                      max_size=None, **kw)
        c = cls(ws, "msgpack" if codec == "msgpack" else "json")
        _open_clients.append(c)
        return c

    def encode(self, obj):
        return msgpack.packb(obj) if self.codec == "msgpack" else json.dumps(obj)

    def decode(self, data):
        return msgpack.unpackb(data) if self.codec == "msgpack" else json.loads(data)

    async def send(self, obj):
        if isinstance(obj, dict) and obj.get("id") is not None:
            key = json.dumps(obj["id"])
            if key in self.sent:
                raise AssertionError("test bug: id %s is already in flight" % key)
            self.sent.add(key)
        await self.ws.send(self.encode(obj))

    async def recv(self, timeout=30):
        """The next frame, unchecked."""
        return self.decode(await asyncio.wait_for(self.ws.recv(), timeout))

    def check(self, m):
        """Classifies one frame: returns it when it is an expected reply or
        event, raises UnexpectedFrame otherwise."""
        if not isinstance(m, dict):
            raise UnexpectedFrame("not an envelope: %r" % (m,))
        if "re" in m or "ok" in m:
            key = json.dumps(m.get("re"))
            if key not in self.sent:
                raise UnexpectedFrame("a reply to no request in flight: %r" % (m,))
            if not isinstance(m.get("ok"), bool) or (m["ok"] and "error" in m) or \
                    (not m["ok"] and not isinstance(m.get("error"), dict)):
                raise UnexpectedFrame("a malformed reply: %r" % (m,))
            self.sent.discard(key)
            return m
        if m.get("ev") in EVENTS and "data" in m and set(m) <= {"ev", "data"}:
            return m
        raise UnexpectedFrame("a frame no test expects: %r" % (m,))

    async def _next(self, deadline):
        m = self.check(await self.recv(max(0.1, deadline - time.time())))
        if "ev" not in m:
            self.replies[json.dumps(m["re"])] = m
        return m

    async def reply(self, rid, timeout=30):
        """The reply to an id sent earlier (with send); events that arrive
        first are kept in self.events."""
        key = json.dumps(rid)
        deadline = time.time() + timeout
        while key not in self.replies:
            m = await self._next(deadline)
            if "ev" in m:
                self.events.append(m)
        return self.replies.pop(key)

    async def call(self, op, data=None, timeout=30):
        """Sends a request and returns its reply; events that arrive first
        are kept in self.events."""
        rid = self.next_id
        self.next_id += 1
        while json.dumps(rid) in self.sent:
            rid = self.next_id
            self.next_id += 1
        msg = {"op": op, "id": rid}
        if data is not None:
            msg["data"] = data
        await self.send(msg)
        return await self.reply(rid, timeout)

    async def ok(self, op, data=None):
        r = await self.call(op, data)
        assert r["ok"] is True, r
        return r["data"]

    async def flush(self):
        """Round-trips a sys.ping: replies come in request order and a node
        queues a session's events in order, so whatever was queued for this
        session before the ping (a stray reply above all) has been read and
        checked when this returns."""
        assert (await self.call("sys.ping"))["ok"]

    def pending(self, name):
        """The kept events called name (not consumed)."""
        return [m["data"] for m in self.events if m.get("ev") == name]

    async def event(self, name, timeout=30):
        """Returns the next event called name (kept ones first)."""
        for i, m in enumerate(self.events):
            if m.get("ev") == name:
                return self.events.pop(i)["data"]
        deadline = time.time() + timeout
        while True:
            m = await self._next(deadline)
            if m.get("ev") == name:
                return m["data"]
            if "ev" in m:
                self.events.append(m)

    async def update(self, status, timeout=30):
        """Returns the first gig.updated with this status, skipping earlier
        versions (as a client applying only newer versions would)."""
        deadline = time.time() + timeout
        while True:
            g = await self.event("gig.updated", max(0.1, deadline - time.time()))
            if g["status"] == status:
                return g

    async def closed(self, timeout=10):
        """Waits until the server closes; returns (code, reason)."""
        try:
            deadline = time.time() + timeout
            while True:
                m = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.time()))
                m = self.check(self.decode(m))
                if "ev" in m:
                    self.events.append(m)
        except websockets.ConnectionClosed as e:
            return e.code, e.reason

    async def close(self):
        await self.ws.close()


def run(coro):
    """Runs a test coroutine, then closes the clients it left open (an
    unclosed websockets client would hold asyncio.run for its close timeout)."""
    async def wrapper():
        try:
            out = await coro
            # the end of a test: whatever its clients were sent and did not
            # read must still be frames they expect (a late stray reply)
            for c in list(_open_clients):
                try:
                    await c.call("sys.ping", timeout=15)
                except (websockets.ConnectionClosed, asyncio.TimeoutError, OSError):
                    pass
            return out
        finally:
            left = list(_open_clients)
            _open_clients.clear()
            await asyncio.gather(*[c.ws.close() for c in left], return_exceptions=True)
    return asyncio.run(wrapper())


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a fault or attack run by `make chaos`, not by `make test`")
