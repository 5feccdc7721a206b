"""An operator whose first presence.update is still being read (name,
rating, rating lock) when a customer creates a gig next to him is offered
that gig once both are known: the gig's candidates are chosen while he is
locked, and his profile may arrive before the gig reaches the node's
pending cache. Before the fix he was never offered it (seen as flaky
dropctl and admin tests). Each round sends the two requests at once."""
import asyncio

from conftest import run
from helpers import new_session
from test_gig_flow import LAT, LON, off


def test_operator_whose_profile_arrives_during_the_create_is_offered(node):
    async def go():
        for i in range(15):
            cust, _, _ = await new_session(node, "user")
            op, _, _ = await new_session(node, "operator")
            lat, lon = off(30 + i)
            upd, created = await asyncio.gather(
                op.call("presence.update", {"latitude": lat, "longitude": lon}),
                cust.call("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"}))
            assert upd["ok"] and created["ok"], (upd, created)
            offer = await op.event("gig.offer", timeout=30)
            assert offer["gigId"] == created["data"]["id"], (i, offer)
            await cust.ok("gig.cancel", {"gigId": created["data"]["id"]})
            await op.event("gig.offer_revoked", timeout=30)
            await op.ok("presence.offline", {})
            await cust.close()
            await op.close()
    run(go())
