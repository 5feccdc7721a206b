"""The live gig flow over WebSocket on one node with the embedded store."""
import asyncio
import json
import time

import websockets

from conftest import Client, run
from helpers import RawWS, new_session

# Saigon, and points around it
LAT, LON = 10.787859, 106.70653


def off(lat_m, lon_m=0.0):
    """A point lat_m metres north and lon_m metres east of (LAT, LON)."""
    return LAT + lat_m / 111195.0, LON + lon_m / (111195.0 * 0.9824)


async def operator_at(node, lat, lon, **kw):
    c, acct, tok = await new_session(node, "operator", **kw)
    await c.ok("presence.update", {"latitude": lat, "longitude": lon})
    return c, acct


async def wait_free(c, customer, n, lat=LAT, lon=LON, timeout=10):
    """Waits until map.nearby (from the customer) shows n free operators."""
    deadline = time.time() + timeout
    while True:
        near = await customer.ok("map.nearby", {"latitude": lat, "longitude": lon})
        if len(near) >= n or time.time() > deadline:
            return near
        await asyncio.sleep(0.05)


def test_whole_flow_create_to_voted(node):
    async def go():
        cust, cacct, _ = await new_session(node, "user", first="Ninh", last="Vo")
        op, oacct = await operator_at(node, *off(300))
        near = await wait_free(op, cust, 1)
        assert near[0]["id"] == oacct["id"]
        assert near[0]["firstName"] == "Ann" and 250 < near[0]["distance"] < 350

        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "dev-1",
                                           "metaData": {"city": "Saigon"}})
        assert gig["status"] == "pendingOperator" and gig["customer"] == cacct["id"]
        assert gig["operator"] is None and gig["version"] >= 1
        assert gig["metaData"] == {"city": "Saigon"}
        offer = await op.event("gig.offer")
        assert offer["gigId"] == gig["id"]
        assert offer["customer"]["firstName"] == "Ninh"
        assert 250 < offer["distance"] < 350 and offer["expiresAt"].endswith("Z")

        g = await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        assert g["status"] == "operatorFound" and g["operator"] == oacct["id"]
        up = await cust.update("operatorFound")
        assert up["version"] == g["version"]
        # the operator is busy now: the map no longer shows them
        assert await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}) == []

        g = await cust.ok("gig.confirm", {"gigId": gig["id"]})
        assert g["status"] == "operatorEnroute"
        await op.update("operatorEnroute")

        hs1 = await op.ok("gig.handshake", {"gigId": gig["id"]})
        assert hs1["gig"]["status"] == "handshaking"
        v1 = hs1["video"]
        assert v1["provider"] == "dev" and v1["sessionId"] and v1["token"]
        r = await op.call("gig.start", {"gigId": gig["id"]})
        assert r["error"]["code"] == "conflict"  # the customer has not handshaken
        hs2 = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        v2 = hs2["video"]
        assert v2["sessionId"] == v1["sessionId"] and v2["token"] != v1["token"]
        assert v1["role"] == "publisher" and v2["role"] == "subscriber"

        g = await cust.ok("gig.start", {"gigId": gig["id"]})
        assert g["status"] == "streaming"
        await asyncio.sleep(1.1)
        g = await op.ok("gig.stop", {"gigId": gig["id"]})
        assert g["status"] == "purchased" and g["duration"] >= 1

        # unrated: both are locked out of new gig actions
        r = await cust.call("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        assert r["error"]["code"] == "rating_required"

        g = await cust.ok("gig.rate", {"gigId": gig["id"], "rating": 4})
        assert g["status"] == "purchased" and g["operatorRating"] == 4
        r = await cust.call("gig.rate", {"gigId": gig["id"], "rating": 5})
        assert r["error"]["code"] == "conflict"
        g = await op.ok("gig.rate", {"gigId": gig["id"], "rating": 5})
        assert g["status"] == "voted" and g["customerRating"] == 5

        detail = await cust.ok("gig.get", {"gigId": gig["id"]})
        assert detail["gig"]["status"] == "voted"
        assert detail["gig"]["customer"] == {"firstName": "Ninh", "lastName": "Vo"}
        assert detail["gig"]["operatorRating"] == {"value": 4}
        assert detail["purchase"]["status"] == "confirmed" and detail["purchase"]["amount"] > 0
        assert detail["payment"]["status"] == "need_invoice"

        lst = await cust.ok("gig.list", {})
        assert lst[0]["id"] == gig["id"] and lst[0]["status"] == "voted"
        assert set(lst[0]) >= {"customer", "operator", "customerRating", "operatorRating",
                               "longitude", "latitude", "duration", "status", "id"}
        assert await cust.ok("gig.list", {"status": "expired"}) == []

        # ratings reach the accounts' averages
        acct = await cust.ok("account.get", {"id": oacct["id"]})
        assert acct["operatorRating"] == 4
    run(go())


def test_customer_reject_and_cancel_by_each_party(node):
    async def go():
        cust, _, _ = await new_session(node, "user")
        op, oacct = await operator_at(node, *off(100))
        await wait_free(op, cust, 1)

        async def found():
            gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
            await op.event("gig.offer")
            await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
            return gig

        gig = await found()
        g = await cust.ok("gig.reject", {"gigId": gig["id"]})
        assert g["status"] == "customerRejected"
        await op.update("customerRejected")

        gig = await found()
        await cust.ok("gig.confirm", {"gigId": gig["id"]})
        g = await op.ok("gig.cancel", {"gigId": gig["id"]})
        assert g["status"] == "cancelled"

        gig = await found()
        await cust.ok("gig.confirm", {"gigId": gig["id"]})
        g = await cust.ok("gig.cancel", {"gigId": gig["id"]})
        assert g["status"] == "cancelled"

        # cancel while pending revokes the open offer
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        offer = await op.event("gig.offer")
        assert offer["version"] == gig["version"]
        g = await cust.ok("gig.cancel", {"gigId": gig["id"]})
        rev = await op.event("gig.offer_revoked")
        # every gig event carries the gig's version (PROTOCOL.md section 1)
        assert rev == {"gigId": gig["id"], "version": g["version"], "reason": "cancelled"}
    run(go())


def test_all_operators_reject(node_factory):
    node = node_factory(["--wave_size", "2"])

    async def go():
        cust, _, _ = await new_session(node, "user")
        ops = [await operator_at(node, *off(100 * (i + 1))) for i in range(3)]
        await wait_free(None, cust, 3)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        # wave 1: the two nearest
        for c, _ in ops[:2]:
            assert (await c.event("gig.offer"))["gigId"] == gig["id"]
            g = await c.ok("gig.claim", {"gigId": gig["id"], "response": "reject"})
        # wave 2: the third
        assert (await ops[2][0].event("gig.offer"))["gigId"] == gig["id"]
        g = await ops[2][0].ok("gig.claim", {"gigId": gig["id"], "response": "reject"})
        assert g["status"] == "allOperatorsRejected"
        await cust.update("allOperatorsRejected")
    run(go())


def test_nobody_answers_expired(node_factory):
    node = node_factory(["--pending_ttl", "1500ms", "--offer_ttl", "600ms"])

    async def go():
        cust, _, _ = await new_session(node, "user")
        a, _ = await operator_at(node, *off(100))
        b, _ = await operator_at(node, *off(200))
        await wait_free(None, cust, 2)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        t0 = time.time()
        await cust.update("expired")
        assert 1.2 < time.time() - t0 < 6
        for c in (a, b):
            await c.event("gig.offer")
            rev = await c.event("gig.offer_revoked")
            assert rev["gigId"] == gig["id"] and rev["reason"] in ("expired",)
    run(go())


def test_second_wave_after_offer_expiry(node_factory):
    node = node_factory(["--wave_size", "1", "--offer_ttl", "500ms"])

    async def go():
        cust, _, _ = await new_session(node, "user")
        near, _ = await operator_at(node, *off(100))
        far, fa = await operator_at(node, *off(900))
        await wait_free(None, cust, 2)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        assert (await near.event("gig.offer"))["gigId"] == gig["id"]
        rev = await near.event("gig.offer_revoked", timeout=5)
        assert rev["reason"] == "expired"
        assert (await far.event("gig.offer", timeout=5))["gigId"] == gig["id"]
        g = await far.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        assert g["operator"] == fa["id"]
        r = await near.call("gig.claim", {"gigId": gig["id"], "response": "accept"})
        assert r["error"]["code"] == "conflict"
    run(go())


def test_late_join_and_far_operator_never_offered(node):
    async def go():
        cust, _, _ = await new_session(node, "user")
        far, _ = await operator_at(node, *off(20000))  # 20 km: outside dispatch_radius
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        late, lacct = await operator_at(node, *off(50))
        offer = await late.event("gig.offer", timeout=5)
        assert offer["gigId"] == gig["id"]
        await late.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        with_far = [m for m in far.events if m.get("ev") == "gig.offer"]
        try:
            m = await far.recv(timeout=0.5)
            with_far.append(m)
        except asyncio.TimeoutError:
            pass
        assert not [m for m in with_far if m.get("ev") == "gig.offer"]
    run(go())


def test_twenty_operators_race_one_winner(node_factory):
    node = node_factory(["--wave_size", "20"])

    async def go():
        cust, _, _ = await new_session(node, "user")
        ops = await asyncio.gather(*[operator_at(node, *off(20 * (i + 1))) for i in range(20)])
        await wait_free(None, cust, 20)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await asyncio.gather(*[c.event("gig.offer") for c, _ in ops])
        results = await asyncio.gather(*[c.call("gig.claim", {"gigId": gig["id"],
                                                              "response": "accept"})
                                         for c, _ in ops])
        winners = [r for r in results if r["ok"]]
        assert len(winners) == 1, results
        assert all(r["error"]["code"] == "conflict" for r in results if not r["ok"])
        winner = winners[0]["data"]["operator"]
        for c, a in ops:
            if a["id"] != winner:
                rev = await c.event("gig.offer_revoked")
                assert rev == {"gigId": gig["id"], "version": winners[0]["data"]["version"],
                               "reason": "taken"}
    run(go())


def test_reconnect_heals_with_session_state(node):
    async def go():
        cust, cacct, ctok = await new_session(node, "user")
        op, oacct = await operator_at(node, *off(100))
        await wait_free(None, cust, 1)
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await op.event("gig.offer")
        # the operator reconnects: the open offer is in the snapshot
        op2 = await Client.connect(node.ws_url)
        r = await op2.call("auth.login", {"identity": op.email, "password": "correct horse"})
        st = await op2.event("session.state")
        assert [o["gigId"] for o in st["offers"]] == [gig["id"]]
        g = await op2.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        await cust.close()
        c2 = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ctok})
        st = await c2.event("session.state")
        assert [x["id"] for x in st["gigs"]] == [gig["id"]]
        assert st["gigs"][0]["version"] == g["version"]
        assert st["gigs"][0]["status"] == "operatorFound"
    run(go())


