"""HTTP/1.1 pipelining into the REST shim.

A client may send its next request before the answer to the previous one
(RFC 9112 9.3.2). When the pipelined request has a body and its answer
comes from a worker thread (a sign-in, any op that reads the store), the
node must still answer both, in order, and keep serving everyone else: a
single such connection once put libwebsockets 4.1 into a busy loop that
stopped the whole node (no answer to anyone, SIGTERM ignored)."""
import json
import socket
import uuid

import pytest
import requests


def request(method, path, body=None, token=None):
    head = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, path)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    data = json.dumps(body).encode() if body is not None else b""
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    return head.encode() + b"\r\n" + data


def read_responses(sock, n):
    """Reads n responses (Content-Length framed); returns [(status, body)]."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, "closed after %d of %d responses: %r" % (len(out), n, out)
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(buf) < length:
            chunk = sock.recv(65536)
            assert chunk, "closed inside a body"
            buf += chunk
        out.append((int(head.split(b" ")[1]), buf[:length]))
        buf = buf[length:]
    return out


@pytest.mark.skip(reason="OPEN BUG, not fixed: node-wide hang (libwebsockets 4.1 busy loop on a "
                         "pipelined request with a body); see the test's docstring and the attack report")
def test_pipelined_requests_with_bodies_are_all_answered(node):
    """Reproducer, one connection, no account needed:
    printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nPOST /authorize HTTP/1.1\\r\\nHost: x\\r\\n'\\
    'Content-Type: application/json\\r\\nContent-Length: 2\\r\\n\\r\\n{}' | nc 127.0.0.1 PORT
    answers /healthz, then the node stops answering anyone and ignores SIGTERM:
    lws_service_do_ripe_rxflow calls LWS_CALLBACK_HTTP_BODY_COMPLETION for the
    second request millions of times; its answer (ready, responded) is never
    written. Any first request works; the second must be buffered behind it
    and carry a body."""
    email = "p%s@example.com" % uuid.uuid4().hex[:8]
    r = requests.post(node.url + "/accounts", json={
        "firstName": "A", "lastName": "B", "type": "user", "password": "correct horse",
        "identities": [{"type": "email", "value": email}]}, timeout=30)
    assert r.status_code == 200, r.text
    login = {"email": email, "password": "correct horse"}
    for first in (request("GET", "/healthz"), request("POST", "/authorize", login)):
        s = socket.create_connection(("127.0.0.1", node.port))
        s.settimeout(30)
        s.sendall(first + request("POST", "/authorize", login)
                  + request("POST", "/send", {"to": "6b036c8be4a8954553036ed0", "text": "x"})
                  + request("GET", "/healthz"))
        got = read_responses(s, 4)
        assert [st for st, _ in got] == [200, 200, 401, 200], got
        assert json.loads(got[1][1])["account"]["identities"][0]["value"] == email
        s.close()
        # and the node serves others
        assert requests.get(node.url + "/healthz", timeout=10).status_code == 200
