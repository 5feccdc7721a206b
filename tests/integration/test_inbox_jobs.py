"""The Freelancer seed's inbox and job ledger against a real dropind, over
WebSocket and REST: a send reaches the recipient's sessions as inbox.message
and counts in session.state's unread until read; the job workflow with its
job.updated events and automated inbox messages; the picture rule; the
forbidden / conflict / not_found answers.

Accounts are reused within a test: each registration and login hashes a
password (Argon2), which is slow under ASan. session.state is re-read with
auth.token on a second socket (no password hash)."""
import re

import requests

from conftest import Client, run
from helpers import new_session

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OID = re.compile(r"^[0-9a-f]{24}$")
NOBODY = "571071114372f31b0edae280"
ADMIN = "admin-secret-for-inbox-jobs-0123456789"
MESSAGE_KEYS = {"id", "from", "to", "text", "createdAt", "readAt"}
JOB_KEYS = {"id", "title", "description", "client", "worker", "status", "statusLog",
            "createdAt", "updatedAt", "version"}


async def fail(c, op, data, code):
    r = await c.call(op, data)
    assert r["ok"] is False and r["error"]["code"] == code, r
    return r["error"]["message"]


async def state_of(node, token):
    """session.state of a fresh socket authenticated with token."""
    c = await Client.connect(node.ws_url)
    r = await c.call("auth.token", {"token": token})
    assert r["ok"], r
    st = await c.event("session.state")
    await c.close()
    return st


async def next_job_event(c, status):
    """The next job.updated with this status (skipping older ones)."""
    while True:
        j = await c.event("job.updated")
        if j["status"] == status:
            return j


def test_inbox_send_list_read_unread(node):
    async def go():
        a, aacct, atok = await new_session(node, "user", first="Ann")
        b, bacct, btok = await new_session(node, "operator", first="Bob")
        # a second session of the recipient gets the event too
        b2 = await Client.connect(node.ws_url)
        assert (await b2.call("auth.token", {"token": btok}))["ok"]
        await b2.event("session.state")

        text = "xin ch\u00e0o \U0001F600 \"quoted\"\nline two"
        m = await a.ok("inbox.send", {"to": bacct["id"], "text": text})
        assert set(m) == MESSAGE_KEYS
        assert m["from"] == aacct["id"] and m["to"] == bacct["id"] and m["text"] == text
        assert OID.match(m["id"]) and ISO_MS.match(m["createdAt"]) and m["readAt"] is None
        assert await b.event("inbox.message") == m
        assert await b2.event("inbox.message") == m
        m2 = await a.ok("inbox.send", {"to": bacct["id"], "text": "second"})
        assert (await b.event("inbox.message"))["id"] == m2["id"]
        # the sender's own inbox holds nothing; no event went to the sender
        assert await a.ok("inbox.list") == []
        assert not [e for e in a.events if e.get("ev") == "inbox.message"]

        assert (await state_of(node, btok))["unread"] == 2
        assert (await state_of(node, atok))["unread"] == 0
        lst = await b.ok("inbox.list", {})
        assert [x["id"] for x in lst] == [m2["id"], m["id"]]  # newest first
        assert lst[1] == m
        assert [x["id"] for x in await b.ok("inbox.list", {"limit": 1})] == [m2["id"]]

        # reading someone else's message does nothing
        assert await a.ok("inbox.read", {"ids": [m["id"]]}) == {}
        assert (await state_of(node, btok))["unread"] == 2
        assert await b.ok("inbox.read", {"ids": [m["id"], NOBODY]}) == {}
        assert (await state_of(node, btok))["unread"] == 1
        lst = await b.ok("inbox.list")
        assert lst[1]["id"] == m["id"] and ISO_MS.match(lst[1]["readAt"])
        assert lst[0]["readAt"] is None

        # bad input
        await fail(a, "inbox.send", {"to": NOBODY, "text": "hi"}, "not_found")
        await fail(a, "inbox.send", {"to": "nope", "text": "hi"}, "bad_request")
        await fail(a, "inbox.send", {"text": "hi"}, "bad_request")
        await fail(a, "inbox.send", {"to": bacct["id"], "text": ""}, "bad_request")
        await fail(a, "inbox.send", {"to": bacct["id"], "text": 5}, "bad_request")
        await fail(a, "inbox.send", {"to": bacct["id"], "text": "x" * 4001}, "too_large")
        assert (await a.ok("inbox.send", {"to": bacct["id"], "text": "x" * 4000}))["text"] == "x" * 4000
        await fail(b, "inbox.read", {"ids": []}, "bad_request")
        await fail(b, "inbox.read", {"ids": ["x"]}, "bad_request")
        await fail(b, "inbox.read", {"ids": [NOBODY] * 201}, "bad_request")
        await fail(b, "inbox.list", {"limit": 0}, "bad_request")
        await fail(b, "inbox.list", {"limit": 201}, "bad_request")
        await fail(b, "inbox.list", {"before": "soon"}, "bad_request")
        # an archived account receives nothing
        await b2.ok("account.delete", {})
        await fail(a, "inbox.send", {"to": bacct["id"], "text": "hi"}, "not_found")
    run(go())


