"""Attacks on the sign-in brake (issue 12, finding 5).

The brake allows login_max_failures wrong passwords per identity, then
answers rate_limited without checking the password. It must hold for
attempts sent at once from many sockets too: the check must not let a
burst of concurrent attempts through before the first failure is counted
(a brute force would then get as many guesses per lockout as it has
sockets)."""
import asyncio
import json

from conftest import Client, run
from helpers import register

WRONG = "wrong password"


def test_concurrent_wrong_passwords_are_braked(node):
    """24 wrong passwords for one identity sent at once from 24 sockets:
    at most login_max_failures (5) of them are checked (unauthenticated),
    the rest are refused rate_limited with a retryAfter."""
    async def body():
        c = await Client.connect(node.ws_url)
        _, victim = await register(c)
        socks = [await Client.connect(node.ws_url) for _ in range(24)]
        msg = json.dumps({"op": "auth.login", "id": 1,
                          "data": {"identity": victim, "password": WRONG}})
        await asyncio.gather(*[s.ws.send(msg) for s in socks])
        replies = await asyncio.gather(*[s.recv(60) for s in socks])
        codes = [r["error"]["code"] for r in replies]
        assert set(codes) <= {"unauthenticated", "rate_limited"}, replies
        checked = codes.count("unauthenticated")
        assert checked <= 5, "%d passwords checked past the brake: %s" % (checked, codes)
        for r in replies:
            if r["error"]["code"] == "rate_limited":
                assert isinstance(r["error"]["retryAfter"], int) and r["error"]["retryAfter"] > 0, r

    run(body())


def test_concurrent_wrong_passwords_over_many_identities_brake_the_address(node_factory):
    """One address spraying 30 identities at once (one wrong password each):
    at most 4 x login_max_failures (20) are checked."""
    # 30 registrations on one anonymous socket may outlast the default auth_timeout
    node = node_factory(["--auth_timeout", "120s"])

    async def body():
        c = await Client.connect(node.ws_url)
        victims = [(await register(c))[1] for _ in range(30)]
        socks = [await Client.connect(node.ws_url) for _ in victims]
        await asyncio.gather(*[s.ws.send(json.dumps(
            {"op": "auth.login", "id": 1, "data": {"identity": v, "password": WRONG}}))
            for s, v in zip(socks, victims)])
        replies = await asyncio.gather(*[s.recv(60) for s in socks])
        codes = [r["error"]["code"] for r in replies]
        assert set(codes) <= {"unauthenticated", "rate_limited"}, replies
        assert codes.count("unauthenticated") <= 20, codes

    run(body())
