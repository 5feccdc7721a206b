"""Transport under attack, with raw sockets against a real dropind: WebSocket
framing errors get a close frame with the right code (RFC 6455), slow
clients (headers, body, a reader that never reads) are dropped at their
deadline while a real client is still served, running out of file
descriptors neither spins the CPU nor floods the log, and 20 refused
requests in a row close a session with 4429."""
import asyncio
import base64
import json
import os
import select
import socket
import struct
import subprocess
import time

import pytest
import requests

from conftest import DROPIND, ROOT, Client, Node, run

# short deadlines, so that the file runs in well under a minute
FAST = ["--http_header_timeout", "2s", "--http_body_timeout", "4s"]


# ---- raw WebSocket helpers ----

def ws_connect(node):
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def frame(opcode, payload=b"", masked=True, fin=True, length=None):
    """One frame; length overrides the encoded payload length (bytes
    following it are payload as given)."""
    n = len(payload) if length is None else length
    out = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if masked else 0
    if length is not None and length >= 1 << 16 or n > 0xffff:
        out += bytes([mbit | 127]) + struct.pack(">Q", n)
    elif n > 125:
        out += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([mbit | n])
    if masked:
        key = os.urandom(4)
        out += key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def close_code(s, timeout=10):
    """Reads server frames until a close frame: returns its code, or None
    when the connection ends without one (a bare TCP close)."""
    s.settimeout(timeout)
    try:
        while True:
            h = recv_exact(s, 2)
            if h is None:
                return None
            n = h[1] & 0x7f
            if n == 126:
                n = struct.unpack(">H", recv_exact(s, 2))[0]
            elif n == 127:
                n = struct.unpack(">Q", recv_exact(s, 8))[0]
            payload = recv_exact(s, n) if n else b""
            if payload is None:
                return None
            if h[0] & 0x0f == 8:
                return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return None
    finally:
        s.close()


PING = json.dumps({"op": "sys.ping", "id": 1}).encode()


@pytest.mark.parametrize("name,data,codes", [
    # lws (4.1.6, and 4.4 too) never checks the mask bit of a client frame
    # and exposes no way to see it: known gap, kept here so it shows
    pytest.param("unmasked", frame(1, PING, masked=False), (1002,),
                 marks=pytest.mark.xfail(strict=True, reason="lws does not check the mask bit")),
    ("ping over 125 bytes", frame(9, b"x" * 126), (1002,)),
    ("reserved opcode", frame(3, b"abc"), (1002,)),
    ("reserved control opcode", frame(0xb, b""), (1002,)),
    ("bad UTF-8", frame(1, b'{"op":"sys.ping","x":"\xff\xfe"}'), (1007,)),
    ("length 2^63", frame(2, b"", length=1 << 63), (1002, 1009)),
])
def test_bad_frame_gets_a_close_frame(node, name, data, codes):
    s = ws_connect(node)
    s.sendall(frame(1, PING))  # a good frame first: the session works
    s.sendall(data)
    assert close_code(s, timeout=4) in codes, name
    # the node is fine
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200


# ---- slow clients ----

def wait_closed_while_trickling(s, chunks, gap=0.5):
    """Sends chunks one by one, gap apart, until the server closes the
    connection; returns how many were sent, or None if it never closed."""
    for i, c in enumerate(chunks):
        r, _, _ = select.select([s], [], [], gap)
        if r:
            try:
                if s.recv(4096) == b"":
                    return i
            except ConnectionResetError:
                return i
        try:
            s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            return i
    return None


def real_client_served(node):
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200

    async def ws():
        c = await Client.connect(node.ws_url)
        assert "time" in await c.ok("sys.ping")
        await c.close()
    run(ws())


def test_slow_headers_are_dropped_at_the_header_deadline(node_factory):
    node = node_factory(FAST)
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    # one header byte every half second; 18 of them (9 s) are more than four
    # times the 2 s deadline, and less than lws's own 10 s header timeout
    hdr = b"X-Slow: yyyyyyyyyyyy"
    sent = wait_closed_while_trickling(s, [hdr[j:j + 1] for j in range(18)])
    real_client_served(node)
    s.close()
    assert sent is not None, "a client trickling headers was never dropped"
    assert "event=http_deadline phase=headers" in node.read_log()


def test_slow_body_is_dropped_at_the_request_deadline(node_factory):
    node = node_factory(FAST)
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    s.sendall(b"POST /gigs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 60000\r\n\r\n")
    # one body byte every half second: each arrives well within lws's
    # 10 s gap, so only an overall deadline (4 s here) stops it; 24 of them
    # give it 12 s
    sent = wait_closed_while_trickling(s, [b" "] * 24)
    real_client_served(node)
    s.close()
    assert sent is not None, "a client trickling a body was never dropped"
    assert "event=http_deadline phase=request" in node.read_log()