def test_job_workflow_with_events_and_messages(node):
    async def go():
        c, cacct, ctok = await new_session(node, "user", first="Cli")
        w, wacct, wtok = await new_session(node, "operator", first="Wor")
        x, xacct, _ = await new_session(node, "user", first="Eve")

        # REQUESTED: the worker has no picture yet -> a warning, still created
        job = await c.ok("job.save", {"title": "Paint the fence", "description": "white",
                                      "worker": wacct["id"]})
        assert set(job) == JOB_KEYS | {"warning"}
        assert "picture" in job["warning"]
        assert job["status"] == "REQUESTED" and job["client"] == cacct["id"]
        assert job["worker"] == wacct["id"] and job["version"] == 1
        assert job["statusLog"] == [{"status": "REQUESTED", "at": job["createdAt"],
                                     "by": cacct["id"]}]
        jid = job["id"]
        ev = await w.event("job.updated")
        assert ev["id"] == jid and ev["version"] == 1 and "warning" not in ev
        assert (await c.event("job.updated"))["id"] == jid
        note = await w.event("inbox.message")
        assert note["from"] == cacct["id"] and note["to"] == wacct["id"]
        assert note["text"] == 'Job "Paint the fence" was requested'
        assert (await state_of(node, wtok))["unread"] == 1

        # ACCEPT needs a picture
        msg = await fail(w, "job.status", {"id": jid, "status": "ACCEPTED"}, "conflict")
        assert "picture" in msg
        # the wrong actor, the wrong state, a stranger, an unknown status
        await fail(c, "job.status", {"id": jid, "status": "ACCEPTED"}, "forbidden")
        await fail(w, "job.status", {"id": jid, "status": "STARTED"}, "conflict")
        await fail(x, "job.status", {"id": jid, "status": "DECLINED"}, "not_found")
        await fail(w, "job.status", {"id": jid, "status": "DONE"}, "bad_request")
        await fail(w, "job.status", {"id": jid, "status": "REQUESTED"}, "bad_request")
        await fail(w, "job.status", {"id": NOBODY, "status": "ACCEPTED"}, "not_found")
        await fail(w, "job.status", {"id": "nope", "status": "ACCEPTED"}, "bad_request")
        # only the client edits, only while REQUESTED
        await fail(w, "job.save", {"id": jid, "title": "mine"}, "forbidden")
        await fail(x, "job.save", {"id": jid, "title": "mine"}, "not_found")
        edited = await c.ok("job.save", {"id": jid, "title": "Paint the gate"})
        assert edited["title"] == "Paint the gate" and edited["description"] == "white"
        assert edited["version"] == 2 and edited["status"] == "REQUESTED"
        assert (await w.event("job.updated"))["version"] == 2

        await w.ok("account.update", {"picture": "https://example.com/w.png"})
        acc = await w.ok("job.status", {"id": jid, "status": "ACCEPTED"})
        assert acc["status"] == "ACCEPTED" and acc["version"] == 3
        assert (await next_job_event(c, "ACCEPTED"))["version"] == 3
        note = await c.event("inbox.message")
        assert note["from"] == wacct["id"] and note["to"] == cacct["id"]
        assert note["text"] == 'Job "Paint the gate" was accepted'
        await fail(c, "job.save", {"id": jid, "title": "late"}, "conflict")

        await fail(c, "job.status", {"id": jid, "status": "STARTED"}, "forbidden")
        await fail(w, "job.status", {"id": jid, "status": "COMPLETED"}, "conflict")
        await w.ok("job.status", {"id": jid, "status": "STARTED"})
        await w.ok("job.status", {"id": jid, "status": "COMPLETED"})
        await fail(w, "job.status", {"id": jid, "status": "PENDING_PAYMENT"}, "forbidden")
        await c.ok("job.status", {"id": jid, "status": "PENDING_PAYMENT"})
        await fail(w, "job.status", {"id": jid, "status": "PAID"}, "forbidden")
        paid = await c.ok("job.status", {"id": jid, "status": "PAID"})
        assert paid["version"] == 7
        assert [(e["status"], e["by"]) for e in paid["statusLog"]] == [
            ("REQUESTED", cacct["id"]), ("ACCEPTED", wacct["id"]), ("STARTED", wacct["id"]),
            ("COMPLETED", wacct["id"]), ("PENDING_PAYMENT", cacct["id"]), ("PAID", cacct["id"])]
        assert all(ISO_MS.match(e["at"]) for e in paid["statusLog"])
        assert (await next_job_event(w, "PAID"))["version"] == 7
        await fail(c, "job.status", {"id": jid, "status": "PAID"}, "conflict")
        # only REQUESTED and ACCEPTED sent messages to the other party
        assert [m["text"] for m in await c.ok("inbox.list")] == ['Job "Paint the gate" was accepted']
        assert [m["text"] for m in await w.ok("inbox.list")] == ['Job "Paint the fence" was requested']

        # a second job, declined
        j2 = await c.ok("job.save", {"title": "Mow", "worker": wacct["id"]})
        assert "warning" not in j2 and j2["description"] == ""
        dec = await w.ok("job.status", {"id": j2["id"], "status": "DECLINED"})
        assert dec["status"] == "DECLINED"
        note = None
        while note is None or note["text"] != 'Job "Mow" was declined':
            note = await c.event("inbox.message")
        await fail(w, "job.status", {"id": j2["id"], "status": "ACCEPTED"}, "conflict")

        # listings
        assert [j["id"] for j in await c.ok("job.list")] == [j2["id"], jid]
        assert [j["id"] for j in await c.ok("job.list", {"role": "client"})] == [j2["id"], jid]
        assert await c.ok("job.list", {"role": "worker"}) == []
        assert [j["id"] for j in await w.ok("job.list", {"role": "worker"})] == [j2["id"], jid]
        assert [j["id"] for j in await w.ok("job.list", {"status": "PAID"})] == [jid]
        assert [j["id"] for j in await w.ok("job.list", {"limit": 1})] == [j2["id"]]
        assert await x.ok("job.list") == []
        await fail(c, "job.list", {"role": "boss"}, "bad_request")
        await fail(c, "job.list", {"status": "paid"}, "bad_request")
        await fail(c, "job.list", {"limit": 0}, "bad_request")

        # job.save bad input
        await fail(c, "job.save", {"title": "t", "worker": NOBODY}, "not_found")
        await fail(c, "job.save", {"title": "t", "worker": cacct["id"]}, "bad_request")
        await fail(c, "job.save", {"title": "t"}, "bad_request")
        await fail(c, "job.save", {"title": "", "worker": wacct["id"]}, "bad_request")
        await fail(c, "job.save", {"title": "t" * 201, "worker": wacct["id"]}, "too_large")
        await fail(c, "job.save", {"title": "t", "description": "d" * 4001,
                                   "worker": wacct["id"]}, "too_large")
        await fail(c, "job.save", {"title": 7, "worker": wacct["id"]}, "bad_request")
        await fail(c, "job.save", {"id": NOBODY, "title": "t"}, "not_found")
    run(go())


