"""Foundation: HTTP and WebSocket on one port, the envelope in both codecs,
limits and close codes, config errors, a clean SIGTERM."""
import asyncio
import os
import re
import signal
import subprocess

import msgpack
import requests
import websockets

from conftest import DROPIND, ROOT, Client, run


def test_healthz(node):
    r = requests.get(node.url + "/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["store"] == "ok" and body["bus"] == "ok"
    assert body["node"]
    assert isinstance(body["uptime"], (int, float))


def test_unknown_route_is_json_404(node):
    r = requests.get(node.url + "/no/such/thing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    assert m, "metric %s%s missing" % (name, labels)
    return float(m.group(1))


def test_ping_json_and_metrics_count_it(node):
    before = requests.get(node.url + "/metrics").text
    n0 = metric(before, "dropin_messages_in_total", '{op="sys.ping"}')

    async def go():
        c = await Client.connect(node.ws_url)
        r = await c.call("sys.ping", {})
        assert r["ok"] is True and r["re"] == 1
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["data"]["time"])
        m = await asyncio.get_event_loop().run_in_executor(
            None, lambda: requests.get(node.url + "/metrics").text)
        assert metric(m, "dropin_connections") >= 1
        await c.close()
    run(go())
    after = requests.get(node.url + "/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    assert metric(after.text, "dropin_messages_in_total", '{op="sys.ping"}') == n0 + 1
    assert "dropin_loop_lag_seconds" in after.text


def test_ping_msgpack_and_string_ids(node):
    async def go():
        c = await Client.connect(node.ws_url, codec="msgpack")
        await c.send({"op": "sys.ping", "id": "abc"})
        raw = await c.ws.recv()
        assert isinstance(raw, bytes)
        r = msgpack.unpackb(raw)
        assert r["re"] == "abc" and r["ok"] is True and "time" in r["data"]
        await c.close()
    run(go())


def test_no_subprotocol_means_json(node):
    async def go():
        ws = await websockets.connect(node.ws_url)
        await ws.send('{"op":"sys.ping","id":9}')
        r = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(r, str) and '"re":9' in r
        await ws.close()
    run(go())


def test_unknown_op_is_bad_request(node):
    async def go():
        c = await Client.connect(node.ws_url)
        r = await c.call("no.such.op", {})
        assert r["ok"] is False and r["error"]["code"] == "bad_request"
        # the session stays usable
        assert (await c.call("sys.ping"))["ok"] is True
        await c.close()
    run(go())


def test_garbage_closes_4400(node):
    async def go():
        for payload in ["garbage", "[1,2]", '{"id":1}', '{"op":5}', '{"op":"sys.ping","data":[]}']:
            c = await Client.connect(node.ws_url)
            await c.ws.send(payload)
            code, _ = await c.closed()
            assert code == 4400, payload
        c = await Client.connect(node.ws_url, codec="msgpack")
        await c.ws.send(b"\xdd\xff\xff\xff\xff")  # array32 claiming 4G elements
        code, _ = await c.closed()
        assert code == 4400
    run(go())
    # the node is still healthy
    assert requests.get(node.url + "/healthz").status_code == 200


def test_oversized_message_closes_1009(node_factory):
    node = node_factory(["--max_message_bytes", "4k"])

    async def go():
        c = await Client.connect(node.ws_url)
        await c.ws.send('{"op":"sys.ping","id":1,"data":{"x":"' + "a" * 5000 + '"}}')
        code, _ = await c.closed()
        assert code == 1009
        # counted across fragments too
        c = await Client.connect(node.ws_url)
        chunks = ['{"op":"sys.ping","id":1,"data":{"x":"'] + ["a" * 1000] * 6 + ['"}}']
        try:
            await c.ws.send(iter(chunks))
        except websockets.ConnectionClosed:
            pass  # the server may close before the last fragment is out
        code, _ = await c.closed()
        assert code == 1009
        # a fragmented message under the limit is fine
        c = await Client.connect(node.ws_url)
        await c.ws.send(iter(['{"op":"sys.ping",', '"id":2}']))
        r = await c.recv()
        assert r["re"] == 2 and r["ok"] is True
        await c.close()
    run(go())


def test_auth_deadline_closes_4401(node_factory):
    node = node_factory(["--auth_timeout", "500ms"])

    async def go():
        c = await Client.connect(node.ws_url)
        assert (await c.call("sys.ping"))["ok"]
        code, reason = await c.closed(timeout=5)
        assert code == 4401
    run(go())


def test_origin_refused_closes_1008(node_factory):
    node = node_factory(["--allowed_origins", "https://app.example"])

    async def go():
        c = await Client.connect(node.ws_url, origin="https://evil.example")
        code, _ = await c.closed()
        assert code == 1008
        c = await Client.connect(node.ws_url, origin="https://app.example")
        assert (await c.call("sys.ping"))["ok"]
        await c.close()
    run(go())


def test_sigterm_closes_sessions_1001_and_exits_0(node):
    async def go():
        c = await Client.connect(node.ws_url)
        assert (await c.call("sys.ping"))["ok"]
        node.proc.send_signal(signal.SIGTERM)
        code, _ = await c.closed()
        assert code == 1001
    run(go())
    assert node.proc.wait(10) == 0
    assert "AddressSanitizer" not in node.read_log()


def test_config_errors_exit_2(tmp_path):
    conf = os.path.join(ROOT, "conf", "dropind.conf")
    for args, needle in [(["--nope", "1"], "nope"),
                         (["--listen", "no-port"], "listen"),
                         (["--auth_timeout", "soon"], "auth_timeout"),
                         (["--max_message_bytes", "-5"], "max_message_bytes"),
                         (["--log_level", "loud"], "log_level")]:
        p = subprocess.run([DROPIND, "-c", conf] + args, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.stderr)
        assert needle in p.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("listen 127.0.0.1:1\nfrobnicate yes\n")
    p = subprocess.run([DROPIND, "-c", str(bad)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "frobnicate" in p.stderr and ":2:" in p.stderr


def test_idle_client_answering_pings_stays_open(node_factory):
    """The server pings a silent client at idle_timeout / 2; a client that
    answers (websockets answers pings by itself) stays open past
    idle_timeout, one that does not is closed with 1001."""
    node = node_factory(["--idle_timeout", "2s", "--auth_timeout", "1h"])

    async def go():
        c = await Client.connect(node.ws_url)
        await asyncio.sleep(5)  # 2.5 idle timeouts without sending a frame
        assert (await c.call("sys.ping"))["ok"]
        await c.close()
        # a raw client that never answers pings is closed
        from helpers import RawWS
        raw = RawWS(node.port)
        code = await asyncio.get_event_loop().run_in_executor(None, raw.close_code, 10)
        assert code == 1001
    run(go())
