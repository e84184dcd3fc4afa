"""Benchmark: calls over the Event Socket against a real softswitch process (issue #15).

    python bench/calls.py [--quick] [--runs N] [--legs N] [--loglevel LEVEL]

The server is a real ``python -m softswitch -nc -nf`` with the default conf tree
(``softswitch -copyconf``) plus ``<load module="mod_loopback"/>`` and ``mod_dptools`` (the
``park`` application), its Event Socket on a free loopback port, its stdout to a file. After
start the client sends ``fsctl sps 5000`` and ``fsctl max_sessions 5000``, as was done for the
FreeSWITCH figures. Clients are raw stdlib sockets in forked processes (strict request →
response, replies framed by Content-Length), so the figures are the server's.

Figures (median of ``--runs`` runs, 5 by default, with min/max and every run):

* ``cycles_1conn`` / ``cycles_4conn``: cycles/s of ``api originate
  {origination_uuid=U}null/1000 &park`` then ``api uuid_kill U`` (a fresh U per cycle), on one
  connection and on four (one process each), for ``--seconds`` seconds each;
* ``originate_p50_ms`` / ``originate_p99_ms``: the originate round trip on one connection;
* ``rss_kb_per_leg``: server RSS with ``--legs`` (1,000) parked null legs minus before, per leg;
* ``rss_after_hupall_pct``: RSS once ``hupall`` has ended them all (``show channels count`` back
  to 0, then 2 s), in % of the RSS before the legs were made.

Each run starts a fresh server and measures the RSS figures first (a process that has made no
call yet), then the cycle tests.
* ``server_cpu_pct`` per cycle test (utime + stime of the server / wall time), and
  ``server_runqueue_wait_pct`` (time the server was runnable but waiting for a CPU, from
  /proc/PID/schedstat) with the load average: on a shared machine, what of the latency is the
  machine's.

Targets (issue #15; FreeSWITCH 1.11 on this 2-core machine with the same kind of client: 352 and
814 cycles/s, p99 3.1 ms, 252 KB per leg, +247 MB kept after hupall): ≥ 530 cycles/s on one
connection, ≥ 1,200 on four, p99 ≤ 3 ms, ≤ 64 KB per parked leg, RSS after hupall within 10 %
of the start.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid as uuid_mod

from _common import Targets, emit, environment, median, series, vm_status

PASSWORD = "ClueCon"
LOADS = ("mod_loopback", "mod_dptools")


# ---------------------------------------------------------------------------------------------
# a minimal ESL client (stdlib socket)
# ---------------------------------------------------------------------------------------------


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.read_message()  # auth/request
        self.sock.sendall(f"auth {PASSWORD}\n\n".encode())
        head, _ = self.read_message()
        if b"+OK accepted" not in head:
            raise RuntimeError(f"auth refused: {head!r}")

    def read_message(self) -> tuple[bytes, bytes]:
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\n\n")
        m = re.search(rb"Content-Length: (\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rest += chunk
        self.buf = rest[n:]
        return head, rest[:n]

    def api(self, cmd: str) -> str:
        self.sock.sendall(f"api {cmd}\n\n".encode())
        return self.read_message()[1].decode()

    def close(self) -> None:
        try:
            self.sock.sendall(b"exit\n\n")
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, loglevel: str | None) -> None:
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="bench-calls-"))
        self.port = free_port()
        env = dict(os.environ, HOME=str(self.root))
        subprocess.run([sys.executable, "-m", "softswitch", "-copyconf", str(self.root / "conf")],
                       check=True, capture_output=True, env=env)
        conf = self.root / "conf"
        vars_xml = conf / "vars.xml"
        vars_xml.write_text(vars_xml.read_text().replace("event_socket_port=8021",
                                                         f"event_socket_port={self.port}"))
        add_loads(conf / "autoload_configs" / "modules.conf.xml", LOADS)
        if loglevel:
            sw = conf / "autoload_configs" / "switch.conf.xml"
            sw.write_text(re.sub(r'(name="loglevel" value=")[^"]*', rf"\g<1>{loglevel}", sw.read_text()))
        self.out = open(self.root / "stdout.txt", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", str(conf),
             "-log", str(self.root / "log"), "-db", str(self.root / "db"), "-run", str(self.root / "run")],
            stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                Client(self.port).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("softswitch did not start:\n"
                                       + (self.root / "stdout.txt").read_text()[-3000:]) from None
                time.sleep(0.1)  # polling the port until the process listens

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def schedstat(self) -> tuple[float, float]:
        """``(seconds on a CPU, seconds waiting in the run queue)`` of the server so far."""
        try:
            with open(f"/proc/{self.proc.pid}/schedstat") as f:
                on, wait, _ = f.read().split()
            return int(on) / 1e9, int(wait) / 1e9
        except (OSError, ValueError):
            return 0.0, 0.0

    def rss_mb(self) -> float | None:
        return vm_status(self.proc.pid).get("VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def add_loads(path: pathlib.Path, modules) -> None:
    """Add ``<load module="…"/>`` lines for ``modules`` not yet in modules.conf.xml."""
    text = path.read_text()
    extra = "".join(f'    <load module="{m}"/>\n' for m in modules if f'"{m}"' not in text)
    path.write_text(text.replace("  </modules>", extra + "  </modules>", 1))


def channel_count(c: Client) -> int:
    out = c.api("show channels count")
    m = re.search(r"(\d+) total", out)
    if not m:
        raise RuntimeError(f"show channels count answered {out!r}")
    return int(m.group(1))


def wait_count(c: Client, n: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while channel_count(c) != n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------------------------------------
# client processes
# ---------------------------------------------------------------------------------------------


def cycle_worker(port: int, seconds: float, start_at: float, q) -> None:
    c = Client(port)
    lat = []
    errors = 0
    first_error = None
    n = 0
    while time.monotonic() < start_at:
        time.sleep(0.001)
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        u = str(uuid_mod.uuid4())
        a = time.perf_counter()
        r = c.api(f"originate {{origination_uuid={u}}}null/1000 &park")
        lat.append(time.perf_counter() - a)
        if not r.startswith(f"+OK {u}"):
            errors += 1
            first_error = first_error or f"originate: {r!r}"
            continue
        k = c.api(f"uuid_kill {u}")
        if k != "+OK\n":
            errors += 1
            first_error = first_error or f"uuid_kill: {k!r}"
        n += 1
    q.put((n, time.monotonic() - t0, lat, errors, first_error))
    c.close()


def run_cycles(server: Server, conns: int, seconds: float) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    start_at = time.monotonic() + 0.5
    procs = [ctx.Process(target=cycle_worker, args=(server.port, seconds, start_at, q)) for _ in range(conns)]
    for p in procs:
        p.start()
    cpu0, w0, rq0 = server.cpu(), time.monotonic(), server.schedstat()[1]
    load0 = os.getloadavg()[0]
    results = [q.get(timeout=seconds + 120) for _ in procs]
    cpu1, w1, rq1 = server.cpu(), time.monotonic(), server.schedstat()[1]
    for p in procs:
        p.join(30)
    total = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else None
    return {"cycles_per_s": total / elapsed if elapsed else None, "errors": sum(r[3] for r in results),
            "first_error": next((r[4] for r in results if r[4]), None),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "server_cpu_pct": 100 * (cpu1 - cpu0) / (w1 - w0),
            # time the server was runnable but waiting for a CPU (other processes on the
            # machine): the share of the latency that is the machine's, not the server's
            "server_runqueue_wait_pct": 100 * (rq1 - rq0) / (w1 - w0),
            "loadavg_1m": (load0 + os.getloadavg()[0]) / 2}


def park_worker(port: int, count: int, q) -> None:
    c = Client(port)
    ok = 0
    for _ in range(count):
        if c.api("originate null/1000 &park").startswith("+OK "):
            ok += 1
    q.put(ok)
    c.close()


def run_rss(server: Server, ctl: Client, legs: int) -> dict:
    if not wait_count(ctl, 0):
        return {"error": "channels left over before the RSS test"}
    before = server.rss_mb()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    per = [legs // 4 + (1 if i < legs % 4 else 0) for i in range(4)]
    procs = [ctx.Process(target=park_worker, args=(server.port, n, q)) for n in per]
    for p in procs:
        p.start()
    made = sum(q.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(30)
    reached = wait_count(ctl, made, 60)
    time.sleep(1.0)
    with_legs = server.rss_mb()
    t0 = time.monotonic()
    ctl.api("hupall")
    cleared = wait_count(ctl, 0, 120)
    hupall_s = time.monotonic() - t0
    time.sleep(2.0)
    after = server.rss_mb()
    ctl.api("fsctl reclaim_mem")  # gc + malloc_trim: what is kept by the allocator, not leaked
    after_reclaim = server.rss_mb()
    return {"legs": made, "reached": reached, "cleared": cleared, "rss_mb_before": before,
            "rss_mb_with_legs": with_legs, "rss_mb_after_hupall": after,
            "rss_mb_after_reclaim_mem": after_reclaim,
            "after_reclaim_pct": 100 * after_reclaim / before if after_reclaim and before else None,
            "kb_per_leg": (with_legs - before) * 1024 / made if made and with_legs and before else None,
            "after_hupall_pct": 100 * after / before if after and before else None,
            "hupall_to_zero_s": hupall_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of the script)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None, help="length of each cycle test")
    ap.add_argument("--legs", type=int, default=None, help="parked legs for the RSS figures")
    ap.add_argument("--loglevel", default=None, help="switch.conf loglevel for the server (default: the conf's)")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 5)
    seconds = args.seconds or (2.0 if args.quick else 8.0)
    legs = args.legs or (200 if args.quick else 1000)

    env = environment()
    one, four, rss, rss_start, setup = [], [], [], [], []
    for _ in range(runs):
        # a fresh server per run: the RSS figures are those of a process that has not yet made
        # calls (the allocator keeps what earlier calls freed, which would hide the growth)
        server = Server(args.loglevel)
        try:
            ctl = Client(server.port)
            setup = [ctl.api("fsctl sps 5000"), ctl.api("fsctl max_sessions 5000")]
            # the sessions-per-second budget is refilled once a second (as in FreeSWITCH): until
            # the next refill the old budget (30) still applies
            time.sleep(1.2)
            rss_start.append(server.rss_mb())
            rss.append(run_rss(server, ctl, legs))
            one.append(run_cycles(server, 1, seconds))
            wait_count(ctl, 0)
            four.append(run_cycles(server, 4, seconds))
            wait_count(ctl, 0)
            ctl.close()
        finally:
            server.stop()

    t = Targets()
    c1 = median([r["cycles_per_s"] for r in one])
    c4 = median([r["cycles_per_s"] for r in four])
    p99 = median([r["p99_ms"] for r in one])
    kb = median([r.get("kb_per_leg") for r in rss])
    pct = median([r.get("after_hupall_pct") for r in rss])
    t.check("cycles_1conn", c1, ">=", 530, "cycles/s")
    t.check("cycles_4conn", c4, ">=", 1200, "cycles/s")
    t.check("originate_p99_ms_1conn", p99, "<=", 3.0, "ms")
    t.check("rss_kb_per_parked_leg", kb, "<=", 64, "KB")
    t.check("rss_after_hupall_pct_of_before", pct, "<=", 110, "%")
    report = {
        "bench": "calls", "quick": args.quick, "runs": runs, "seconds": seconds, "legs": legs,
        "setup_replies": setup, "rss_mb_at_start": series(rss_start),
        "cycles_1conn": series([r["cycles_per_s"] for r in one]),
        "cycles_4conn": series([r["cycles_per_s"] for r in four]),
        "originate_p50_ms_1conn": series([r["p50_ms"] for r in one], 2),
        "originate_p99_ms_1conn": series([r["p99_ms"] for r in one], 2),
        "server_cpu_pct_1conn": series([r["server_cpu_pct"] for r in one]),
        "server_cpu_pct_4conn": series([r["server_cpu_pct"] for r in four]),
        "server_runqueue_wait_pct_1conn": series([r["server_runqueue_wait_pct"] for r in one]),
        "server_runqueue_wait_pct_4conn": series([r["server_runqueue_wait_pct"] for r in four]),
        "loadavg_1m_1conn": series([r["loadavg_1m"] for r in one], 2),
        "errors": sum(r["errors"] for r in one + four),
        "first_error": next((r["first_error"] for r in one + four if r["first_error"]), None),
        "rss_kb_per_leg": series([r.get("kb_per_leg") for r in rss]),
        "rss_after_hupall_pct": series([r.get("after_hupall_pct") for r in rss]),
        "rss_after_reclaim_mem_pct": series([r.get("after_reclaim_pct") for r in rss]),
        "rss_runs": rss,
        "freeswitch": {"cycles_1conn": 352, "cycles_4conn": 814, "originate_p99_ms": 3.1,
                       "rss_kb_per_leg": 252, "rss_after_hupall": "+247 MB"},
        "targets": t.as_dict(), "all_pass": t.all_pass, "env": env,
    }
    s1, s4 = report["cycles_1conn"], report["cycles_4conn"]
    summary = [
        f"calls over ESL ({runs} run(s), {seconds:g} s each; median [min–max]):",
        f"  originate+uuid_kill, 1 connection: {s1['median']} cycles/s [{s1['min']}–{s1['max']}] (FreeSWITCH 352)",
        f"  originate+uuid_kill, 4 connections: {s4['median']} cycles/s [{s4['min']}–{s4['max']}] (FreeSWITCH 814)",
        f"  originate round trip 1 conn: p50 {report['originate_p50_ms_1conn']['median']} ms, "
        f"p99 {report['originate_p99_ms_1conn']['median']} ms (FreeSWITCH p99 3.1)",
        f"  {legs} parked null legs: {report['rss_kb_per_leg']['median']} KB per leg (FreeSWITCH 252); "
        f"after hupall {report['rss_after_hupall_pct']['median']} % of before, "
        f"after fsctl reclaim_mem {report['rss_after_reclaim_mem_pct']['median']} %",
        f"  server waiting for a CPU (run queue): {report['server_runqueue_wait_pct_1conn']['median']} % "
        f"of the 1-connection test, load average {report['loadavg_1m_1conn']['median']}",
        f"  errors: {report['errors']} (first: {report['first_error']})",
        *t.lines(),
    ]
    emit(report, summary)


if __name__ == "__main__":
    main()
