#!/usr/bin/python3
"""wsbench.py - dropind against its peers on the socket path, with dropbench.

Runs tools/dropbench against three servers in turn, alternating round by
round so that the shared machine's load falls on all of them alike:
  dropind   the Release build, on a SQLite store seeded with N operator
            accounts and tokens (bench/dispatch.py's bootstrap + clone);
  node      bench/peers/node-ws.js, node + Debian's node-ws, answering the
            same sys.ping envelope;
  floor     bench/peers/floor.c, a minimal corking epoll WebSocket server:
            what the kernel alone costs per message on this machine.
Every server is pinned to CPU 0 (taskset), dropbench to CPU 1. Each cell of
the tables is the median over the rounds; the ratio rows divide dropind's
figure by the peer's (for CPU and bytes: > 1 means dropind costs more).

Scenarios (dropbench's): ping closed loop (--conns x --inflight), ping open
loop at --rate; idle --idle sessions (authenticated for dropind; plain
WebSockets for the peers, which have no accounts) for bytes per session and
time to open; presence and city (dropind only: the peers have no presence
and no gigs). city: --city-operators operator sessions re-announcing every
4 s, 200 customers creating --city-rate gigs/s for --city-duration s, each
gig run to both ratings (tools/dropbench_city.c).
"""
import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dispatch  # noqa: E402  (bootstrap, seed_accounts, Node, free_port)

ROOT = dispatch.ROOT


def start(cmd, env=None, port=None, log=None):
    p = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=log, stderr=subprocess.STDOUT,
                         env=env, preexec_fn=dispatch.die_with_parent)
    deadline = time.time() + 20
    import socket as so
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError("%s exited %s" % (cmd[0], p.returncode))
        try:
            so.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not start" % cmd[0])


def stop(p, rnd, name):
    """SIGTERM (a drain); SIGKILL when the node has not exited 60 s later."""
    p.terminate()
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        print("round %d %s: no exit 60 s after SIGTERM, killed" % (rnd, name), flush=True)
        p.kill()
        p.wait()


def bench(bin_dir, port, pid, args):
    cmd = ["taskset", "-c", "1", os.path.join(bin_dir, "dropbench"), "--port", str(port),
           "--pid", str(pid), "--quiet"] + args
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=300)
    res = {}
    for line in r.stdout.splitlines():
        if line.startswith("result "):
            for kv in line.split()[1:]:
                k, v = kv.split("=", 1)
                try:
                    res[k] = float(v)
                except ValueError:
                    res[k] = v
    if not res:
        res["failed"] = r.stdout[-400:]
    res["rc"] = r.returncode
    return res


def med(rs, k, failed_too=False):
    """Median of k over the rounds that succeeded (failed_too: over every
    round that measured k, for a scenario whose failure is the finding)."""
    xs = [r[k] for r in rs if k in r and isinstance(r[k], float) and
          (failed_too or r.get("rc") == 0)]
    return statistics.median(xs) if xs else float("nan")


