"""Benchmark: the outbound Event Socket (the ``socket`` application) of a real softswitch (#17).

    python bench/outbound.py [--quick] [--runs N] [--seconds S] [--sessions N] [--rtt N]

The server is a real ``python -m softswitch -nc -nf`` (bench/calls.py's ``Server``: default conf
tree, mod_loopback and mod_dptools, ``fsctl sps 5000`` and ``fsctl max_sessions 5000``). Calls
are ``originate null/1000 'socket:127.0.0.1:PORT async full' inline`` sent over inbound
connections; the outbound ESL servers are raw stdlib sockets in forked processes, so the
figures are softswitch's.

Figures (median of ``--runs`` runs, a fresh server each, with min/max and every run):

* ``setups_per_s``: outbound sessions set up and ended per second — originate → the TCP
  connection to our server → ``connect`` → its reply read → ``exit`` → the connection closed by
  softswitch — counted at the outbound server, with 4 inbound connections originating;
* ``execute_p50_ms`` / ``execute_p99_ms``: on one outbound session, ``sendmsg`` execute of
  ``set`` (with ``Event-UUID``) → its CHANNEL_EXECUTE_COMPLETE (``myevents``) received, one at
  a time, ``--rtt`` (2,000) round trips;
* ``kb_per_session``: server RSS with ``--sessions`` (500) outbound sessions held (each did
  ``connect`` and ``myevents`` and executes ``set`` once a second, so events flow all along)
  minus the RSS before them, per session.

Targets (issue #17): ≥ 500 set-ups/s; p50 ≤ 0.5 ms and p99 ≤ 2 ms; ≤ 64 KB per session.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import selectors
import socket
import time

from _common import Framed, Targets, emit, environment, median, series
from calls import LOADS, Client, Server, wait_count


def _listen() -> socket.socket:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    return srv


def _originator(port: int, target: str, count: int | None, seconds: float | None, q) -> None:
    """Originate calls into the socket application, one at a time on one connection."""
    c = Client(port)
    n = errors = 0
    first = None
    end = time.monotonic() + seconds if seconds else None
    while (count is None or n + errors < count) and (end is None or time.monotonic() < end):
        r = c.api(f"originate null/1000 'socket:{target} async full' inline")
        if r.startswith("+OK "):
            n += 1
        else:
            errors += 1
            first = first or r
    q.put((n, errors, first))
    c.close()


# ---------------------------------------------------------------------------------------------
# 1. set-ups per second
# ---------------------------------------------------------------------------------------------
def _setup_server(srv: socket.socket, seconds: float, q) -> None:
    """connect → reply → exit → EOF, for every connection, non-blocking; counts completions."""
    sel = selectors.DefaultSelector()
    srv.setblocking(False)
    sel.register(srv, selectors.EVENT_READ, None)
    done = 0
    first_at = last_at = None
    end = time.monotonic() + seconds + 30
    while time.monotonic() < end:
        for key, _ in sel.select(0.5):
            if key.data is None:
                try:
                    conn, _ = srv.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                conn.sendall(b"connect\n\n")
                sel.register(conn, selectors.EVENT_READ, {"buf": b"", "state": 0})
                continue
            conn, st = key.fileobj, key.data
            try:
                data = conn.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                data = b"" if not isinstance(data, bytes) else data
                continue
            if not data:
                sel.unregister(conn)
                conn.close()
                if st["state"] == 1:
                    done += 1
                    last_at = time.monotonic()
                    first_at = first_at or last_at
                continue
            st["buf"] += data
            if st["state"] == 0 and b"\n\n" in st["buf"]:
                st["state"] = 1
                conn.sendall(b"exit\n\n")
        if q is not None and done and last_at and time.monotonic() - last_at > 2.0:
            break
    q.put((done, first_at, last_at))


def run_setups(server: Server, seconds: float) -> dict:
    ctx = mp.get_context("fork")
    srv = _listen()
    target = f"127.0.0.1:{srv.getsockname()[1]}"
    sq, oq = ctx.Queue(), ctx.Queue()
    sp = ctx.Process(target=_setup_server, args=(srv, seconds, sq))
    sp.start()
    srv.close()
    t0 = time.monotonic()
    procs = [ctx.Process(target=_originator, args=(server.port, target, None, seconds, oq))
             for _ in range(4)]
    cpu0 = server.cpu()
    for p in procs:
        p.start()
    res = [oq.get(timeout=seconds + 120) for _ in procs]
    wall = time.monotonic() - t0
    done, first_at, last_at = sq.get(timeout=120)
    cpu1 = server.cpu()
    for p in procs + [sp]:
        p.join(30)
    originated = sum(r[0] for r in res)
    return {"originated": originated, "completed": done,
            "setups_per_s": done / wall if wall else None,
            "errors": sum(r[1] for r in res), "first_error": next((r[2] for r in res if r[2]), None),
            "server_cpu_pct": 100 * (cpu1 - cpu0) / wall}


# ---------------------------------------------------------------------------------------------
# 2. sendmsg execute → CHANNEL_EXECUTE_COMPLETE round trip
# ---------------------------------------------------------------------------------------------
def run_rtt(server: Server, count: int) -> dict:
    ctx = mp.get_context("fork")
    srv = _listen()
    oq = ctx.Queue()
    p = ctx.Process(target=_originator, args=(server.port, f"127.0.0.1:{srv.getsockname()[1]}",
                                              1, None, oq))
    p.start()
    srv.settimeout(60)
    conn, _ = srv.accept()
    srv.close()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Framed(conn)
    conn.sendall(b"connect\n\n")
    c.read_message()
    conn.sendall(b"myevents\n\n")
    c.read_message()
    lat = []
    bad = 0
    for i in range(count + 100):
        cmd = (f"sendmsg\ncall-command: execute\nexecute-app-name: set\n"
               f"execute-app-arg: bench_i={i}\nEvent-UUID: rtt-{i}\n\n").encode()
        want = f"Application-UUID: rtt-{i}\n".encode()
        a = time.perf_counter()
        conn.sendall(cmd)
        while True:
            head, body = c.read_message()
            if b"CHANNEL_EXECUTE_COMPLETE" in body[:40] and want in body:
                break
        if i >= 100:  # (the first hundred warm up)
            lat.append(time.perf_counter() - a)
    conn.sendall(b"sendmsg\ncall-command: hangup\n\n")
    try:
        while True:
            head, _ = c.read_message()
            if b"text/disconnect-notice" in head:
                break
    except ConnectionError:
        pass
    conn.close()
    p.join(30)
    lat.sort()

    def pct(x):
        return lat[min(len(lat) - 1, int(len(lat) * x))] * 1000 if lat else None
    return {"p50_ms": pct(0.5), "p99_ms": pct(0.99), "count": len(lat), "bad": bad}


# ---------------------------------------------------------------------------------------------
# 3. RSS with N sessions held, events flowing
# ---------------------------------------------------------------------------------------------
def _holder(srv: socket.socket, n: int, ready, stop, q, idle: bool = False) -> None:
    """Accept n outbound sessions; each: connect, myevents, then ``set`` once a second (or
    nothing with ``idle``)."""
    sel = selectors.DefaultSelector()
    conns = []
    srv.settimeout(120)
    for _ in range(n):
        conn, _ = srv.accept()
        conn.sendall(b"connect\n\n")
        conns.append(conn)
    for conn in conns:
        conn.sendall(b"myevents\n\n")
        conn.setblocking(False)
        sel.register(conn, selectors.EVENT_READ)
    ready.set()
    received = 0
    nxt = time.monotonic()
    i = 0
    while not stop.is_set():
        if not idle and time.monotonic() >= nxt:
            nxt += 1.0
            for conn in conns:
                i += 1
                try:
                    conn.sendall(b"sendmsg\ncall-command: execute\nexecute-app-name: set\n"
                                 b"execute-app-arg: held=%d\n\n" % i)
                except OSError:
                    pass
        for key, _ in sel.select(0.05):
            try:
                data = key.fileobj.recv(262144)
                received += len(data)
            except (BlockingIOError, ConnectionResetError):
                pass
    for conn in conns:
        try:
            conn.setblocking(True)
            conn.sendall(b"exit\n\n")
        except OSError:
            pass
    time.sleep(1.0)
    for conn in conns:
        conn.close()
    q.put(received)


def run_held(server: Server, ctl: Client, n: int, hold_s: float, idle: bool = False) -> dict:
    ctx = mp.get_context("fork")
    if not wait_count(ctl, 0):
        return {"error": "channels left over"}
    time.sleep(1.0)
    before = server.rss_mb()
    srv = _listen()
    target = f"127.0.0.1:{srv.getsockname()[1]}"
    ready, stop = ctx.Event(), ctx.Event()
    hq, oq = ctx.Queue(), ctx.Queue()
    hp = ctx.Process(target=_holder, args=(srv, n, ready, stop, hq, idle))
    hp.start()
    srv.close()
    per = [n // 4 + (1 if i < n % 4 else 0) for i in range(4)]
    procs = [ctx.Process(target=_originator, args=(server.port, target, k, None, oq)) for k in per]
    for p in procs:
        p.start()
    made = [oq.get(timeout=300) for _ in procs]
    ok = ready.wait(120)
    reached = wait_count(ctl, n, 60)
    cpu0, w0 = server.cpu(), time.monotonic()
    time.sleep(hold_s)  # events flow: every session executes set once a second
    hold_cpu = 100 * (server.cpu() - cpu0) / (time.monotonic() - w0)
    with_sessions = server.rss_mb()
    count = int(re.search(r"(\d+) total", ctl.api("show channels count")).group(1))
    stop.set()
    received = hq.get(timeout=120)
    for p in procs + [hp]:
        p.join(30)
    cleared = wait_count(ctl, 0, 120)
    return {"sessions": n, "ready": ok, "reached": reached, "still_up": count,
            "originate_errors": sum(m[1] for m in made), "cleared": cleared,
            "rss_mb_before": before, "rss_mb_with_sessions": with_sessions,
            "bytes_received": received, "server_cpu_pct_while_held": hold_cpu,
            "kb_per_session": (with_sessions - before) * 1024 / n if with_sessions and before else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of the script)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None, help="length of the set-up test")
    ap.add_argument("--sessions", type=int, default=None, help="sessions held for the RSS figure")
    ap.add_argument("--rtt", type=int, default=None, help="execute round trips")
    ap.add_argument("--idle", action="store_true",
                    help="hold the sessions idle (no command, no event) instead, for comparison")
    ap.add_argument("--loglevel", default="warning", help="switch.conf loglevel (default warning)")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 6.0)
    sessions = args.sessions or (100 if args.quick else 500)
    rtt_n = args.rtt or (300 if args.quick else 2000)

    env = environment()
    setups, rtts, held, idle_held = [], [], [], []
    for _ in range(runs):
        server = Server("bench-outbound-", LOADS, args.loglevel)
        try:
            ctl = Client(server.port)
            ctl.api("fsctl sps 5000")
            ctl.api("fsctl max_sessions 5000")
            time.sleep(1.2)  # (the sps budget is refilled once a second)
            # (a fresh process each: the allocator keeps what a first round freed)
            (idle_held if args.idle else held).append(
                run_held(server, ctl, sessions, 3.0 if args.quick else 5.0, idle=args.idle))
            rtts.append(run_rtt(server, rtt_n))
            wait_count(ctl, 0)
            setups.append(run_setups(server, seconds))
            wait_count(ctl, 0)
            ctl.close()
        finally:
            server.stop()

    t = Targets()
    sps = median([r["setups_per_s"] for r in setups])
    p50 = median([r["p50_ms"] for r in rtts])
    p99 = median([r["p99_ms"] for r in rtts])
    kb = median([r.get("kb_per_session") for r in held])
    t.check("setups_per_s", sps, ">=", 500, "/s")
    t.check("execute_p50_ms", p50, "<=", 0.5, "ms")
    t.check("execute_p99_ms", p99, "<=", 2.0, "ms")
    t.check("kb_per_session", kb, "<=", 64, "KB")
    report = {
        "bench": "outbound", "quick": args.quick, "runs": runs, "seconds": seconds,
        "sessions": sessions, "rtt": rtt_n,
        "setups_per_s": series([r["setups_per_s"] for r in setups]),
        "setup_server_cpu_pct": series([r["server_cpu_pct"] for r in setups]),
        "setup_runs": setups,
        "execute_p50_ms": series([r["p50_ms"] for r in rtts], 3),
        "execute_p99_ms": series([r["p99_ms"] for r in rtts], 3),
        "kb_per_session": series([r.get("kb_per_session") for r in held]),
        "held_server_cpu_pct": series([r.get("server_cpu_pct_while_held") for r in held]),
        "held_runs": held,
        "kb_per_idle_session": series([r.get("kb_per_session") for r in idle_held]),
        "idle_held_runs": idle_held,
        "targets": t.as_dict(), "all_pass": t.all_pass, "env": env,
    }
    s, a, b, k = (report["setups_per_s"], report["execute_p50_ms"], report["execute_p99_ms"],
                  report["kb_per_session"])
    summary = [
        f"outbound Event Socket ({runs} run(s); median [min–max]):",
        f"  originate → connect → reply → exit: {s['median']} set-ups/s [{s['min']}–{s['max']}]",
        f"  sendmsg execute set → CHANNEL_EXECUTE_COMPLETE: p50 {a['median']} ms "
        f"[{a['min']}–{a['max']}], p99 {b['median']} ms [{b['min']}–{b['max']}]",
        f"  {sessions} sessions held, events flowing: {k['median']} KB per session "
        f"[{k['min']}–{k['max']}], server CPU {report['held_server_cpu_pct']['median']} %",
        *t.lines(),
    ]
    emit(report, summary)


if __name__ == "__main__":
    main()
