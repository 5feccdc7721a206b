"""Identity codes (issue 15, PROTOCOL.md section 5): codes by email over real
SMTP (Debian's aiosmtpd, started here on a free loopback port) and by SMS
through a local stand-in for Twilio's REST API that checks what Twilio
checks; sign-in by code, verified identities, password reset and change,
the seed's passwordless registration body, E.164 phone numbers.

No sleeps: auth.code.send answers only once the SMTP server (or the SMS
provider) accepted the message, so the mailbox is read right after the
reply."""
import base64
import email
import email.policy
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import Client, free_port, run
from helpers import register, unique_email

PW = "correct horse"
NEW_PW = "battery staple"


# ---- a real SMTP server ---------------------------------------------------

class Mailbox:
    """aiosmtpd handler: keeps every message it accepted."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "rcpt": list(envelope.rcpt_tos),
                                  "msg": msg, "raw": envelope.original_content or envelope.content,
                                  "login": getattr(session, "login_data", None)})
        return "250 OK"

    def count(self):
        with self.lock:
            return len(self.messages)

    def last(self):
        with self.lock:
            return self.messages[-1]


class Auth:
    """Accepts exactly one user/password pair."""

    def __init__(self, user, password):
        self.user, self.password = user, password

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult
        ok = (auth_data.login.decode() == self.user and auth_data.password.decode() == self.password)
        return AuthResult(success=ok)


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    box.port = port
    yield box
    ctl.stop()


@pytest.fixture
def smtp_auth():
    from aiosmtpd.controller import Controller
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port,
                     authenticator=Auth("mailer", "s3cret-mail-pass"), auth_required=True,
                     auth_require_tls=False)
    ctl.start()
    box.port = port
    yield box
    ctl.stop()


def code_of(mail):
    body = mail["msg"].get_content()
    m = re.search(r"\b(\d{6})\b", body)
    assert m, body
    return m.group(1)


# ---- a stand-in for Twilio's Messages API ---------------------------------

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-token-0123456789"


class Twilio:
    def __init__(self):
        self.sent = []
        self.fail = False
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                want_auth = "Basic " + base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()
                if self.path != "/2010-04-01/Accounts/%s/Messages.json" % SID:
                    return self.answer(404, {"code": 20404, "message": "not found"})
                if self.headers.get("Authorization") != want_auth:
                    return self.answer(401, {"code": 20003, "message": "Authenticate"})
                if not self.headers.get("Content-Type", "").startswith(
                        "application/x-www-form-urlencoded"):
                    return self.answer(400, {"code": 21000, "message": "form expected"})
                form = dict(urllib.parse.parse_qsl(body, strict_parsing=True))
                if set(form) != {"To", "From", "Body"} or not re.fullmatch(r"\+\d{6,15}", form["To"]):
                    return self.answer(400, {"code": 21211, "message": "bad To/From/Body"})
                if outer.fail:
                    return self.answer(500, {"code": 20500, "message": "internal"})
                outer.sent.append(form)
                self.answer(201, {"sid": "SM" + "0" * 32, "status": "queued", "to": form["To"],
                                  "from": form["From"], "body": form["Body"]})

            def answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio():
    t = Twilio()
    yield t
    t.close()


def mail_node(node_factory, box, *extra):
    return node_factory(["--mail_url", "smtp://127.0.0.1:%d" % box.port,
                         "--mail_from", "Dropin Test <no-reply@dropin.test>"] + list(extra))


def seed_body(email_, phone="841662203830"):
    """The Dropin seed's own registration body, as its docs show it."""
    return {"firstName": "Nguyen", "lastName": "Hoa", "archive": False, "status": "active",
            "type": "user", "operator": None, "organization": "organization",
            "identities": [{"type": "email", "value": email_},
                           {"type": "phone", "value": phone}]}


def send_code(node, identity, **kw):
    return requests.post(node.url + "/authorize/code", json=dict({"identity": identity}, **kw),
                         timeout=20)


def verify(node, identity, code):
    return requests.post(node.url + "/authorize/verify", json={"identity": identity, "code": code},
                         timeout=20)


def seed(node, addr, phone):
    """Registers addr (and phone) over REST with the seed's body."""
    assert requests.post(node.url + "/accounts", json=seed_body(addr, phone),
                         timeout=20).status_code == 200


