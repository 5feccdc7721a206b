"""The live gig flow over WebSocket on one node with the embedded store."""
import asyncio
import json
import time

import pytest
import websockets

from conftest import Client, UnexpectedFrame, run, store_uri
from helpers import RawWS, ms, new_session

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

        started = await cust.ok("gig.start", {"gigId": gig["id"]})
        assert started["status"] == "streaming"
        g = await op.ok("gig.stop", {"gigId": gig["id"]})
        assert g["status"] == "purchased"
        # whole seconds of streaming: from the start to the stop, on the
        # node's clock (test_deadlines_from_config shows a non-zero one)
        assert g["duration"] == (ms(g["updatedAt"]) - ms(started["updatedAt"])) // 1000, g

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
        # wave 1: the two nearest, and only them (offers are queued before
        # the reply to gig.create; the ping's reply comes after them)
        await ops[2][0].flush()
        assert ops[2][0].pending("gig.offer") == []
        for c, _ in ops[:2]:
            assert (await c.event("gig.offer"))["gigId"] == gig["id"]
            g = await c.ok("gig.claim", {"gigId": gig["id"], "response": "reject"})
            assert g["status"] == "pendingOperator"
            if c is ops[0][0]:  # one offer of the wave still open: no new wave
                await ops[2][0].flush()
                assert ops[2][0].pending("gig.offer") == []
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
        # the deadline is pending_ttl after creation, and nothing moved the
        # gig before it (the node's clock: not the machine's speed)
        assert ms(gig["expiresAt"]) - ms(gig["createdAt"]) == 1500, gig
        up = await cust.update("expired", timeout=60)
        assert ms(up["updatedAt"]) >= ms(gig["expiresAt"]), up
        assert up["duration"] == (ms(up["updatedAt"]) - ms(gig["createdAt"])) // 1000, up
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
        offer = await near.event("gig.offer")
        assert offer["gigId"] == gig["id"]
        # the offer lives offer_ttl from its making (the node's clock: the
        # gig's updatedAt, when the offers were made)
        assert ms(offer["expiresAt"]) - ms(gig["updatedAt"]) == 500, (offer, gig)
        rev = await near.event("gig.offer_revoked", timeout=60)
        assert rev["reason"] == "expired"
        offer = await far.event("gig.offer", timeout=60)
        assert offer["gigId"] == gig["id"]
        r = await near.call("gig.claim", {"gigId": gig["id"], "response": "accept"})
        assert r["error"]["code"] == "conflict", r
        # the second wave's offer lives offer_ttl too: on a loaded machine
        # it may be gone before the claim reaches the node, and then the
        # node must say so (no timing assert either way)
        r = await far.call("gig.claim", {"gigId": gig["id"], "response": "accept"})
        if r["ok"]:
            assert r["data"]["operator"] == fa["id"], r
        else:
            assert r["error"]["code"] == "conflict", r
            rev = await far.event("gig.offer_revoked", timeout=60)
            assert rev["gigId"] == gig["id"] and rev["reason"] == "expired", rev
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
        r = await op.call("presence.update", {"latitude": 100, "longitude": 0})
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
        return acct["id"], token
    slow_id, token = run(setup())
    # a consumer that never reads (small receive buffer) while events for it
    # pile up in the kernel and then in its session queue. Events, not
    # replies to its own flood: lws stops reading a socket whose output is
    # backed up, so a flood of requests alone throttles itself.
    slow = RawWS(node.port, ["Authorization: Bearer " + token], rcvbuf=4096)

    async def others():
        sender, _, _ = await new_session(node, "user")
        text = "z" * 3000
        for i in range(5000):
            await sender.ok("inbox.send", {"to": slow_id, "text": text})
            if i % 50 == 49 and metric(node, 'dropin_closes_total{code="4408"}') >= 1:
                break
        # another session keeps flowing while the slow one is cut off
        fast = await Client.connect(node.ws_url)
        for _ in range(20):
            assert (await fast.call("sys.ping"))["ok"]
    run(others())
    deadline = time.time() + 30
    while metric(node, 'dropin_closes_total{code="4408"}') < 1 and time.time() < deadline:
        time.sleep(0.1)
    assert metric(node, 'dropin_closes_total{code="4408"}') == 1
    # when it reads again it finds its events, then the close frame 4408
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