def test_a_client_that_never_reads_is_dropped(node_factory):
    node = node_factory(FAST)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", node.port))
    # many pipelined requests whose answers it never reads
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    s.setblocking(False)
    data = req * 2000
    try:
        while data:
            r, w, _ = select.select([], [s], [], 1)
            if not w:
                break
            data = data[s.send(data):]
    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
        pass
    real_client_served(node)
    deadline = time.time() + 20
    while "event=http_deadline" not in node.read_log() and time.time() < deadline:
        time.sleep(0.1)
    assert "event=http_deadline" in node.read_log(), "the non-reading client was not dropped"
    # now read: the connection ends (closed by the server) long before the
    # 2000 answers asked for
    s.setblocking(True)
    s.settimeout(15)
    got, ended = 0, False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                ended = True
                break
            got += len(chunk)
    except (ConnectionResetError, socket.timeout) as e:
        ended = isinstance(e, ConnectionResetError)
    s.close()
    assert ended
    assert got < 2000 * 1000
    real_client_served(node)


# ---- running out of file descriptors ----

class LimitedNode(Node):
    """A dropind started under prlimit --nofile=N."""

    def __init__(self, tmpdir, args, nofile):
        super().__init__(tmpdir, args)
        self.nofile = nofile

    def start(self, timeout=15):
        self.log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        self.proc = subprocess.Popen(
            ["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile), DROPIND,
             "-c", os.path.join(ROOT, "conf", "dropind.conf")] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.read_log()
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("dropind did not start:\n" + self.read_log())


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_exhaustion_neither_spins_nor_floods_and_recovers(tmp_path):
    # idle connections must stay for the whole test: long header deadline
    node = LimitedNode(str(tmp_path), ["--http_header_timeout", "60s",
                                       "--log_level", "info"], 256).start()
    try:
        clients = []
        for _ in range(320):
            c = socket.socket()
            c.settimeout(5)
            c.connect(("127.0.0.1", node.port))  # completes in the backlog
            clients.append(c)
        deadline = time.time() + 10
        while "errno 24" not in node.read_log() and time.time() < deadline:
            time.sleep(0.1)
        assert "errno 24" in node.read_log(), "the node never ran out of descriptors"
        assert "event=accept_paused errno=24" in node.read_log()
        before = cpu_seconds(node.proc.pid)
        t0 = time.time()
        time.sleep(3)  # the measurement window, not a synchronisation
        used = cpu_seconds(node.proc.pid) - before
        assert used < 0.5 * (time.time() - t0), "node spins at the fd limit: %.2fs CPU" % used
        lines = node.read_log().count("\n")
        accept_lines = sum(1 for line in node.read_log().splitlines()
                           if "accept" in line)
        assert accept_lines < 30, accept_lines
        assert lines < 400, lines
        # a waiting client was told, through the reserve descriptor
        answers = []
        for c in clients:
            try:
                c.setblocking(False)
                answers.append(c.recv(4096))
            except (BlockingIOError, socket.timeout, ConnectionResetError):
                pass
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        assert refused, "no waiting client was answered 503"
        body = json.loads(refused[0].split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "unavailable"
        for c in clients:
            c.close()
        # a real client is served again once the others are gone
        assert requests.get(node.url + "/healthz", timeout=10).status_code == 200
        real_client_served(node)
    finally:
        rc = node.stop()
        log = node.read_log()
    assert rc == 0, log[-4000:]
    assert "AddressSanitizer" not in log and "runtime error:" not in log


# ---- strikes ----

def test_twenty_refused_requests_close_with_4429(node_factory):
    # a generous rate limit: the refusals here come from the 64 requests
    # already waiting behind a login, not from the token bucket
    node = node_factory(["--rate_limit", "100000", "--rate_burst", "100000"])

    async def go():
        c = await Client.connect(node.ws_url)
        # a login runs on a worker (password hashing): the pings behind it wait
        await c.send({"op": "auth.login", "id": 0,
                      "data": {"identity": "nobody@example.com", "password": "wrong-password"}})
        for i in range(1, 64 + 30):
            await c.send({"op": "sys.ping", "id": i})
        code, _ = await c.closed(timeout=20)
        refused = [m for m in c.events if not m.get("ok") and m.get("error", {}).get("code") ==
                   "rate_limited"]
        return code, refused

    code, refused = run(go())
    assert code == 4429, (code, len(refused))
