"""A restarted node knows the operators of live gigs from its store: an
operator in a live gig who comes back online after the restart is not shown
as free, nor offered another gig."""
import asyncio

from conftest import Client, run
from helpers import login, new_session

LAT, LON = 10.787859, 106.70653


def test_operator_of_a_live_gig_stays_busy_after_restart(node_factory, tmp_path):
    node = node_factory(tmpdir=str(tmp_path))

    async def first():
        cust, _, _ = await new_session(node, "user")
        op, oacct, _ = await new_session(node, "operator")
        await op.ok("presence.update", {"latitude": LAT + 0.001, "longitude": LON})
        for _ in range(200):
            if await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}):
                break
            await asyncio.sleep(0.05)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await op.event("gig.offer")
        g = await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        assert g["status"] == "operatorFound"
        return cust.email, op.email, oacct["id"]
    cust_email, op_email, op_id = run(first())
    assert node.stop() == 0

    node2 = node_factory(tmpdir=str(tmp_path))

    async def second():
        op = await Client.connect(node2.ws_url)
        await login(op, op_email)
        await op.ok("presence.update", {"latitude": LAT + 0.001, "longitude": LON})
        # a second operator: once it shows, the first one's profile read is done too
        other, oacct2, _ = await new_session(node2, "operator")
        await other.ok("presence.update", {"latitude": LAT + 0.002, "longitude": LON})
        cust = await Client.connect(node2.ws_url)
        await login(cust, cust_email)
        for _ in range(200):
            near = await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON})
            if any(o["id"] == oacct2["id"] for o in near):
                break
            await asyncio.sleep(0.05)
        assert [o["id"] for o in near] == [oacct2["id"]], near
    run(second())
