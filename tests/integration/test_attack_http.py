"""HTTP framing attacks on the REST shim.

A response to HEAD carries no body (RFC 9110 9.3.2): the status and headers
only, even for an error. A body after a HEAD response's headers is read by
a keep-alive client as the start of the next response, which desynchronises
every later request on that connection."""
import socket


def read_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "closed before a full response head: %r" % buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def test_head_response_has_no_body_and_keepalive_stays_in_sync(node):
    for path in (b"/healthz", b"/nope", b"/user", b"/accounts/%ff"):
        s = socket.create_connection(("127.0.0.1", node.port))
        s.settimeout(10)
        # HEAD then GET pipelined on one connection
        s.sendall(b"HEAD " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, rest = read_head(s, b"")
        assert head.startswith(b"HTTP/1.1 "), head
        # the HEAD response has no body: what follows is the GET's response
        head2, rest = read_head(s, rest)
        assert head2.startswith(b"HTTP/1.1 200"), (path, head, head2)
        s.close()