def test_bad_gig_input(node):
    async def go():
        cust, _, _ = await new_session(node, "user")
        op, _ = await operator_at(node, *off(100))
        for data in [{"latitude": 91, "longitude": 0, "deviceId": "d"},
                     {"latitude": "10", "longitude": 0, "deviceId": "d"},
                     {"latitude": 10, "longitude": 0},
                     {"latitude": 10, "longitude": 0, "deviceId": "d", "metaData": [1]}]:
            r = await cust.call("gig.create", data)
            assert r["error"]["code"] == "bad_request", (data, r)
        r = await cust.call("gig.confirm", {"gigId": "nope"})
        assert r["error"]["code"] == "bad_request"
        r = await cust.call("gig.confirm", {"gigId": "0" * 24})
        assert r["error"]["code"] == "not_found"
        r = await op.call("gig.create", {"latitude": 10, "longitude": 0, "deviceId": "d"})
        assert r["error"]["code"] == "forbidden"
        r = await op.call("presence.update", {"latitude": float("nan") if False else 100,
                                              "longitude": 0})
        assert r["error"]["code"] == "bad_request"
        r = await cust.call("presence.update", {"latitude": 1, "longitude": 1})
        assert r["error"]["code"] == "forbidden"
        # fire-and-forget presence gets no reply
        await op.send({"op": "presence.update", "data": {"latitude": 10.1, "longitude": 106.1}})
        assert (await op.call("sys.ping"))["ok"]
    run(go())