def mailed_code(node, box, addr):
    """Has a code sent to addr and returns it, read from box's last mail."""
    assert send_code(node, addr).status_code == 200
    return code_of(box.last())


async def signed_in(node, addr, clients=1):
    """Connects a Client, registers addr (a user with password PW) and signs
    it in; then clients - 1 more Clients sign in to the same account.
    Returns the first sign-in's data and the clients, in that order."""
    a = await Client.connect(node.ws_url)
    await register(a, "user", email=addr, password=PW, first="A", last="B")
    login = await a.ok("auth.login", {"identity": addr, "password": PW})
    cs = [a]
    for _ in range(clients - 1):
        c = await Client.connect(node.ws_url)
        await c.ok("auth.login", {"identity": addr, "password": PW})
        cs.append(c)
    return login, cs


# ---- the tests ----------------------------------------------------------------

def test_seed_body_registers_and_signs_in_by_an_emailed_code(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    addr = unique_email("seed")
    r = requests.post(node.url + "/accounts", json=seed_body(addr), timeout=20)
    assert r.status_code == 200, r.text
    acct = r.json()
    assert [i["status"] for i in acct["identities"]] == ["unverified", "unverified"]
    assert acct["identities"][1]["value"] == "841662203830"
    # no password: a password sign-in cannot work
    r = requests.post(node.url + "/authorize", json={"email": addr, "password": "anything-at-all"},
                      timeout=20)
    assert r.status_code == 401, r.text

    r = send_code(node, addr.upper())  # emails compare case-insensitively
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["sentTo"] == addr[0] + "***@example.com" and sent["expiresAt"].endswith("Z")
    assert smtp.count() == 1
    mail = smtp.last()
    msg = mail["msg"]
    assert mail["rcpt"] == [addr] and mail["from"] == "no-reply@dropin.test"
    for h in ("Date", "Message-ID", "From", "To", "Subject"):
        assert msg[h], h
    assert msg["From"] == "Dropin Test <no-reply@dropin.test>"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    assert "10 minutes" in msg.get_content()
    code = code_of(mail)

    r = verify(node, addr, code)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["token"] and out["expiresAt"] and out["account"]["id"] == acct["id"]
    byval = {i["value"]: i["status"] for i in out["account"]["identities"]}
    assert byval == {addr: "verified", "841662203830": "unverified"}
    # the token works, and the stored account says verified too
    r = requests.get(node.url + "/accounts/" + acct["id"],
                     headers={"Authorization": "Bearer " + out["token"]}, timeout=20)
    assert {i["value"]: i["status"] for i in r.json()["identities"]}[addr] == "verified"
    # spent by its first use
    r = verify(node, addr, code)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", r.text
    # the code is in no log line and no metric
    assert code not in node.read_log()
    assert code not in requests.get(node.url + "/metrics", timeout=20).text
    assert 'dropin_codes_sent_total{channel="email"} 1' in requests.get(
        node.url + "/metrics", timeout=20).text


def test_code_sign_in_over_websocket_sends_session_state(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    addr = unique_email("ws")

    async def body():
        c = await Client.connect(node.ws_url)
        await c.ok("account.register", {"firstName": "A", "lastName": "B", "type": "operator",
                                        "identities": [{"type": "email", "value": addr}]})
        sent = await c.ok("auth.code.send", {"identity": addr})
        assert "expiresAt" in sent
        r = await c.call("auth.code.verify", {"identity": addr, "code": code_of(smtp.last())})
        assert r["ok"], r
        state = await c.event("session.state")
        assert state["account"]["id"] == r["data"]["account"]["id"]
        assert await c.ok("account.get", {})  # signed in
    run(body())


def test_five_wrong_tries_void_the_code(node_factory, smtp):
    node = mail_node(node_factory, smtp, "--login_max_failures", "100")
    addr = unique_email("void")
    seed(node, addr, "84900000001")
    code = mailed_code(node, smtp, addr)
    wrong = "%06d" % ((int(code) + 1) % 1000000)
    for _ in range(5):
        r = verify(node, addr, wrong)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", r.text
    r = verify(node, addr, code)  # right, but too late
    assert r.status_code == 401, r.text


def test_four_wrong_tries_then_the_right_code_works(node_factory, smtp):
    node = mail_node(node_factory, smtp, "--login_max_failures", "100")
    addr = unique_email("four")
    seed(node, addr, "84900000002")
    code = mailed_code(node, smtp, addr)
    wrong = "%06d" % ((int(code) + 1) % 1000000)
    for _ in range(4):
        assert verify(node, addr, wrong).status_code == 401
    assert verify(node, addr, code).status_code == 200


def test_sign_in_brake_applies_to_codes(node_factory, smtp):
    node = mail_node(node_factory, smtp)  # login_max_failures 5
    addr = unique_email("brake")
    seed(node, addr, "84900000003")
    for _ in range(5):
        assert verify(node, addr, "000000").status_code == 401
    r = verify(node, addr, "000000")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", r.text
    assert int(r.headers["Retry-After"]) > 0


def test_rate_limit_one_code_per_30_seconds(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    addr = unique_email("rate")
    seed(node, addr, "84900000004")
    assert send_code(node, addr).status_code == 200
    r = send_code(node, addr)
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == "rate_limited" and 0 < err["retryAfter"] <= 30
    assert smtp.count() == 1
    # an unknown identity is limited alike (no enumeration through the limit)
    ghost = unique_email("ghost")
    assert send_code(node, ghost).status_code == 200
    assert send_code(node, ghost).status_code == 429


def test_unknown_identity_same_answer_nothing_sent(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    ghost = unique_email("nobody")
    r = send_code(node, ghost)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"sentTo", "expiresAt"} and r.json()["sentTo"].endswith("@example.com")
    assert smtp.count() == 0
    # an archived account's identity gets nothing either
    addr = unique_email("gone")

    async def body():
        _, (c,) = await signed_in(node, addr)
        await c.ok("account.delete", {})
    run(body())
    assert send_code(node, addr).status_code == 200
    assert smtp.count() == 0
    # and a known one does get its mail, so the mailbox works
    known = unique_email("known")
    seed(node, known, "84900000005")
    assert send_code(node, known).status_code == 200
    assert smtp.count() == 1 and smtp.last()["rcpt"] == [known]
    assert verify(node, ghost, "123456").status_code == 401


def test_a_new_code_replaces_the_previous_one_and_one_spend_wins(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    addr = unique_email("race")
    seed(node, addr, "84900000006")
    code = mailed_code(node, smtp, addr)

    async def body():
        # eight sockets spend the same code at once: exactly one signs in
        cs = [await Client.connect(node.ws_url) for _ in range(8)]
        import asyncio
        rs = await asyncio.gather(*[c.call("auth.code.verify", {"identity": addr, "code": code})
                                    for c in cs])
        return [r["ok"] for r in rs], [r.get("error", {}).get("code") for r in rs]
    oks, codes = run(body())
    assert oks.count(True) == 1, (oks, codes)
    assert set(codes) - {None} <= {"unauthenticated", "rate_limited"}, codes


def test_reset_sets_the_password_and_revokes_other_sessions(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    addr = unique_email("reset")

    async def body():
        _, (a, b) = await signed_in(node, addr, clients=2)
        await b.ok("auth.code.send", {"identity": addr, "purpose": "reset"})
        mail = smtp.last()
        assert "reset your password" in mail["msg"].get_content()
        c = await Client.connect(node.ws_url)
        r = await c.call("auth.password.reset", {"identity": addr, "code": code_of(mail),
                                                 "password": "short"})
        assert r["error"]["code"] == "bad_request" and "password" in r["error"]["message"]
        r = await c.call("auth.password.reset", {"identity": addr, "code": code_of(mail),
                                                 "password": NEW_PW})
        assert r["ok"], r
        await c.event("session.state")
        assert (await a.closed())[0] == 4401
        assert (await b.closed())[0] == 4401
        await c.ok("account.get", {})  # the new session lives on
        d = await Client.connect(node.ws_url)
        r = await d.call("auth.login", {"identity": addr, "password": PW})
        assert r["error"]["code"] == "unauthenticated"
        await d.ok("auth.login", {"identity": addr, "password": NEW_PW})
    run(body())


def test_verify_an_identity_from_a_signed_in_session(node_factory, smtp):
    node = mail_node(node_factory, smtp)
    addr = unique_email("self")

    async def body():
        login, (c,) = await signed_in(node, addr)
        await c.ok("auth.code.send", {"identity": addr, "purpose": "verify"})
        assert "verify this address" in smtp.last()["msg"].get_content()
        out = await c.ok("auth.code.verify", {"identity": addr, "code": code_of(smtp.last())})
        assert out["account"]["identities"][0]["status"] == "verified"
        assert out["token"] == login["token"]  # still signed in on its token
        me = await c.ok("account.get", {})
        assert me["identities"][0]["status"] == "verified"
        assert me["id"] == login["account"]["id"]
    run(body())


def test_smtp_refused_is_unavailable_and_counted(node_factory):
    dead = free_port()  # nothing listens there
    node = node_factory(["--mail_url", "smtp://127.0.0.1:%d" % dead])
    addr = unique_email("down")
    seed(node, addr, "84900000007")
    r = send_code(node, addr)
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
    assert 'dropin_code_delivery_failures_total{channel="email"} 1' in requests.get(
        node.url + "/metrics", timeout=20).text


def test_no_delivery_configured_is_unavailable(node):
    r = send_code(node, unique_email("nomail"))
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
    r = send_code(node, "+84 166 220 3830")
    assert r.status_code == 503, r.text


def test_smtp_auth_and_the_password_stays_out_of_the_log(node_factory, smtp_auth):
    node = node_factory(["--mail_url", "smtp://127.0.0.1:%d" % smtp_auth.port,
                         "--mail_user", "mailer", "--mail_password", "s3cret-mail-pass"])
    addr = unique_email("auth")
    seed(node, addr, "84900000008")
    assert send_code(node, addr).status_code == 200
    assert smtp_auth.count() == 1
    code = code_of(smtp_auth.last())
    log = node.read_log()
    assert "s3cret-mail-pass" not in log and code not in log


def test_sms_through_twilio_and_e164_phone_numbers(node_factory, twilio):
    node = node_factory(["--sms_provider", "twilio", "--twilio_url", twilio.url,
                         "--twilio_account_sid", SID, "--twilio_auth_token", TOKEN,
                         "--twilio_from", "+15005550006"])
    addr = unique_email("sms")
    r = requests.post(node.url + "/accounts", json=seed_body(addr, "+84 166 220 3830"), timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["identities"][1]["value"] == "841662203830"
    # the seed's form of the same number is the same identity
    r = requests.post(node.url + "/accounts", json=seed_body(unique_email("dup"), "841662203830"),
                      timeout=20)
    assert r.status_code == 409, r.text
    r = requests.post(node.url + "/accounts",
                      json=seed_body(unique_email("dup"), "0084 (166) 220-3830"), timeout=20)
    assert r.status_code == 409, r.text
    r = send_code(node, "841662203830")
    assert r.status_code == 200, r.text
    assert r.json()["sentTo"] == "+********3830"
    assert len(twilio.sent) == 1
    form = twilio.sent[0]
    assert form["To"] == "+841662203830" and form["From"] == "+15005550006"
    code = re.search(r"\b(\d{6})\b", form["Body"]).group(1)
    # email delivery is not configured: unavailable, while SMS works
    assert send_code(node, addr).status_code == 503
    r = verify(node, "+84-166-220-3830", code)
    assert r.status_code == 200, r.text
    assert {i["value"]: i["status"] for i in r.json()["account"]["identities"]}[
        "841662203830"] == "verified"
    assert code not in node.read_log() and TOKEN not in node.read_log()


def test_twilio_failure_is_unavailable(node_factory, twilio):
    twilio.fail = True
    node = node_factory(["--sms_provider", "twilio", "--twilio_url", twilio.url,
                         "--twilio_account_sid", SID, "--twilio_auth_token", TOKEN,
                         "--twilio_from", "+15005550006"])
    seed(node, unique_email("f"), "84900000009")
    r = send_code(node, "84900000009")
    assert r.status_code == 503, r.text
    assert 'dropin_code_delivery_failures_total{channel="sms"} 1' in requests.get(
        node.url + "/metrics", timeout=20).text


def test_emails_are_case_insensitive_and_unique(node):
    addr = unique_email("Case")
    r = requests.post(node.url + "/accounts", json=seed_body(addr.upper(), "84900000010"),
                      timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["identities"][0]["value"] == addr.lower()
    r = requests.post(node.url + "/accounts", json=seed_body(addr.lower(), "84900000011"),
                      timeout=20)
    assert r.status_code == 409, r.text


def test_password_change_and_unknown_update_fields(node):
    addr = unique_email("chg")

    async def body():
        _, (a, b) = await signed_in(node, addr, clients=2)
        r = await a.call("auth.password.change", {"password": "wrong one", "newPassword": NEW_PW})
        assert r["error"]["code"] == "unauthenticated", r
        r = await a.call("auth.password.change", {"password": PW, "newPassword": "short"})
        assert r["error"]["code"] == "bad_request" and "newPassword" in r["error"]["message"]
        out = await a.ok("auth.password.change", {"password": PW, "newPassword": NEW_PW})
        assert out["token"]
        assert (await b.closed())[0] == 4401
        await a.ok("account.get", {})  # the changing session stays signed in
        r = await a.call("account.update", {"firstName": "C", "password": "x"})
        assert r["error"]["code"] == "bad_request" and "password" in r["error"]["message"], r
        return out["token"]

    token = run(body())
    h = {"Authorization": "Bearer " + token}
    r = requests.post(node.url + "/user", json={"nickname": "x"}, headers=h, timeout=20)
    assert r.status_code == 400 and "nickname" in r.json()["error"]["message"], r.text
    # a password is changed by its owner: naming another account is refused
    other = requests.post(node.url + "/accounts", json={
        "firstName": "O", "lastName": "T", "type": "user", "password": PW,
        "identities": [{"type": "email", "value": unique_email("oth")}]}, timeout=20).json()
    r = requests.post(node.url + "/user", json={"id": other["id"], "password": NEW_PW,
                                                "newPassword": "third one!"},
                      headers=h, timeout=20)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
    r = requests.post(node.url + "/user", json={"password": NEW_PW, "newPassword": "third one!"},
                      headers=h, timeout=20)
    assert r.status_code == 200, r.text
    r = requests.post(node.url + "/authorize", json={"email": addr, "password": "third one!"},
                      timeout=20)
    assert r.status_code == 200, r.text


# ---- the Freelancer registration shape, admin accounts, GET /users -----------

ADMIN = "admin-token-for-the-identity-tests-0123456789"


def test_freelancer_signup_shape(node):
    addr = unique_email("free")
    r = requests.post(node.url + "/signup", json={
        "first_name": "Ninh", "last_name": "Vo", "email": addr, "password": PW,
        "roles": ["WORKER"]}, timeout=20)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["first_name"] == "Ninh" and out["last_name"] == "Vo" and out["email"] == addr
    assert out["roles"] == ["WORKER"] and "firstName" not in out and out["id"]
    # it is an operator that signs in with that password
    r = requests.post(node.url + "/authorize", json={"email": addr, "password": PW}, timeout=20)
    assert r.status_code == 200 and r.json()["account"]["type"] == "operator", r.text
    r = requests.post(node.url + "/signup", json={
        "first_name": "C", "last_name": "L", "email": unique_email("cl"), "password": PW,
        "roles": ["CLIENT"]}, timeout=20)
    assert r.status_code == 200 and r.json()["roles"] == ["CLIENT"], r.text
    r = requests.post(node.url + "/signup", json={
        "first_name": "C", "last_name": "L", "email": unique_email("bad"), "password": PW,
        "roles": ["BOSS"]}, timeout=20)
    assert r.status_code == 400 and "roles" in r.json()["error"]["message"], r.text
    r = requests.post(node.url + "/signup", json={"first_name": "C", "email": unique_email("x"),
                                                  "password": PW}, timeout=20)
    assert r.status_code == 400 and "last_name" in r.json()["error"]["message"], r.text
    # the Dropin shape keeps working there, answered in the Dropin shape
    r = requests.post(node.url + "/signup", json=seed_body(unique_email("dropin"), "84900000012"),
                      timeout=20)
    assert r.status_code == 200 and r.json()["firstName"] == "Nguyen", r.text


def test_admin_accounts(node_factory):
    node = node_factory(["--admin_token", ADMIN])
    boss = unique_email("boss")
    h = {"Authorization": "Bearer " + ADMIN}
    # the admin_token creates an admin account
    r = requests.post(node.url + "/accounts", headers=h, json={
        "firstName": "Boss", "lastName": "B", "type": "admin", "password": PW,
        "identities": [{"type": "email", "value": boss}]}, timeout=20)
    assert r.status_code == 200 and r.json()["type"] == "admin", r.text
    boss_id = r.json()["id"]
    # nobody else may register an admin
    r = requests.post(node.url + "/accounts", json={
        "firstName": "X", "lastName": "Y", "type": "admin", "password": PW,
        "identities": [{"type": "email", "value": unique_email("wannabe")}]}, timeout=20)
    assert r.status_code == 400, r.text

    async def body():
        adm = await Client.connect(node.ws_url)
        await adm.ok("auth.login", {"identity": boss, "password": PW})
        await adm.event("session.state")
        # an admin account has the admin rights: inspector ops, other accounts
        assert "sessions" in await adm.ok("admin.stats", {})
        u = await Client.connect(node.ws_url)
        uid = (await u.ok("account.register", {
            "firstName": "Una", "lastName": "U", "type": "user", "password": PW,
            "identities": [{"type": "email", "value": unique_email("una")}]}))["id"]
        lst = await adm.ok("account.list", {"q": "una"})
        assert [x["id"] for x in lst] == [uid] and "identities" in lst[0]
        # and changes an account's type; the account's sessions sign in again
        c = await Client.connect(node.ws_url)
        email = lst[0]["identities"][0]["value"]
        await c.ok("auth.login", {"identity": email, "password": PW})
        out = await adm.ok("account.update", {"id": uid, "type": "operator"})
        assert out["type"] == "operator"
        assert (await c.closed())[0] == 4401
        d = await Client.connect(node.ws_url)
        await d.ok("auth.login", {"identity": email, "password": PW})
        await d.ok("presence.update", {"latitude": 10.0, "longitude": 106.0})  # operators only
        r = await d.call("account.update", {"type": "admin"})
        assert r["error"]["code"] == "forbidden", r
        # any signed-in account lists public profiles; q matches names only
        pub = await d.ok("account.list", {"type": "admin"})
        assert [x["id"] for x in pub] == [boss_id] and "identities" not in pub[0]
        assert await d.ok("account.list", {"q": boss}) == []
        return uid
    uid = run(body())
    log = node.read_log()
    assert "event=admin_op op=account.update by=%s" % boss_id in log
    assert "event=admin_account_type account=%s type=operator" % uid in log


def test_phone_values_of_an_older_database_become_e164(node_factory):
    """A database written before issue 15 holds phones as "+8490..." (the old
    normalization kept the '+'): on open they are rewritten once, so the
    number signs in however it is typed."""
    import os
    node = node_factory()
    addr = unique_email("old")
    body = seed_body(addr, "84900000077")
    body["password"] = PW
    r = requests.post(node.url + "/accounts", json=body, timeout=20)
    assert r.status_code == 200, r.text
    acct_id = r.json()["id"]
    assert node.stop() == 0
    if os.environ.get("DROPIN_TEST_STORE") == "mongodb":
        import bson
        import pymongo
        uri = os.environ["DROPIN_TEST_MONGO_URI"] + "_%d" % node.port
        db = pymongo.MongoClient(uri).get_default_database()
        res = db.accounts.update_one({"_id": bson.ObjectId(acct_id)},
                                     {"$set": {"identities.1.value": "+84900000077"}})
        assert res.matched_count == 1
        db.identity_codes.delete_many({})  # as before issue 15: no codes, no marker
    else:
        import sqlite3
        db = sqlite3.connect(os.path.join(node.tmpdir, "dropin.db"))
        db.execute("UPDATE identities SET value = '+84900000077' WHERE value = '84900000077'")
        db.execute("DROP TABLE identity_codes")  # schema 4: before issue 15
        db.execute("PRAGMA user_version = 4")
        db.commit()
        db.close()
    node.start()
    r = requests.post(node.url + "/authorize", json={"phone": "+84 900 000 077", "password": PW},
                      timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["identities"][1]["value"] == "84900000077"
