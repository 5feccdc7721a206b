"""Push to phones (PROTOCOL.md section 6): devices, offline detection, FCM
HTTP v1 and APNs through local stand-ins (push_standins.py) that check what
the real services check. Nothing leaves loopback."""
import asyncio
import json
import time

import pytest
import requests

from conftest import Client, run
from helpers import new_session
from push_standins import ApnsStandin, FcmStandin
from test_gig_flow import LAT, LON, off

ADMIN = "push-test-admin-token-0123456789abcdef"


def rest(node, method, path, token, body=None):
    return requests.request(method, node.url + path, json=body, timeout=15,
                            headers={"Authorization": "Bearer " + token})


@pytest.fixture
def fcm(tmp_path):
    s = FcmStandin(str(tmp_path))
    yield s
    s.close()


@pytest.fixture
def apns(tmp_path):
    s = ApnsStandin(str(tmp_path))
    yield s
    s.close()


def push_args(fcm=None, apns=None):
    a = ["--admin_token", ADMIN]
    if fcm:
        a += ["--fcm_credentials", fcm.credentials, "--fcm_url", fcm.url]
    if apns:
        a += ["--apns_key", apns.p8, "--apns_key_id", apns.KEY_ID, "--apns_team_id",
              apns.TEAM_ID, "--apns_topic", apns.TOPIC, "--apns_url", apns.url,
              "--apns_sandbox_url", apns.url, "--push_ca_file", apns.ca]
    return a


async def admin(node):
    a = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
    await a.event("session.state")
    return a


async def wait_offline(adm, account_id, timeout=10):
    """Waits until the node holds no session of the account."""
    deadline = time.time() + timeout
    while await adm.ok("admin.sessions", {"accountId": account_id}):
        assert time.time() < deadline, "the session did not close"
        await asyncio.sleep(0.05)


def push_offline(node, account_id, data, timeout=10):
    """Admin push.send, repeated while the node still says "socket"."""
    deadline = time.time() + timeout
    while True:
        res = rest(node, "POST", "/notifications/push", ADMIN,
                   {"recipientId": account_id, "data": data})
        assert res.status_code == 200, res.text
        if res.json()["delivered"] != "socket" or time.time() > deadline:
            return res.json()["delivered"]
        time.sleep(0.05)


def tokens_of(msgs):
    return sorted(m["message"]["token"] for m in msgs)


