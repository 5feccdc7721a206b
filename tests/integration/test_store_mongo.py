"""dropind on the MongoDB store (the CongoDB test server, or the real mongod
of MONGO_URI): it serves accounts from MongoDB, and when the store goes down
mid-run ops answer `unavailable`, /healthz turns 503 naming the store, and
the node recovers by itself once the store is back on the same address."""
import asyncio
import time
import uuid

import pytest
import requests

from conftest import Client
from helpers import login, register, unique_email
from mongo_server import MongoTestServer, mongo_for_test


@pytest.fixture
def mongo():
    """MONGO_URI's mongod when set, else the test server."""
    srv = mongo_for_test()
    yield srv
    srv.stop()


@pytest.fixture
def own_mongo():
    """A test server of this test's own, whatever MONGO_URI says: the test
    stops and restarts it (a real mongod is not ours to stop)."""
    srv = MongoTestServer().start()
    yield srv
    srv.stop()


def start_on_mongo(node_factory, uri):
    return node_factory(args=["--store", uri, "--store_timeout", "500ms",
                              "--token_secret", "a-shared-secret-of-the-test-cluster-0123"])


def health(n):
    r = requests.get(n.url + "/healthz", timeout=5)
    return r.status_code, r.json()


def wait_health(n, code, timeout=20):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = health(n)
        if last[0] == code:
            return last[1]
        time.sleep(0.1)
    raise AssertionError("healthz never %d: last %r" % (code, last))


def test_accounts_on_mongo(node_factory, mongo):
    n = start_on_mongo(node_factory, mongo.uri("dropin_it_%s" % uuid.uuid4().hex[:8]))
    body = wait_health(n, 200)
    assert body["store"] == "ok"

    async def run():
        c = await Client.connect(n.ws_url)
        acct, email = await register(c)
        data, state = await login(c, email)
        assert data["account"]["id"] == acct["id"]
        await c.ws.close()
        c = await Client.connect(n.ws_url)
        r = await c.call("account.register", {
            "firstName": "B", "lastName": "C", "type": "user", "password": "correct horse",
            "identities": [{"type": "email", "value": email}]})
        assert r["ok"] is False and r["error"]["code"] == "conflict", r
        await c.ws.close()
    asyncio.run(run())


def test_store_down_and_back(node_factory, own_mongo):
    mongo = own_mongo
    port = mongo.port
    n = start_on_mongo(node_factory, mongo.uri("dropin_down"))
    wait_health(n, 200)

    async def register_once(email):
        c = await Client.connect(n.ws_url)
        try:
            return await c.call("account.register", {
                "firstName": "D", "lastName": "Own", "type": "user",
                "password": "correct horse",
                "identities": [{"type": "email", "value": email}]}, timeout=15)
        finally:
            await c.ws.close()

    r = asyncio.run(register_once(unique_email("up")))
    assert r["ok"] is True, r

    mongo.stop()
    r = asyncio.run(register_once(unique_email("down")))
    # answered (not hung) with the retryable code; how fast is store_timeout's
    assert r["ok"] is False and r["error"]["code"] == "unavailable", r
    body = wait_health(n, 503)
    assert body.get("failing") == "store" and body["store"] != "ok", body

    mongo.start(port=port)
    body = wait_health(n, 200, timeout=30)
    assert body["store"] == "ok"
    r = asyncio.run(register_once(unique_email("back")))
    assert r["ok"] is True, r
    assert "AddressSanitizer" not in n.read_log()