# ---- promises each guarded by a test that fails when the promise breaks ----

async def found(cust, op, lat=LAT, lon=LON):
    """A new gig of cust, offered to and accepted by op: operatorFound."""
    gig = await cust.ok("gig.create", {"latitude": lat, "longitude": lon, "deviceId": "d"})
    while (await op.event("gig.offer"))["gigId"] != gig["id"]:
        pass
    g = await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
    assert g["status"] == "operatorFound"
    return g


async def streaming(cust, op):
    g = await found(cust, op)
    await cust.ok("gig.confirm", {"gigId": g["id"]})
    await op.ok("gig.handshake", {"gigId": g["id"]})
    await cust.ok("gig.handshake", {"gigId": g["id"]})
    g = await cust.ok("gig.start", {"gigId": g["id"]})
    assert g["status"] == "streaming"
    return g


async def purchased(cust, op):
    g = await streaming(cust, op)
    g = await op.ok("gig.stop", {"gigId": g["id"]})
    assert g["status"] == "purchased"
    return g


def test_unrated_operator_cannot_claim_an_offer_he_holds(node_factory):
    """rating_required on gig.claim (PROTOCOL.md section 2), for an offer the
    operator received before his last gig ended unrated."""
    node = node_factory(["--offer_ttl", "10m"])

    async def go():
        c1, _, _ = await new_session(node, "user")
        c2, _, _ = await new_session(node, "user")
        op, oacct = await operator_at(node, *off(100))
        await wait_free(op, c1, 1)
        g2 = await c2.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d2"})
        assert (await op.event("gig.offer"))["gigId"] == g2["id"]
        g1 = await purchased(c1, op)
        await c1.ok("gig.rate", {"gigId": g1["id"], "rating": 5})
        r = await op.call("gig.claim", {"gigId": g2["id"], "response": "accept"})
        assert not r["ok"] and r["error"]["code"] == "rating_required", r
        r = await op.call("gig.claim", {"gigId": g2["id"], "response": "reject"})
        assert not r["ok"] and r["error"]["code"] == "rating_required", r
        assert (await c2.ok("gig.get", {"gigId": g2["id"]}))["gig"]["status"] == "pendingOperator"
        # rating lifts the lock: the same offer can be taken now
        await op.ok("gig.rate", {"gigId": g1["id"], "rating": 4})
        g = await op.ok("gig.claim", {"gigId": g2["id"], "response": "accept"})
        assert g["status"] == "operatorFound" and g["operator"] == oacct["id"]
    run(go())


def test_unrated_operator_is_off_the_map_and_gets_no_offers(node):
    """A locked operator is not free: not on map.nearby, not offered; rating
    frees him and a pending gig reaches him then (late join)."""
    async def go():
        c1, _, _ = await new_session(node, "user")
        c3, _, _ = await new_session(node, "user")
        op, oacct = await operator_at(node, *off(100))
        await wait_free(op, c1, 1)
        g1 = await purchased(c1, op)
        await c1.ok("gig.rate", {"gigId": g1["id"], "rating": 5})
        assert await c3.ok("map.nearby", {"latitude": LAT, "longitude": LON}) == []
        # still locked after a fresh position
        await op.ok("presence.update", {"latitude": off(120)[0], "longitude": LON})
        assert await c3.ok("map.nearby", {"latitude": LAT, "longitude": LON}) == []
        g3 = await c3.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d3"})
        # offers are queued to the operator's session before c3's reply is
        # sent (one node); the ping's reply comes after anything queued
        await op.flush()
        assert op.pending("gig.offer") == [], op.events
        await op.ok("gig.rate", {"gigId": g1["id"], "rating": 3})
        offer = await op.event("gig.offer")
        assert offer["gigId"] == g3["id"]
        near = await c1.ok("map.nearby", {"latitude": LAT, "longitude": LON})
        assert [n["id"] for n in near] == [oacct["id"]]
    run(go())