def table(title, cols, rows_by_server, fmt, failed_too=False):
    print("\n### " + title + "\n")
    print("| server | " + " | ".join(c[1] for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    meds = {}
    for name, rs in rows_by_server.items():
        meds[name] = [med(rs, c[0], failed_too) for c in cols]
        print("| %s | " % name + " | ".join(fmt(v) for v in meds[name]) + " |")
    if "dropind" in meds:
        for peer in [n for n in meds if n != "dropind"]:
            print("| dropind / %s | " % peer + " | ".join(
                "%.2fx" % (a / b) if b and a == a and b == b else "-"
                for a, b in zip(meds["dropind"], meds[peer])) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build-bench", "bin"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--inflight", type=int, default=16)
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--presence-rate", type=float, default=20000)
    ap.add_argument("--city-operators", type=int, default=10000)
    ap.add_argument("--city-customers", type=int, default=200)
    ap.add_argument("--city-rate", type=float, default=20)
    ap.add_argument("--city-duration", type=float, default=20)
    ap.add_argument("--city-think", type=float, default=1000,
                    help="an operator's think time before accepting, uniform 0..ms")
    ap.add_argument("--city-extra", default="", help="more dropbench city options, e.g. "
                    "'--announce 1000000' (operators announce once, then stand still)")
    ap.add_argument("--before", help="another dropind binary, run as the server 'before' "
                    "(e.g. the previous commit's build) in the same rotation")
    ap.add_argument("--only", default="dropind,node,floor")
    ap.add_argument("--scenarios", default="closed,open,idle,presence,city")
    a = ap.parse_args()
    only = a.only.split(",")
    if a.before and "before" not in only:
        only.insert(1, "before")
    scen = a.scenarios.split(",")

    tmp = tempfile.mkdtemp(prefix="dropin-socket-")
    store = os.path.join(tmp, "dropin.db")
    binary = os.path.join(a.bin, "dropind")
    asyncio.run(dispatch.bootstrap(binary, tmp, store))
    ops_tok, cust_tok = dispatch.seed_accounts(store, max(a.idle, a.city_operators, 1000),
                                               a.city_customers)
    if "city" in scen:  # the seeded store as it is now, for each city round's own copy
        os.mkdir(os.path.join(tmp, "seed"))
        for f in ("dropin.db", "dropin.db.key"):
            shutil.copy(store if f == "dropin.db" else store + ".key", os.path.join(tmp, "seed", f))
    tokfile = os.path.join(tmp, "tokens")
    with open(tokfile, "w") as f:
        f.write("\n".join(ops_tok) + "\n")
    custfile = os.path.join(tmp, "customer-tokens")
    with open(custfile, "w") as f:
        f.write("\n".join(cust_tok) + "\n")

    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    def dropind_cmd(binary):
        return lambda port, st="sqlite:" + store: [
            binary, "-c", os.path.join(ROOT, "conf", "dropind.conf"),
            "--listen", "127.0.0.1:%d" % port, "--store", st,
            "--rate_limit", "1000000", "--rate_burst", "1000000",
            "--auth_timeout", "1h", "--idle_timeout", "1h",
            "--presence_ttl", "1h", "--log_level", "warn"]
    servers = {
        "dropind": dropind_cmd(binary),
        "before": dropind_cmd(a.before),
        "node": lambda port: ["node", os.path.join(ROOT, "bench", "peers", "node-ws.js"),
                              str(port)],
        "floor": lambda port: [os.path.join(a.bin, "floor"), str(port)],
    }
    results = {s: {n: [] for n in only} for s in scen}
    print("date: %s  machine: %d cores, %s; load average before: %s" % (
        time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), os.cpu_count(),
        open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].split(":", 1)[1].strip(),
        open("/proc/loadavg").read().split()[:3]), flush=True)
    for rnd in range(a.rounds):
        for name in only:
            # a fresh process per round, so RSS baselines and caches start alike
            socket_scen = [x for x in scen if x != "city"]
            port = dispatch.free_port()
            log = open(os.path.join(tmp, "%s.log" % name), "ab")
            p = start(servers[name](port), env=env, port=port, log=log) if socket_scen else None
            try:
                if "closed" in scen:
                    results["closed"][name].append(bench(a.bin, port, p.pid, [
                        "--conns", str(a.conns), "--inflight", str(a.inflight),
                        "--duration", str(a.duration), "ping"]))
                if "open" in scen:
                    results["open"][name].append(bench(a.bin, port, p.pid, [
                        "--conns", str(a.conns), "--rate", str(a.rate),
                        "--duration", str(a.duration), "ping"]))
                if "idle" in scen:
                    auth = ["--tokens", tokfile] if name in ("dropind", "before") else []
                    results["idle"][name].append(bench(a.bin, port, p.pid, auth + [
                        "--sources", str(a.sources), "--hold", str(a.duration),
                        "idle", str(a.idle)]))
                if "presence" in scen and name in ("dropind", "before"):
                    results["presence"][name].append(bench(a.bin, port, p.pid, [
                        "--tokens", tokfile, "--conns", str(min(a.idle, 1000)),
                        "--rate", str(a.presence_rate), "--duration", str(a.duration),
                        "presence"]))
            finally:
                if p:
                    stop(p, rnd, name)
                log.close()
            if "city" in scen and name in ("dropind", "before"):
                # its own node on a fresh copy of the seeded store: gigs left
                # pending by an earlier round must not load the next one
                cdir = os.path.join(tmp, "city-%s-%d" % (name, rnd))
                os.mkdir(cdir)
                for f in ("dropin.db", "dropin.db.key"):
                    shutil.copy(os.path.join(tmp, "seed", f), cdir)
                port = dispatch.free_port()
                log = open(os.path.join(tmp, "%s-city.log" % name), "ab")
                p = start(servers[name](port, "sqlite:" + os.path.join(cdir, "dropin.db")),
                          env=env, port=port, log=log)
                try:
                    results["city"][name].append(bench(a.bin, port, p.pid, [
                        "--tokens", tokfile, "--customer-tokens", custfile,
                        "--operators", str(a.city_operators), "--sources", str(a.sources),
                        "--rate", str(a.city_rate), "--duration", str(a.city_duration),
                        "--think", str(a.city_think)] + a.city_extra.split() + ["city"]))
                finally:
                    stop(p, rnd, name)
                    log.close()
                    shutil.rmtree(cdir, ignore_errors=True)
            for s in scen:
                rs = results[s].get(name)
                if rs and rs[-1].get("rc") != 0:
                    print("round %d %s %s failed: %s" % (rnd, name, s, rs[-1]), flush=True)
        print("round %d done" % (rnd + 1), flush=True)

    f1 = lambda v: "%.1f" % v  # noqa: E731
    f2 = lambda v: "%.2f" % v  # noqa: E731
    f0 = lambda v: "%.0f" % v  # noqa: E731
    if "closed" in scen:
        table("ping, closed loop: %d conns x %d in flight, %g s (median of %d)" % (
            a.conns, a.inflight, a.duration, a.rounds),
            [("cpu_us_per_rt", "server CPU µs/rt"), ("rtps", "rt/s"), ("p50_us", "p50 µs"),
             ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs")], results["closed"],
            lambda v: f2(v) if v < 100 else f0(v))
    if "open" in scen:
        table("ping, open loop: %g requests/s over %d conns, %g s (median of %d)" % (
            a.rate, a.conns, a.duration, a.rounds),
            [("cpu_us_per_rt", "server CPU µs/rt"), ("rtps", "rt/s"), ("p50_us", "p50 µs"),
             ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs")], results["open"],
            lambda v: f2(v) if v < 100 else f0(v))
    if "idle" in scen:
        table("idle: %d sessions (dropind authenticated; peers plain), %d source addresses" % (
            a.idle, a.sources),
            [("bytes_per_session", "RSS B/session"),
             ("marginal_bytes", "marginal B/session"), ("held_bytes", "B/session held"),
             ("open_s", "open s"),
             ("probe_p50_us", "ping p50 µs"), ("probe_p99_us", "ping p99 µs")],
            results["idle"], lambda v: f2(v) if v < 100 else f0(v))
    if "presence" in scen and "dropind" in only:
        table("presence.update: 1000 operators, %g updates/s" % a.presence_rate,
              [("cpu_us_per_update", "server CPU µs/update"), ("updates", "updates"),
               ("errors", "errors")],
              {k: v for k, v in results["presence"].items() if k in ("dropind", "before")}, f2)
    if "city" in scen and "dropind" in only:
        table("city: %d operators re-announcing every 4 s, %d customers, %g gigs/s for %g s, "
              "think 0..%g ms%s (dropind only; every round, failed ones too)" % (
                  a.city_operators, a.city_customers, a.city_rate, a.city_duration,
                  a.city_think, ", " + a.city_extra if a.city_extra else ""),
              [("first_offer_p50_us", "create->offer p50 µs"),
               ("first_offer_p99_us", "create->offer p99 µs"),
               ("ping_p50_us", "sys.ping p50 µs"), ("ping_p99_us", "sys.ping p99 µs"),
               ("offers_per_gig", "offers/gig"),
               ("accept_confirm_p50_us", "accept->confirm p50 µs"),
               ("accept_confirm_p99_us", "accept->confirm p99 µs"),
               ("gigs", "created"), ("completed", "completed"), ("unfinished", "unfinished"),
               ("errors", "errors"), ("cpu_us_per_gig", "server CPU µs/gig"),
               ("cpu_us_per_update", "server CPU µs/update"), ("rss_peak", "server RSS peak B")],
              {k: v for k, v in results["city"].items() if k in ("dropind", "before")},
              lambda v: f2(v) if v < 100 else f0(v), failed_too=True)
    print("\n(tmp: %s)" % tmp)


if __name__ == "__main__":
    main()
