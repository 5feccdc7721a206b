"""Local stand-ins for the push providers, checking what the real ones
check, on loopback only.

FcmStandin (Python, HTTP/1.1): the OAuth2 token endpoint verifies the RS256
service-account assertion with the account's public key (PyJWT) - iss,
scope, aud = token_uri, iat/exp within an hour - and issues an access token;
POST /v1/projects/<project>/messages:send checks `Authorization: Bearer
<that token>` and the message's shape (data values all strings, android
priority/ttl/collapse_key, apns headers) and answers like FCM: 200
{"name"}, 404 UNREGISTERED for a token in `unregistered`, 503 with
Retry-After while `fail_next` > 0.

ApnsStandin runs apns_standin.js (Node's http2, TLS with a test CA made
here) and verifies each request's ES256 provider token with PyJWT against
the .p8 key's public part.
"""
import datetime
import ipaddress
import json
import os
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def _pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class _Waitable:
    def __init__(self):
        self.cond = threading.Condition()
        self.received = []   # accepted messages
        self.requests = []   # every send request, whatever the answer
        self.errors = []     # shape or auth problems found

    def record(self, rec, accepted):
        with self.cond:
            self.requests.append(rec)
            if accepted:
                self.received.append(rec)
            self.cond.notify_all()

    def wait_requests(self, n, timeout=15):
        """Waits until n requests (whatever their answer) were seen."""
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.requests) >= n, timeout), self.requests
            return list(self.requests)

    def wait_arrived(self, n, timeout=15):
        with self.cond:
            assert self.cond.wait_for(lambda: self.arrived >= n, timeout), self.arrived

    def wait_for(self, pred, timeout=15):
        """Waits until pred(received) is true; returns received."""
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self.received), timeout)
            assert ok, "stand-in: condition not met; requests=%r errors=%r" % (
                self.requests, self.errors)
            return list(self.received)


