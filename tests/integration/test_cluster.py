"""Three dropind nodes over a real redis-server and the MongoDB test server:
offers, claims and events cross nodes; claims stay exactly-once; a killed
node's operators leave every grid; a Redis restart heals."""
import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

from conftest import Client, free_port, run
from helpers import new_session
from mongo_server import mongo_for_test
from test_gig_flow import LAT, LON, off

SECRET = "cluster-test-token-secret-0123456789abcdef"


class Redis:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


@pytest.fixture
def redis_server():
    r = Redis().start()
    yield r
    r.stop()


@pytest.fixture
def mongo():
    srv = mongo_for_test()  # MONGO_URI's mongod when set
    yield srv
    srv.stop()


@pytest.fixture
def cluster(redis_server, mongo, node_factory):
    # node_factory last: its nodes stop before Redis and MongoDB do
    db = mongo.uri("dropin_cluster_%s" % uuid.uuid4().hex[:8])

    def make(names=("a", "b", "c"), extra=()):
        return [node_factory(["--bus", "redis://127.0.0.1:%d" % redis_server.port,
                              "--store", db, "--token_secret", SECRET, "--node_id", nm,
                              "--store_timeout", "2s"] + list(extra)) for nm in names]
    make.redis = redis_server
    return make


async def wait_offer_count(c, n, lat=LAT, lon=LON, timeout=10):
    deadline = time.time() + timeout
    while True:
        near = await c.ok("map.nearby", {"latitude": lat, "longitude": lon, "limit": 100})
        if len(near) >= n or time.time() > deadline:
            return near
        await asyncio.sleep(0.1)


def test_cross_node_flow(cluster):
    a, b, c = cluster()

    async def go():
        cust, cacct, _ = await new_session(a, "user", first="Cora")
        op, oacct, _ = await new_session(b, "operator")
        await op.ok("presence.update", {"latitude": off(200)[0], "longitude": off(200)[1]})
        near = await wait_offer_count(cust, 1)
        assert [x["id"] for x in near] == [oacct["id"]]
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        offer = await op.event("gig.offer")
        assert offer["gigId"] == gig["id"] and offer["customer"]["firstName"] == "Cora"
        await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        await cust.update("operatorFound")
        await cust.ok("gig.confirm", {"gigId": gig["id"]})
        await op.update("operatorEnroute")
        await op.ok("gig.handshake", {"gigId": gig["id"]})
        await cust.ok("gig.handshake", {"gigId": gig["id"]})
        await cust.ok("gig.start", {"gigId": gig["id"]})
        await op.update("streaming")
        await op.ok("gig.stop", {"gigId": gig["id"]})
        await cust.update("purchased")
        await cust.ok("gig.rate", {"gigId": gig["id"], "rating": 5})
        g = await op.ok("gig.rate", {"gigId": gig["id"], "rating": 4})
        assert g["status"] == "voted"
        await cust.update("voted")
        # a third node sees the operator free again on its grid
        third, _, _ = await new_session(c, "user")
        assert [x["id"] for x in await wait_offer_count(third, 1)] == [oacct["id"]]
    run(go())


def test_thirty_operators_on_three_nodes_race(cluster):
    # nobody refreshes positions during the rounds: keep them for the whole test
    nodes = cluster(extra=["--wave_size", "30", "--presence_ttl", "10m"])

    async def go():
        cust, _, _ = await new_session(nodes[0], "user")
        ops = []
        for i in range(30):
            c, acct, _ = await new_session(nodes[i % 3], "operator")
            lat, lon = off(10 * (i + 1))
            await c.ok("presence.update", {"latitude": lat, "longitude": lon})
            ops.append((c, acct))
        assert len(await wait_offer_count(cust, 30)) == 30
        rounds = int(os.environ.get("DROPIN_CLUSTER_RACE_ROUNDS", "50"))
        for _ in range(rounds):
            gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
            await asyncio.gather(*[c.event("gig.offer") for c, _ in ops])
            res = await asyncio.gather(*[c.call("gig.claim", {"gigId": gig["id"],
                                                              "response": "accept"})
                                         for c, _ in ops])
            winners = [r for r in res if r["ok"]]
            assert len(winners) == 1, res
            assert all(r["error"]["code"] == "conflict" for r in res if not r["ok"])
            await cust.ok("gig.reject", {"gigId": gig["id"]})
            # everybody is free again before the next round
            for c, a in ops:
                c.events = [m for m in c.events if m.get("ev") != "gig.offer_revoked"]
            assert len(await wait_offer_count(cust, 30)) == 30
    run(go())


def test_killed_node_operators_leave_and_gigs_still_end(cluster):
    a, b = cluster(names=("a", "b"), extra=["--presence_ttl", "2s", "--pending_ttl", "3s",
                                            "--offer_ttl", "10s", "--sweep_interval", "500ms"])

    async def go():
        cust, _, _ = await new_session(a, "user")
        op, oacct, _ = await new_session(b, "operator")
        await op.ok("presence.update", {"latitude": LAT, "longitude": LON})
        await wait_offer_count(cust, 1)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await op.event("gig.offer")
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
        deadline = time.time() + 60  # a bound on the wait, not a speed
        while await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}):
            assert time.time() < deadline, "operator still on node a's grid"
            await asyncio.sleep(0.2)
        await cust.update("expired", timeout=10)
    run(go())
    b.proc = None  # killed on purpose: nothing to check at teardown


def test_redis_restart_heals(cluster):
    a, b = cluster(names=("a", "b"))
    redis = cluster.redis

    async def go():
        cust, _, ctok = await new_session(a, "user")
        op, oacct, otok = await new_session(b, "operator")
        await op.ok("presence.update", {"latitude": LAT, "longitude": LON})
        await wait_offer_count(cust, 1)
        redis.stop()
        deadline = time.time() + 10
        while requests.get(a.url + "/healthz").json()["bus"] == "ok":
            assert time.time() < deadline
            await asyncio.sleep(0.1)
        h = requests.get(a.url + "/healthz")
        assert h.status_code == 503 and h.json()["failing"] == "bus"
        r = await cust.call("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        assert r["error"]["code"] == "unavailable"
        redis.start()
        deadline = time.time() + 15
        while (requests.get(a.url + "/healthz").json()["bus"] != "ok" or
               requests.get(b.url + "/healthz").json()["bus"] != "ok"):
            assert time.time() < deadline
            await asyncio.sleep(0.1)
        # sessions stayed open; the flow works again across nodes
        await op.ok("presence.update", {"latitude": LAT, "longitude": LON})
        await wait_offer_count(cust, 1)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        assert (await op.event("gig.offer"))["gigId"] == gig["id"]
        await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        await cust.update("operatorFound")
    run(go())


def test_redis_bus_with_sqlite_needs_single_node(tmp_path):
    from conftest import DROPIND, ROOT
    p = subprocess.run([DROPIND, "-c", os.path.join(ROOT, "conf", "dropind.conf"),
                        "--listen", "127.0.0.1:0", "--bus", "redis://127.0.0.1:1",
                        "--store", "sqlite:%s/x.db" % tmp_path], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1 and "single_node" in p.stderr
