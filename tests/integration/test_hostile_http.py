"""Hostile HTTP from outside (issue 12): each request that crashed or
confused a node is sent raw, over a real socket, to a real dropind. Every
answer must be an HTTP status with the JSON error shape, the node must keep
serving, and it must exit cleanly under ASan/UBSan (the node fixture checks
the exit code and the log for sanitizer reports)."""
import json
import os
import socket
import stat
import subprocess

import pytest
import requests

from conftest import DROPIND, ROOT


def raw(node, data, timeout=10):
    """Sends data on a new connection; returns everything the node sent
    until it closed (or the timeout)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def answer(node, request_line, headers=b""):
    """(status, parsed JSON body) of one raw request."""
    out = raw(node, request_line + b"\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
    assert out, "the node closed without an answer to %r" % request_line[:80]
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)


def error_code(node, request_line, headers=b""):
    status, body = answer(node, request_line, headers)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return status, body["error"]["code"], body["error"]["message"]


# Each of these killed the node with SIGSEGV (strlen(NULL) in respond_json).
CRASHERS = [b"GET /nope%ff", b"GET /accounts/%ff", b"GET /gigs/%ff/getall", b"GET /map/%ff/1",
            b"GET /accounts/%c0%ae", b"POST /gigs/cancel/%ff", b"GET /accounts/\xff\xfe",
            b"GET /gigs/%ed%a0%80/getall",  # a UTF-16 surrogate, not UTF-8
            b"GET /accounts/%f4%90%80%80"]  # above U+10FFFF


@pytest.mark.parametrize("line", CRASHERS)
def test_invalid_utf8_in_path_is_400(node, line):
    status, code, msg = error_code(node, line + b" HTTP/1.1")
    assert (status, code) == (400, "bad_request"), msg
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200


def test_404_message_is_cut_on_a_character_boundary(node):
    # 280 a's and three two-byte characters: the old 300-byte message cut
    # the last one in half, which jansson refuses
    for pad in range(270, 300):
        status, code, msg = error_code(node, b"GET /" + b"a" * pad + b"%c3%a9%c3%a9%c3%a9 HTTP/1.1")
        assert (status, code) == (404, "not_found")
        assert msg.startswith("no such route: /aaa")
        assert "\ufffd" not in msg  # nothing was replaced: only whole characters
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200


def test_query_value_that_is_not_utf8_is_refused_not_dropped(node):
    # GET /users?q=%ff used to drop the filter and list every account
    status, code, msg = error_code(node, b"GET /users?q=%ff HTTP/1.1")
    assert (status, code) == (400, "bad_request"), msg


def test_long_path_is_414_and_big_headers_431(node):
    status, code, _ = error_code(node, b"GET /" + b"a" * 9000 + b" HTTP/1.1")
    assert (status, code) == (414, "too_large")
    status, code, _ = error_code(node, b"GET /healthz HTTP/1.1", b"User-Agent: " + b"u" * 16000 + b"\r\n")
    assert (status, code) == (431, "too_large")
    status, code, _ = error_code(node, b"GET /user HTTP/1.1",
                                 b"Authorization: Bearer " + b"t" * 10000 + b"\r\n")
    assert (status, code) == (431, "too_large")
    # a POST refused before its body was read is closed, so that the unread
    # body is never taken for the next request on the connection
    out = raw(node, b"POST /gigs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 10\r\nUser-Agent: " + b"u" * 9000 + b"\r\n\r\n"
                    b"GET /x HTTP")
    assert out.count(b"HTTP/1.1 ") == 1 and b" 431 " in out.split(b"\r\n")[0]


def test_unknown_methods_get_the_json_error_shape(node):
    for method in (b"TRACE", b"FOO", b"PROPFIND"):
        status, code, _ = error_code(node, method + b" / HTTP/1.1")
        assert (status, code) == (501, "not_implemented")
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200


def test_json_errors_do_not_leak_parser_internals(node):
    for body in (b'{"a":"\\u0000"}', b'{"a":1,"a":2}', b"{", b'{"a":1e999}'):
        out = raw(node, b"POST /accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        head, _, rest = out.partition(b"\r\n\r\n")
        assert b" 400 " in head.split(b"\r\n")[0], out
        msg = json.loads(rest)["error"]["message"]
        assert "JSON_" not in msg and "jansson" not in msg, msg


def test_bind_failure_exits_1_with_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([DROPIND, "-c", os.path.join(ROOT, "conf", "dropind.conf"),
                            "--listen", "127.0.0.1:%d" % port,
                            "--store", "sqlite:%s" % (tmp_path / "d.db")],
                           capture_output=True, timeout=60, text=True)
    assert p.returncode == 1, p.stderr
    assert "cannot bind 127.0.0.1:%d" % port in p.stderr
    assert "event=listening" not in p.stdout + p.stderr


@pytest.mark.parametrize("key,value", [("video", "bogus"), ("bus", "kafka://x"),
                                       ("store", "postgres://u:secretpw@h/db")])
def test_unknown_enumerated_value_exits_2_naming_the_key(tmp_path, key, value):
    p = subprocess.run([DROPIND, "-c", os.path.join(ROOT, "conf", "dropind.conf"),
                        "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % (tmp_path / "d.db"),
                        "--" + key, value], capture_output=True, timeout=60, text=True)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "'%s'" % key in p.stderr
    assert "secretpw" not in p.stderr + p.stdout


def test_sqlite_files_are_private(node_factory, tmp_path):
    db = tmp_path / "private.db"
    old_umask = os.umask(0o022)
    try:
        node = node_factory(["--store", "sqlite:%s" % db])
    finally:
        os.umask(old_umask)
    r = requests.post(node.url + "/accounts", timeout=10,
                      json={"identities": [{"type": "email", "value": "p@example.com"}],
                            "password": "a-long-password-1", "firstName": "P", "lastName": "Q",
                            "type": "user"})
    assert r.status_code == 200, r.text
    for suffix in ("", "-wal", "-shm"):
        f = str(db) + suffix
        if suffix == "":
            assert os.path.exists(f)
        if os.path.exists(f):
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, (f, oct(os.stat(f).st_mode))