def call(node, method, path, token=None, json=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return requests.request(method, node.url + path, json=json, headers=headers, timeout=15)


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def err(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text
    return r.json()["error"]["message"]


def test_rest_inbox_and_jobs(node_factory):
    node = node_factory(["--admin_token", ADMIN])

    async def sessions():
        _, cacct, ctok = await new_session(node, "user", first="Cli")
        w, wacct, wtok = await new_session(node, "user", first="Wor")
        await w.ok("account.update", {"picture": "profile/w.jpg"})
        return cacct, ctok, wacct, wtok
    cacct, ctok, wacct, wtok = run(sessions())

    # POST /send and GET /inbox
    m = ok(call(node, "POST", "/send", ctok, {"to": wacct["id"], "text": "hello"}))
    assert m["from"] == cacct["id"] and m["text"] == "hello"
    ok(call(node, "POST", "/send", ctok, {"to": wacct["id"], "text": "again"}))
    assert [x["text"] for x in ok(call(node, "GET", "/inbox", wtok))] == ["again", "hello"]
    assert [x["text"] for x in ok(call(node, "GET", "/inbox?limit=1", wtok))] == ["again"]
    err(call(node, "GET", "/inbox?limit=abc", wtok), 400, "bad_request")
    err(call(node, "GET", "/inbox"), 401, "unauthenticated")
    err(call(node, "POST", "/send", ctok, {"to": NOBODY, "text": "x"}), 404, "not_found")
    err(call(node, "POST", "/send", ctok, {"to": wacct["id"], "text": "x" * 4001}), 413,
        "too_large")
    err(call(node, "GET", "/inbox", ADMIN), 400, "bad_request")  # the admin has no inbox

    # POST /job, GET /jobs, POST /job/:id/status
    job = ok(call(node, "POST", "/job", ctok, {"title": "Fix", "description": "tap",
                                               "worker": wacct["id"]}))
    assert job["status"] == "REQUESTED" and "warning" not in job
    jid = job["id"]
    assert ok(call(node, "POST", "/job", ctok, {"id": jid, "title": "Fix it"}))["title"] == "Fix it"
    err(call(node, "POST", "/job/%s/status" % jid, ctok, {"status": "ACCEPTED"}), 403, "forbidden")
    for st in ("ACCEPTED", "STARTED", "COMPLETED"):
        assert ok(call(node, "POST", "/job/%s/status" % jid, wtok, {"status": st}))["status"] == st
    err(call(node, "POST", "/job/%s/status" % jid, ADMIN, {"status": "PAID"}), 409, "conflict")
    ok(call(node, "POST", "/job/%s/status" % jid, ctok, {"status": "PENDING_PAYMENT"}))
    # an admin may mark it paid; the log records no account for the built-in admin
    paid = ok(call(node, "POST", "/job/%s/status" % jid, ADMIN, {"status": "PAID"}))
    assert paid["status"] == "PAID" and paid["statusLog"][-1]["by"] is None
    err(call(node, "POST", "/job/%s/status" % jid, ctok, {"status": "NOPE"}), 400, "bad_request")
    err(call(node, "POST", "/job/%s/status" % NOBODY, ctok, {"status": "PAID"}), 404, "not_found")
    assert [j["id"] for j in ok(call(node, "GET", "/jobs?role=worker", wtok))] == [jid]
    assert ok(call(node, "GET", "/jobs?role=worker", ctok)) == []
    assert [j["id"] for j in ok(call(node, "GET", "/jobs?status=PAID&limit=5", ctok))] == [jid]
    err(call(node, "GET", "/jobs?limit=0", ctok), 400, "bad_request")
    # the automated messages: REQUESTED to the worker, ACCEPTED to the client
    assert [x["text"] for x in ok(call(node, "GET", "/inbox", wtok))][0] == 'Job "Fix" was requested'
    assert [x["text"] for x in ok(call(node, "GET", "/inbox", ctok))] == ['Job "Fix it" was accepted']
