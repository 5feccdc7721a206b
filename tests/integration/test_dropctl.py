"""dropctl, the admin inspector, against real dropind nodes: its tables
(golden output on fixed data), --json parsed, every exit code, `top` and
`watch` driven in a pseudo-terminal, `tail -f`, `map`, the gig timeline, and a
three-node cluster answering through one node, with one node stopped."""
import asyncio
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

from conftest import DROPIND, run
from helpers import new_session
from test_cluster import cluster, mongo, redis_server  # noqa: F401 (fixtures)
from test_gig_flow import LAT, LON, off, wait_free

ADMIN = "admin-token-of-the-dropctl-tests-0123456789"
DROPCTL = os.path.join(os.path.dirname(DROPIND), "dropctl")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def ctl_env(token=ADMIN, **extra):
    env = dict(os.environ)
    for k in ("DROPIN_URL", "DROPIN_ADMIN_TOKEN", "NO_COLOR"):
        env.pop(k, None)
    if token is not None:
        env["DROPIN_ADMIN_TOKEN"] = token
    env.update(extra)
    return env


def ctl(node, *args, token=ADMIN, **extra):
    """Runs dropctl against node (None: no -u); returns (rc, stdout, stderr)."""
    url = ["-u", node.ws_url] if node else []
    p = subprocess.run([DROPCTL] + url + list(args), capture_output=True, text=True,
                       timeout=60, env=ctl_env(token, **extra))
    return p.returncode, p.stdout, p.stderr


def normalise(text, names):
    """Known ids (full or shortened to a unique tail) become names, relative
    times AGO / IN, clock times T; runs of blanks collapse to one."""
    for full, name in names.items():
        text = text.replace(full, name)

    def short(m):
        hits = [n for f, n in names.items() if f.endswith(m.group(1))]
        assert len(hits) == 1, (m.group(0), hits)
        return hits[0]
    text = re.sub(r"…([0-9a-f]{6,23})", short, text)
    text = re.sub(r"\b(\d+[smhd])(\d\d[mh])? ago\b", "AGO", text)
    text = re.sub(r"\bin (\d+[smhd])(\d\d[mh])?\b", "IN", text)
    text = re.sub(r"\b\d\d:\d\d:\d\d\.\d\d\dZ\b", "T", text)
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