class FcmStandin(_Waitable):
    def __init__(self, tmpdir, project="dropin-test"):
        super().__init__()
        self.project = project
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.unregistered = set()
        self.fail_next = 0
        self.hold = threading.Event()  # cleared: messages:send waits for it
        self.hold.set()
        self.arrived = 0               # messages:send requests seen, held ones included
        self.tokens = set()
        self.token_requests = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _reply(self, status, obj, headers=()):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                if self.path == "/token":
                    return outer._token(self, body)
                prefix = "/v1/projects/%s/messages:send" % outer.project
                if self.path != prefix:
                    return self._reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
                return outer._send(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.token_uri = self.url + "/token"
        self.client_email = "dropind@%s.iam.gserviceaccount.com" % project
        self.credentials = os.path.join(tmpdir, "fcm-service-account.json")
        with open(self.credentials, "w") as f:
            json.dump({"type": "service_account", "project_id": project,
                       "private_key_id": uuid.uuid4().hex,
                       "private_key": _pem_private(self.key),
                       "client_email": self.client_email, "client_id": "1",
                       "token_uri": self.token_uri}, f)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _token(self, h, body):
        form = urllib.parse.parse_qs(body)
        try:
            assert form.get("grant_type") == ["urn:ietf:params:oauth:grant-type:jwt-bearer"], form
            assertion = form["assertion"][0]
            assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
            claims = jwt.decode(assertion, self.key.public_key(), algorithms=["RS256"],
                                audience=self.token_uri, issuer=self.client_email,
                                options={"require": ["iss", "aud", "iat", "exp"]})
            assert claims["scope"] == FCM_SCOPE, claims
            assert 0 < claims["exp"] - claims["iat"] <= 3600, claims
        except Exception as e:  # noqa: BLE001 - any failure is a refusal
            self.errors.append("token: %r" % e)
            return h._reply(400, {"error": "invalid_grant", "error_description": str(e)})
        tok = "ya29." + uuid.uuid4().hex
        self.tokens.add(tok)
        self.token_requests += 1
        h._reply(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})

    def _send(self, h, body):
        with self.cond:
            self.arrived += 1
            self.cond.notify_all()
        self.hold.wait(30)
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            self.errors.append("send: bad bearer")
            return h._reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        try:
            msg = json.loads(body)["message"]
            problems = self.check_shape(msg)
        except Exception as e:  # noqa: BLE001
            msg, problems = None, ["not JSON: %r" % e]
        if problems:
            self.errors.extend(problems)
            self.record({"message": msg, "status": 400}, False)
            return h._reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                            "message": "; ".join(problems)}})
        if self.fail_next > 0:
            self.fail_next -= 1
            self.record({"message": msg, "status": 503}, False)
            return h._reply(503, {"error": {"code": 503, "status": "UNAVAILABLE"}},
                            [("Retry-After", "1")])
        if msg["token"] in self.unregistered:
            self.record({"message": msg, "status": 404}, False)
            return h._reply(404, {"error": {
                "code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found.",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                             "errorCode": "UNREGISTERED"}]}})
        self.record({"message": msg, "status": 200}, True)
        h._reply(200, {"name": "projects/%s/messages/%s" % (self.project, uuid.uuid4().hex)})

    @staticmethod
    def check_shape(msg):
        p = []
        if not isinstance(msg.get("token"), str) or not msg["token"]:
            p.append("message.token")
        n = msg.get("notification", {})
        if not isinstance(n.get("title"), str) or not isinstance(n.get("body"), str):
            p.append("message.notification")
        data = msg.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            p.append("message.data: values must be strings")
        a = msg.get("android", {})
        if a.get("priority") not in (None, "NORMAL", "HIGH", "normal", "high"):
            p.append("android.priority")
        if "ttl" in a and not (isinstance(a["ttl"], str) and a["ttl"].endswith("s")):
            p.append("android.ttl")
        hdrs = msg.get("apns", {}).get("headers", {})
        if not all(isinstance(v, str) for v in hdrs.values()):
            p.append("apns.headers: values must be strings")
        return p

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def make_tls(tmpdir):
    """A test CA and a server certificate for 127.0.0.1 / localhost signed
    by it. Returns (ca_pem_path, cert_path, key_path)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dropin test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(tmpdir, n) for n in ("push-ca.pem", "apns-cert.pem", "apns-key.pem")]
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "w") as f:
        f.write(_pem_private(key))
    return paths


class ApnsStandin(_Waitable):
    KEY_ID = "ABC123DEFG"
    TEAM_ID = "DEF123GHIJ"
    TOPIC = "com.example.dropin"

    def __init__(self, tmpdir, like=None):
        """like: another stand-in whose certificate and .p8 key to share
        (a second endpoint, e.g. the sandbox)."""
        super().__init__()
        if like:
            self.ca, cert, key = like.ca, like.cert, like.tls_key
            self.key, self.p8 = like.key, like.p8
        else:
            self.ca, cert, key = make_tls(tmpdir)
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.p8 = os.path.join(tmpdir, "AuthKey_%s.p8" % self.KEY_ID)
            with open(self.p8, "w") as f:
                f.write(_pem_private(self.key))
        self.cert, self.tls_key = cert, key
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "apns_standin.js"), cert, key],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), "apns stand-in did not start: %r" % line
        self.port = int(line.split()[1])
        self.url = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            problems = self.check(rec)
            if problems:
                self.errors.extend(problems)
            self.record(rec, rec["status"] == 200 and not problems)

    def check(self, rec):
        """What APNs checks of the provider token, verified here with PyJWT."""
        p = []
        auth = rec["headers"].get("authorization", "")
        try:
            tok = auth[len("bearer "):]
            hdr = jwt.get_unverified_header(tok)
            assert hdr["alg"] == "ES256" and hdr["kid"] == self.KEY_ID, hdr
            claims = jwt.decode(tok, self.key.public_key(), algorithms=["ES256"],
                                issuer=self.TEAM_ID, options={"require": ["iss", "iat"]})
            assert abs(claims["iat"] - time.time()) < 3600, claims
        except Exception as e:  # noqa: BLE001
            p.append("provider token: %r" % e)
        if rec["headers"].get("apns-topic") != self.TOPIC:
            p.append("apns-topic")
        return p

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