def metric(node, name):
    text = requests.get(node.url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            if line.split(" ")[0] == name:
                return float(line.split(" ")[1])
    raise AssertionError("no metric %s" % name)


def test_devices_register_move_limit_unregister(node_factory, fcm):
    node = node_factory(push_args(fcm))

    async def go():
        adm = await admin(node)
        a, acct, tok = await new_session(node, "user")
        for bad in [{}, {"platform": "gcm", "token": "x"}, {"platform": "fcm"},
                    {"platform": "fcm", "token": "a b"}, {"platform": "fcm", "token": "a/b"},
                    {"platform": "fcm", "token": "x", "sandbox": "yes"},
                    {"platform": "fcm", "token": "x" * 600}]:
            r = await a.call("device.register", bad)
            assert r["ok"] is False and r["error"]["code"] == "bad_request", (bad, r)
        r = await a.call("device.unregister", {})
        assert r["error"]["code"] == "bad_request"
        assert rest(node, "POST", "/devices", tok, {"platform": "web", "token": "t"}).status_code == 400
        assert requests.post(node.url + "/devices", json={"platform": "fcm", "token": "t"},
                             timeout=5).status_code == 401

        # eleven devices, over WebSocket and REST: the least recent one goes
        for i in range(11):
            d = {"platform": "fcm", "token": "tok-a-%d" % i}
            if i % 2:
                assert await a.ok("device.register", d) == {}
            else:
                res = rest(node, "POST", "/devices", tok, d)
                assert res.status_code == 200 and res.json() == {}, res.text
        await a.close()
        await wait_offline(adm, acct["id"])
        assert push_offline(node, acct["id"], {"title": "Hello", "body": "World", "n": 1}) == "push"
        got = fcm.wait_for(lambda r: len(r) >= 10)
        assert tokens_of(got) == sorted("tok-a-%d" % i for i in range(1, 11))
        m = got[0]["message"]
        assert m["notification"] == {"title": "Hello", "body": "World"}
        assert m["data"] == {"event": "push", "title": "Hello", "body": "World", "n": "1"}
        assert m["android"]["priority"] == "NORMAL"

        # a token registered by another account moves to it; one unregistered goes
        b, bacct, btok = await new_session(node, "user")
        assert await b.ok("device.register", {"platform": "fcm", "token": "tok-a-5"}) == {}
        res = rest(node, "DELETE", "/devices/tok-a-3", tok)
        assert res.status_code == 200 and res.json() == {}, res.text
        # unregistering a token one does not hold changes nothing
        assert await b.ok("device.unregister", {"token": "tok-a-7"}) == {}
        assert push_offline(node, acct["id"], {"n": 2}) == "push"
        got = fcm.wait_for(lambda r: len(r) >= 18)[10:]
        assert tokens_of(got) == sorted("tok-a-%d" % i for i in (1, 2, 4, 6, 7, 8, 9, 10))
        assert all(x["message"]["data"]["n"] == "2" for x in got)
        assert fcm.errors == []
    run(go())
    log = node.read_log()
    assert "tok-a-" not in log  # device tokens never reach the log
    assert "BEGIN PRIVATE KEY" not in log and "ya29." not in log
    assert "event=push_sent provider=fcm" in log


def test_offer_to_rest_operator_and_operator_found(node_factory, fcm, apns):
    """An operator with the app closed gets the offer on APNs and claims it
    over REST after GET /offers; the customer who closed the app gets
    "Operator found" on FCM."""
    node = node_factory(push_args(fcm, apns) + ["--offer_ttl", "60s"])
    device = "ab" * 32

    async def go():
        adm = await admin(node)
        op, oacct, otok = await new_session(node, "operator")
        await op.close()
        await wait_offline(adm, oacct["id"])
        assert rest(node, "POST", "/devices", otok, {"platform": "apns", "token": device}).ok
        lat, lon = off(1200)
        res = rest(node, "POST", "/location", otok, {"lat": str(lat), "long": str(lon)})
        assert res.status_code == 200, res.text

        cust, cacct, ctok = await new_session(node, "user", first="Ninh")
        assert await cust.ok("device.register", {"platform": "fcm", "token": "cust-phone"}) == {}
        deadline = time.time() + 10
        while not await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}):
            assert time.time() < deadline
            await asyncio.sleep(0.05)
        t0 = time.time()
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d1"})

        got = apns.wait_for(lambda r: len(r) >= 1)
        rec = got[0]
        h = rec["headers"]
        assert rec["httpVersion"] == "2.0" and rec["path"] == "/3/device/" + device
        assert h["apns-push-type"] == "alert" and h["apns-priority"] == "10"
        assert h["apns-collapse-id"] == "gig-" + gig["id"]
        # expires with the offer (offer_ttl 60 s)
        assert t0 + 30 < int(h["apns-expiration"]) < time.time() + 90
        body = json.loads(rec["body"])
        assert body["event"] == "gig.offer" and body["gigId"] == gig["id"]
        assert body["aps"]["alert"]["title"] == "New gig 1.2 km away"
        assert "Ninh" in body["aps"]["alert"]["body"]
        assert apns.errors == []

        res = rest(node, "GET", "/offers", otok)
        assert res.status_code == 200, res.text
        offers = res.json()
        assert [o["gigId"] for o in offers] == [gig["id"]]
        assert offers[0]["customer"]["firstName"] == "Ninh" and offers[0]["expiresAt"]
        assert rest(node, "GET", "/offers", ctok).status_code == 403  # operators only

        await cust.close()
        await wait_offline(adm, cacct["id"])
        res = rest(node, "POST", "/gigs/claim/" + gig["id"], otok, {"response": "accept"})
        assert res.status_code == 200, res.text
        g = fcm.wait_for(lambda r: any(x["message"]["data"].get("status") == "operatorFound"
                                       for x in r))
        m = [x["message"] for x in g if x["message"]["data"].get("status") == "operatorFound"][0]
        assert m["token"] == "cust-phone"
        assert m["notification"]["title"] == "Operator found"
        assert m["data"]["event"] == "gig.updated" and m["data"]["gigId"] == gig["id"]
        assert all(isinstance(v, str) for v in m["data"].values())
        assert m["android"]["collapse_key"] == "gig-" + gig["id"]
        assert fcm.errors == []
    run(go())
    log = node.read_log()
    assert device not in log and "cust-phone" not in log and "bearer" not in log.lower()


