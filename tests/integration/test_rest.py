"""The REST compatibility shim (PROTOCOL.md section 3) against a real dropind:
every route of both seeds with python3-requests, the seeds' response shapes,
the error table's statuses, and REST and WebSocket clients on the same gig.

Accounts are reused within a test: each registration and login hashes a
password (Argon2), which is slow under ASan."""
import random
import re
import tempfile
import time

import pytest
import requests

from conftest import Node, run
from helpers import ms, new_session, unique_email

# Saigon, as in the Dropin seed's history examples
LAT, LON = 10.787859, 106.70653
PASSWORD = "correct horse"
ADMIN = "admin-secret-for-rest-tests-0123456789"

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OID = re.compile(r"^[0-9a-f]{24}$")

# the seed's "Get profile" result, key for key
PROFILE_KEYS = {"firstName", "lastName", "archive", "status", "type", "referralCode",
                "referralRate", "operatorRating", "customerRating", "createdAt", "updatedAt", "id"}
IDENTITY_KEYS = {"type", "value", "status", "createdAt", "updatedAt", "id"}
# the seed's getall items
LIST_KEYS = {"customer", "operator", "customerRating", "operatorRating", "longitude", "latitude",
             "duration", "status", "id"}

# every route has landed (/storage and /notifications/push: test_media.py)
def off(lat_m):
    """A point lat_m metres north of (LAT, LON)."""
    return LAT + lat_m / 111195.0, LON


