"""Real video sessions behind gig.handshake (PROTOCOL.md section 7): the
OpenTok and Vonage Video providers against local stand-ins.

Each stand-in is a real HTTP server on loopback that checks what the real
provider checks - the path, the form body, the auth JWT's signature (HS256
with the API secret; RS256 with the public half of a key pair made here),
its claims and expiry, a fresh jti - and answers in the provider's shape (a
JSON array whose first element holds session_id). It can be switched to
refuse (503). Tokens that dropind hands out are verified here with
independent code: hmac/hashlib for OpenTok T1 tokens, PyJWT for Vonage's,
and - when npm's official OpenTok SDK is installed (tools/opentok-ref) - the
T1 token is re-made by the SDK from the same inputs and compared byte for
byte."""
import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import DROPIND, ROOT, run
from helpers import new_session

LAT, LON = 10.787859, 106.70653
OT_KEY = "46123456"
OT_SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d"
APP_ID = "b2a4c6e8-1234-4abc-9def-0123456789ab"
OT_REF = os.path.join(ROOT, "tools", "opentok-ref")


def iso_s(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


class StandIn:
    """A video provider on loopback. kind "opentok" or "vonage". mode "ok"
    answers sessions, "fail" answers 503. Every check that fails is recorded
    in errors (and answered 403, as the real service would)."""

    def __init__(self, kind, public_pem=None):
        self.kind, self.public_pem = kind, public_pem
        self.mode = "ok"
        self.errors, self.sessions, self.jtis = [], [], set()
        self.requests = 0
        self.hit = threading.Event()      # any session-create request arrived
        self.release = threading.Event()  # mode "hold": answers wait for this
        self.release.set()
        self.cond = threading.Condition()
        self.waiting = 0                  # requests held now
        self.created = threading.Event()  # a session was answered
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                code, answer = outer.handle(self.path, self.headers, body)
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _auth(self, headers):
        """The provider's auth check; returns an error text or None."""
        now = time.time()
        if self.kind == "opentok":
            tok = headers.get("X-OPENTOK-AUTH")
            if not tok:
                return "no X-OPENTOK-AUTH"
            c = pyjwt.decode(tok, OT_SECRET, algorithms=["HS256"],
                             options={"require": ["iss", "ist", "iat", "exp", "jti"]})
            if c["iss"] != OT_KEY or c["ist"] != "project":
                return "bad iss/ist %r" % c
        else:
            a = headers.get("Authorization", "")
            if not a.startswith("Bearer "):
                return "no Bearer"
            c = pyjwt.decode(a[7:], self.public_pem, algorithms=["RS256"],
                             options={"require": ["application_id", "iat", "exp", "jti"]})
            if c["application_id"] != APP_ID:
                return "bad application_id %r" % c
        if not (now - 60 <= c["iat"] <= now + 60) or c["exp"] - c["iat"] > 300:
            return "iat/exp out of bounds %r" % c
        if c["jti"] in self.jtis:
            return "jti replayed"
        self.jtis.add(c["jti"])
        return None

    def handle(self, path, headers, body):
        self.requests += 1
        try:
            if path != "/session/create":
                raise ValueError("path %s" % path)
            if not headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                raise ValueError("content type %s" % headers.get("Content-Type"))
            form = urllib.parse.parse_qs(body, strict_parsing=True)
            if form.get("p2p.preference") not in (["disabled"], ["enabled"]) or \
                    form.get("archiveMode") not in (["manual"], ["always"]):
                raise ValueError("form %r" % form)
            err = self._auth(headers)
        except (ValueError, pyjwt.PyJWTError) as e:
            err = "%s: %s" % (type(e).__name__, e)
        self.form = body
        with self.cond:
            self.waiting += 1
            self.cond.notify_all()
        self.release.wait(30)
        with self.cond:
            self.waiting -= 1
        if err:
            self.errors.append(err)
            self.hit.set()
            return 403, {"code": 403, "message": "Invalid token"}
        if self.mode == "fail":
            self.hit.set()
            return 503, {"code": 503, "message": "Service unavailable"}
        # an id shaped like the real ones: "1_" + base64url("1~KEY~~ms~rand~P~~")
        raw = "1~%s~~%d~%s~P~~" % (OT_KEY if self.kind == "opentok" else APP_ID,
                                  int(time.time() * 1000), uuid.uuid4().hex)
        sid = "1_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        self.sessions.append(sid)
        self.created.set()
        self.hit.set()
        return 200, [{"session_id": sid, "project_id": OT_KEY, "partner_id": OT_KEY,
                      "create_dt": time.strftime("%a %b %d %H:%M:%S UTC %Y"),
                      "media_server_url": ""}]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def opentok():
    p = StandIn("opentok")
    yield p
    p.close()


@pytest.fixture
def keypair(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "vonage-private.key"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.write_bytes(pem)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return str(path), pem.decode(), pub.decode()


@pytest.fixture
def vonage(keypair):
    p = StandIn("vonage", keypair[2])
    yield p
    p.close()


def ot_args(url, extra=()):
    return ["--video", "opentok", "--opentok_api_key", OT_KEY, "--opentok_api_secret", OT_SECRET,
            "--opentok_url", url, "--video_timeout", "3s"] + list(extra)


async def confirmed_gig(node):
    """A customer and an operator in a gig the customer has just confirmed."""
    cust, cacct, _ = await new_session(node, "user")
    op, oacct, _ = await new_session(node, "operator")
    await op.ok("presence.update", {"latitude": LAT + 0.001, "longitude": LON})
    deadline = time.time() + 10
    while not await cust.ok("map.nearby", {"latitude": LAT, "longitude": LON}):
        assert time.time() < deadline
        await asyncio.sleep(0.05)
    gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d1"})
    await op.event("gig.offer")
    await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
    g = await cust.ok("gig.confirm", {"gigId": gig["id"]})
    assert g["status"] == "operatorEnroute"
    return cust, cacct, op, oacct, g


async def session_attached(cust, gig, timeout=10):
    """Waits until the session made at confirm is on the gig: attaching it
    is a compare-and-set that bumps the gig's version."""
    deadline = time.time() + timeout
    while True:
        g = (await cust.ok("gig.get", {"gigId": gig["id"]}))["gig"]
        if g["version"] > gig["version"]:
            return g
        assert time.time() < deadline, "no session attached"
        await asyncio.sleep(0.02)


def check_t1(token, session, account, role, expires_at):
    """Verifies an OpenTok T1 token from scratch; returns its fields."""
    assert token.startswith("T1==")
    plain = base64.b64decode(token[4:], validate=True).decode()
    head, data = plain.split(":", 1)
    h = urllib.parse.parse_qs(head)
    assert h["partner_id"] == [OT_KEY]
    want = hmac.new(OT_SECRET.encode(), data.encode(), hashlib.sha1).hexdigest()
    assert hmac.compare_digest(h["sig"][0], want)
    f = {k: v[0] for k, v in urllib.parse.parse_qs(data, keep_blank_values=True).items()}
    assert f["session_id"] == session and f["role"] == role
    assert f["scope"] == "session.connect" and f["nonce"]
    now = time.time()
    assert now - 60 <= int(f["create_time"]) <= now + 60
    assert int(f["expire_time"]) >= int(iso_s(expires_at))
    cd = json.loads(f["connection_data"])
    assert cd == {"accountId": account, "role": role}
    return f


def sdk_t1(fields):
    """The same token made by the official SDK (npm opentok), or None when
    the SDK is not installed (fields None: only asks whether it is)."""
    if not shutil.which("node") or not os.path.exists(
            os.path.join(OT_REF, "node_modules", "opentok", "lib", "opentok.js")):
        return None
    if fields is None:
        return ""
    script = ("const OT=require('opentok');const a=JSON.parse(process.argv[1]);"
              "process.stdout.write(new OT(a.key,a.secret).generateToken(a.f.session_id,"
              "{role:a.f.role,expireTime:+a.f.expire_time,create_time:+a.f.create_time,"
              "nonce:a.f.nonce,data:a.f.connection_data},true));")
    arg = json.dumps({"key": OT_KEY, "secret": OT_SECRET, "f": fields})
    out = subprocess.run(["node", "-e", script, arg], cwd=OT_REF, capture_output=True,
                         timeout=60, check=True)
    return out.stdout.decode()


def test_opentok_flow(node_factory, opentok):
    """Created ahead at confirm, reused by both parties, tokens verified
    independently, token outlives the streaming deadline, a party reports
    a video failure; no secret in the log."""
    node = node_factory(ot_args(opentok.url))

    async def go():
        cust, cacct, op, oacct, gig = await confirmed_gig(node)
        # the session is created when the customer confirms
        assert opentok.created.wait(10), opentok.errors
        await session_attached(cust, gig)
        # from now on the provider refuses: handshakes do not need it
        opentok.mode = "fail"
        hs_op = await op.ok("gig.handshake", {"gigId": gig["id"]})
        hs_cu = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        v_op, v_cu = hs_op["video"], hs_cu["video"]
        assert v_op["provider"] == v_cu["provider"] == "opentok"
        assert v_op["apiKey"] == v_cu["apiKey"] == OT_KEY
        assert v_op["sessionId"] == v_cu["sessionId"] == opentok.sessions[0]
        assert len(opentok.sessions) == 1
        assert v_op["role"] == "publisher" and v_cu["role"] == "subscriber"
        f_op = check_t1(v_op["token"], v_op["sessionId"], oacct["id"], "publisher",
                        v_op["expiresAt"])
        f_cu = check_t1(v_cu["token"], v_cu["sessionId"], cacct["id"], "subscriber",
                        v_cu["expiresAt"])
        assert f_op["nonce"] != f_cu["nonce"]
        # a repeated handshake gets the same session again
        again = await op.ok("gig.handshake", {"gigId": gig["id"]})
        assert again["video"]["sessionId"] == v_op["sessionId"]

        g = await cust.ok("gig.start", {"gigId": gig["id"]})
        assert g["status"] == "streaming"
        # the token works at least until the streaming deadline
        assert iso_s(v_cu["expiresAt"]) >= iso_s(g["expiresAt"])
        assert int(f_cu["expire_time"]) >= int(iso_s(g["expiresAt"]))

        # a party reports that the video failed
        r = await cust.call("gig.video_failed", {"gigId": gig["id"], "reason": 5})
        assert r["error"]["code"] == "bad_request"
        g = await cust.ok("gig.video_failed", {"gigId": gig["id"], "reason": "camera lost"})
        assert g["status"] == "failed"
        up = await op.update("failed")
        assert up["version"] == g["version"]
        r = await op.call("gig.video_failed", {"gigId": gig["id"], "reason": "again"})
        assert r["error"]["code"] == "conflict"
    run(go())
    assert opentok.errors == []
    assert "archiveMode=manual" in opentok.form and "p2p.preference=disabled" in opentok.form
    log = node.read_log()
    assert OT_SECRET not in log
    assert "event=video_session provider=opentok ok=1" in log


def test_t1_byte_for_byte_as_the_official_sdk(node_factory, opentok):
    """The operator's T1 token is exactly what the official OpenTok SDK (npm
    opentok, tools/opentok-ref) makes from the same session, times, nonce,
    role and connection data."""
    if sdk_t1(None) is None:
        pytest.skip("npm opentok not installed (tools/opentok-ref/install.sh)")
    node = node_factory(ot_args(opentok.url))

    async def go():
        cust, cacct, op, oacct, gig = await confirmed_gig(node)
        v = (await op.ok("gig.handshake", {"gigId": gig["id"]}))["video"]
        f = check_t1(v["token"], v["sessionId"], oacct["id"], "publisher", v["expiresAt"])
        assert sdk_t1(f) == v["token"]
        # and the check can fail: another nonce is another token
        assert sdk_t1(dict(f, nonce=f["nonce"] + "1")) != v["token"]
    run(go())
    assert opentok.errors == []


def test_opentok_outage_then_heal(node_factory, opentok):
    """Provider refusing: the session made at confirm fails, gig.handshake
    answers unavailable and the gig keeps its state, version and deadline;
    once the provider heals the next handshake creates the session."""
    opentok.mode = "fail"
    node = node_factory(ot_args(opentok.url, ["--video_media_mode", "relayed"]))

    async def go():
        cust, cacct, op, oacct, gig = await confirmed_gig(node)
        assert opentok.hit.wait(10)  # the attempt at confirm was refused
        r = await op.call("gig.handshake", {"gigId": gig["id"]})
        assert r["ok"] is False and r["error"]["code"] == "unavailable", r
        r = await cust.call("gig.handshake", {"gigId": gig["id"]})
        assert r["error"]["code"] == "unavailable"
        g = (await cust.ok("gig.get", {"gigId": gig["id"]}))["gig"]
        assert g["status"] == "operatorEnroute"
        assert g["version"] == gig["version"] and g["expiresAt"] == gig["expiresAt"]
        assert not opentok.sessions

        opentok.mode = "ok"  # healed
        hs_cu = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        hs_op = await op.ok("gig.handshake", {"gigId": gig["id"]})
        assert hs_cu["video"]["sessionId"] == hs_op["video"]["sessionId"] == opentok.sessions[0]
        assert len(opentok.sessions) == 1
        check_t1(hs_cu["video"]["token"], opentok.sessions[0], cacct["id"], "subscriber",
                 hs_cu["video"]["expiresAt"])
        check_t1(hs_op["video"]["token"], opentok.sessions[0], oacct["id"], "publisher",
                 hs_op["video"]["expiresAt"])
        assert (await cust.ok("gig.start", {"gigId": gig["id"]}))["status"] == "streaming"
    run(go())
    assert opentok.errors == []
    assert "p2p.preference=enabled" in opentok.form
    assert OT_SECRET not in node.read_log()


def test_two_creations_race_one_session_stays(node_factory, opentok):
    """The session made at confirm and one made by a handshake are both
    answered after the handshake read the gig: the compare-and-set keeps one
    on the gig, and both parties get that one."""
    opentok.release.clear()  # hold every answer
    node = node_factory(ot_args(opentok.url))

    async def go():
        cust, cacct, op, oacct, gig = await confirmed_gig(node)
        hs = asyncio.ensure_future(cust.call("gig.handshake", {"gigId": gig["id"]}))
        def both_held():  # the one at confirm and the handshake's
            with opentok.cond:
                return opentok.cond.wait_for(lambda: opentok.waiting == 2, 20)
        assert await asyncio.to_thread(both_held)
        opentok.release.set()
        r = await hs
        assert r["ok"], r
        hs_op = await op.ok("gig.handshake", {"gigId": gig["id"]})
        assert len(opentok.sessions) == 2
        sid = r["data"]["video"]["sessionId"]
        assert sid in opentok.sessions and hs_op["video"]["sessionId"] == sid
        await session_settled(node)
        again = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        assert again["video"]["sessionId"] == sid
    run(go())
    assert opentok.errors == []


async def session_settled(node, timeout=10):
    """Waits until the node logged the end of the session made at confirm."""
    deadline = time.time() + timeout
    while "event=video_session_ahead" not in node.read_log():
        assert time.time() < deadline
        await asyncio.sleep(0.02)


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_opentok_down(node_factory):
    """Nobody listens at opentok_url: handshakes answer unavailable at once,
    and the node keeps serving."""
    node = node_factory(ot_args("http://127.0.0.1:%d" % _closed_port()))

    async def go():
        cust, _, op, _, gig = await confirmed_gig(node)
        for c in (op, cust, op):
            r = await c.call("gig.handshake", {"gigId": gig["id"]})
            assert r["error"]["code"] == "unavailable"
        g = (await cust.ok("gig.get", {"gigId": gig["id"]}))["gig"]
        assert g["status"] == "operatorEnroute" and g["version"] == gig["version"]
        assert "time" in await cust.ok("sys.ping", {})
    run(go())


def test_opentok_hangs_past_video_timeout(node_factory, opentok):
    """A provider that does not answer within video_timeout: the handshake
    answers unavailable (the loop is not blocked meanwhile), and once the
    provider answers again the next handshake succeeds."""
    opentok.release.clear()
    node = node_factory(ot_args(opentok.url, ["--video_timeout", "300ms"]))

    async def go():
        cust, cacct, op, _, gig = await confirmed_gig(node)
        hs = asyncio.ensure_future(cust.call("gig.handshake", {"gigId": gig["id"]}))
        # while both creations hang, the node keeps answering
        assert "time" in await op.ok("sys.ping", {})
        r = await hs
        assert r["error"]["code"] == "unavailable", r
        opentok.release.set()
        hs = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        check_t1(hs["video"]["token"], hs["video"]["sessionId"], cacct["id"], "subscriber",
                 hs["video"]["expiresAt"])
    run(go())
    opentok.release.set()
    assert opentok.errors == []


def test_vonage_flow(node_factory, vonage, keypair):
    path, private_pem, public_pem = keypair
    node = node_factory(["--video", "vonage", "--vonage_application_id", APP_ID,
                         "--vonage_private_key", path, "--vonage_url", vonage.url + "/",
                         "--video_archive", "always"])

    async def go():
        cust, cacct, op, oacct, gig = await confirmed_gig(node)
        assert vonage.created.wait(10), vonage.errors
        await session_attached(cust, gig)
        hs_op = await op.ok("gig.handshake", {"gigId": gig["id"]})
        hs_cu = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        for hs, acct, role in ((hs_op, oacct, "publisher"), (hs_cu, cacct, "subscriber")):
            v = hs["video"]
            assert v["provider"] == "vonage" and v["apiKey"] == APP_ID
            assert v["sessionId"] == vonage.sessions[0] and v["role"] == role
            c = pyjwt.decode(v["token"], public_pem, algorithms=["RS256"],
                             options={"require": ["iat", "exp", "jti"]})
            assert pyjwt.get_unverified_header(v["token"])["typ"] == "JWT"
            assert c["application_id"] == APP_ID and c["scope"] == "session.connect"
            assert c["session_id"] == v["sessionId"] and c["role"] == role
            assert c["sub"] == "video" and c["acl"] == {"paths": {"/session/**": {}}}
            assert c["initial_layout_class_list"] == ""
            assert json.loads(c["connection_data"]) == {"accountId": acct["id"], "role": role}
            assert c["exp"] >= int(iso_s(v["expiresAt"])) and abs(c["iat"] - time.time()) < 60
        assert pyjwt.decode(hs_op["video"]["token"], public_pem, algorithms=["RS256"])["jti"] != \
            pyjwt.decode(hs_cu["video"]["token"], public_pem, algorithms=["RS256"])["jti"]
        assert len(vonage.sessions) == 1
        # a token signed by another key does not verify
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        with pytest.raises(pyjwt.InvalidSignatureError):
            pyjwt.decode(hs_op["video"]["token"], other, algorithms=["RS256"])
    run(go())
    assert vonage.errors == []
    assert "archiveMode=always" in vonage.form
    log = node.read_log()
    body = "".join(private_pem.strip().splitlines()[1:-1])
    assert body[:40] not in log and "PRIVATE KEY" not in log


def dropind_exit(args, tmp):
    p = subprocess.run([DROPIND, "--listen", "127.0.0.1:%d" % _closed_port(),
                        "--store", "sqlite:%s" % (tmp / "x.db")] + args,
                       capture_output=True, timeout=60,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"))
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def test_bad_video_config(tmp_path):
    rc, out = dropind_exit(["--video", "bogus"], tmp_path)
    assert rc == 2 and "'video'" in out and "bogus" in out
    rc, out = dropind_exit(["--video_media_mode", "p2p"], tmp_path)
    assert rc == 2 and "video_media_mode" in out
    rc, out = dropind_exit(["--video_archive", "sometimes"], tmp_path)
    assert rc == 2 and "video_archive" in out
    # opentok without its key, or its secret: refused at start, secret unsaid
    rc, out = dropind_exit(["--video", "opentok", "--opentok_api_secret", OT_SECRET], tmp_path)
    assert rc != 0 and "opentok_api_key" in out and OT_SECRET not in out
    rc, out = dropind_exit(["--video", "opentok", "--opentok_api_key", OT_KEY], tmp_path)
    assert rc != 0 and "opentok_api_secret" in out
    rc, out = dropind_exit(["--video", "vonage", "--vonage_application_id", APP_ID,
                            "--vonage_private_key", "/nonexistent.pem"], tmp_path)
    assert rc != 0 and "vonage_private_key" in out


def test_opentok_secret_from_environment(node_factory, opentok, monkeypatch):
    """DROPIN_OPENTOK_API_SECRET stands in for opentok_api_secret."""
    monkeypatch.setenv("DROPIN_OPENTOK_API_SECRET", OT_SECRET)
    node = node_factory(["--video", "opentok", "--opentok_api_key", OT_KEY,
                         "--opentok_url", opentok.url])

    async def go():
        cust, cacct, op, _, gig = await confirmed_gig(node)
        hs = await cust.ok("gig.handshake", {"gigId": gig["id"]})
        check_t1(hs["video"]["token"], hs["video"]["sessionId"], cacct["id"], "subscriber",
                 hs["video"]["expiresAt"])
    run(go())
    assert opentok.errors == []