def test_unregistered_token_removed_and_503_retried(node_factory, fcm):
    node = node_factory(push_args(fcm))

    async def go():
        adm = await admin(node)
        c, acct, tok = await new_session(node, "user")
        await c.ok("device.register", {"platform": "fcm", "token": "gone-1"})
        fcm.unregistered.add("gone-1")
        await c.close()
        await wait_offline(adm, acct["id"])
        # the only device is unregistered: nothing accepted it, and it is deleted
        assert push_offline(node, acct["id"], {"n": 1}) == "none"
        assert metric(node, "dropin_push_devices_removed_total") == 1
        assert metric(node, 'dropin_push_failed_total{reason="invalid_token"}') == 1

        c2 = await Client.connect(node.ws_url)
        r = await c2.call("auth.token", {"token": tok})
        assert r["ok"], r
        await c2.ok("device.register", {"platform": "fcm", "token": "good-1"})
        await c2.close()
        await wait_offline(adm, acct["id"])
        assert push_offline(node, acct["id"], {"n": 2}) == "push"
        fcm.wait_for(lambda r: len(r) >= 1)

        # a 503 (Retry-After: 1) is retried, and the retry is accepted
        fcm.fail_next = 1
        assert push_offline(node, acct["id"], {"n": 3}) == "none"
        got = fcm.wait_for(lambda r: len(r) >= 2)
        assert got[1]["message"]["data"]["n"] == "3"
        assert metric(node, "dropin_push_retried_total") >= 1
        assert [x["status"] for x in fcm.requests if x["message"]["data"]["n"] == "3"] == [503, 200]
        # the removed token was never used again
        assert [x["message"]["token"] for x in fcm.requests].count("gone-1") == 1
        # the stand-in records before it answers: wait for dropind to hear it
        wait_metric(node, 'dropin_push_sent_total{provider="fcm"}', 2)
        assert metric(node, 'dropin_push_sent_total{provider="fcm"}') == 2
        assert metric(node, "dropin_push_queue_depth") == 0
        assert fcm.errors == [] and fcm.token_requests == 1  # the access token is cached
    run(go())


def test_push_send_not_found_and_events(node_factory, fcm):
    node = node_factory(push_args(fcm))

    async def go():
        adm = await admin(node)
        # an account that does not exist, or is archived: not_found
        res = rest(node, "POST", "/notifications/push", ADMIN, {"recipientId": "1" * 24, "data": {}})
        assert res.status_code == 404 and res.json()["error"]["code"] == "not_found", res.text
        gone, gacct, gtok = await new_session(node, "user")
        await gone.ok("account.delete", {})
        r = await adm.call("push.send", {"recipientId": gacct["id"], "data": {}})
        assert r["error"]["code"] == "not_found", r

        # online: "socket", nothing pushed
        b, bacct, btok = await new_session(node, "user")
        await b.ok("device.register", {"platform": "fcm", "token": "b-phone"})
        assert (await adm.ok("push.send", {"recipientId": bacct["id"], "data": {"k": "v"}})) == \
            {"delivered": "socket"}
        assert (await b.event("push"))["data"] == {"k": "v"}
        await b.close()
        await wait_offline(adm, bacct["id"])

        # inbox.message to the offline account: a preview
        a, aacct, atok = await new_session(node, "user", first="Mai")
        msg = await a.ok("inbox.send", {"to": bacct["id"], "text": "See you at the cafe " * 10})
        got = fcm.wait_for(lambda r: len(r) >= 1)
        m = got[0]["message"]
        assert m["token"] == "b-phone" and m["notification"]["title"] == "New message"
        assert m["notification"]["body"].startswith("See you at the cafe")
        assert len(m["notification"]["body"]) <= 100
        assert m["data"] == {"event": "inbox.message", "messageId": msg["id"], "from": aacct["id"]}

        # a job for the offline account: job.updated (and its automated message)
        job = await a.ok("job.save", {"title": "Paint the fence", "description": "white",
                                      "worker": bacct["id"]})
        got = fcm.wait_for(lambda r: any(x["message"]["data"]["event"] == "job.updated"
                                         for x in r))
        m = [x["message"] for x in got if x["message"]["data"]["event"] == "job.updated"][0]
        assert m["notification"] == {"title": "Job requested", "body": "Paint the fence"}
        assert m["data"] == {"event": "job.updated", "jobId": job["id"], "status": "REQUESTED"}
        assert m["android"]["collapse_key"] == "job-" + job["id"]
        assert fcm.errors == []
    run(go())


