"""The admin inspector ops over WebSocket (what dropctl will use)."""
import asyncio

from conftest import Client, run
from helpers import new_session
from test_gig_flow import LAT, LON, off, wait_free

ADMIN = "admin-token-of-the-admin-tests-0123456789"


async def admin(node):
    a = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
    assert (await a.event("session.state"))["account"]["type"] == "admin"
    return a


def test_inspect_kick_terminate(node_factory):
    node = node_factory(["--admin_token", ADMIN, "--node_id", "n1"])

    async def go():
        cust, cacct, _ = await new_session(node, "user")
        op, oacct, _ = await new_session(node, "operator")
        await op.ok("presence.update", {"latitude": off(100)[0], "longitude": off(100)[1]})
        # free once his profile (and rating lock) is known: only then offered
        assert len(await wait_free(None, cust, 1)) == 1
        a = await admin(node)

        st = await a.ok("admin.stats")
        assert st["node"] == "n1" and st["sessions"] >= 3 and st["operators"] == 1
        assert st["store"] == "ok" and st["bus"] == "ok"
        nodes = await a.ok("admin.nodes")
        assert nodes[0]["id"] == "n1" and nodes[0]["self"] is True
        sess = await a.ok("admin.sessions", {"accountId": oacct["id"]})
        assert len(sess) == 1 and sess[0]["role"] == "operator"
        ops = await a.ok("admin.operators")
        assert [o["id"] for o in ops] == [oacct["id"]] and ops[0]["busy"] is False

        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await op.event("gig.offer")
        await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        ops = await a.ok("admin.operators")
        assert ops[0]["busy"] is True
        lst = await a.ok("admin.gigs", {"status": "operatorFound"})
        assert [g["id"] for g in lst] == [gig["id"]]
        g = await a.ok("admin.gig", {"gigId": gig["id"], "action": "terminate"})
        assert g["status"] == "terminated"
        await cust.update("terminated")
        await op.update("terminated")
        r = await a.call("admin.gig", {"gigId": gig["id"], "action": "terminate"})
        assert r["error"]["code"] == "conflict"
        r = await a.call("admin.gig", {"gigId": gig["id"], "action": "explode"})
        assert r["error"]["code"] == "bad_request"

        # only admins
        r = await cust.call("admin.stats")
        assert r["error"]["code"] == "forbidden"

        assert (await a.call("admin.kick", {"accountId": cacct["id"]}))["ok"]
        code, _ = await cust.closed()
        assert code == 4401
    run(go())


def test_admin_drain(node_factory):
    node = node_factory(["--admin_token", ADMIN])

    async def go():
        c, _, _ = await new_session(node, "user")
        a = await admin(node)
        assert (await a.call("admin.drain"))["ok"]
        code, _ = await c.closed()
        assert code == 1001
    run(go())
    assert node.proc.wait(10) == 0


def test_admin_tail(node_factory):
    """admin.tail: the node's newest log lines, then paging forward with
    `after` (a follower loses nothing still kept); admins only."""
    node = node_factory(["--admin_token", ADMIN])

    async def go():
        cust, cacct, _ = await new_session(node, "user")
        a = await admin(node)
        t = await a.ok("admin.tail", {"limit": 3})
        assert 1 <= len(t["lines"]) <= 3 and t["last"] == t["lines"][-1]["seq"]
        assert all(set(x) == {"seq", "line"} and " level=" in x["line"] for x in t["lines"])
        seqs = [x["seq"] for x in t["lines"]]
        assert seqs == sorted(seqs)
        last = t["last"]
        for k in range(3):
            await cust.ok("log.write", {"level": "warn", "message": "tail-probe-%d" % k})
        t = await a.ok("admin.tail", {"after": last})
        probes = [x["line"] for x in t["lines"] if "tail-probe-" in x["line"]]
        assert len(probes) == 3 and "tail-probe-0" in probes[0] and "tail-probe-2" in probes[2]
        assert all(x["seq"] > last for x in t["lines"])
        t2 = await a.ok("admin.tail", {"after": last, "limit": 1})
        assert len(t2["lines"]) == 1 and t2["lines"][0]["seq"] == last + 1
        assert (await a.ok("admin.tail", {"after": t["last"]}))["lines"] == []
        for bad in [{"limit": 0}, {"limit": 100000}, {"after": -1}, {"after": "x"}]:
            r = await a.call("admin.tail", bad)
            assert r["error"]["code"] == "bad_request", (bad, r)
        r = await cust.call("admin.tail")
        assert r["error"]["code"] == "forbidden"
    run(go())


def test_dropctl(node_factory):
    """dropctl, the admin CLI, runs admin ops and reports errors by exit code."""
    import json
    import os
    import subprocess
    from conftest import DROPIND
    dropctl = os.path.join(os.path.dirname(DROPIND), "dropctl")
    node = node_factory(["--admin_token", ADMIN, "--node_id", "ctl1"])
    env = dict(os.environ, DROPIN_ADMIN_TOKEN=ADMIN)

    def ctl(*args, token_env=True):
        p = subprocess.run([dropctl, "-u", node.ws_url, "--json"] + list(args), capture_output=True,
                           text=True, timeout=30, env=env if token_env else dict(os.environ))
        return p.returncode, p.stdout, p.stderr

    rc, out, _ = ctl("nodes")
    assert rc == 0 and json.loads(out)[0]["node"] == "ctl1"
    rc, out, _ = ctl("stats")
    assert rc == 0 and json.loads(out)[0]["data"]["store"] == "ok"
    rc, out, _ = ctl("gigs", "limit=5")
    assert rc == 0 and json.loads(out) == []
    rc, _, err = ctl("gigs", "status=bogus")
    assert rc == 1 and "bad_request" in err
    rc, out, _ = ctl("tail", "limit=5")
    tail = json.loads(out)
    assert rc == 0 and 1 <= len(tail["lines"]) <= 5 and tail["last"] == tail["lines"][-1]["seq"]
    rc, _, err = ctl("nodes", token_env=False)  # no token: refused
    assert rc == 4
    rc, _, _ = ctl("gigs", "nonsense")
    assert rc == 2
    p = subprocess.run([dropctl, "-u", "ws://127.0.0.1:1/ws", "nodes"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 3


def test_draining_node_refuses_rest(node_factory):
    """A draining node answers REST with 503 `unavailable` (while a session
    that does not answer the close keeps it up: CLOSE_ACK, then the grace)."""
    import socket

    import pytest
    import requests
    node = node_factory(["--admin_token", ADMIN])
    path = "/gigs/cancel/" + "0" * 24
    before = requests.post(node.url + path, timeout=30)
    assert before.status_code != 503, before.text
    # a WebSocket that never reads again: it holds the node open
    raw = socket.create_connection(("127.0.0.1", node.port), timeout=30)
    raw.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = raw.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head

    async def go():
        a = await admin(node)
        assert (await a.call("admin.drain"))["ok"]
    run(go())
    try:
        r = requests.post(node.url + path, timeout=30)
    except requests.ConnectionError:
        raw.close()
        pytest.skip("the node stopped before the request reached it")
    raw.close()
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
    assert node.proc.wait(30) == 0
