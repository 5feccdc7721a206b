"""Accounts, login, tokens and sessions on the embedded SQLite store."""
import asyncio
import os
import sqlite3
import stat
import subprocess
import time

import pytest
import websockets

from conftest import DROPIND, ROOT, Client, run
from helpers import login, new_session, register, unique_email

ADMIN = "admin-secret-for-tests-0123456789"


def test_register_login_token_logout_round_trip(node):
    async def go():
        c = await Client.connect(node.ws_url)
        acct, email = await register(c, "operator", first="Olga", last="Ops")
        assert acct["type"] == "operator" and acct["firstName"] == "Olga"
        assert len(acct["id"]) == 24 and acct["status"] == "active" and acct["archive"] is False
        ident = acct["identities"][0]
        assert ident["value"] == email and ident["status"] == "unverified" and len(ident["id"]) == 24
        for k in ("referralCode", "referralRate", "operatorRating", "customerRating",
                  "createdAt", "updatedAt"):
            assert k in acct
        assert "password" not in str(acct).lower()

        # before login only sys.ping, account.register, auth.login and
        # auth.token work (PROTOCOL.md section 1): every other op is refused
        for op in ["account.get", "account.update", "account.delete", "account.list",
                   "auth.logout", "presence.update", "presence.offline", "map.nearby",
                   "gig.create", "gig.claim", "gig.get", "gig.list", "inbox.send", "inbox.list",
                   "job.save", "job.list", "storage.sign", "push.send", "log.write",
                   "admin.stats"]:
            r = await c.call(op, {})
            assert r["error"]["code"] == "unauthenticated", (op, r)

        r = await c.call("auth.login", {"identity": email, "password": "correct horse"})
        assert r["ok"], r
        token = r["data"]["token"]
        assert r["data"]["account"]["id"] == acct["id"]
        assert r["data"]["expiresAt"].endswith("Z")
        # session.state is the first event
        first = await c.recv()
        assert first["ev"] == "session.state"
        assert first["data"]["account"]["id"] == acct["id"]
        assert first["data"]["gigs"] == [] and first["data"]["offers"] == []
        assert first["data"]["unread"] == 0

        # a second login returns the same live token (one token per account)
        c2 = await Client.connect(node.ws_url, codec="msgpack")
        data, state = await login(c2, email)
        assert data["token"] == token

        # auth.token on a third socket
        c3 = await Client.connect(node.ws_url)
        r = await c3.call("auth.token", {"token": token})
        assert r["ok"] and r["data"]["account"]["id"] == acct["id"]
        assert (await c3.event("session.state"))["account"]["id"] == acct["id"]

        # logout closes every session on that token with 4401
        assert (await c.call("auth.logout", {}))["ok"]
        for cl in (c, c2, c3):
            code, _ = await cl.closed(timeout=30)
            assert code == 4401

        c4 = await Client.connect(node.ws_url)
        r = await c4.call("auth.token", {"token": token})
        assert r["error"]["code"] == "unauthenticated"
        await c4.close()
    run(go())


def test_bearer_header_authenticates_at_once(node):
    async def go():
        c, acct, token = await new_session(node)
        h = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + token})
        st = await h.recv()
        assert st["ev"] == "session.state" and st["data"]["account"]["id"] == acct["id"]
        assert (await h.ok("account.get"))["id"] == acct["id"]
        bad = await Client.connect(node.ws_url, headers={"Authorization": "Bearer nope"})
        code, _ = await bad.closed()
        assert code == 4401
    run(go())


def test_wrong_password_and_unknown_identity_look_the_same(node):
    async def go():
        c = await Client.connect(node.ws_url)
        _, email = await register(c)
        a = await c.call("auth.login", {"identity": email, "password": "wrong password"})
        b = await c.call("auth.login", {"identity": unique_email(), "password": "wrong password"})
        assert a == dict(b, re=a["re"]), (a, b)
        assert a["error"]["code"] == "unauthenticated"
        # that both paths run one Argon2id verification is test_password.c's
        # (a timing here fails under load, and proves little)
        await c.close()
    run(go())