def test_slow_consumer_closed_4408_others_flow(node_factory):
    node = node_factory(["--session_queue_bytes", "16k", "--rate_limit", "1000000",
                         "--rate_burst", "1000000"])

    async def setup():
        c, acct, token = await new_session(node, "user")
        return token
    token = run(setup())
    # a consumer that never reads: small receive buffer, a flood of requests
    # whose replies pile up in the kernel and then in its session queue
    slow = RawWS(node.port, ["Authorization: Bearer " + token], rcvbuf=4096)
    op_name = "no.such.op." + "x" * 50
    frame = json.dumps({"op": op_name, "id": "y" * 100})
    for i in range(60000):
        try:
            slow.send_text(frame)
        except OSError:
            break
        if i % 5000 == 4999 and metric(node, 'dropin_closes_total{code="4408"}') >= 1:
            break

    async def others():
        # another session keeps flowing while the slow one is being cut off
        fast = await Client.connect(node.ws_url)
        for _ in range(20):
            assert (await fast.call("sys.ping"))["ok"]
    run(others())
    # the node works through the flood at its own pace (slow under ASan on
    # a loaded machine): a generous bound, not a speed check
    deadline = time.time() + 90
    while metric(node, 'dropin_closes_total{code="4408"}') < 1 and time.time() < deadline:
        time.sleep(0.1)
    assert metric(node, 'dropin_closes_total{code="4408"}') == 1
    # when it reads again it finds its replies, then the close frame 4408
    assert slow.close_code() == 4408