def wait_metric(node, name, value, timeout=15):
    deadline = time.time() + timeout
    while metric(node, name) < value:
        assert time.time() < deadline, "%s stayed below %s" % (name, value)
        time.sleep(0.05)


def test_bounded_queue_drops_oldest_offer_first(node_factory, fcm):
    """push_queue 2, one push in flight at a time, the provider held: the
    queue never holds more than 2; over it the oldest offer push goes
    first, and with no offer queued the new push is dropped; all counted."""
    node = node_factory(push_args(fcm) + ["--push_queue", "2", "--push_max_inflight", "1",
                                          "--offer_ttl", "60s"])

    async def go():
        adm = await admin(node)
        op, oacct, otok = await new_session(node, "operator")
        await op.close()
        await wait_offline(adm, oacct["id"])
        for i in (1, 2, 3):
            assert rest(node, "POST", "/devices", otok,
                        {"platform": "fcm", "token": "op-%d" % i}).ok
        lat, lon = off(500)
        assert rest(node, "POST", "/location", otok, {"lat": lat, "long": lon}).ok
        cust, cacct, ctok = await new_session(node, "user")
        deadline = time.time() + 10
        while not await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}):
            assert time.time() < deadline
            await asyncio.sleep(0.05)

        fcm.hold.clear()
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        # three offer pushes, newest device first (op-3, op-2, op-1): the
        # third finds the queue full and the oldest offer (op-3) goes
        fcm.wait_arrived(1)
        assert metric(node, 'dropin_push_failed_total{reason="queue_full"}') == 1
        assert metric(node, "dropin_push_queue_depth") == 2  # one held, one queued
        # a push.send (op-3, op-2, op-1): the first takes the free place,
        # the second evicts the queued offer (op-1), the third is dropped
        # (no offer left to evict)
        await adm.send({"op": "push.send", "id": 99,
                        "data": {"recipientId": oacct["id"], "data": {"n": 1}}})
        await asyncio.to_thread(wait_metric, node,
                                'dropin_push_failed_total{reason="queue_full"}', 3)
        fcm.hold.set()
        reply = await adm.recv()
        assert reply["re"] == 99 and reply["data"] == {"delivered": "push"}, reply
        got = fcm.wait_for(lambda r: len(r) >= 3)
        sent = sorted((x["message"]["data"]["event"], x["message"]["token"]) for x in got)
        assert sent == [("gig.offer", "op-2"), ("push", "op-2"), ("push", "op-3")], sent
        offer = [x["message"] for x in got if x["message"]["data"]["event"] == "gig.offer"][0]
        assert offer["data"]["gigId"] == gig["id"] and offer["android"]["priority"] == "HIGH"
        assert offer["android"]["collapse_key"] == "gig-" + gig["id"]
        assert 30 < float(offer["android"]["ttl"][:-1]) <= 60  # the offer's remaining life
        assert metric(node, 'dropin_push_failed_total{reason="queue_full"}') == 3
        await asyncio.to_thread(wait_metric, node, 'dropin_push_sent_total{provider="fcm"}', 3)
        assert metric(node, "dropin_push_queue_depth") == 0
    run(go())


