// A stand-in for APNs (api.push.apple.com) for the integration tests:
// HTTP/2 over TLS (Node's built-in http2 module) with a test certificate.
// It answers like APNs: 200 with an apns-id; a device token starting with
// "gone" -> 410 {"reason":"Unregistered"}; starting with "bad" -> 400
// {"reason":"BadDeviceToken"}; a request that is not POST /3/device/<token>
// or lacks the headers APNs requires -> 400 with the APNs reason. It does not
// verify the provider token itself: every request is printed as one JSON
// line on stdout ({path, headers, body, httpVersion, status}) and the test
// verifies the ES256 JWT with PyJWT, independently of dropind's C.
// Usage: node apns_standin.js CERT KEY  (prints "PORT <n>" first)
"use strict";
const fs = require("fs");
const http2 = require("http2");
const crypto = require("crypto");

const server = http2.createSecureServer({
  cert: fs.readFileSync(process.argv[2]),
  key: fs.readFileSync(process.argv[3]),
  allowHTTP1: false,
});

server.on("stream", (stream, headers) => {
  let body = "";
  stream.setEncoding("utf8");
  stream.on("data", (c) => { body += c; });
  stream.on("end", () => {
    const path = headers[":path"] || "";
    const m = /^\/3\/device\/([^/?#]+)$/.exec(path);
    let status = 200, reply = null;
    if (headers[":method"] !== "POST" || !m) {
      status = 405; reply = { reason: "MethodNotAllowed" };
    } else if (!headers["authorization"] || !headers["authorization"].startsWith("bearer ")) {
      status = 403; reply = { reason: "MissingProviderToken" };
    } else if (!headers["apns-topic"]) {
      status = 400; reply = { reason: "MissingTopic" };
    } else if (!/^(alert|background|voip)$/.test(headers["apns-push-type"] || "")) {
      status = 400; reply = { reason: "InvalidPushType" };
    } else if (!/^(5|10)$/.test(headers["apns-priority"] || "10")) {
      status = 400; reply = { reason: "BadPriority" };
    } else if (!/^\d+$/.test(headers["apns-expiration"] || "0")) {
      status = 400; reply = { reason: "BadExpirationDate" };
    } else if ((headers["apns-collapse-id"] || "").length > 64) {
      status = 400; reply = { reason: "BadCollapseId" };
    } else {
      let payload = null;
      try { payload = JSON.parse(body); } catch (e) { /* below */ }
      if (!payload || typeof payload.aps !== "object") {
        status = 400; reply = { reason: "PayloadEmpty" };
      } else if (m[1].startsWith("gone")) {
        status = 410; reply = { reason: "Unregistered", timestamp: Date.now() };
      } else if (m[1].startsWith("bad")) {
        status = 400; reply = { reason: "BadDeviceToken" };
      }
    }
    const rec = { path, headers: {}, body, httpVersion: "2.0", status };
    for (const k of Object.keys(headers)) rec.headers[k] = headers[k];
    process.stdout.write(JSON.stringify(rec) + "\n");
    const out = { ":status": status, "apns-id": crypto.randomUUID() };
    if (reply) {
      out["content-type"] = "application/json";
      stream.respond(out);
      stream.end(JSON.stringify(reply));
    } else {
      stream.respond(out);
      stream.end();
    }
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write("PORT " + server.address().port + "\n");
});
process.on("SIGTERM", () => { server.close(); process.exit(0); });
