"""Bad input never crashes a node: every op of the table, as every kind of
caller, with random data (wrong types, huge and hostile values), over both
codecs, then random bytes. The node must answer each request with a protocol
error code or close with a protocol close code, stay healthy, and exit
cleanly under ASan/UBSan (checked by the node fixture)."""
import asyncio
import random

import msgpack
import requests
import websockets

from conftest import Client, run
from helpers import new_session

OPS = ["sys.ping", "account.register", "auth.login", "auth.token", "auth.logout", "account.get",
       "account.update", "account.delete", "account.list", "presence.update", "presence.offline",
       "map.nearby", "gig.create", "gig.claim", "gig.confirm", "gig.reject", "gig.cancel",
       "gig.handshake", "gig.start", "gig.stop", "gig.rate", "gig.get", "gig.list", "log.write",
       "admin.stats", "admin.nodes", "admin.sessions", "admin.operators", "admin.gigs",
       "admin.gig", "admin.kick", "inbox.send", "inbox.list", "inbox.read", "job.save",
       "job.list", "job.status", "storage.sign", "push.send"]
KEYS = ["id", "gigId", "accountId", "latitude", "longitude", "radius", "limit", "skip", "before",
        "response", "rating", "status", "deviceId", "claimId", "metaData", "identity", "password",
        "token", "firstName", "lastName", "type", "identities", "picture", "organization",
        "available", "accuracy", "heading", "level", "message", "data", "to", "text", "ids",
        "action", "recipientId", "contentType", "title", "description", "worker", "q"]
ADMIN = "robustness-admin-token-0123456789abcdef"
CODES = {"bad_request", "unauthenticated", "forbidden", "not_found", "conflict",
         "rating_required", "too_large", "rate_limited", "unavailable", "internal"}


def value(rng, depth=0):
    choices = [lambda: None, lambda: True, lambda: rng.randint(-2**63, 2**63 - 1),
               lambda: rng.choice([0, -1, 1, 5, 91, 181, 2**31, 1e308, -1e308, 0.5]),
               lambda: rng.random() * 400 - 200,
               lambda: "".join(rng.choice("abcdef0123456789") for _ in range(24)),
               lambda: rng.choice(["", "accept", "reject", "user", "operator", "admin",
                                   "pendingOperator", "x" * 5000, "\u00e9\u4e2d\U0001F600",
                                   "a@b.co", "+84123456789", "terminate", "chat", "gig"]),
               ]
    if depth < 3:
        choices += [lambda: [value(rng, depth + 1) for _ in range(rng.randint(0, 4))],
                    lambda: {rng.choice(KEYS): value(rng, depth + 1)
                             for _ in range(rng.randint(0, 4))}]
    return rng.choice(choices)()


def test_random_requests_do_not_crash(node_factory):
    node = node_factory(["--admin_token", ADMIN, "--rate_limit", "100000",
                         "--rate_burst", "100000"])
    rng = random.Random(1234)

    async def go():
        user, _, _ = await new_session(node, "user")
        op, _, _ = await new_session(node, "operator", codec="msgpack")
        adm = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        anon = await Client.connect(node.ws_url)
        clients = [user, op, adm, anon]
        seen = {"ok": 0, "error": 0, "closed": 0}
        for i in range(1500):
            c = clients[i % 4]
            data = {k: value(rng) for k in rng.sample(KEYS, rng.randint(0, 6))}
            if rng.random() < 0.1:
                data = value(rng)  # not even an object: 4400 expected
            msg = {"op": rng.choice(OPS), "id": i, "data": data}
            try:
                if c.ws.closed:
                    raise websockets.ConnectionClosed(None, None)
                r = await c.call(msg["op"], data, timeout=20)
                assert "ok" in r
                seen["ok" if r["ok"] else "error"] += 1
                if not r["ok"]:
                    assert r["error"]["code"] in CODES, r
                    assert r["error"]["code"] != "internal", (msg, r)
            except websockets.ConnectionClosed:
                code = c.ws.close_code
                seen["closed"] += 1
                assert code in (1000, 1001, 1008, 1009, 4400, 4401, 4408, 4429), code
                # reconnect that kind of client
                if c is anon or code == 4400:
                    nc = await Client.connect(node.ws_url, codec=c.codec)
                    clients[clients.index(c)] = nc
                else:
                    kind = "operator" if c is op else "user"
                    nc, _, _ = await new_session(node, kind, codec=c.codec)
                    clients[clients.index(c)] = nc
                    if c is op:
                        op = nc
                    elif c is user:
                        user = nc
        print(seen)
        assert seen["ok"] > 20 and seen["error"] > 500 and seen["closed"] > 10, seen
        # random bytes on both codecs: never an envelope, so each socket is
        # closed with 4400 (malformed envelope) and nothing else comes first
        for i in range(200):
            c = await Client.connect(node.ws_url, codec=rng.choice(["json", "msgpack"]))
            blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
            await c.ws.send(blob if c.codec == "msgpack" else blob.decode("latin-1"))
            frames = []
            try:
                while True:
                    frames.append(await asyncio.wait_for(c.ws.recv(), 30))
            except websockets.ConnectionClosed as e:
                code = e.code
            assert code == 4400 and frames == [], (c.codec, blob, code, frames)
        # and the node still serves
        c = await Client.connect(node.ws_url)
        assert (await c.call("sys.ping"))["ok"]
    run(go())
    assert requests.get(node.url + "/healthz").status_code == 200
