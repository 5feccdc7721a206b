"""HTTP/1.1 pipelining into the REST shim.

One connection, no account: a request with a pipelined request carrying a
body behind it, in one write, e.g.
    GET /healthz HTTP/1.1 ... then POST /authorize ... Content-Length: 2 {}
put libwebsockets 4.1 into a busy loop (its buffered-input service calls
LWS_CALLBACK_HTTP_BODY_COMPLETION for the buffered request again and again
and its answer is never written): no other client was served and SIGTERM
was ignored. Now such a connection is answered in order as far as it goes
and then closed (a pipelining client retries on a new connection, RFC 9112
9.3.2); the node keeps serving and stops cleanly."""
import json
import socket
import uuid

import requests


def request(method, path, body=None, token=None):
    head = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, path)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    data = json.dumps(body).encode() if body is not None else b""
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    return head.encode() + b"\r\n" + data


def test_pipelined_requests_with_bodies_do_not_stop_the_node(node):
    email = "p%s@example.com" % uuid.uuid4().hex[:8]
    r = requests.post(node.url + "/accounts", json={
        "firstName": "A", "lastName": "B", "type": "user", "password": "correct horse",
        "identities": [{"type": "email", "value": email}]}, timeout=30)
    assert r.status_code == 200, r.text
    login = {"email": email, "password": "correct horse"}
    firsts = (request("GET", "/healthz"), request("POST", "/authorize", {}),
              request("POST", "/authorize", login))
    for first in firsts:
        s = socket.create_connection(("127.0.0.1", node.port))
        s.settimeout(30)
        s.sendall(first + request("POST", "/authorize", login)
                  + request("POST", "/send", {"to": "6b036c8be4a8954553036ed0", "text": "x"}))
        got = read_answered(s)
        # whatever was answered is right and in order; then the connection ends
        expected = [200 if first.startswith(b"GET") or b"correct" in first else 400, 200, 401]
        assert [st for st, _ in got] == expected[:len(got)], got
        s.close()
        # the node serves others
        assert requests.get(node.url + "/healthz", timeout=10).status_code == 200
        assert requests.post(node.url + "/authorize", json=login, timeout=30).status_code == 200


def read_answered(sock):
    """Reads responses until the server closes; returns [(status, body)]."""
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    out = []
    while b"\r\n\r\n" in buf:
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        out.append((int(head.split(b" ")[1]), buf[:length]))
        buf = buf[length:]
    return out
