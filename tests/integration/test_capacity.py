"""A node full to its descriptor limit (issue 18): dropind raises its soft
RLIMIT_NOFILE to the hard limit, logs the session capacity that leaves
(the limit minus a reserve of descriptors for everything else, or
max_sessions when smaller), and closes sessions past it with 1013 while the
ones it holds keep working."""
import asyncio
import re

import websockets

from conftest import Client, run

RESERVE = 256  # FD_RESERVE in adapters/server.c


def capacity_line(node):
    m = re.search(r"event=capacity sessions=(\d+) nofile=(\d+) nofile_hard=(\d+)", node.read_log())
    assert m, node.read_log()[-3000:]
    return tuple(int(x) for x in m.groups())


async def fill(node, n):
    """Opens n sessions, each proven alive by a sys.ping; returns them."""
    cs = []
    for _ in range(n):
        c = await Client.connect(node.ws_url)
        assert (await c.call("sys.ping"))["ok"]
        cs.append(c)
    return cs


def test_soft_limit_raised_to_hard_and_capacity_logged(node_factory, monkeypatch):
    monkeypatch.setenv("DROPIND_PREFIX", "prlimit --nofile=100:%d" % (RESERVE + 40))
    node = node_factory()
    sessions, nofile, hard = capacity_line(node)
    assert nofile == hard == RESERVE + 40
    assert sessions == 40


def test_sessions_past_the_descriptor_capacity_get_1013(node_factory, monkeypatch):
    monkeypatch.setenv("DROPIND_PREFIX", "prlimit --nofile=%d:%d" % (RESERVE + 5, RESERVE + 5))
    node = node_factory()
    assert capacity_line(node)[0] == 5

    async def go():
        held = await fill(node, 5)
        extra = await Client.connect(node.ws_url)
        code, _ = await extra.closed()
        assert code == 1013
        # the held sessions still answer, and a freed place is taken again
        assert (await held[0].call("sys.ping"))["ok"]
        await held[0].close()
        r = None
        for _ in range(50):  # until the node has seen the close
            again = await Client.connect(node.ws_url)
            try:
                r = await again.call("sys.ping")
                break
            except websockets.ConnectionClosed as e:
                assert e.code == 1013
                await asyncio.sleep(0.1)
        assert r and r["ok"], r
        for c in held[1:] + [again]:
            await c.close()
    run(go())


def test_max_sessions_below_the_descriptors_wins(node_factory):
    node = node_factory(["--max_sessions", "3"])
    assert capacity_line(node)[0] == 3

    async def go():
        held = await fill(node, 3)
        extra = await Client.connect(node.ws_url)
        code, _ = await extra.closed()
        assert code == 1013
        for c in held:
            await c.close()
    run(go())
