"""Account helpers shared by the integration tests."""
import itertools
import os
import uuid

from conftest import Client

_seq = itertools.count(1)


def ms(iso):
    """Milliseconds since the epoch of an ISO-8601 UTC time with milliseconds
    (the node's clock, for structural checks of deadlines and durations)."""
    import datetime
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return round(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def unique_email(prefix="u"):
    return "%s%d.%s@example.com" % (prefix, next(_seq), uuid.uuid4().hex[:8])


async def register(c, type_="user", email=None, password="correct horse", first="Ann", last="Lee"):
    email = email or unique_email(type_)
    r = await c.call("account.register", {
        "firstName": first, "lastName": last, "type": type_, "password": password,
        "identities": [{"type": "email", "value": email}]})
    assert r["ok"], r
    return r["data"], email


async def login(c, email, password="correct horse"):
    r = await c.call("auth.login", {"identity": email, "password": password})
    assert r["ok"], r
    state = await c.event("session.state")
    return r["data"], state


async def new_session(node, type_="user", codec="json", **kw):
    """Registers a fresh account and returns (client, account, token)."""
    c = await Client.connect(node.ws_url, codec=codec)
    acct, email = await register(c, type_, **kw)
    data, _ = await login(c, email)
    c.email = email
    return c, data["account"], data["token"]


class RawWS:
    """A bare-bones blocking WebSocket client over a plain socket, for tests
    that must control reading (a consumer that stops reading)."""

    def __init__(self, port, headers=(), rcvbuf=None):
        import base64
        import socket
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % key)
        for h in headers:
            req += h + "\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "handshake failed"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head

    def send_text(self, text):
        import struct
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_frame(self):
        """Returns (opcode, payload)."""
        import struct
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def close_code(self, timeout=15):
        """Reads until a close frame; returns its code (None on EOF)."""
        import struct
        self.sock.settimeout(timeout)
        try:
            while True:
                op, payload = self.recv_frame()
                if op == 8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        except (EOFError, ConnectionResetError):
            return None
