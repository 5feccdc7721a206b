"""PROTOCOL.md, errors: `internal` is "a bug; logged with a reference id
returned in the message". A stored gig that is not a gig (written behind the
node's back into its SQLite file) is such a case: the reply carries the
reference and not the reason, and the node's log has the reason under it."""
import re
import sqlite3

import pytest
import requests

from conftest import run, store_uri
from helpers import new_session

REF = re.compile(r"^internal error, reference (\S+-[0-9a-f]+-[0-9a-f]{4})$")


def corrupt_gig(node, gig_id):
    db = sqlite3.connect(node.store[len("sqlite:"):], timeout=30)
    with db:
        n = db.execute("UPDATE gigs SET doc = '{\"status\": 7' WHERE id = ?", (gig_id,)).rowcount
    db.close()
    assert n == 1


def test_internal_error_carries_a_reference_found_in_the_log(node_factory):
    if not store_uri("/tmp", "x").startswith("sqlite:"):
        pytest.skip("writes into the SQLite file; the MongoDB run cannot reach inside the store")
    node = node_factory()

    async def go():
        cust, cacct, token = await new_session(node, "user")
        gig = await cust.ok("gig.create", {"latitude": 10.77, "longitude": 106.69, "deviceId": "d"})
        corrupt_gig(node, gig["id"])

        r = await cust.call("gig.get", {"gigId": gig["id"]})
        assert not r["ok"] and r["error"]["code"] == "internal", r
        m = REF.match(r["error"]["message"])
        assert m, r["error"]["message"]
        ws_ref = m.group(1)

        resp = requests.get("%s/gigs/%s/%s" % (node.url, cacct["id"], gig["id"]),
                            headers={"Authorization": "Bearer " + token}, timeout=10)
        assert resp.status_code == 500, resp.text
        m = REF.match(resp.json()["error"]["message"])
        assert m, resp.text
        rest_ref = m.group(1)
        assert rest_ref != ws_ref

        # the session goes on: the failure was the request's, not the session's
        assert (await cust.ok("sys.ping"))["time"]
        await cust.close()
        return ws_ref, rest_ref

    refs = run(go())
    log = node.read_log()
    for ref in refs:
        lines = [l for l in log.splitlines() if "ref=%s " % ref in l]
        assert len(lines) == 1, (ref, lines)
        assert "event=internal_error" in lines[0] and "op=gig.get" in lines[0], lines[0]


def test_rest_token_lookup_failure_carries_a_reference(node_factory):
    """A REST call whose bearer token cannot be read (the tokens table taken
    away behind the node's back) is answered internal with a reference, as
    an op's failure is, and not as `unavailable`."""
    if not store_uri("/tmp", "x").startswith("sqlite:"):
        pytest.skip("writes into the SQLite file; the MongoDB run cannot reach inside the store")
    node = node_factory()

    async def go():
        cust, cacct, token = await new_session(node, "user")
        await cust.close()
        return cacct, token

    cacct, token = run(go())
    db = sqlite3.connect(node.store[len("sqlite:"):], timeout=30)
    db.execute("ALTER TABLE tokens RENAME TO tokens_away")
    try:
        resp = requests.get("%s/accounts/%s" % (node.url, cacct["id"]),
                            headers={"Authorization": "Bearer " + token}, timeout=10)
    finally:
        db.execute("ALTER TABLE tokens_away RENAME TO tokens")
        db.close()
    assert resp.status_code == 500, resp.text
    assert resp.json()["error"]["code"] == "internal", resp.text
    m = REF.match(resp.json()["error"]["message"])
    assert m, resp.text
    lines = [l for l in node.read_log().splitlines() if "ref=%s " % m.group(1) in l]
    assert len(lines) == 1 and "event=internal_error" in lines[0], lines
