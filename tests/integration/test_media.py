"""Uploads (storage.sign, POST /storage) and push notifications (push.send,
POST /notifications/push) against a real dropind.

Presigned URLs are checked by re-computing AWS Signature Version 4 here, in
Python, from the URL alone; the push provider is a real HTTP server on
loopback that records what it receives."""
import asyncio
import hashlib
import hmac
import http.server
import json
import re
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import pytest
import requests

from conftest import Client, run
from helpers import new_session

LAT, LON = 10.787859, 106.70653
ADMIN = "admin-token-of-the-media-tests-0123456789"
ACCESS = "AKIDMEDIATEST0000000"
SECRET = "media/test+secret/key0123456789abcdefghij"
PUSH_KEY = "push-provider-key-0123456789"
OID = re.compile(r"^[0-9a-f]{24}$")


def sigv4_expected(url, method, secret, ctype=None):
    """The SigV4 query-string signature of url, computed from scratch."""
    u = urllib.parse.urlsplit(url)
    params = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    params.pop("X-Amz-Signature")
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    query = "&".join("%s=%s" % (enc(k), enc(v)) for k, v in sorted(params.items()))
    headers = {"host": u.netloc}
    if ctype:
        headers["content-type"] = ctype
    signed = ";".join(sorted(headers))
    assert params["X-Amz-SignedHeaders"] == signed
    canon = "\n".join([method, u.path, query,
                       "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers)),
                       signed, "UNSIGNED-PAYLOAD"])
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    sts = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def iso_ms(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def rest(node, method, path, token, body):
    return requests.request(method, node.url + path, json=body, timeout=15,
                            headers={"Authorization": "Bearer " + token})


async def live_gig(node):
    """A customer and an operator in a gig in operatorFound; returns
    (customer client, customer, operator client, operator, gig)."""
    cust, cacct, ctok = await new_session(node, "user")
    op, oacct, otok = await new_session(node, "operator")
    await op.ok("presence.update", {"latitude": LAT + 0.001, "longitude": LON})
    deadline = time.time() + 10
    while not await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}):
        assert time.time() < deadline
        await asyncio.sleep(0.05)
    gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d1"})
    await op.event("gig.offer")
    await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
    cust.token, op.token = ctok, otok
    return cust, cacct, op, oacct, gig


# ---- storage.sign ----

def test_storage_unconfigured(node_factory):
    node = node_factory(["--admin_token", ADMIN])

    async def go():
        c, acct, tok = await new_session(node, "user")
        r = await c.call("storage.sign", {"type": "profileImage", "contentType": "image/jpeg"})
        assert r["ok"] is False and r["error"]["code"] == "unavailable", r
        assert "not configured" in r["error"]["message"]
        # bad input is still named first
        r = await c.call("storage.sign", {"type": "video"})
        assert r["error"]["code"] == "bad_request" and "type" in r["error"]["message"]
        # REST: 503 with the JSON error
        res = rest(node, "POST", "/storage", tok, {"type": "profileImage"})
        assert res.status_code == 503, res.text
        assert res.json()["error"]["code"] == "unavailable"

        # push.send without a push_url: an admin's push to an account with no
        # session here is delivered nowhere
        a = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        await a.event("session.state")
        assert await a.ok("push.send", {"recipientId": acct["id"], "data": {"m": 1}}) == \
            {"delivered": "socket"}
        assert (await c.event("push"))["data"] == {"m": 1}
        await c.close()
        deadline = time.time() + 5
        while True:
            d = await a.ok("push.send", {"recipientId": acct["id"], "data": {"m": 2}})
            if d["delivered"] != "socket" or time.time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert d == {"delivered": "none"}
    run(go())