def test_sweep_expires_a_gig_whose_node_died(node_factory):
    """The timer of a gig dies with its node; the store sweep of another node
    on the same store expires it (PROTOCOL.md section 2: deadlines)."""
    db = "sweep"
    a = node_factory(["--pending_ttl", "1s", "--sweep_interval", "1h"],
                     store=store_uri(node_factory.tmpdir, db))

    async def create():
        cust, _, tok = await new_session(a, "user")
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        assert gig["status"] == "pendingOperator"
        return gig, tok
    gig, tok = run(create())
    a.kill()
    b = node_factory(["--pending_ttl", "1s", "--sweep_interval", "200ms"],
                     store=store_uri(node_factory.tmpdir, db))

    async def recover():
        c = await Client.connect(b.ws_url, headers={"Authorization": "Bearer " + tok})
        await c.event("session.state")
        g = (await c.ok("gig.get", {"gigId": gig["id"]}))["gig"]
        if g["status"] != "expired":
            g = await c.update("expired", timeout=60)
        assert g["id"] == gig["id"] and g["version"] > gig["version"]
        g = (await c.ok("gig.get", {"gigId": gig["id"]}))["gig"]
        assert g["status"] == "expired"
    run(recover())


def test_actor_sessions_get_gig_updated(node):
    """gig.updated goes to every session of both parties, the actor's
    included (PROTOCOL.md section 1, events)."""
    async def go():
        cust, _, ctok = await new_session(node, "user")
        cust2 = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ctok})
        await cust2.event("session.state")
        op, _ = await operator_at(node, *off(100))
        op2 = await Client.connect(node.ws_url)
        await op2.call("auth.login", {"identity": op.email, "password": "correct horse"})
        await op2.event("session.state")
        await wait_free(op, cust, 1)
        g = await found(cust, op)
        for c in (cust, cust2, op, op2):
            assert (await c.update("operatorFound"))["version"] == g["version"]
        g = await cust.ok("gig.confirm", {"gigId": g["id"]})
        for c in (cust, cust2, op, op2):
            assert (await c.update("operatorEnroute"))["version"] == g["version"]
        g = await op2.ok("gig.cancel", {"gigId": g["id"]})
        for c in (op2, op, cust, cust2):
            up = await c.update("cancelled")
            assert up["version"] == g["version"] and up["id"] == g["id"]
    run(go())


@pytest.mark.parametrize("key", ["confirm_ttl", "handshake_ttl", "max_stream"])
def test_deadlines_from_config(node_factory, key):
    """Each deadline is the configured value: the gig's expiresAt is exactly
    updatedAt + the key's value, and the system moves the gig on once it
    passes (upper bound: a generous wait, not the machine's speed)."""
    args = {"confirm_ttl": "7m", "handshake_ttl": "11m", "max_stream": "13m"}
    args[key] = "2s"
    flat = []
    for k, v in args.items():
        flat += ["--" + k, v]
    node = node_factory(flat)
    value = {"7m": 7 * 60000, "11m": 11 * 60000, "13m": 13 * 60000, "2s": 2000}

    async def go():
        cust, _, _ = await new_session(node, "user")
        op, _ = await operator_at(node, *off(100))
        await wait_free(op, cust, 1)
        if key == "confirm_ttl":
            g = await found(cust, op)
            assert ms(g["expiresAt"]) - ms(g["updatedAt"]) == value[args["confirm_ttl"]], g
            up = await cust.update("expired", timeout=60)
        elif key == "handshake_ttl":
            g = await found(cust, op)
            assert ms(g["expiresAt"]) - ms(g["updatedAt"]) == value[args["confirm_ttl"]], g
            g = await cust.ok("gig.confirm", {"gigId": g["id"]})
            assert ms(g["expiresAt"]) - ms(g["updatedAt"]) == value[args["handshake_ttl"]], g
            await op.ok("gig.handshake", {"gigId": g["id"]})
            up = await cust.update("expired", timeout=60)
        else:
            g = await streaming(cust, op)
            assert ms(g["expiresAt"]) - ms(g["updatedAt"]) == value[args["max_stream"]], g
            up = await cust.update("purchased", timeout=60)
            # billed up to the deadline, however late the timer ran
            assert up["duration"] == 2, up
        assert up["id"] == g["id"] and up["expiresAt"] is None
    run(go())