def call(node, method, path, token=None, json=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = "Bearer " + token
    # the seed's "Body: null" routes (json None) go out as requests sends
    # them, with no body and Content-Length: 0, as the seeds' clients do
    return requests.request(method, node.url + path, json=json, headers=headers, timeout=15, **kw)


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    return r.json()


def err(r, status, code=None):
    """Asserts an error answer: the status and {"error": {"code", "message"}}."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def seed_register_body(type_="user", first="Nguyen", last="Hoa", email=None):
    """The seed's POST /accounts body, verbatim but for fresh identities and
    the password this protocol requires."""
    return {"firstName": first, "lastName": last, "archive": False, "status": "active",
            "type": type_, "operator": None, "organization": "organization",
            "identities": [{"type": "email", "value": email or unique_email(type_)},
                           {"type": "phone", "value": "84%010d" % random.randrange(10 ** 10)}],
            "password": PASSWORD}


def check_profile(a, own=True):
    for k in ("createdAt", "updatedAt"):
        assert ISO_MS.match(a[k]), a
    assert OID.match(a["id"]) and isinstance(a["archive"], bool), a
    assert isinstance(a["referralRate"], (int, float)) and a["referralCode"], a
    if own:
        assert set(a) >= PROFILE_KEYS | {"identities"}, a
        for i in a["identities"]:
            assert set(i) >= IDENTITY_KEYS, i
            assert ISO_MS.match(i["createdAt"]) and ISO_MS.match(i["updatedAt"]), i
            assert OID.match(i["id"]) and i["status"] == "unverified", i
    else:
        assert set(a) >= PROFILE_KEYS and "identities" not in a, a
    assert "password" not in a and "passwordHash" not in a, a


def rest_account(node, type_="user", first="Ann", last="Lee", lat_m=None):
    """Registers over POST /accounts and logs in over POST /authorize (with
    the Freelancer seed's "email" spelling); returns (account, token, email)."""
    email = unique_email(type_)
    acct = ok(call(node, "POST", "/accounts",
                   json=seed_register_body(type_, first, last, email)))
    login = ok(call(node, "POST", "/authorize", json={"email": email, "password": PASSWORD}))
    assert OID.match(acct["id"]) and login["account"]["id"] == acct["id"]
    if lat_m is not None:
        lat, lon = off(lat_m)
        assert ok(call(node, "POST", "/location", login["token"],
                       json={"lat": str(lat), "long": str(lon)})) == {}
    return acct, login["token"], email


def wait_search(node, token, n, path=None, timeout=10):
    """Polls GET /search until it lists n operators (the first position of
    an operator is usable once its profile is read)."""
    path = path or "/search?lat=%s&long=%s&radius=2000" % (LAT, LON)
    deadline = time.time() + timeout
    while True:
        found = ok(call(node, "GET", path, token))
        if len(found) >= n or time.time() > deadline:
            return found
        time.sleep(0.05)


# ---- accounts and auth ----

def test_accounts_and_auth_routes(node_factory):
    node = node_factory(["--admin_token", ADMIN])

    # POST /accounts with the seed's body: the "Get profile" shape
    email = unique_email("seed")
    body = seed_register_body("user", "Nguyen", "Hoa", email)
    acct = ok(call(node, "POST", "/accounts", json=body))
    check_profile(acct)
    assert (acct["firstName"], acct["lastName"], acct["type"]) == ("Nguyen", "Hoa", "user")
    assert (acct["archive"], acct["status"]) == (False, "active")
    assert [(i["type"], i["value"]) for i in acct["identities"]] == [
        ("email", email), ("phone", body["identities"][1]["value"])]
    # the same identity again: conflict
    err(call(node, "POST", "/accounts", json=body), 409, "conflict")
    err(call(node, "POST", "/accounts", json=dict(body, type="wizard")), 400, "bad_request")

    # POST /signup (Freelancer seed) is the same registration
    other_email = unique_email("signup")
    other = ok(call(node, "POST", "/signup", json={
        "firstName": "Ninh", "lastName": "Vo", "type": "operator", "password": PASSWORD,
        "identities": [{"type": "email", "value": other_email}]}))
    check_profile(other)
    assert other["type"] == "operator"

    # POST /authorize logs in: the identity may be spelt "identity" or "email"
    login = ok(call(node, "POST", "/authorize", json={"email": email, "password": PASSWORD}))
    token = login["token"]
    assert isinstance(token, str) and len(token) >= 16 and ISO_MS.match(login["expiresAt"])
    assert login["account"]["id"] == acct["id"]
    check_profile(login["account"])
    err(call(node, "POST", "/authorize", json={"identity": email, "password": "wrong pass"}),
        401, "unauthenticated")
    err(call(node, "POST", "/authorize", json={"email": "nobody@example.com",
                                                "password": PASSWORD}), 401, "unauthenticated")
    err(call(node, "POST", "/authorize", json={"password": PASSWORD}), 400, "bad_request")
    otok = ok(call(node, "POST", "/authorize",
                   json={"identity": other_email, "password": PASSWORD}))["token"]
    # "phone" is another spelling of the identity; one live token per account
    again = ok(call(node, "POST", "/authorize",
                    json={"phone": body["identities"][1]["value"], "password": PASSWORD}))
    assert again["token"] == token and again["account"]["id"] == acct["id"]

    # GET /accounts/:id: self sees identities, others a public profile
    me = ok(call(node, "GET", "/accounts/" + acct["id"], token))
    check_profile(me)
    assert me["id"] == acct["id"] and me["identities"] == acct["identities"]
    pub = ok(call(node, "GET", "/accounts/" + acct["id"], otok))
    check_profile(pub, own=False)
    assert pub["firstName"] == "Nguyen"
    err(call(node, "GET", "/accounts/" + "0" * 24, token), 404, "not_found")
    err(call(node, "GET", "/accounts/not-an-id", token), 400, "bad_request")
    err(call(node, "GET", "/accounts/" + acct["id"]), 401, "unauthenticated")

    # GET /user, POST /user (update), self only
    assert ok(call(node, "GET", "/user", token))["id"] == acct["id"]
    upd = ok(call(node, "POST", "/user", token, json={"firstName": "Hoa", "picture": "p.jpg"}))
    assert upd["firstName"] == "Hoa" and upd["picture"] == "p.jpg" and upd["id"] == acct["id"]
    assert ok(call(node, "GET", "/user", token))["firstName"] == "Hoa"
    err(call(node, "POST", "/user", token, json={"id": other["id"], "firstName": "X"}),
        403, "forbidden")
    err(call(node, "POST", "/user", json={"firstName": "X"}), 401, "unauthenticated")

    # GET /users: public profiles for any signed-in account (issue 15), whole
    # accounts for the admin (the built-in admin of --admin_token)
    pub = ok(call(node, "GET", "/users?type=operator", token))
    assert [u["id"] for u in pub] == [other["id"]] and "identities" not in pub[0]
    err(call(node, "GET", "/users"), 401, "unauthenticated")
    users = ok(call(node, "GET", "/users?type=operator", ADMIN))
    assert [u["id"] for u in users] == [other["id"]]
    check_profile(users[0])
    users = ok(call(node, "GET", "/users?limit=10", ADMIN))
    assert {u["id"] for u in users} == {acct["id"], other["id"]}
    err(call(node, "GET", "/users?limit=abc", ADMIN), 400, "bad_request")
    # the admin reads anyone's full profile
    assert "identities" in ok(call(node, "GET", "/accounts/" + other["id"], ADMIN))

    # DELETE /authorize logs out: the token stops working; a new login works
    assert ok(call(node, "DELETE", "/authorize", otok)) == {}
    err(call(node, "GET", "/user", otok), 401, "unauthenticated")
    err(call(node, "DELETE", "/authorize", otok), 401, "unauthenticated")

    # DELETE /user archives the account: its token dies, others no longer see it
    assert ok(call(node, "DELETE", "/user", token)) == {}
    err(call(node, "GET", "/user", token), 401, "unauthenticated")
    err(call(node, "POST", "/authorize", json={"email": email, "password": PASSWORD}), 401)
    otok = ok(call(node, "POST", "/authorize",
                   json={"identity": other_email, "password": PASSWORD}))["token"]
    err(call(node, "GET", "/accounts/" + acct["id"], otok), 404, "not_found")
    archived = ok(call(node, "GET", "/users?status=archived", ADMIN))
    assert [u["id"] for u in archived] == [acct["id"]]


# ---- errors of the shim itself ----

def test_http_errors(node_factory):
    node = node_factory(["--http_max_body", "4k"])
    acct, token, _ = rest_account(node)

    # no token, bad token: 401 on every authenticated route
    for method, path in [("GET", "/user"), ("GET", "/accounts/" + acct["id"]),
                         ("GET", "/gigs/%s/getall" % acct["id"]), ("GET", "/map/10/106")]:
        err(call(node, method, path), 401, "unauthenticated")
        err(call(node, method, path, "x" * 43), 401, "unauthenticated")
        err(call(node, method, path, "not a token"), 401, "unauthenticated")
    err(call(node, "POST", "/gigs", json={"latitude": "10", "longitude": "106",
                                          "deviceId": "d"}), 401, "unauthenticated")
    # a scheme other than Bearer is not a token
    err(call(node, "GET", "/user", headers={"Authorization": "Basic " + token}), 401)

    # malformed JSON: 400 naming the problem
    for raw in [b'{"latitude": ', b"{'a': 1}", b'{"a": 1, "a": 2}', b"\xff\xfe"]:
        e = err(call(node, "POST", "/gigs", token, data=raw,
                     headers={"Content-Type": "application/json"}), 400, "bad_request")
        assert "JSON" in e["message"], e
    # JSON that is not an object
    for raw in [b"[1, 2]", b'"x"', b"42"]:
        err(call(node, "POST", "/gigs", token, data=raw,
                 headers={"Content-Type": "application/json"}), 400, "bad_request")

    # a body over http_max_body (4k): 413, announced by Content-Length...
    big = {"latitude": LAT, "longitude": LON, "deviceId": "d", "metaData": {"x": "y" * 5000}}
    err(call(node, "POST", "/gigs", token, json=big), 413, "too_large")
    # just under the limit is fine
    small = {"level": "info", "message": "m" * 100, "data": {"pad": "p" * 3000}}
    assert ok(call(node, "POST", "/logs", token, json=small)) == {}

    # a body that is not JSON: 415
    err(call(node, "POST", "/gigs", token, data="latitude=10&longitude=106",
             headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    line = '{"level": "info", "message": "m"}'
    for ctype in ["text/plain", "text/plain; note=json", "text/x-notjson", "application/jsonx",
                  "application/" + "j" * 200 + "+json"]:
        err(call(node, "POST", "/logs", token, data=line, headers={"Content-Type": ctype}), 415)
    for ctype in ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"]:
        assert ok(call(node, "POST", "/logs", token, data=line,
                       headers={"Content-Type": ctype})) == {}

    # unknown route: 404 JSON; wrong method on a known path: 405
    for path in ["/nope", "/gigs/claim", "/accounts/%s/extra" % acct["id"], "/ws2", "/"]:
        err(call(node, "GET", path, token), 404, "not_found")
    err(call(node, "POST", "/nope", token, json={}), 404, "not_found")
    # with an Allow header naming the methods the path takes
    for method, path, allow in [("PUT", "/accounts", "POST"), ("GET", "/gigs", "POST"),
                                ("DELETE", "/gigs", "POST"), ("GET", "/authorize", "POST, DELETE"),
                                ("PATCH", "/user", "GET, POST, DELETE"), ("POST", "/users", "GET"),
                                ("DELETE", "/accounts/" + acct["id"], "GET"), ("GET", "/logs", "POST"),
                                ("POST", "/search", "GET"), ("GET", "/location", "POST"),
                                ("POST", "/healthz", "GET"), ("PUT", "/storage", "POST"),
                                ("POST", "/inbox", "GET")]:
        r = call(node, method, path, token)
        err(r, 405)
        assert r.headers.get("Allow") == allow, (method, path, r.headers)

    # the node stays healthy
    assert ok(call(node, "GET", "/healthz"))["status"] == "ok"


def test_empty_post_body():
    """A POST without a body (Content-Length: 0, what requests and curl send
    for the seed's "Body: null" routes) is answered and the node survives.
    The node is managed here rather than by node_factory, so that its death
    fails this test and not the fixture's teardown."""
    tmp = tempfile.TemporaryDirectory(prefix="dropin-")
    node = Node(tmp.name).start()
    try:
        answers = []
        for path in ["/gigs/confirm/" + "0" * 24, "/logs", "/nope"]:
            try:
                r = requests.post(node.url + path, timeout=30)
                answers.append((r.status_code, r.json()["error"]["code"]))
            except (requests.RequestException, ValueError, KeyError) as e:
                answers.append(repr(e))
        # still serving after them (a crash would refuse this)
        alive = requests.get(node.url + "/healthz", timeout=30).status_code == 200 and \
            node.proc.poll() is None
    finally:
        rc = node.stop()
        log = node.read_log()
        tmp.cleanup()
    assert answers == [(401, "unauthenticated"), (401, "unauthenticated"),
                       (404, "not_found")], answers
    assert alive and rc == 0 and "runtime error:" not in log, log[-2000:]


def test_empty_body_runs_the_op_once(node):
    """A POST with Content-Length: 0 runs its op once: lws reports such a
    request complete twice (headers, then body), and a second run answered
    409 for an action that had succeeded, crossed replies on a kept-alive
    connection and freed a request still in flight."""
    cust, ctok, _ = rest_account(node, "user", first="Once")
    other, _, _ = rest_account(node, "user", first="Other")

    def counted(op):
        text = call(node, "GET", "/metrics").text
        m = re.search(r'^dropin_messages_in_total\{op="%s"\} (\d+)$' % re.escape(op), text, re.M)
        return int(m.group(1))

    gig = ok(call(node, "POST", "/gigs", ctok, json={"latitude": str(LAT), "longitude": str(LON),
                                                     "deviceId": "d"}))
    before = counted("gig.cancel")
    g = ok(call(node, "POST", "/gigs/cancel/" + gig["id"], ctok))  # no body
    assert g["status"] == "cancelled" and g["version"] == gig["version"] + 1
    assert counted("gig.cancel") == before + 1
    # one kept-alive connection: every reply answers its own request
    with requests.Session() as s:
        s.headers["Authorization"] = "Bearer " + ctok
        for _ in range(20):
            r = s.post(node.url + "/user", timeout=10)  # an empty update
            assert ok(r)["id"] == cust["id"] and "identities" in r.json()
            r = s.get(node.url + "/accounts/" + other["id"], timeout=10)
            assert ok(r)["id"] == other["id"] and "identities" not in r.json()
        # a made-up token, then the connection closes under the answer
        for _ in range(20):
            r = requests.post(node.url + "/gigs/cancel/" + "0" * 24, timeout=10,
                              headers={"Authorization": "Bearer " + "A" * 43, "Connection": "close"})
            err(r, 401, "unauthenticated")
    assert ok(call(node, "GET", "/healthz"))["status"] == "ok"


def test_query_and_numeric_strings(node_factory):
    """Query values are decoded once (%2B is '+'), an empty filter is no
    filter, and a blank, hex or non-finite numeric string is a 400."""
    node = node_factory(["--admin_token", ADMIN])
    admin = {"Authorization": "Bearer " + ADMIN}
    email = unique_email("plus").replace("@", "+tag@")
    acct = ok(call(node, "POST", "/accounts", json=seed_register_body("user", email=email)))
    login = ok(call(node, "POST", "/authorize", json={"email": email, "password": PASSWORD}))
    tok = login["token"]
    q = requests.utils.quote(email, safe="")
    assert "%2B" in q
    found = ok(requests.get(node.url + "/users?q=" + q, headers=admin, timeout=10))
    assert [a["id"] for a in found] == [acct["id"]], found
    # "?status=" filters nothing
    assert ok(call(node, "GET", "/gigs/%s/getall?status=" % acct["id"], tok)) == []
    # numbers as strings: blanks, hex, inf and nan are not numbers
    for bad in [" ", "  ", "0x0A", "inf", "nan", "1e", "--1", "."]:
        err(call(node, "POST", "/gigs", tok, json={"latitude": bad, "longitude": str(LON),
                                                   "deviceId": "d"}), 400, "bad_request")
        err(call(node, "GET", "/search?lat=%s&long=%s" % (requests.utils.quote(bad), LON), tok),
            400, "bad_request")
    # blanks around a number are fine, as are a sign and an exponent
    g = ok(call(node, "POST", "/gigs", tok, json={"latitude": " %s " % LAT, "longitude": "+1.067e2",
                                                  "deviceId": "d"}))
    assert g["latitude"] == LAT and g["longitude"] == 106.7
    ok(call(node, "POST", "/gigs/cancel/" + g["id"], tok))
    # an over-long query string is refused, not cut
    err(call(node, "GET", "/search?lat=%s&long=%s&pad=%s" % (LAT, LON, "x" * 700), tok), 413,
        "too_large")


def test_seed_null_body(node):
    """The seed documents "Body: null" for confirm, reject, cancel, handshake,
    start and stop: a JSON null body is an empty one."""
    for path in ["/gigs/confirm/", "/gigs/start/"]:
        r = requests.post(node.url + path + "0" * 24, data=b"null", timeout=5,
                          headers={"Content-Type": "application/json"})
        err(r, 401, "unauthenticated")  # not 400 "malformed JSON body"


def test_chunked_body(node_factory):
    """Transfer-Encoding: chunked (no Content-Length) is answered 411 Length
    Required with a JSON error, under the limit or over it (README: lws 4.1
    does not deliver chunked request bodies)."""
    node = node_factory(["--http_max_body", "4k"])

    def chunked(body, timeout=3):
        return requests.post(node.url + "/logs", data=iter([body]), timeout=timeout,
                             headers={"Content-Type": "application/json"})
    r = chunked(b'{"level": "info", "message": "chunked"}', timeout=30)
    err(r, 411, "bad_request")
    r = chunked(b'{"level": "info", "message": "' + b"z" * 5000 + b'"}', timeout=30)
    err(r, 411, "bad_request")


def test_logs_route(node):
    acct, token, _ = rest_account(node)
    # the seed's body; an authenticated op like any other but the four of
    # PROTOCOL.md section 1 (no token: 401)
    body = {"level": "debug", "message": "testing message", "data": {"test": "test"}}
    assert ok(call(node, "POST", "/logs", token, json=body)) == {}
    err(call(node, "POST", "/logs", json=dict(body, message="anonymous note")), 401,
        "unauthenticated")
    err(call(node, "POST", "/logs", token, json={"level": "loud", "message": "x"}), 400,
        "bad_request")
    err(call(node, "POST", "/logs", token, json={"level": "info"}), 400, "bad_request")
    deadline = time.time() + 5
    while time.time() < deadline:
        log = node.read_log()
        if "testing message" in log:
            break
        time.sleep(0.05)
    assert re.search(r"event=client_log account=%s message=\"testing message\"" % acct["id"],
                     log), log[-2000:]
    assert "anonymous note" not in log


# ---- location, search, map ----

def test_location_search_and_map(node):
    cust, ctok, _ = rest_account(node, "user")
    op, otok, _ = rest_account(node, "operator", first="Ninh", lat_m=300)

    # an operator's REST location shows up in a customer's search
    found = wait_search(node, ctok, 1)
    assert [f["id"] for f in found] == [op["id"]], found
    assert found[0]["firstName"] == "Ninh" and 250 < found[0]["distance"] < 350
    assert set(found[0]) >= {"id", "firstName", "latitude", "longitude", "distance",
                             "operatorRating"}
    # radius is in metres
    assert ok(call(node, "GET", "/search?lat=%s&long=%s&radius=100" % (LAT, LON), ctok)) == []
    assert len(ok(call(node, "GET", "/search?latitude=%s&longitude=%s" % (LAT, LON), ctok))) == 1
    err(call(node, "GET", "/search?lat=abc&long=%s" % LON, ctok), 400, "bad_request")
    err(call(node, "GET", "/search?long=%s" % LON, ctok), 400, "bad_request")
    err(call(node, "GET", "/search?lat=95&long=%s" % LON, ctok), 400, "bad_request")

    # GET /map/:lat/:long (Dropin seed) rides on the same presence
    near = ok(call(node, "GET", "/map/%s/%s" % (LAT, LON), ctok))
    assert [n["id"] for n in near] == [op["id"]]
    assert ok(call(node, "GET", "/map/-33.86/151.2", ctok)) == []
    err(call(node, "GET", "/map/north/%s" % LON, ctok), 400, "bad_request")
    err(call(node, "GET", "/map/%s/200" % LAT, ctok), 400, "bad_request")

    # only operators post a location; the position must be valid
    err(call(node, "POST", "/location", ctok, json={"lat": "10", "long": "106"}), 403, "forbidden")
    err(call(node, "POST", "/location", otok, json={"lat": "x", "long": "106"}), 400)
    err(call(node, "POST", "/location", otok, json={"latitude": 91, "longitude": 1}), 400)
    # unavailable: gone from the search
    assert ok(call(node, "POST", "/location", otok,
                   json={"latitude": off(300)[0], "longitude": LON, "available": False})) == {}
    assert wait_search(node, ctok, 99, timeout=0.3) == []


# ---- the gig flow ----

def test_rest_gig_offers_to_websocket_operator(node):
    """A gig created over REST is offered to a WebSocket operator who accepts;
    the REST customer sees operatorFound on its next GET, and REST changes
    reach the WebSocket party as events."""
    cust, ctok, _ = rest_account(node, "user", first="Ninh", last="Vo")

    async def go():
        op, oacct, _ = await new_session(node, "operator", first="Thanh", last="Op")
        op2, o2acct, _ = await new_session(node, "operator")
        lat, lon = off(200)
        await op.ok("presence.update", {"latitude": lat, "longitude": lon})
        await op2.ok("presence.update", {"latitude": off(400)[0], "longitude": lon})
        assert len(wait_search(node, ctok, 2)) == 2

        # numeric strings, as the seed's clients send them
        gig = ok(call(node, "POST", "/gigs", ctok, json={
            "longitude": str(LON), "latitude": str(LAT), "deviceId": "12321432432",
            "metaData": {"city": "Saigon"}}))
        assert gig["status"] == "pendingOperator" and gig["customer"] == cust["id"]
        assert gig["latitude"] == LAT and gig["longitude"] == LON
        assert OID.match(gig["id"]) and gig["operator"] is None
        assert gig["metaData"] == {"city": "Saigon"} and gig["deviceId"] == "12321432432"
        for k in ("createdAt", "updatedAt", "expiresAt"):
            assert ISO_MS.match(gig[k]), gig

        offer = await op.event("gig.offer")
        assert offer["gigId"] == gig["id"] and offer["customer"]["firstName"] == "Ninh"
        await op2.event("gig.offer")
        g = await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
        assert g["status"] == "operatorFound"
        assert (await op2.event("gig.offer_revoked"))["reason"] == "taken"

        # the REST client sees it on its next GET
        detail = ok(call(node, "GET", "/gigs/%s/%s" % (cust["id"], gig["id"]), ctok))
        assert detail["gig"]["status"] == "operatorFound"
        assert detail["gig"]["operator"] == {"firstName": "Thanh", "lastName": "Op"}
        assert detail["gig"]["customer"] == {"firstName": "Ninh", "lastName": "Vo"}

        # a second accept: 409 (over REST, by the other operator)
        o2tok = ok(call(node, "POST", "/authorize",
                        json={"email": op2.email, "password": PASSWORD}))["token"]
        err(call(node, "POST", "/gigs/claim/" + gig["id"], o2tok, json={"response": "accept"}),
            409, "conflict")

        # REST changes are WebSocket events for the other party
        g = ok(call(node, "POST", "/gigs/confirm/" + gig["id"], ctok))
        assert g["status"] == "operatorEnroute"
        up = await op.update("operatorEnroute")
        assert up["version"] == g["version"]
        hs = ok(call(node, "POST", "/gigs/handshake/" + gig["id"], ctok))
        assert hs["gig"]["status"] == "handshaking" and hs["video"]["sessionId"]
        assert hs["video"]["role"] == "subscriber"
        await op.update("handshaking")
        ok(call(node, "POST", "/gigs/cancel/" + gig["id"], ctok))
        assert (await op.update("cancelled"))["id"] == gig["id"]
    run(go())


def test_whole_flow_rest_only(node):
    cust, ctok, _ = rest_account(node, "user", first="Ninh", last="Vo")
    op, otok, _ = rest_account(node, "operator", first="Ninh Vo", last="Thanh", lat_m=150)
    other, xtok, _ = rest_account(node, "user", first="Eve", last="Other")
    assert len(wait_search(node, ctok, 1)) == 1

    # a gig over REST, only numeric strings (the seed's body)
    gig = ok(call(node, "POST", "/gigs", ctok, json={
        "longitude": str(LON), "latitude": str(LAT), "deviceId": "12321432432",
        "claimId": "fdsfdsfd", "metaData": {"city": "Saigon"}}))
    gid = gig["id"]
    assert gig["status"] == "pendingOperator" and gig["claimId"] == "fdsfdsfd"

    # strangers do not see or touch it
    err(call(node, "POST", "/gigs/claim/" + gid, otok, json={"response": "maybe"}), 400)
    err(call(node, "POST", "/gigs/claim/" + gid, otok), 400, "bad_request")
    err(call(node, "POST", "/gigs/confirm/" + gid, xtok), 404, "not_found")
    err(call(node, "GET", "/gigs/%s/%s" % (other["id"], gid), xtok), 404, "not_found")
    err(call(node, "POST", "/gigs/confirm/not-an-id", ctok), 400, "bad_request")
    err(call(node, "POST", "/gigs/confirm/" + "0" * 24, ctok), 404, "not_found")
    # the customer cannot claim; the operator cannot create
    err(call(node, "POST", "/gigs/claim/" + gid, ctok, json={"response": "accept"}), 403)
    err(call(node, "POST", "/gigs", otok, json={"latitude": "10", "longitude": "106",
                                                "deviceId": "d"}), 403, "forbidden")
    # bad input on create
    for body in [{"latitude": "abc", "longitude": "106", "deviceId": "d"},
                 {"latitude": "91", "longitude": "106", "deviceId": "d"},
                 {"latitude": "10", "longitude": "106"},
                 {"latitude": "10", "longitude": "106", "deviceId": "d", "metaData": [1]}]:
        err(call(node, "POST", "/gigs", ctok, json=body), 400, "bad_request")

    g = ok(call(node, "POST", "/gigs/claim/" + gid, otok, json={"response": "accept"}))
    assert g["status"] == "operatorFound" and g["operator"] == op["id"]
    err(call(node, "POST", "/gigs/claim/" + gid, otok, json={"response": "accept"}),
        409, "conflict")
    # the busy operator is off the map
    assert ok(call(node, "GET", "/map/%s/%s" % (LAT, LON), ctok)) == []
    g = ok(call(node, "POST", "/gigs/confirm/" + gid, ctok))
    assert g["status"] == "operatorEnroute"
    err(call(node, "POST", "/gigs/confirm/" + gid, ctok), 409, "conflict")

    hs_op = ok(call(node, "POST", "/gigs/handshake/" + gid, otok))
    assert hs_op["gig"]["status"] == "handshaking" and hs_op["video"]["role"] == "publisher"
    err(call(node, "POST", "/gigs/start/" + gid, otok), 409, "conflict")
    hs_cu = ok(call(node, "POST", "/gigs/handshake/" + gid, ctok))
    assert hs_cu["video"]["sessionId"] == hs_op["video"]["sessionId"]
    assert hs_cu["video"]["token"] != hs_op["video"]["token"]
    assert set(hs_cu["video"]) >= {"provider", "apiKey", "sessionId", "token"}
    started = ok(call(node, "POST", "/gigs/start/" + gid, ctok))
    assert started["status"] == "streaming"
    g = ok(call(node, "POST", "/gigs/stop/" + gid, otok))
    # whole seconds of streaming, on the node's clock
    assert g["status"] == "purchased"
    streamed = ms(g["updatedAt"]) - ms(started["updatedAt"])
    assert g["duration"] == streamed // 1000, g
    minutes = (streamed + 59999) // 60000  # started minutes (0 only for 0 ms)

    # unrated: new gig actions are locked (423)
    err(call(node, "POST", "/gigs", ctok, json={"latitude": "10", "longitude": "106",
                                                "deviceId": "d"}), 423, "rating_required")
    # bad ratings: 400
    for bad in [0, 6, "4.5", 4.5, "x", None]:
        err(call(node, "POST", "/gigs/rate/" + gid, ctok, json={"rating": bad}), 400,
            "bad_request")
    err(call(node, "POST", "/gigs/rate/" + gid, xtok, json={"rating": 3}), 404, "not_found")
    g = ok(call(node, "POST", "/gigs/rate/" + gid, ctok, json={"rating": "4"}))
    assert g["status"] == "purchased" and g["operatorRating"] == 4
    err(call(node, "POST", "/gigs/rate/" + gid, ctok, json={"rating": 5}), 409, "conflict")
    g = ok(call(node, "POST", "/gigs/rate/" + gid, otok, json={"rating": 5}))
    assert g["status"] == "voted" and g["customerRating"] == 5

    # GET /gigs/:accountId/:gigId: the seed's detail shape, for either party
    for acc, tok in [(cust, ctok), (op, otok)]:
        d = ok(call(node, "GET", "/gigs/%s/%s" % (acc["id"], gid), tok))
        assert set(d) == {"gig", "purchase", "payment"}
        dg = d["gig"]
        assert dg["status"] == "voted" and dg["duration"] == g["duration"]
        assert dg["customer"] == {"firstName": "Ninh", "lastName": "Vo"}
        assert dg["operator"] == {"firstName": "Ninh Vo", "lastName": "Thanh"}
        assert dg["customerRating"] == {"value": 5} and dg["operatorRating"] == {"value": 4}
        assert (dg["latitude"], dg["longitude"]) == (LAT, LON)
        # each started minute at 1.00, the operator's share 0.5
        assert d["purchase"] == {"status": "confirmed", "amount": 1.0 * minutes}
        assert d["payment"] == {"status": "need_invoice", "amount": 0.5 * minutes}

    # GET /gigs/:accountId/getall[?status=]: the seed's list shape
    lst = ok(call(node, "GET", "/gigs/%s/getall" % cust["id"], ctok))
    assert [x["id"] for x in lst] == [gid]
    assert set(lst[0]) >= LIST_KEYS
    assert lst[0]["customer"] == cust["id"] and lst[0]["operator"] == op["id"]
    assert (lst[0]["customerRating"], lst[0]["operatorRating"]) == (5, 4)
    assert (lst[0]["latitude"], lst[0]["longitude"]) == (LAT, LON)
    assert [x["id"] for x in ok(call(node, "GET", "/gigs/%s/getall?status=voted" % cust["id"],
                                     ctok))] == [gid]
    assert ok(call(node, "GET", "/gigs/%s/getall?status=expired" % cust["id"], ctok)) == []
    assert [x["id"] for x in ok(call(node, "GET", "/gigs/%s/getall" % op["id"], otok))] == [gid]
    assert ok(call(node, "GET", "/gigs/%s/getall" % other["id"], xtok)) == []
    err(call(node, "GET", "/gigs/%s/getall?status=bogus" % cust["id"], ctok), 400, "bad_request")
    err(call(node, "GET", "/gigs/not-an-id/getall", ctok), 400, "bad_request")

    # another account's history: 403
    err(call(node, "GET", "/gigs/%s/getall" % cust["id"], xtok), 403, "forbidden")
    err(call(node, "GET", "/gigs/%s/%s" % (cust["id"], gid), xtok), 403, "forbidden")
    err(call(node, "GET", "/gigs/%s/%s" % (cust["id"], gid), otok), 403, "forbidden")

    # ratings reach the accounts' averages; the lock is lifted
    assert ok(call(node, "GET", "/accounts/" + op["id"], ctok))["operatorRating"] == 4
    assert ok(call(node, "GET", "/user", ctok))["customerRating"] == 5
    g2 = ok(call(node, "POST", "/gigs", ctok, json={"latitude": str(LAT), "longitude": str(LON),
                                                    "deviceId": "d"}))
    assert g2["status"] == "pendingOperator"
    # customer rejects after a claim; cancel by the customer while pending
    ok(call(node, "POST", "/location", otok, json={"lat": str(off(150)[0]), "long": str(LON)}))
    deadline = time.time() + 10
    while True:
        r = call(node, "POST", "/gigs/claim/" + g2["id"], otok, json={"response": "accept"})
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.1)  # offered once the operator is free again
    assert ok(r)["status"] == "operatorFound"
    assert ok(call(node, "POST", "/gigs/reject/" + g2["id"], ctok))["status"] == "customerRejected"
    g3 = ok(call(node, "POST", "/gigs", ctok, json={"latitude": LAT, "longitude": LON,
                                                    "deviceId": "d"}))
    assert ok(call(node, "POST", "/gigs/cancel/" + g3["id"], ctok))["status"] == "cancelled"
    statuses = [x["status"] for x in ok(call(node, "GET", "/gigs/%s/getall" % cust["id"], ctok))]
    assert statuses == ["cancelled", "customerRejected", "voted"]
    assert len(ok(call(node, "GET", "/gigs/%s/getall?limit=1" % cust["id"], ctok))) == 1