def metric(node, name):
    import re
    import requests
    text = requests.get(node.url + "/metrics").text
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def test_one_live_gig_per_operator(node):
    """An operator holding offers for two gigs who accepts one cannot accept
    the other: only free operators are offered, and an operator in a live
    gig is not free (PROTOCOL.md section 2)."""
    async def go():
        c1, _, _ = await new_session(node, "user", first="First")
        c2, _, _ = await new_session(node, "user", first="Second")
        op, oacct = await operator_at(node, *off(100))
        await wait_free(op, c1, 1)
        g1 = await c1.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d1"})
        assert (await op.event("gig.offer"))["gigId"] == g1["id"]
        g2 = await c2.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d2"})
        assert (await op.event("gig.offer"))["gigId"] == g2["id"]
        won = await op.ok("gig.claim", {"gigId": g1["id"], "response": "accept"})
        assert won["operator"] == oacct["id"]
        r = await op.call("gig.claim", {"gigId": g2["id"], "response": "accept"})
        assert not r["ok"] and r["error"]["code"] == "conflict", r
        g = await c2.ok("gig.get", {"gigId": g2["id"]})
        assert g["gig"]["status"] == "pendingOperator" and g["gig"]["operator"] is None
        # free again once the first gig ends: the second can be taken
        await c1.ok("gig.reject", {"gigId": g1["id"]})
        g = await op.ok("gig.claim", {"gigId": g2["id"], "response": "accept"})
        assert g["status"] == "operatorFound"
    run(go())