def assert_aligned(table):
    """Every cell of every row starts where its header starts (left-aligned
    columns) or ends where it ends (right-aligned ones)."""
    lines = table.rstrip("\n").splitlines()
    cols = [m.span() for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    assert len(cols) >= 2, lines[0]
    for line in lines[1:]:
        padded = line + " "
        for s, e in cols:
            left = padded[s] != " " and (s == 0 or padded[s - 1] == " ")
            right = padded[e - 1] != " " and padded[e] == " "
            assert left or right, "misaligned column at %d in:\n%s\n%s" % (s, lines[0], line)


def ctl_table(node, *args):
    """Runs dropctl args against node, asserts it succeeded and that its
    table is aligned; returns the table."""
    rc, out, err = ctl(node, *args)
    assert rc == 0, err
    assert_aligned(out)
    return out


async def fixed_data(node):
    """A customer, three operators (two free, one away), and a gig the
    nearest operator accepted. Returns (names by id, clients, gig)."""
    cust, cacct, _ = await new_session(node, "user", first="Cara", last="Cole")
    otto, oacct, _ = await new_session(node, "operator", first="Otto", last="Tran")
    olga, lacct, _ = await new_session(node, "operator", first="Olga", last="Le")
    omar, macct, _ = await new_session(node, "operator", first="Omar", last="Ng")
    await otto.ok("presence.update", {"latitude": off(100)[0], "longitude": off(100)[1]})
    await olga.ok("presence.update", {"latitude": off(-300, 250)[0], "longitude": off(-300, 250)[1]})
    await omar.ok("presence.update", {"latitude": off(500)[0], "longitude": off(500)[1],
                                      "available": False})
    # both free operators on the map before the gig: one that is still being
    # read when the gig is created joins late, a version more (timing)
    assert len(await wait_free(None, cust, 2, timeout=60)) == 2
    gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d1"})
    await otto.event("gig.offer")
    await olga.event("gig.offer")
    g = await otto.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
    await cust.update("operatorFound")
    await olga.event("gig.offer_revoked")
    names = {cacct["id"]: "cara", oacct["id"]: "otto", lacct["id"]: "olga",
             macct["id"]: "omar", gig["id"]: "gig"}
    return names, (cust, otto, olga, omar), g


def test_tables_golden(node_factory):
    """Each table on fixed data: exact rows once ids and relative times are
    normalised, columns aligned, and --json the reply as one JSON document."""
    node = node_factory(["--admin_token", ADMIN, "--node_id", "g1"])

    async def go():
        names, clients, g = await fixed_data(node)
        assert g["version"] == 2

        out = ctl_table(node, "sessions")
        assert normalise(out, names) == "\n".join([
            "NODE ACCOUNT ROLE CODEC QUEUED INFLIGHT SINCE",
            "g1 cara user json 0 0 AGO",
            "g1 otto operator json 0 0 AGO",
            "g1 olga operator json 0 0 AGO",
            "g1 omar operator json 0 0 AGO",
            "g1 - admin json 0 1 AGO"])

        out = ctl_table(node, "operators")
        lat = lambda m, e=0.0: "%.5f %.5f" % off(m, e)  # noqa: E731
        assert normalise(out, names) == "\n".join([
            "NODE OPERATOR NAME STATE LAT LNG RATING SEEN",
            "g1 olga Olga free %s 5.0 AGO" % lat(-300, 250),
            "g1 omar Omar away %s 5.0 AGO" % lat(500),
            "g1 otto Otto busy %s 5.0 AGO" % lat(100)])

        out = ctl_table(node, "gigs")
        assert normalise(out, names) == "\n".join([
            "GIG STATUS VER CUSTOMER OPERATOR CREATED UPDATED",
            "gig operatorFound 2 cara otto AGO AGO"])

        rc, out, err = ctl(node, "gig", g["id"])
        assert rc == 0, err
        head, _, timeline = out.partition("\n\n")
        assert_aligned(timeline)
        assert normalise(out, names) == "\n".join([
            "gig gig",
            "status operatorFound (version 2)",
            "customer cara",
            "operator otto",
            "position %.5f, %.5f" % (LAT, LON),
            "created AGO",
            "updated AGO",
            "deadline IN",
            "",
            "TIME AGO EVENT STATUS VER BY",
            "T AGO create pendingOperator 1 customer cara",
            "T AGO offer sent pendingOperator 1 operator otto",
            "T AGO offer sent pendingOperator 1 operator olga",
            "T AGO accepted operatorFound 2 operator otto",
            "T AGO offer revoked operatorFound 2 operator olga"])

        out = ctl_table(node, "nodes")
        lines = out.splitlines()
        assert lines[0].split() == ["NODE", "ADDRESS", "STATE", "SESSIONS", "OPERATORS", "UPTIME",
                                    "LAG", "STORE", "BUS"]
        assert re.fullmatch(r"g1 127\.0\.0\.1:%d ok 5 3 \d+[smhd]\S* \d+ms ok ok" % node.port,
                            " ".join(lines[1].split())), lines[1]
        assert len(lines) == 2

        out = ctl_table(node, "stats")
        lines = out.splitlines()
        assert " ".join(lines[0].split()) == ("NODE STATE SESSIONS AUTHED OPERATORS FREE MSGS IN "
                                              "MSGS OUT ERRORS LAG MAX")
        assert re.fullmatch(r"g1 ok 5 5 3 1 \d+ \d+ \d+ \d+ms", " ".join(lines[1].split())), lines[1]

        rc, out, err = ctl(node, "map", "--lat", str(LAT), "--lng", str(LON), "--radius", "1000",
                           "--cells", "5")
        assert rc == 0, err
        assert out == "\n".join([
            "operators within 1.0 km of %.5f, %.5f  (north up; one cell = 400 m)" % (LAT, LON),
            "+----------+",
            "|. . . . . |",
            "|. . 1*. . |",
            "|. . 1*. . |",
            "|. . . 1 . |",
            "|. . . . . |",
            "+----------+",
            "|--| 500 m",
            "digit = operators in the cell (green: mostly free, yellow*: mostly busy), + = the "
            "centre; free 1, busy 2", ""])

        # --json: one JSON document, the raw reply
        for args, check in [
                (["nodes"], lambda j: j[0]["node"] == "g1" and j[0]["status"] == "ok"),
                (["stats"], lambda j: j[0]["data"]["operatorsFree"] == 1),
                (["sessions"], lambda j: len(j[0]["data"]) == 5),
                (["operators"], lambda j: {o["firstName"] for o in j[0]["data"]} ==
                 {"Otto", "Olga", "Omar"}),
                (["gigs"], lambda j: [x["id"] for x in j] == [g["id"]]),
                (["gig", g["id"]], lambda j: [e["event"] for e in j["timeline"]] ==
                 ["create", "offer", "offer", "claim_accept", "offer_revoked"]),
                (["map", "--lat", str(LAT), "--lng", str(LON)],
                 lambda j: j["totalFree"] == 1 and j["totalBusy"] == 2),
                (["tail", "limit=2"], lambda j: len(j["lines"]) == 2)]:
            rc, out, err = ctl(node, "--json", *args)
            assert rc == 0, (args, err)
            assert check(json.loads(out)), (args, out)
        # colour never without a terminal
        assert "\x1b[" not in ctl(node, "operators")[1]
        for c in clients:
            await c.close()
    run(go())


def test_exit_codes_and_addresses(node_factory):
    """0 ok, 1 an error reply, 2 bad usage, 3 unreachable (naming the
    address), 4 not an admin; DROPIN_URL, --token and the help."""
    node = node_factory(["--admin_token", ADMIN, "--node_id", "x1"])
    assert ctl(node, "nodes")[0] == 0
    rc, out, _ = ctl(None, "--json", "nodes", DROPIN_URL=node.ws_url)
    assert rc == 0 and json.loads(out)[0]["node"] == "x1"
    assert ctl(node, "--token", ADMIN, "nodes", token=None)[0] == 0

    rc, _, err = ctl(node, "gigs", "status=bogus")
    assert rc == 1 and "bad_request" in err
    rc, _, err = ctl(node, "gig", "5d1f0c2ab1c9d440000a1b0c")
    assert rc == 1 and "not_found" in err

    for args in (["bogus"], ["--bogus", "nodes"], ["gigs", "nonsense"], ["watch", "gig"],
                 ["map", "--lat", "10"], ["-u", "http://127.0.0.1:1/", "nodes"], [],
                 ["--timeout", "5", "nodes"], ["help", "bogus"]):
        rc, _, err = ctl(node if args and args[0] != "-u" else None, *args)
        assert rc == 2, (args, rc, err)

    rc, _, err = ctl(None, "nodes", DROPIN_URL="ws://127.0.0.1:1/ws")
    assert rc == 3 and "ws://127.0.0.1:1/ws" in err
    rc, _, err = ctl(None, "-u", "ws://127.0.0.1:1/ws", "stats")
    assert rc == 3 and "ws://127.0.0.1:1/ws" in err

    rc, _, err = ctl(node, "nodes", token="wrong-token-0123456789")
    assert rc == 4 and node.ws_url in err
    rc, _, err = ctl(node, "nodes", token=None)
    assert rc == 4 and "unauthenticated" in err

    rc, out, _ = ctl(None, "--help")
    assert rc == 0 and "dropctl [OPTIONS] COMMAND" in out and "DROPIN_URL" in out
    for cmd in ("nodes", "top", "watch", "map", "gig", "tail"):
        rc, out, _ = ctl(None, "help", cmd)
        assert rc == 0 and out.startswith("usage: dropctl [OPTIONS] " + cmd), out


# ---- a pseudo-terminal ----

class Pty:
    """dropctl on a pseudo-terminal; screen() is the text after the last
    clear-screen, without escape sequences."""

    def __init__(self, args, **env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            try:
                os.execve(DROPCTL, [DROPCTL] + args, ctl_env(**env))
            finally:
                os._exit(127)
        self.buf = b""

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            return False
        self.buf += chunk
        return bool(chunk)

    def text(self):
        return ANSI.sub("", self.buf.decode(errors="replace")).replace("\r", "")

    def screen(self):
        raw = self.buf.decode(errors="replace")
        return ANSI.sub("", raw[raw.rfind("\x1b[2J"):]).replace("\r", "")

    def wait_for(self, pred, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self):
                return
            self._read(0.5)
        raise AssertionError("no %s within %ss; screen:\n%s" % (what, timeout, self.text()[-3000:]))

    def send(self, data):
        os.write(self.fd, data)

    def exit_code(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.2):  # what it wrote before exiting
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self._read(0.2)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("dropctl did not exit")


def test_colour_only_on_a_terminal(node_factory):
    """On a terminal the header is bold; NO_COLOR turns that off."""
    node = node_factory(["--admin_token", ADMIN, "--node_id", "k1"])
    for env, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        t = Pty(["-u", node.ws_url, "nodes"], **env)
        assert t.exit_code() == 0
        raw = t.buf.decode(errors="replace")
        assert "NODE" in raw and ("\x1b[1m" in raw) == coloured, (env, raw)


def node_row(screen, node):
    """(sessions, operators, free) of node's row in a top screen, or None."""
    m = re.search(r"^%s\s+ok\s+(\d+)\s+(\d+)\s+(\d+)\s" % re.escape(node), screen, re.M)
    return tuple(int(x) for x in m.groups()) if m else None


def test_top_in_a_terminal(node_factory):
    """top refreshes by itself: after sessions, an operator and a gig appear
    on the node, the screen shows the new numbers; q quits with 0."""
    node = node_factory(["--admin_token", ADMIN, "--node_id", "t1"])

    async def go():
        loop = asyncio.get_running_loop()
        t = Pty(["-u", node.ws_url, "top"])
        try:
            await loop.run_in_executor(None, t.wait_for,
                                       lambda p: node_row(p.screen(), "t1") == (1, 0, 0),
                                       "a first frame with only dropctl's session")
            screen = t.screen()
            assert "REQ/S" in screen and "LAG" in screen and "STORE" in screen
            assert "\x1b[2J" in t.buf.decode(errors="replace")
            cust, _, _ = await new_session(node, "user")
            op, _, _ = await new_session(node, "operator")
            await op.ok("presence.update", {"latitude": off(100)[0], "longitude": off(100)[1]})
            await loop.run_in_executor(None, t.wait_for,
                                       lambda p: node_row(p.screen(), "t1") == (3, 1, 1),
                                       "3 sessions, 1 operator, 1 free")
            await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
            await loop.run_in_executor(None, t.wait_for,
                                       lambda p: "pendingOperator 1" in p.screen(),
                                       "the new gig among the gigs by status")
            t.send(b"q")
            assert await loop.run_in_executor(None, t.exit_code) == 0
        finally:
            if t.fd:
                try:
                    os.kill(t.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        await cust.close()
        await op.close()
    run(go())


def test_watch_and_tail_follow(node_factory):
    """watch gig / watch account print events as the node pushes them (one
    line each: time, event, status, version); tail -f follows the log."""
    node = node_factory(["--admin_token", ADMIN, "--node_id", "w1"])

    async def go():
        loop = asyncio.get_running_loop()
        cust, cacct, _ = await new_session(node, "user")
        op, oacct, _ = await new_session(node, "operator")
        await op.ok("presence.update", {"latitude": off(100)[0], "longitude": off(100)[1]})
        # on the map first, so that the gig's first wave offers it (not a late join)
        assert len(await wait_free(None, cust, 1, timeout=60)) == 1
        gig = await cust.ok("gig.create", {"latitude": LAT, "longitude": LON, "deviceId": "d"})
        await op.event("gig.offer")

        wg = Pty(["-u", node.ws_url, "watch", "gig", gig["id"]])
        wa = Pty(["-u", node.ws_url, "watch", "account", oacct["id"]])
        tail = subprocess.Popen([DROPCTL, "-u", node.ws_url, "tail", "-f", "limit=1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ctl_env())
        try:
            for w, what in ((wg, "gig"), (wa, "account")):
                await loop.run_in_executor(None, w.wait_for, lambda p, what=what:
                                           "watching %s" % what in p.text(), "the watch to start")
            await op.ok("gig.claim", {"gigId": gig["id"], "response": "accept"})
            line = re.compile(r"^\d\d:\d\d:\d\d\s+gig\.updated\s+operatorFound\s+v2\s+gig %s"
                              % gig["id"], re.M)
            for w in (wg, wa):
                await loop.run_in_executor(None, w.wait_for, lambda p: line.search(p.text()),
                                           "the claim's gig.updated")
            await cust.ok("gig.confirm", {"gigId": gig["id"]})
            line = re.compile(r"gig\.updated\s+operatorEnroute\s+v3\s+gig %s" % gig["id"])
            await loop.run_in_executor(None, wg.wait_for, lambda p: line.search(p.text()),
                                       "the confirm's gig.updated")
            # only this gig's events: the two updates
            assert wg.text().count("gig.updated") == 2

            await cust.ok("log.write", {"level": "warn", "message": "follow-probe-42"})
            fd = tail.stdout.fileno()
            seen = b""
            deadline = time.time() + 60
            while b"follow-probe-42" not in seen and time.time() < deadline:
                if select.select([fd], [], [], 0.5)[0]:
                    seen += os.read(fd, 65536)
            assert b"follow-probe-42" in seen, seen[-2000:]
            for w in (wg, wa):
                os.kill(w.pid, signal.SIGINT)
                assert await loop.run_in_executor(None, w.exit_code) == 0
            tail.send_signal(signal.SIGINT)
            assert tail.wait(30) == 0
        finally:
            for w in (wg, wa):
                try:
                    os.kill(w.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if tail.poll() is None:
                tail.kill()
                tail.wait()
        await cust.close()
        await op.close()
    run(go())


def test_three_nodes_one_stopped(cluster):  # noqa: F811
    """dropctl on node a lists the sessions of b and c; with c stopped
    (SIGSTOP) the answer still comes, within the deadline, and marks c."""
    a, b, c = cluster(extra=["--admin_token", ADMIN])

    async def go():
        clients = []
        for n in (a, b, c):
            cl, _, _ = await new_session(n, "user")
            clients.append(cl)
        op, oacct, _ = await new_session(b, "operator")
        await op.ok("presence.update", {"latitude": off(100)[0], "longitude": off(100)[1]})

        deadline = time.time() + 60
        while True:  # until a's heartbeats know b and c
            rc, out, err = ctl(a, "--json", "nodes")
            assert rc == 0, err
            if sorted(e["node"] for e in json.loads(out)) == ["a", "b", "c"]:
                break
            assert time.time() < deadline, out
            await asyncio.sleep(0.2)

        rc, out, err = ctl(a, "--json", "sessions")
        assert rc == 0, err
        by = {e["node"]: e for e in json.loads(out)}
        assert all(by[x]["status"] == "ok" for x in "abc")
        assert sorted(s["role"] for s in by["b"]["data"]) == ["operator", "user"]
        assert [s["role"] for s in by["c"]["data"]] == ["user"]

        rc, out, err = ctl(a, "sessions")
        assert rc == 0, err
        rows = [ln.split() for ln in out.splitlines()[1:]]
        assert {r[0] for r in rows} == {"a", "b", "c"}
        rc, out, err = ctl(a, "operators")
        assert rc == 0 and re.search(r"^b\s+\S+\s+Ann\s+free", out, re.M), out
        rc, out, err = ctl(a, "--node", "b", "--json", "sessions")
        assert rc == 0 and [e["node"] for e in json.loads(out)] == ["b"]

        # watching from a an account whose session is on b: its events cross the bus
        w = Pty(["-u", a.ws_url, "watch", "account", oacct["id"]])
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, w.wait_for, lambda p: "watching account" in p.text(),
                                       "the watch to start")
            # a's own grid has the operator (presence crosses the bus): the
            # gig's first wave offers it, not a late join
            assert len(await wait_free(None, clients[0], 1, timeout=60)) == 1
            # the timeline lives on the gig record in the shared store (MongoDB)
            gig = await clients[0].ok("gig.create", {"latitude": LAT, "longitude": LON,
                                                     "deviceId": "d"})
            await op.event("gig.offer")
            await loop.run_in_executor(None, w.wait_for, lambda p: re.search(
                r"gig\.offer\s+-\s+v\d+\s+gig %s" % gig["id"], p.text()), "the offer, watched from a")
            os.kill(w.pid, signal.SIGINT)
            assert await loop.run_in_executor(None, w.exit_code) == 0
        finally:
            try:
                os.kill(w.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        rc, out, err = ctl(a, "--json", "gig", gig["id"])
        assert rc == 0, err
        tl = json.loads(out)["timeline"]
        assert [(e["event"], e["actor"]) for e in tl] == [("create", gig["customer"]),
                                                          ("offer", oacct["id"])]

        c.proc.send_signal(signal.SIGSTOP)
        try:
            rc, out, err = ctl(a, "--timeout", "1500", "sessions")
            assert rc == 0, err
            assert "node c: no answer in 1500ms" in out
            assert {ln.split()[0] for ln in out.splitlines()[1:] if not ln.startswith("node ")} \
                == {"a", "b"}
            rc, out, err = ctl(a, "--timeout", "1500", "nodes")
            assert rc == 0, err
            assert re.search(r"^c\s+\S+\s+no answer in 1500ms", out, re.M), out
            assert re.search(r"^b\s+\S+\s+ok\s", out, re.M), out
            rc, out, err = ctl(a, "--timeout", "1500", "--json", "stats")
            assert {e["node"]: e["status"] for e in json.loads(out)} == \
                {"a": "ok", "b": "ok", "c": "timeout"}
        finally:
            c.proc.send_signal(signal.SIGCONT)
        for cl in clients + [op]:
            await cl.close()
    run(go())


def test_admin_ops_refuse_bad_input(node_factory):
    """admin.cluster, admin.watch, admin.map and admin.gig: bad arguments are
    bad_request, other accounts forbidden; watches are bounded."""
    from conftest import Client
    node = node_factory(["--admin_token", ADMIN, "--node_id", "v1"])

    async def go():
        cust, cacct, _ = await new_session(node, "user")
        adm = await Client.connect(node.ws_url, headers={"Authorization": "Bearer " + ADMIN})
        await adm.event("session.state")
        for op, data in [
                ("admin.cluster", {}), ("admin.cluster", {"what": "everything"}),
                ("admin.cluster", {"what": "stats", "timeout": 5}),
                ("admin.cluster", {"what": "stats", "args": []}),
                ("admin.cluster", {"what": "sessions", "args": {"limit": 0}}),
                ("admin.cluster", {"what": "stats", "node": ""}),
                ("admin.cluster", {"what": "stats", "node": "x" * 64}),
                ("admin.watch", {}), ("admin.watch", {"gigId": "nope"}),
                ("admin.watch", {"accountId": cacct["id"], "log": True}),
                ("admin.watch", {"log": True, "after": -1}),
                ("admin.map", {"lat": 10}), ("admin.map", {"lat": 91, "lng": 0}),
                ("admin.map", {"lat": 10, "lng": 10, "radius": 5}),
                ("admin.map", {"lat": 10, "lng": 10, "cells": 1000}),
                ("admin.map", {"lat": 10, "lng": 10, "cells": 2.5}),
                ("admin.gig", {"gigId": "nope"})]:
            r = await adm.call(op, data)
            assert r["error"]["code"] == "bad_request", (op, data, r)
            r = await cust.call(op, data)
            assert r["error"]["code"] == "forbidden", (op, data, r)
        r = await adm.call("admin.watch", {"gigId": "5d1f0c2ab1c9d440000a1b0c"})
        assert r["error"]["code"] == "not_found"
        # an unknown node is asked anyway and reported silent, within the deadline
        r = await adm.ok("admin.cluster", {"what": "stats", "node": "ghost", "timeout": 300})
        assert r == [{"node": "ghost", "addr": None, "status": "timeout"}] or \
            [(e["node"], e["status"]) for e in r] == [("ghost", "timeout")]
        # watches are per session and bounded
        for _ in range(8):
            await adm.ok("admin.watch", {"accountId": cacct["id"]})
        r = await adm.call("admin.watch", {"accountId": cacct["id"]})
        assert r["error"]["code"] == "too_large"
        await adm.close()
        await cust.close()
    run(go())