def test_storage_signed(node_factory, monkeypatch):
    # the secret comes from the environment, the rest from the command line
    monkeypatch.setenv("DROPIN_S3_SECRET_KEY", SECRET)
    node = node_factory(["--s3_bucket", "media-bucket", "--s3_endpoint", "http://127.0.0.1:9000",
                         "--s3_access_key", ACCESS, "--s3_url_ttl", "10m"])

    async def go():
        cust, cacct, op, oacct, gig = await live_gig(node)
        before = time.time()
        d = await cust.ok("storage.sign", {"type": "profileImage", "contentType": "image/jpeg"})
        assert d["method"] == "PUT" and d["headers"] == {"Content-Type": "image/jpeg"}
        prefix, owner, oid = d["key"].split("/")
        assert prefix == "profileImage" and owner == cacct["id"] and OID.match(oid)
        u = urllib.parse.urlsplit(d["url"])
        assert (u.scheme, u.netloc) == ("http", "127.0.0.1:9000")
        assert u.path == "/media-bucket/" + d["key"]  # path style on a custom endpoint
        q = dict(urllib.parse.parse_qsl(u.query))
        assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert q["X-Amz-Expires"] == "600"
        assert q["X-Amz-Credential"].startswith(ACCESS + "/") and \
            q["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
        assert q["X-Amz-Signature"] == sigv4_expected(d["url"], "PUT", SECRET, "image/jpeg")
        assert q["X-Amz-Signature"] != sigv4_expected(d["url"], "PUT", SECRET + "x", "image/jpeg")
        assert before + 590 < iso_ms(d["expiresAt"]) < time.time() + 610

        # chat, without a content type: only host is signed, no headers asked
        d2 = await op.ok("storage.sign", {"type": "chat"})
        assert d2["key"].startswith("chat/%s/" % oacct["id"]) and d2["headers"] == {}
        assert "X-Amz-SignedHeaders=host&" in d2["url"]
        assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(d2["url"]).query))[
            "X-Amz-Signature"] == sigv4_expected(d2["url"], "PUT", SECRET)
        assert d2["key"] != d["key"]

        # a gig's media: only its parties
        d3 = await op.ok("storage.sign", {"type": "gig", "gigId": gig["id"]})
        assert d3["key"].startswith("gig/%s/" % gig["id"])
        stranger, sacct, stok = await new_session(node, "user")
        r = await stranger.call("storage.sign", {"type": "gig", "gigId": gig["id"]})
        assert r["error"]["code"] == "not_found", r
        r = await cust.call("storage.sign", {"type": "gig", "gigId": "0" * 24})
        assert r["error"]["code"] == "not_found", r
        r = await cust.call("storage.sign", {"type": "gig"})
        assert r["error"]["code"] == "bad_request" and "gigId" in r["error"]["message"]
        for ct in ["image", "image/", "/jpeg", "image/jpeg; charset=x", "image/jp\"eg", 7]:
            r = await cust.call("storage.sign", {"type": "chat", "contentType": ct})
            assert r["error"]["code"] == "bad_request", (ct, r)
        r = await cust.call("storage.sign", {"type": "chat", "contentType": "a/" + "b" * 200})
        assert r["error"]["code"] == "too_large"

        # REST, with the seed's body key `gig`
        res = rest(node, "POST", "/storage", cust.token, {"type": "gig", "gig": gig["id"]})
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["key"].startswith("gig/%s/" % gig["id"]) and body["method"] == "PUT"
        assert "X-Amz-Signature=" in body["url"]
        res = rest(node, "POST", "/storage", stok, {"type": "gig", "gig": gig["id"]})
        assert res.status_code == 404 and res.json()["error"]["code"] == "not_found", res.text
        assert "url" not in res.text and "X-Amz" not in res.text
        res = requests.post(node.url + "/storage", json={"type": "chat"})
        assert res.status_code == 401 and res.json()["error"]["code"] == "unauthenticated", \
            res.text
    run(go())
    assert SECRET not in node.read_log()


def test_storage_bad_config_refuses_to_start(node_factory):
    n = node_factory(["--s3_bucket", "media-bucket", "--s3_access_key", ACCESS], start=False)
    with pytest.raises(RuntimeError) as e:
        n.start()
    assert "s3_secret_key" in str(e.value)
    n.proc = None  # exited already


# ---- push.send ----

class Provider:
    """A push provider on loopback: records every POST; mode says how to
    answer ("ok" 200, "fail" 500, "slow": 200 once the test sets release)."""

    def __init__(self):
        self.received = []
        self.release = threading.Event()
        self.answered = 0
        self.mode = "ok"
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.received.append({"path": self.path, "body": json.loads(self.rfile.read(n)),
                                       "auth": self.headers.get("Authorization"),
                                       "type": self.headers.get("Content-Type")})
                if outer.mode == "slow":
                    outer.release.wait(60)
                code = 500 if outer.mode == "fail" else 200
                outer.answered += 1
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/v1/push" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    p = Provider()
    yield p
    p.close()


