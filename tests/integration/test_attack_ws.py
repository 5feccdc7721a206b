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