def test_request_without_id_gets_no_reply_unless_it_fails(node):
    """A request without id gets no reply unless it fails (PROTOCOL.md
    section 1). The strict client fails on any stray reply; the ping after
    the fire-and-forget requests comes back after anything they produced."""
    async def go():
        op, _ = await operator_at(node, *off(100))
        await op.send({"op": "presence.update", "data": {"latitude": 10.1, "longitude": 106.1}})
        await op.send({"op": "sys.ping"})
        await op.send({"op": "account.get"})
        await op.flush()
        # a failing one is answered, with re null
        await op.send({"op": "presence.update", "data": {"latitude": 1000, "longitude": 0}})
        m = await op.recv()
        assert m["re"] is None and m["ok"] is False, m
        assert m["error"]["code"] == "bad_request"
        await op.flush()
        # and the strict client does notice a stray reply
        await op.ws.send(json.dumps({"op": "sys.ping", "id": 1000}))
        with pytest.raises(UnexpectedFrame):
            await op.flush()
    run(go())


def test_presence_offline_removes_operator(node):
    """presence.offline: off the map and offered nothing until the next
    presence.update, which brings him back (and a pending gig reaches him)."""
    async def go():
        cust, _, _ = await new_session(node, "user")
        op, oacct = await operator_at(node, *off(100))
        assert [n["id"] for n in await wait_free(op, cust, 1)] == [oacct["id"]]
        await op.ok("presence.offline", {})
        assert await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}) == []
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await op.flush()  # an offer would have been queued before this reply
        assert op.pending("gig.offer") == []
        await op.ok("presence.update", {"latitude": off(100)[0], "longitude": LON})
        assert (await op.event("gig.offer"))["gigId"] == gig["id"]
    run(go())


ADMIN = "admin-token-of-the-gig-tests-0123456789"


def test_gig_get_and_list_visibility(node_factory):
    """gig.get: a party or an admin, others not_found; gig.list: self, an
    admin any account, newest first (PROTOCOL.md ops table)."""
    node = node_factory(["--admin_token", ADMIN])

    async def go():
        cust, cacct, _ = await new_session(node, "user")
        other, oth, _ = await new_session(node, "user")
        op, oacct = await operator_at(node, *off(100))
        await wait_free(op, cust, 1)
        g1 = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d1"})
        await cust.ok("gig.cancel", {"gigId": g1["id"]})
        g2 = await found(cust, op)
        await cust.ok("gig.reject", {"gigId": g2["id"]})
        g3 = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d3"})
        ids = [g3["id"], g2["id"], g1["id"]]  # newest first

        assert [g["id"] for g in await cust.ok("gig.list", {})] == ids
        assert [g["id"] for g in await cust.ok("gig.list", {"limit": 2})] == ids[:2]
        assert [g["id"] for g in await op.ok("gig.list", {})] == [g2["id"]]
        assert [g["id"] for g in await cust.ok("gig.list", {"status": "customerRejected"})] == \
            [g2["id"]]
        assert (await op.ok("gig.get", {"gigId": g2["id"]}))["gig"]["id"] == g2["id"]
        # a stranger: no gig of theirs, nor anyone else's list
        r = await other.call("gig.get", {"gigId": g2["id"]})
        assert r["error"]["code"] == "not_found", r
        r = await op.call("gig.get", {"gigId": g1["id"]})  # offered once, never a party
        assert r["error"]["code"] == "not_found", r
        r = await other.call("gig.list", {"accountId": cacct["id"]})
        assert r["error"]["code"] == "forbidden", r
        assert await other.ok("gig.list", {}) == []
        # an admin: any gig, any account's list
        a = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        await a.event("session.state")
        assert (await a.ok("gig.get", {"gigId": g1["id"]}))["gig"]["id"] == g1["id"]
        assert [g["id"] for g in await a.ok("gig.list", {"accountId": cacct["id"]})] == ids
        assert [g["id"] for g in await a.ok("gig.list", {"accountId": oacct["id"]})] == [g2["id"]]
        assert await a.ok("gig.list", {"accountId": oth["id"]}) == []
    run(go())