def test_duplicate_identity_conflict_also_concurrent(node):
    async def go():
        c = await Client.connect(node.ws_url)
        _, email = await register(c)
        r = await c.call("account.register", {
            "firstName": "B", "lastName": "C", "type": "user", "password": "12345678",
            "identities": [{"type": "email", "value": email.upper()}]})
        assert r["error"]["code"] == "conflict"

        if os.environ.get("DROPIN_TEST_STORE") == "mongodb" and \
                not os.environ.get("DROPIN_MONGO_REAL"):
            # the sequential case above ran; the race needs a unique index
            pytest.skip("the MongoDB test server does not enforce unique indexes")
        email2 = unique_email("race")
        clients = [await Client.connect(node.ws_url) for _ in range(6)]
        results = await asyncio.gather(*[cl.call("account.register", {
            "firstName": "R", "lastName": "R", "type": "operator", "password": "12345678",
            "identities": [{"type": "email", "value": email2}]}) for cl in clients])
        oks = [x for x in results if x["ok"]]
        assert len(oks) == 1, results
        assert all(x["error"]["code"] == "conflict" for x in results if not x["ok"])
    run(go())


def test_register_validation(node):
    async def go():
        c = await Client.connect(node.ws_url)
        base = {"firstName": "A", "lastName": "B", "type": "user", "password": "12345678",
                "identities": [{"type": "email", "value": unique_email()}]}
        cases = [({"password": "short"}, "password"),
                 ({"type": "admin"}, "type"),
                 ({"identities": []}, "identities"),
                 ({"identities": [{"type": "email", "value": "not-an-email"}]}, "identit"),
                 ({"firstName": ""}, "firstName"),
                 ({"firstName": 5}, "firstName")]
        for patch, field in cases:
            d = dict(base)
            d.update(patch)
            r = await c.call("account.register", d)
            assert r["ok"] is False and r["error"]["code"] == "bad_request", (patch, r)
            assert field in r["error"]["message"], (field, r)
        await c.close()
    run(go())


def test_profile_get_update_delete_and_public_view(node):
    async def go():
        a, acct_a, tok_a = await new_session(node, "user")
        b, acct_b, _ = await new_session(node, "operator")
        me = await a.ok("account.update", {"firstName": "Zed", "picture": "https://x/p.png"})
        assert me["firstName"] == "Zed" and me["picture"] == "https://x/p.png"
        other = await a.ok("account.get", {"id": acct_b["id"]})
        assert other["id"] == acct_b["id"] and "identities" not in other
        r = await a.call("account.update", {"id": acct_b["id"], "firstName": "X"})
        assert r["error"]["code"] == "forbidden"
        r = await a.call("account.get", {"id": "0" * 24})
        assert r["error"]["code"] == "not_found"
        r = await a.call("account.get", {"id": "nope"})
        assert r["error"]["code"] == "bad_request"
        # any signed-in account lists public profiles (issue 15): no identities
        lst = await a.ok("account.list", {})
        assert acct_b["id"] in [x["id"] for x in lst]
        assert all("identities" not in x and "organization" not in x for x in lst)
        # delete archives the account and closes its sessions
        assert (await b.call("account.delete", {}))["ok"]
        code, _ = await b.closed()
        assert code == 4401
        r = await a.call("account.get", {"id": acct_b["id"]})
        assert r["error"]["code"] == "not_found"
        c = await Client.connect(node.ws_url)
        r = await c.call("auth.login", {"identity": b.email, "password": "correct horse"})
        assert r["error"]["code"] == "unauthenticated"
    run(go())


def test_admin_token_and_account_list(node_factory):
    node = node_factory(["--admin_token", ADMIN])

    async def go():
        u, acct, _ = await new_session(node, "user")
        adm = await Client.connect(node.ws_url)
        r = await adm.call("auth.token", {"token": ADMIN})
        assert r["ok"], r
        assert (await adm.event("session.state"))["account"]["type"] == "admin"
        lst = await adm.ok("account.list", {"type": "user"})
        assert any(x["id"] == acct["id"] for x in lst)
        assert all(x["type"] == "user" for x in lst)
        upd = await adm.ok("account.update", {"id": acct["id"], "lastName": "ByAdmin"})
        assert upd["lastName"] == "ByAdmin"
        full = await adm.ok("account.get", {"id": acct["id"]})
        assert "identities" in full
        # an admin deletes another account: archived, its sessions closed,
        # its login refused; a user may not delete another
        other, oacct, _ = await new_session(node, "operator")
        r = await other.call("account.delete", {"id": acct["id"]})
        assert r["error"]["code"] == "forbidden", r
        assert await adm.ok("account.delete", {"id": acct["id"]}) == {}
        code, _ = await u.closed(timeout=30)
        assert code == 4401
        gone = await adm.ok("account.get", {"id": acct["id"]})
        assert gone["status"] != "active" or gone["archive"] is True, gone
        r = await other.call("account.get", {"id": acct["id"]})
        assert r["error"]["code"] == "not_found", r
        c = await Client.connect(node.ws_url)
        r = await c.call("auth.login", {"identity": u.email, "password": "correct horse"})
        assert r["error"]["code"] == "unauthenticated", r
        assert (await other.ok("account.get"))["id"] == oacct["id"]
    run(go())
    assert ADMIN not in node.read_log()


