"""The sign-in brake (issue 12, finding 5): after login_max_failures failed
sign-ins an identity answers rate_limited with retryAfter, over WebSocket
and REST; other identities are unaffected; a success resets the count; one
address spraying many identities is slowed; with a Redis bus the count is
shared by the cluster and no identity is written to Redis."""
import asyncio
import subprocess
import time
import uuid

import requests

from conftest import Client, run
from helpers import register, unique_email
from test_cluster import cluster, mongo, redis_server  # noqa: F401 (fixtures)

WRONG = "wrong password"
RIGHT = "correct horse"


async def attempt(c, email, password):
    return await c.call("auth.login", {"identity": email, "password": password})


def assert_refused(r, most):
    assert r["ok"] is False, r
    assert r["error"]["code"] == "rate_limited", r
    ra = r["error"]["retryAfter"]
    assert isinstance(ra, int) and 0 < ra <= most, r
    return ra


def test_five_failures_lock_the_identity_not_others(node):
    async def body():
        c = await Client.connect(node.ws_url)
        _, victim = await register(c)
        _, other = await register(c)
        for _ in range(5):
            r = await attempt(c, victim, WRONG)
            assert r["error"]["code"] == "unauthenticated", r
        # the right password no longer helps: locked for 30 s (default cap 15 min)
        ra = assert_refused(await attempt(c, victim, RIGHT), 30)
        assert ra > 20
        # so is a wrong one, and it is not checked
        assert_refused(await attempt(c, victim, WRONG), 30)
        # another identity signs in
        r = await attempt(c, other, RIGHT)
        assert r["ok"] is True, r
        return victim

    victim = run(body())
    # REST login of the same identity: 429, retryAfter in the error and the header
    resp = requests.post(node.url + "/authorize", json={"email": victim, "password": RIGHT},
                         timeout=10)
    assert resp.status_code == 429, resp.text
    err = resp.json()["error"]
    assert err["code"] == "rate_limited" and 0 < err["retryAfter"] <= 30, err
    assert resp.headers.get("Retry-After") == str(err["retryAfter"])


def test_rest_failures_lock_websocket_login(node):
    async def body():
        c = await Client.connect(node.ws_url)
        _, email = await register(c)
        for _ in range(5):
            resp = requests.post(node.url + "/authorize",
                                 json={"email": email, "password": WRONG}, timeout=10)
            assert resp.status_code == 401, resp.text
        assert_refused(await attempt(c, email, RIGHT), 30)

    run(body())


def test_success_resets_the_count(node):
    async def body():
        c = await Client.connect(node.ws_url)
        _, email = await register(c)
        for _ in range(2):
            for _ in range(4):
                r = await attempt(c, email, WRONG)
                assert r["error"]["code"] == "unauthenticated", r
            r = await attempt(c, email, RIGHT)
            assert r["ok"] is True, r
            c = await Client.connect(node.ws_url)  # a fresh anonymous socket

    run(body())


def test_lockout_is_capped_by_login_lockout_max_and_ends(node_factory):
    n = node_factory(["--login_max_failures", "2", "--login_lockout_max", "2s"])

    async def body():
        c = await Client.connect(n.ws_url)
        _, email = await register(c)
        for _ in range(2):
            r = await attempt(c, email, WRONG)
            assert r["error"]["code"] == "unauthenticated", r
        assert_refused(await attempt(c, email, RIGHT), 2)
        # the lock ends: the right password works again (attempts while
        # locked are refused unchecked and do not count)
        deadline = time.time() + 20
        while True:
            r = await attempt(c, email, RIGHT)
            if r["ok"]:
                break
            assert_refused(r, 2)
            assert time.time() < deadline, r
            await asyncio.sleep(0.25)  # paced polling, under the session's rate limit

    run(body())


def test_one_address_spraying_identities_is_slowed(node_factory):
    # 2 failures lock an identity, 4 x 2 = 8 an address
    n = node_factory(["--login_max_failures", "2"])

    async def body():
        c = await Client.connect(n.ws_url)
        _, email = await register(c)
        for _ in range(8):  # one failure each: no identity is locked
            r = await attempt(c, unique_email("spray"), WRONG)
            assert r["error"]["code"] == "unauthenticated", r
        # the address is: even a fresh identity with the right password waits
        assert_refused(await attempt(c, email, RIGHT), 30)
        assert_refused(await attempt(c, unique_email("fresh"), WRONG), 30)

    run(body())


def test_failures_on_one_node_lock_the_identity_on_another(cluster):
    a, b = cluster(("a", "b"))

    async def body():
        ca = await Client.connect(a.ws_url)
        cb = await Client.connect(b.ws_url)
        _, victim = await register(ca)
        _, other = await register(ca)
        for _ in range(5):
            r = await attempt(ca, victim, WRONG)
            assert r["error"]["code"] == "unauthenticated", r
        assert_refused(await attempt(cb, victim, RIGHT), 30)
        r = await attempt(cb, other, RIGHT)
        assert r["ok"] is True, r
        # an unknown identity counts the same, across nodes too
        ghost = "ghost.%s@example.com" % uuid.uuid4().hex[:8]
        cb = await Client.connect(b.ws_url)
        for _ in range(5):
            r = await attempt(cb, ghost, WRONG)
            assert r["error"]["code"] == "unauthenticated", r
        assert_refused(await attempt(ca, ghost, WRONG), 30)
        return victim, ghost

    victim, ghost = run(body())
    keys = subprocess.run(["redis-cli", "-p", str(cluster.redis.port), "--scan"],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    assert "login.id." in keys and "login.ip." in keys, keys
    assert victim not in keys and ghost not in keys and "127.0.0.1" not in keys, keys