def test_push_send(node_factory, provider):
    node = node_factory(["--push_url", provider.url, "--push_key", PUSH_KEY,
                         "--push_timeout", "1s"])

    async def go():
        cust, cacct, op, oacct, gig = await live_gig(node)

        # the recipient is online here: the event, and "socket"
        d = await cust.ok("push.send", {"recipientId": oacct["id"], "data": {"message": "hi"}})
        assert d == {"delivered": "socket"}
        ev = await op.event("push")
        assert ev == {"from": cacct["id"], "data": {"message": "hi"}}
        assert provider.received == []
        # and the other way round, over REST
        res = rest(node, "POST", "/notifications/push", op.token,
                   {"recipientId": cacct["id"], "data": {"message": "on my way"}})
        assert res.status_code == 200 and res.json() == {"delivered": "socket"}, res.text
        assert (await cust.event("push"))["data"] == {"message": "on my way"}

        # bad requests
        for bad in [{"data": {}}, {"recipientId": "nope", "data": {}},
                    {"recipientId": oacct["id"], "data": "text"},
                    {"recipientId": oacct["id"], "data": [1]}]:
            r = await cust.call("push.send", bad)
            assert r["error"]["code"] == "bad_request", (bad, r)
        r = await cust.call("push.send", {"recipientId": oacct["id"], "data": {"x": "y" * 9000}})
        assert r["error"]["code"] == "too_large"

        # a stranger may not push to either party
        stranger, sacct, stok = await new_session(node, "user")
        r = await stranger.call("push.send", {"recipientId": oacct["id"], "data": {}})
        assert r["error"]["code"] == "forbidden", r
        res = rest(node, "POST", "/notifications/push", stok,
                   {"recipientId": cacct["id"], "data": {}})
        assert res.status_code == 403 and res.json()["error"]["code"] == "forbidden", res.text
        await cust.flush()  # nothing was delivered to the customer
        assert cust.pending("push") == []

        # the operator goes offline: the provider gets the JSON, "push"
        await op.close()
        deadline = time.time() + 5
        while True:
            d = await cust.ok("push.send", {"recipientId": oacct["id"], "data": {"n": 1}})
            if d["delivered"] != "socket" or time.time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert d == {"delivered": "push"}
        assert len(provider.received) == 1
        got = provider.received[0]
        assert got["path"] == "/v1/push" and got["type"] == "application/json"
        assert got["auth"] == "Bearer " + PUSH_KEY
        assert got["body"] == {"to": oacct["id"], "from": cacct["id"], "data": {"n": 1}}

        # the provider fails: "none"
        provider.mode = "fail"
        d = await cust.ok("push.send", {"recipientId": oacct["id"], "data": {"n": 2}})
        assert d == {"delivered": "none"} and len(provider.received) == 2
        # the provider hangs: "none" after push_timeout (the provider has not
        # answered when the reply comes: the node gave up), and the node
        # keeps serving
        provider.mode = "slow"
        answered = provider.answered
        d = await cust.ok("push.send", {"recipientId": oacct["id"], "data": {"n": 3}})
        assert d == {"delivered": "none"} and len(provider.received) == 3
        assert provider.answered == answered and not provider.release.is_set()
        assert (await cust.ok("sys.ping"))["time"]
        provider.release.set()
        provider.mode = "ok"

        # the gig ends: no more pushes between its parties
        await cust.ok("gig.reject", {"gigId": gig["id"]})
        r = await cust.call("push.send", {"recipientId": oacct["id"], "data": {}})
        assert r["error"]["code"] == "forbidden", r
    run(go())
    log = node.read_log()
    assert PUSH_KEY not in log and "event=push_post ok=1" in log


def test_push_refused_port_and_shutdown_with_push_in_flight(node_factory, provider):
    """A provider that refuses connections answers "none" at once; a node
    stopped while a push is in flight exits cleanly (the fixture checks the
    exit code and the sanitizer report)."""
    dead = "http://127.0.0.1:%d/push" % _closed_port()
    # push_timeout far beyond the call's bound: a "none" within the bound
    # was the refusal, not the timeout
    node = node_factory(["--push_url", dead, "--admin_token", ADMIN, "--push_timeout", "10m"])
    node2 = node_factory(["--push_url", provider.url, "--admin_token", ADMIN,
                          "--push_timeout", "10s"], tmpdir=_tmpdir(node))

    async def go():
        a = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        await a.event("session.state")
        # push.send needs an existing recipient (an unknown id is not_found);
        # wait until its closed session is gone from the node
        c, acct, _ = await new_session(node, "user")
        await c.close()
        for _ in range(200):
            d = await a.ok("push.send", {"recipientId": acct["id"], "data": {}})
            if d["delivered"] != "socket":
                break
            await asyncio.sleep(0.05)
        # the refusal answers "none" (push_timeout is 10m: not the timeout)
        assert d == {"delivered": "none"}, d

        provider.mode = "slow"
        b = await Client.connect(node2.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        await b.event("session.state")
        c2, acct2, _ = await new_session(node2, "user")
        await c2.close()
        while await b.ok("admin.sessions", {"accountId": acct2["id"]}):
            await asyncio.sleep(0.02)
        await b.send({"op": "push.send", "id": 1, "data": {"recipientId": acct2["id"], "data": {}}})
        deadline = time.time() + 5
        while not provider.received:
            assert time.time() < deadline
            await asyncio.sleep(0.02)
    run(go())
    assert node2.stop() == 0


def _closed_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tmpdir(node):
    import os
    import tempfile
    d = tempfile.mkdtemp(prefix="dropin-media-", dir=node.tmpdir)
    return d