def test_rate_limit_then_4429(node_factory):
    node = node_factory(["--rate_limit", "5", "--rate_burst", "5"])

    async def go():
        c = await Client.connect(node.ws_url)
        for i in range(5):
            await c.send({"op": "sys.ping", "id": i})
        limited = 0
        for i in range(5, 12):
            await c.send({"op": "sys.ping", "id": i})
        for _ in range(12):
            m = await c.recv()
            if not m["ok"]:
                assert m["error"]["code"] == "rate_limited"
                limited += 1
        assert limited >= 5
        for i in range(40):
            try:
                await c.send({"op": "sys.ping", "id": 100 + i})
            except websockets.ConnectionClosed:
                break
        code, _ = await c.closed()
        assert code == 4429
    run(go())


@pytest.mark.skipif(os.environ.get("DROPIN_TEST_STORE") == "mongodb",
                    reason="reads the SQLite file itself (the MongoDB store's twin: "
                           "test_store_conformance_mongo)")
def test_store_holds_hashes_only_and_survives_restart(node_factory, tmp_path):
    node = node_factory(tmpdir=str(tmp_path))
    db = os.path.join(str(tmp_path), "dropin.db")

    async def first():
        c, acct, token = await new_session(node, "operator")
        return acct, token, c.email
    acct, token, email = run(first())
    assert node.stop() == 0

    raw = b""
    for suffix in ("", "-wal"):
        if os.path.exists(db + suffix):
            raw += open(db + suffix, "rb").read()
    assert token.encode() not in raw
    assert b"$argon2id$v=19$m=19456,t=2,p=1$" in raw or b"argon2id" in raw
    con = sqlite3.connect(db)
    dump = "\n".join(con.iterdump())
    con.close()
    assert token not in dump and "$argon2id$" in dump and "correct horse" not in dump

    node2 = node_factory(tmpdir=str(tmp_path))

    async def second():
        c = await Client.connect(node2.ws_url)
        r = await c.call("auth.token", {"token": token})
        assert r["ok"] and r["data"]["account"]["id"] == acct["id"]
        c2 = await Client.connect(node2.ws_url)
        data, _ = await login(c2, email)
        assert data["token"] == token
    run(second())


def test_bad_store_file_gives_clear_error(tmp_path):
    conf = os.path.join(ROOT, "conf", "dropind.conf")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database at all" * 200)
    p = subprocess.run([DROPIND, "-c", conf, "--listen", "127.0.0.1:0",
                        "--store", "sqlite:%s" % corrupt], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1, p.stderr
    assert "corrupt.db" in p.stderr and "AddressSanitizer" not in p.stderr
    ro = tmp_path / "ro.db"
    con = sqlite3.connect(str(ro))
    con.execute("create table t(x)")
    con.commit()
    con.close()
    os.chmod(str(ro), stat.S_IRUSR | stat.S_IRGRP)
    p = subprocess.run([DROPIND, "-c", conf, "--listen", "127.0.0.1:0",
                        "--store", "sqlite:%s" % ro], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert "ro.db" in p.stderr
    notdir = tmp_path / "file"
    notdir.write_text("x")
    p = subprocess.run([DROPIND, "-c", conf, "--listen", "127.0.0.1:0",
                        "--store", "sqlite:%s/sub/d.db" % notdir], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1 and "file" in p.stderr


def test_pipelined_requests_run_in_order(node):
    """Requests sent back to back without waiting run one after the other in
    the order sent, not only reply in that order: a login right behind its
    registration finds the account, a get right behind an update sees it."""
    async def go():
        c = await Client.connect(node.ws_url)
        email = unique_email("pipe")
        reg = {"firstName": "Pip", "lastName": "Line", "type": "user", "password": "correct horse",
               "identities": [{"type": "email", "value": email}]}
        await c.send({"op": "account.register", "id": "r", "data": reg})
        await c.send({"op": "auth.login", "id": "l",
                      "data": {"identity": email, "password": "correct horse"}})
        await c.send({"op": "account.update", "id": "u", "data": {"firstName": "Piper"}})
        await c.send({"op": "account.get", "id": "g"})
        await c.send({"op": "sys.ping", "id": "p"})
        got = {}
        order = []
        while len(order) < 5:
            m = await c.recv()
            if "re" in m:
                order.append(m["re"])
                got[m["re"]] = m
        assert order == ["r", "l", "u", "g", "p"], order
        assert all(got[k]["ok"] for k in order), got
        assert got["g"]["data"]["firstName"] == "Piper"
        await c.close()
    run(go())