def test_admin_moves_video_fail_and_invoice_chain(node_factory):
    """The admin's moves of the state machine: video_fail on a streaming gig
    -> failed; on a voted gig, invoice thrice -> invoiceGenerated ->
    invoiceSent -> compensated; each a gig.updated to both parties; no party
    may make them; a gig that ended before streaming lasted from creation to
    its end (PROTOCOL.md section 2)."""
    node = node_factory(["--admin_token", ADMIN])

    async def go():
        cust, _, _ = await new_session(node, "user")
        op, _ = await operator_at(node, *off(100))
        await wait_free(op, cust, 1)
        a = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        await a.event("session.state")

        g = await streaming(cust, op)
        r = await cust.call("admin.gig", {"gigId": g["id"], "action": "video_fail"})
        assert r["error"]["code"] == "forbidden", r
        f = await a.ok("admin.gig", {"gigId": g["id"], "action": "video_fail"})
        assert f["status"] == "failed" and f["version"] == g["version"] + 1
        for c in (cust, op):
            assert (await c.update("failed"))["version"] == f["version"]
        r = await a.call("admin.gig", {"gigId": g["id"], "action": "invoice"})
        assert r["error"]["code"] == "conflict", r

        g = await purchased(cust, op)
        r = await a.call("admin.gig", {"gigId": g["id"], "action": "invoice"})
        assert r["error"]["code"] == "conflict", r  # not voted yet
        await cust.ok("gig.rate", {"gigId": g["id"], "rating": 5})
        await op.ok("gig.rate", {"gigId": g["id"], "rating": 5})
        for want in ("invoiceGenerated", "invoiceSent", "compensated"):
            g = await a.ok("admin.gig", {"gigId": g["id"], "action": "invoice"})
            assert g["status"] == want, g
            for c in (cust, op):
                assert (await c.update(want))["version"] == g["version"]
        r = await a.call("admin.gig", {"gigId": g["id"], "action": "invoice"})
        assert r["error"]["code"] == "conflict", r
        assert (await cust.ok("gig.get", {"gigId": g["id"]}))["gig"]["status"] == "compensated"

        # ended before streaming: seconds from creation to its end
        g = await found(cust, op)
        end = await cust.ok("gig.reject", {"gigId": g["id"]})
        assert end["duration"] == (ms(end["updatedAt"]) - ms(end["createdAt"])) // 1000, end
    run(go())


def test_map_nearby_radius_limit_nearest_first(node):
    """map.nearby: free operators within radius (metres), nearest first, at
    most limit, each with its distance (PROTOCOL.md ops table)."""
    async def go():
        cust, _, _ = await new_session(node, "user")
        ops = [await operator_at(node, *off(d)) for d in (900, 100, 450)]
        near = await wait_free(None, cust, 3)
        assert [n["id"] for n in near] == [ops[1][1]["id"], ops[2][1]["id"], ops[0][1]["id"]]
        assert [round(n["distance"] / 10) for n in near] == [10, 45, 90], near
        near = await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON, "radius": 500})
        assert [n["id"] for n in near] == [ops[1][1]["id"], ops[2][1]["id"]], near
        near = await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON, "radius": 50})
        assert near == []
        near = await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON, "limit": 2})
        assert [n["id"] for n in near] == [ops[1][1]["id"], ops[2][1]["id"]], near
        # the far side of the centre counts the same
        near = await cust.ok("map.nearby", {"latitude": off(1000)[0], "longitude": LON,
                                             "radius": 600})
        assert [n["id"] for n in near] == [ops[0][1]["id"], ops[2][1]["id"]], near
    run(go())
