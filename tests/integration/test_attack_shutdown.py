"""Stopping a node while requests are still being worked on.

SIGTERM closes the sessions and stops the node once they are gone; a request
whose work is still queued for a worker thread (here sign-outs queued behind
sign-ins, each an Argon2id hash) finishes after that, and its completion
publishes on the bus (a sign-out revokes its token cluster-wide). That must
not touch the bus the stop has already closed: the node exits 0 without any
sanitizer report."""
import asyncio
import signal

from conftest import Client, run
from helpers import new_session


def test_sigterm_with_sign_outs_in_flight(node_factory):
    for attempt in range(5):
        node = node_factory(["--workers", "1"])

        async def body():
            authed = [(await new_session(node))[0] for _ in range(8)]
            anon = [await Client.connect(node.ws_url) for _ in range(6)]
            for i, c in enumerate(anon):
                # send() files the id as in flight: a reply that wins the race
                # with SIGTERM is expected, not a stray
                await c.send({"op": "auth.login", "id": 1, "data": {
                    "identity": "nobody%d@example.com" % i, "password": "wrong password"}})
            for c in authed:
                await c.send({"op": "auth.logout", "id": 99})
            # one answer: the node has read the requests; the rest wait for the one worker
            await anon[0].recv(30)
            node.proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*[c.closed(30) for c in authed + anon])

        run(body())
        try:
            rc = node.proc.wait(30)
        finally:
            log = node.read_log()
        assert "runtime error:" not in log and "ERROR: AddressSanitizer" not in log, log[-3000:]
        assert rc == 0, (rc, log[-3000:])
        stopping = log.split("event=stopping", 1)[1].split("\n")[0]
        if " jobs=0" not in stopping:
            return  # stopped with work in flight, and cleanly
    raise AssertionError("never stopped with work in flight in 5 attempts")
