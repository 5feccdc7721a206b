"""A database written by the previous dropind opens in this one without a
manual step and serves its accounts, gigs and jobs; an old job can still be
edited and an old gig cancelled (issue 14: records moved onto one record
port). Opt-in: DROPIND_PREVIOUS names the previous build's binary (e.g. the
main branch's build-asan/bin/dropind); SQLite store."""
import asyncio
import os

import pytest

import conftest
from conftest import Client, Node
from helpers import login, register

PREVIOUS = os.environ.get("DROPIND_PREVIOUS")
LAT, LON = 10.762622, 106.660172

pytestmark = pytest.mark.skipif(not PREVIOUS, reason="DROPIND_PREVIOUS not set")


async def write(node):
    c = await Client.connect(node.ws_url)
    cust, cemail = await register(c, "user")
    await login(c, cemail)
    cust["email"] = cemail
    w = await Client.connect(node.ws_url)
    wacct, wemail = await register(w, "user")
    gig = await c.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d",
                                    "metaData": {"city": "Saigon", "n": 1.5}})
    job = await c.ok("job.save", {"title": "Paint", "description": "white", "worker": wacct["id"]})
    await c.close(); await w.close()
    return cust, wacct, gig, job

async def read(node, cust, wacct, gig, job):
    c = await Client.connect(node.ws_url)
    data, _ = await login(c, cust["email"])
    me = await c.ok("account.get", {})
    assert me["id"] == cust["id"], (me, cust)
    g = await c.ok("gig.get", {"gigId": gig["id"]})
    g = g.get("gig", g)
    for k in ("id", "metaData", "latitude", "longitude", "createdAt", "version", "status"):
        assert g[k] == gig[k], (k, g[k], gig[k])
    lst = await c.ok("gig.list", {})
    assert any(x["id"] == gig["id"] for x in (lst["gigs"] if isinstance(lst, dict) else lst))
    jl = await c.ok("job.list", {})
    jobs = jl["jobs"] if isinstance(jl, dict) else jl
    assert [x["id"] for x in jobs] == [job["id"]], jobs
    assert jobs[0]["title"] == "Paint" and jobs[0]["statusLog"] == job["statusLog"]
    edited = await c.ok("job.save", {"id": job["id"], "title": "Paint the gate"})
    assert edited["version"] == job["version"] + 1
    cancelled = await c.ok("gig.cancel", {"gigId": gig["id"]})
    assert cancelled["version"] > g["version"]
    await c.close()


def test_previous_database_opens_and_serves(tmp_path, monkeypatch):
    store = "sqlite:" + str(tmp_path / "previous.db")
    current = conftest.DROPIND
    monkeypatch.setattr(conftest, "DROPIND", PREVIOUS)
    n = Node(str(tmp_path), store=store).start()
    try:
        out = asyncio.run(write(n))
    finally:
        n.stop()
    monkeypatch.setattr(conftest, "DROPIND", current)
    n = Node(str(tmp_path), store=store).start()
    try:
        asyncio.run(read(n, *out))
    finally:
        assert n.stop() == 0
