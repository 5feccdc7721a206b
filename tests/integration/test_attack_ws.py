"""WebSocket framing attacks on a session.

RFC 6455 5.4 allows a fragment of any length, zero included: a text message
whose first fragment is empty, its bytes in a continuation, is one valid
message. It must be answered like the same message sent whole, and must not
take the node down (the node fixture fails on any sanitizer report)."""
import json
import os
import struct

import requests

from helpers import RawWS


def frame(opcode, payload, fin=True):
    mask = os.urandom(4)
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    hdr = struct.pack("!BB", b0, 0x80 | n) if n < 126 else struct.pack("!BBH", b0, 0x80 | 126, n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_empty_first_fragment_then_the_message(node):
    msg = json.dumps({"op": "sys.ping", "id": 7, "data": {}}).encode()
    w = RawWS(node.port)
    w.sock.settimeout(10)
    w.sock.sendall(frame(1, b"", fin=False) + frame(0, msg[:4], fin=False) + frame(0, msg[4:]))
    op, payload = w.recv_frame()
    assert op == 1, (op, payload)
    reply = json.loads(payload)
    assert reply["re"] == 7 and reply["ok"] is True, reply
    w.sock.close()
    # the node is still up
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200


def test_fragmented_empty_message_is_malformed_not_fatal(node):
    """A message of empty fragments only is an empty envelope: 4400, in both
    codecs."""
    for proto in (None, "dropin.v1.msgpack"):
        w = RawWS(node.port, headers=["Sec-WebSocket-Protocol: " + proto] if proto else [])
        w.sock.sendall(frame(2 if proto else 1, b"", fin=False) + frame(0, b"", fin=False)
                       + frame(0, b""))
        assert w.close_code() == 4400
        w.sock.close()
    assert requests.get(node.url + "/healthz", timeout=5).status_code == 200


def test_values_jansson_cannot_hold_are_bad_requests(node):
    """Valid JSON that jansson cannot hold (a \\u0000 in a string, an integer
    beyond 64 bits) inside a well-formed envelope is the request's mistake:
    bad_request to its id, in its turn, and the session goes on. When the
    bad value is the id or the op itself, the envelope is malformed: 4400."""
    w = RawWS(node.port)
    w.sock.settimeout(10)
    sent = [
        (7, '{"op":"sys.ping","id":7,"data":{"x":"a\\u0000b"}}', "NUL"),
        ("s8", '{"op":"gig.list","id":"s8","data":{"limit":18446744073709551616}}', "out of range"),
        (None, '{"op":"sys.ping","data":{"k":["\\u0000"]}}', "NUL"),
        (9, '{"op":"sys.ping","id":9,"data":{}}', None),
    ]
    for _, text, _ in sent:
        w.send_text(text)
    for rid, _, problem in sent:
        op, payload = w.recv_frame()
        reply = json.loads(payload)
        assert reply.get("re") == rid, (rid, reply)
        if problem is None:
            assert reply["ok"] is True, reply
        else:
            assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
            assert problem in reply["error"]["message"], reply
    w.sock.close()
    for text in ('{"op":"sys.ping","id":18446744073709551616}',
                 '{"op":"sys.ping","id":1,"data":{"k\\u0000":1}}',  # jansson keys are C strings
                 '{"op":"sys\\u0000ping","id":1}',
                 '{"op":"sys.ping","id":"a\\u0000"}',
                 '{"op":"sys.ping","id":1,"data":{"x":"\\u0000"}'):  # and a syntax error
        w = RawWS(node.port)
        w.send_text(text)
        assert w.close_code() == 4400, text
        w.sock.close()


def test_refused_value_waits_for_a_running_sign_in(node):
    """Requests sent behind auth.login wait for it; a refused one keeps its
    place: the replies come in the order sent."""
    email = "held%s@example.com" % os.urandom(4).hex()
    r = requests.post(node.url + "/accounts", json={
        "firstName": "H", "lastName": "D", "type": "user", "password": "correct horse",
        "identities": [{"type": "email", "value": email}]}, timeout=20)
    assert r.status_code == 200, r.text
    w = RawWS(node.port)
    w.sock.settimeout(20)
    w.send_text(json.dumps({"op": "auth.login", "id": 1,
                            "data": {"identity": email, "password": "correct horse"}}))
    w.send_text('{"op":"sys.ping","id":2,"data":{"x":"\\u0000"}}')
    w.send_text('{"op":"account.get","id":3}')
    seen = []
    while len(seen) < 3:
        op, payload = w.recv_frame()
        m = json.loads(payload)
        if "re" in m:
            seen.append((m["re"], m["ok"], m.get("error", {}).get("code")))
    assert seen == [(1, True, None), (2, False, "bad_request"), (3, True, None)], seen
    w.sock.close()


def test_refused_values_count_against_the_rate_limit(node_factory):
    """A flood of requests the codec refuses for a value is not a way around
    the token bucket: past the burst they are rate_limited, and twenty
    refusals in a row close the session with 4429, as for any request."""
    node = node_factory(["--rate_limit", "0.1", "--rate_burst", "2"])  # a token per 10 s
    w = RawWS(node.port)
    w.sock.settimeout(20)
    for i in range(40):
        w.send_text('{"op":"sys.ping","id":%d,"data":{"x":"\\u0000"}}' % i)
    codes = []
    while True:
        op, payload = w.recv_frame()
        if op == 8:
            close = struct.unpack("!H", payload[:2])[0]
            break
        codes.append(json.loads(payload)["error"]["code"])
    assert codes[:2] == ["bad_request", "bad_request"], codes
    assert set(codes[2:]) == {"rate_limited"}, codes
    assert close == 4429, (close, codes)
    w.sock.close()