def test_apns_sandbox_devices_and_bad_token(node_factory, apns, tmp_path):
    """sandbox: true devices go to apns_sandbox_url, the others to apns_url;
    400 BadDeviceToken and 410 Unregistered delete the device."""
    sandbox = ApnsStandin(str(tmp_path), like=apns)
    args = push_args(apns=apns)
    args[args.index("--apns_sandbox_url") + 1] = sandbox.url
    node = node_factory(args)
    try:
        async def go():
            adm = await admin(node)
            c, acct, tok = await new_session(node, "user")
            for d in ({"token": "prod-1"}, {"token": "dev-1", "sandbox": True},
                      {"token": "bad-1"}, {"token": "gone-1", "sandbox": True}):
                assert await c.ok("device.register", dict(d, platform="apns")) == {}
            await c.close()
            await wait_offline(adm, acct["id"])
            assert push_offline(node, acct["id"], {"title": "T"}) == "push"
            prod = apns.wait_for(lambda r: len(r) >= 1)
            dev = sandbox.wait_for(lambda r: len(r) >= 1)
            assert [r["path"] for r in prod] == ["/3/device/prod-1"]
            assert [r["path"] for r in dev] == ["/3/device/dev-1"]
            await asyncio.to_thread(wait_metric, node, "dropin_push_devices_removed_total", 2)
            got = apns.wait_requests(2) + sandbox.wait_requests(2)
            assert sorted((r["path"], r["status"]) for r in got) == [
                ("/3/device/bad-1", 400), ("/3/device/dev-1", 200), ("/3/device/gone-1", 410),
                ("/3/device/prod-1", 200)]
            # the two removed tokens are not tried again
            assert push_offline(node, acct["id"], {"title": "T2"}) == "push"
            apns.wait_for(lambda r: len(r) >= 2)
            sandbox.wait_for(lambda r: len(r) >= 2)
            paths = [r["path"] for r in apns.requests + sandbox.requests]
            assert paths.count("/3/device/bad-1") == 1 and paths.count("/3/device/gone-1") == 1
            assert apns.errors == [] and sandbox.errors == []
        run(go())
    finally:
        sandbox.close()


def test_bad_provider_config_stops_the_node(node_factory, tmp_path):
    key = tmp_path / "AuthKey.p8"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key secret-material\n-----END PRIVATE KEY-----\n")
    for args, says in [
            (["--fcm_credentials", str(tmp_path / "missing.json")], "fcm_credentials"),
            (["--apns_key", str(key)], "apns_key_id"),
            (["--apns_key", str(key), "--apns_key_id", "K", "--apns_team_id", "T",
              "--apns_topic", "com.x"], "not an EC P-256 private key")]:
        n = node_factory(args, start=False)
        with pytest.raises(RuntimeError) as e:
            n.start()
        assert n.proc.returncode == 1 and says in str(e.value), str(e.value)
        assert "secret-material" not in n.read_log()
        n.proc = None  # exited: nothing for the fixture to stop


# ---- a cluster: offline means no session on ANY node ----

from test_cluster import cluster, mongo, redis_server  # noqa: E402,F401 (fixtures)


def test_no_push_to_an_account_online_on_another_node(cluster, fcm):
    """Redis PUBLISH counts the nodes holding a session of the account: a
    node never pushes to an account connected to another node."""
    a, b = cluster(("a", "b"), extra=push_args(fcm))

    async def go():
        adm = await admin(a)
        c, acct, tok = await new_session(b, "user")
        await c.ok("device.register", {"platform": "fcm", "token": "phone-x"})
        for i in range(3):
            d = await adm.ok("push.send", {"recipientId": acct["id"], "data": {"n": i}})
            assert d == {"delivered": "socket"}, d  # the session is on node b
            assert (await c.event("push"))["data"] == {"n": i}
        s, sacct, _ = await new_session(a, "user")
        await s.ok("inbox.send", {"to": acct["id"], "text": "hi"})
        assert (await c.event("inbox.message"))["text"] == "hi"
        await c.close()
        # offline everywhere now: the phone gets the next push
        deadline = time.time() + 10
        n = 100
        while True:
            d = await adm.ok("push.send", {"recipientId": acct["id"], "data": {"n": n}})
            if d["delivered"] != "socket":
                break
            assert time.time() < deadline
            n += 1
            await asyncio.sleep(0.05)
        assert d == {"delivered": "push"}
        got = fcm.wait_for(lambda r: len(r) >= 1)
        assert got[0]["message"]["token"] == "phone-x"
        # nothing from the time the account was online on node b was pushed
        sent = [x["message"]["data"] for x in fcm.requests]
        assert sent == [{"event": "push", "n": str(n)}], sent
        assert fcm.errors == []
    run(go())
