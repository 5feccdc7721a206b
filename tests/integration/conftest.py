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


class Node:
    """One dropind process. args are extra --key value pairs."""

    def __init__(self, tmpdir, args=(), port=None):
        self.port = port or free_port()
        self.tmpdir = tmpdir
        self.log_path = os.path.join(tmpdir, "dropind-%d.log" % self.port)
        store = "sqlite:%s" % os.path.join(tmpdir, "dropin.db")
        if os.environ.get("DROPIN_TEST_STORE") == "mongodb":
            # one database per node on the MongoDB test server
            store = os.environ["DROPIN_TEST_MONGO_URI"] + "_%d" % self.port
        self.args = ["--listen", "127.0.0.1:%d" % self.port, "--store", store,
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

    def make(args=(), start=True, tmpdir=None):
        n = Node(tmpdir or tmp.name, args)
        nodes.append(n)
        return n.start() if start else n

    yield make
    failures = []
    for n in nodes:
        if n.proc is None:
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


class Client:
    """A WebSocket client speaking the envelope in JSON or MessagePack."""

    def __init__(self, ws, codec):
        self.ws = ws
        self.codec = codec
        self.next_id = 1
        self.events = []

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
        await self.ws.send(self.encode(obj))

    async def recv(self, timeout=10):
        return self.decode(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, op, data=None, timeout=10):
        """Sends a request and returns its reply; events that arrive first
        are kept in self.events."""
        rid = self.next_id
        self.next_id += 1
        msg = {"op": op, "id": rid}
        if data is not None:
            msg["data"] = data
        await self.send(msg)
        deadline = time.time() + timeout
        while True:
            m = await self.recv(max(0.1, deadline - time.time()))
            if m.get("re") == rid:
                return m
            self.events.append(m)

    async def ok(self, op, data=None):
        r = await self.call(op, data)
        assert r["ok"] is True, r
        return r["data"]

    async def event(self, name, timeout=10):
        """Returns the next event called name (kept ones first)."""
        for i, m in enumerate(self.events):
            if m.get("ev") == name:
                return self.events.pop(i)["data"]
        deadline = time.time() + timeout
        while True:
            m = await self.recv(max(0.1, deadline - time.time()))
            if m.get("ev") == name:
                return m["data"]
            self.events.append(m)

    async def update(self, status, timeout=10):
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
                self.events.append(self.decode(m))
        except websockets.ConnectionClosed as e:
            return e.code, e.reason

    async def close(self):
        await self.ws.close()


def run(coro):
    """Runs a test coroutine, then closes the clients it left open (an
    unclosed websockets client would hold asyncio.run for its close timeout)."""
    async def wrapper():
        try:
            return await coro
        finally:
            left = list(_open_clients)
            _open_clients.clear()
            await asyncio.gather(*[c.ws.close() for c in left], return_exceptions=True)
    return asyncio.run(wrapper())


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a fault or attack run by `make chaos`, not by `make test`")
