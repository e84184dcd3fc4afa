"""Benchmark: mod_event_socket against stdlib-socket clients in other processes, on loopback.

    python bench/esl.py [--quick] [--runs N]

The server is a real ``python -m softswitch -nc -nf`` process with mod_event_socket and the
test module of ``plugins/mod_event_socket/tests/conftest.py`` (``t_echo``), its conf tree
written by that conftest's ``write_tree`` (switch.conf loglevel debug, as in the tests), its
stdout going to a file. Clients are raw stdlib sockets in forked processes: tight loops that
count replies by their (known) length or by Content-Length framing, so that the figures are
the server's, not a client parser's. Client and server share the machine's cores.

Figures (median of ``--runs`` runs, 5 by default; ``--quick`` shortens everything):

* ``rss_mb_after_start``; ``connect_auth_exit``: cycles/s of connect, read auth/request,
  ``auth``, ``exit``, read to EOF (one client process, one connection at a time), and the
  server's RSS after 20,000 cycles (``--quick``: 2,000) and along the way;
* ``api_1conn`` / ``api_8conn``: ``api t_echo x`` round trips/s, each connection strictly
  request → response (8 connections: ``--api-procs`` processes × connections, select loop);
* ``events_{plain,json}_{1,4}sub``: per subscriber, events/s from the sender's first byte to
  that subscriber's last event; the sender pipelines ``sendevent CUSTOM`` (25-header events)
  from its own connection while a thread reads its replies; subscribers did ``event plain
  CUSTOM bench::esl`` (or ``json``); one process per subscriber;
* ``latency``: one ``sendevent`` every 1 ms carrying ``Bench-T`` (CLOCK_MONOTONIC ns, shared by
  all processes); the subscriber computes receipt − send time: p50 / p99 / max per run;
* ``server_cpu_pct`` for each test (utime + stime of the server process / wall time).

Reference (full mode; ``--no-reference`` to skip): the same clients against a trivial gevent
relay (:data:`RELAY_SRC`: fixed replies, each sendevent forwarded as one frame with one
``sendall`` per subscriber, no kernel), its runs alternating with softswitch's so that load
from elsewhere on the machine hits both; ``ratio_to_reference`` is the median of the paired
ratios. It shows what this machine, gevent and these clients allow, i.e. which part of a miss
is the environment's. (With 4 subscribers the relay's unbatched writes make it no ceiling.)

Targets (issue, 2-core machine; FreeSWITCH 1.11 with the same kind of client: ~10,000 api/s on
one connection, ~15,000 on 8, ~4,500 events/s, p99 20 ms, 23 MB RSS): ≥ 10,000 api round
trips/s on 1 connection, ≥ 15,000 on 8; ≥ 25,000 events/s to one subscriber, ≥ 20,000/s to
each of 4 (plain); p99 ≤ 2 ms at 1,000 events/s; ≥ 1,500 connect+auth+exit cycles/s; RSS ≤ 50 MB
after start and within 10 % of it after 20,000 connect/auth/exit cycles.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pathlib
import queue as queue_mod
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from _common import Targets, emit, environment, median, series, vm_status

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "plugins", "mod_event_socket", "tests")

PASSWORD = "ClueCon"
API_REQ = b"api t_echo x\n\n"
API_RESP = b"Content-Type: api/response\nContent-Length: 1\n\nx"
AUTH_REQUEST = b"Content-Type: auth/request\n\n"
AUTH_OK = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
SUBCLASS = "bench::esl"
# 25 headers once the server has added Command, Event-UUID and the 13 standard ones
EXTRA_HEADERS = (
    ("Unique-ID", "0f1d2c3b-4a59-4687-9a5b-c0ffee000001"),
    ("Channel-State", "CS_EXECUTE"),
    ("Channel-Name", "sofia/internal/1000@example.com"),
    ("Answer-State", "answered"),
    ("Call-Direction", "inbound"),
    ("Caller-Caller-ID-Name", "Alice Smith"),
    ("Caller-Destination-Number", "+1 (555) 010-2000"),
    ("Caller-Network-Addr", "10.0.0.21"),
    ("variable_sip_from_uri", "sip:1000@10.0.0.1:5060;transport=udp"),
)
SENDEVENT = ("sendevent CUSTOM\nEvent-Subclass: %s\n" % SUBCLASS
             + "".join(f"{k}: {v}\n" for k, v in EXTRA_HEADERS) + "\n").encode()
REPLY_PREFIX = b"Content-Type: command/reply\nReply-Text: +OK "
SENDEVENT_REPLY_LEN = len(REPLY_PREFIX) + 36 + 2  # "+OK <uuid>\n\n"

TARGETS = {
    "api_1conn_per_s": 10_000, "api_8conn_per_s": 15_000,
    "events_plain_1sub_per_s": 25_000, "events_plain_4sub_per_s_each": 20_000,
    "latency_p99_ms": 2.0, "connect_auth_exit_per_s": 1_500,
    "rss_mb_after_start": 50.0, "rss_growth_pct_after_cycles": 10.0,
}


# ============================================================================================
# the server process
# ============================================================================================


class Server:
    def __init__(self, root: pathlib.Path, loglevel: str, extra: dict | None = None,
                 extra_modules: str = "") -> None:
        sys.path.insert(0, TESTS)
        try:
            import conftest  # the mod_event_socket tests' conf writer and port finder
        finally:
            sys.path.remove(TESTS)
        self.port = conftest.free_port("127.0.0.1")
        settings = {"listen-ip": "127.0.0.1", "listen-port": self.port, "password": PASSWORD,
                    **(extra or {})}
        conf = conftest.write_tree(root, settings, extra_modules)
        if loglevel != "debug":
            sw = root / "conf" / "autoload_configs" / "switch.conf.xml"
            sw.write_text(sw.read_text().replace('value="debug"', f'value="{loglevel}"'))
        self.root = root
        self.out_path = root / "stdout.txt"
        self.log_path = root / "log" / "softswitch.log"
        env = dict(os.environ, HOME=str(root), XDG_RUNTIME_DIR=str(root / "xdg"),
                   PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", conf,
               "-log", str(root / "log"), "-db", str(root / "db"), "-run", str(root / "run")]
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 30.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if b"Event Socket listening" in self.log_path.read_bytes():
                    return time.monotonic() - t0
            except FileNotFoundError:
                pass
            time.sleep(0.02)  # polling a file for the ready line, bounded by the timeout
        raise RuntimeError(f"server not listening within {timeout} s:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        try:
            return self.out_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def rss_mb(self) -> float | None:
        return vm_status(self.pid).get("VmRSS")

    def cpu_s(self) -> float:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


RELAY_SRC = r"""
# A trivial gevent relay speaking just enough ESL for bench/esl.py's clients: the floor that
# this machine, gevent and these clients allow, with no kernel and no event objects.
import socket, sys
from gevent.server import StreamServer

subs = []
PAD = b"X-Pad: " + b"p" * 520 + b"\n"  # the relayed event is about as big as the real one


def handle(s, addr):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"Content-Type: auth/request\n\n")
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return
            buf += d
            out = []
            while b"\n\n" in buf:
                msg, buf = buf.split(b"\n\n", 1)
                if msg.startswith(b"sendevent"):
                    body = msg + b"\n" + PAD + b"\n"
                    frame = b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(body), body)
                    for x in subs:
                        x.sendall(frame)
                    out.append(b"Content-Type: command/reply\nReply-Text: +OK 0f1d2c3b-4a59-4687-9a5b-c0ffee000001\n\n")
                elif msg.startswith(b"api "):
                    arg = msg.split(b" ", 2)[2] if msg.count(b" ") >= 2 else b""
                    out.append(b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(arg), arg))
                elif msg.startswith(b"auth"):
                    out.append(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
                elif msg.startswith(b"event"):
                    subs.append(s)
                    out.append(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
                elif msg.startswith(b"exit"):
                    s.sendall(b"".join(out) + b"Content-Type: command/reply\nReply-Text: +OK bye\n\n"
                              b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n")
                    return
            if out:
                s.sendall(b"".join(out))
    finally:
        if s in subs:
            subs.remove(s)


server = StreamServer(("127.0.0.1", 0), handle, backlog=128)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


class RelayServer:
    """The reference: :data:`RELAY_SRC` in its own process (same clients, same machine)."""

    def __init__(self, root: pathlib.Path) -> None:
        path = root / "relay.py"
        path.write_text(RELAY_SRC)
        self.proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"reference relay did not start: {line!r}")
        self.port = int(line)

    rss_mb = Server.rss_mb
    cpu_s = Server.cpu_s

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# ============================================================================================
# client helpers (run in forked processes)
# ============================================================================================


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes: {buf!r}")
        buf += chunk
    return buf


def connect_auth(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    got = recv_exact(s, len(AUTH_REQUEST))
    if got != AUTH_REQUEST:
        raise ConnectionError(f"unexpected greeting {got!r}")
    s.sendall(b"auth %s\n\n" % PASSWORD.encode())
    got = recv_exact(s, len(AUTH_OK))
    if got != AUTH_OK:
        raise ConnectionError(f"auth failed: {got!r}")
    return s


def command(s: socket.socket, line: bytes) -> bytes:
    """Send one command and read its command/reply (headers only)."""
    s.sendall(line + b"\n\n")
    buf = b""
    while b"\n\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


class FrameCounter:
    """Counts server messages framed by a leading ``Content-Length`` (events); optionally
    extracts the value of one header from each (``Bench-T``)."""

    def __init__(self, want_header: bytes | None = None) -> None:
        self.buf = bytearray()
        self.count = 0
        self.want = want_header
        self.values: list[bytes] = []

    def feed(self, data: bytes) -> int:
        buf = self.buf
        buf += data
        pos = 0
        n = 0
        size = len(buf)
        want = self.want
        while True:
            if not buf.startswith(b"Content-Length: ", pos):
                if size - pos >= 16:
                    raise ValueError(f"unexpected message start {bytes(buf[pos:pos + 80])!r}")
                break
            nl = buf.find(b"\n", pos + 16)
            if nl < 0:
                break
            head_end = buf.find(b"\n\n", nl)
            if head_end < 0:
                break
            end = head_end + 2 + int(buf[pos + 16:nl])
            if end > size:
                break
            if want is not None:
                i = buf.find(want, head_end, end)
                if i >= 0:
                    j = buf.find(b"\n", i)
                    self.values.append(bytes(buf[i + len(want):j]))
            n += 1
            pos = end
        if pos:
            del buf[:pos]
        self.count += n
        return n


def cpu_self() -> float:
    t = os.times()
    return t.user + t.system


# -- api round trips ---------------------------------------------------------------------------


def api_worker(port: int, conns: int, ready, go, duration: float, out) -> None:
    try:
        socks = [connect_auth(port) for _ in range(conns)]
        for s in socks:  # check the exact reply once
            s.sendall(API_REQ)
            got = recv_exact(s, len(API_RESP))
            if got != API_RESP:
                raise ValueError(f"unexpected api reply {got!r}")
        ready.put(True)
        go.wait()
        c0 = cpu_self()
        n = 0
        L = len(API_RESP)
        t0 = time.monotonic()
        end = t0 + duration
        if conns == 1:
            s = socks[0]
            send, recv = s.sendall, s.recv
            mono = time.monotonic
            while True:
                send(API_REQ)
                got = len(recv(4096))
                while got < L:
                    got += len(recv(4096))
                n += 1
                if mono() >= end:
                    break
        else:
            sel = selectors.DefaultSelector()
            pending = {}
            for s in socks:
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
                pending[s] = 0
                s.send(API_REQ)
            active = len(socks)
            while active:
                for key, _ in sel.select(timeout=5):
                    s = key.fileobj
                    data = s.recv(65536)
                    if not data:
                        raise ConnectionError("server closed an api connection")
                    got = pending[s] + len(data)
                    if got >= L:
                        n += 1
                        got -= L
                        if time.monotonic() < end:
                            s.send(API_REQ)
                        else:
                            sel.unregister(s)
                            active -= 1
                    pending[s] = got
        elapsed = time.monotonic() - t0
        out.put({"n": n, "elapsed": elapsed, "cpu": cpu_self() - c0})
        for s in socks:
            s.close()
    except Exception as e:  # reported to the parent, which fails the figure
        ready.put(False)
        out.put({"error": f"{type(e).__name__}: {e}"})


# -- events ------------------------------------------------------------------------------------


def subscriber_worker(port: int, fmt: str, n_expected: int, ready, go, timeout: float, out,
                      want_header: bytes | None = None) -> None:
    try:
        s = connect_auth(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        reply = command(s, f"event {fmt} CUSTOM {SUBCLASS}".encode())
        if b"+OK event listener enabled" not in reply:
            raise ValueError(f"subscription refused: {reply!r}")
        fc = FrameCounter(want_header)
        # anything after the reply is already an event
        rest = reply.split(b"\n\n", 1)[1]
        ready.put(True)
        s.settimeout(timeout)
        first = last = None
        recv_times: list[tuple[int, int]] = []  # (frames so far, receipt ns) for latency
        if rest:
            fc.feed(rest)
        c0 = cpu_self()
        deadline = time.monotonic() + timeout
        while fc.count < n_expected:
            try:
                data = s.recv(1 << 20)
            except TimeoutError:
                break
            now = time.monotonic_ns()
            if not data:
                break
            if first is None:
                first = now
            if fc.feed(data):
                last = now
                if want_header is not None:
                    recv_times.append((fc.count, now))
            if time.monotonic() > deadline:
                break
        res = {"count": fc.count, "first_ns": first, "last_ns": last, "cpu": cpu_self() - c0}
        if want_header is not None:
            lat = []
            k = 0
            for idx, value in enumerate(fc.values):
                while recv_times[k][0] <= idx:
                    k += 1
                lat.append((recv_times[k][1] - int(value)) / 1e6)
            res["latencies_ms"] = lat
        out.put(res)
        s.close()
    except Exception as e:
        ready.put(False)
        out.put({"error": f"{type(e).__name__}: {e}"})


def _read_replies(s: socket.socket, n: int, box: dict) -> None:
    need = n * SENDEVENT_REPLY_LEN
    got = 0
    first = b""
    try:
        while got < need:
            data = s.recv(1 << 20)
            if not data:
                break
            if len(first) < len(REPLY_PREFIX):
                first += data[:len(REPLY_PREFIX)]
            got += len(data)
    except OSError as e:
        box["error"] = str(e)
    box["bytes"] = got
    box["done_ns"] = time.monotonic_ns()
    box["first"] = first


def sender_worker(port: int, n: int, ready, go, out, rate: float = 0.0) -> None:
    """Pipeline ``n`` sendevents (``rate`` 0) or send one every 1/rate s with Bench-T."""
    try:
        s = connect_auth(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        ready.put(True)
        go.wait()
        box: dict = {}
        reader = threading.Thread(target=_read_replies, args=(s, n, box), daemon=True)
        reader.start()
        c0 = cpu_self()
        t0 = time.monotonic_ns()
        if rate <= 0:
            chunk = 200
            block = SENDEVENT * chunk
            sent = 0
            while sent + chunk <= n:
                s.sendall(block)
                sent += chunk
            if sent < n:
                s.sendall(SENDEVENT * (n - sent))
        else:
            head = ("sendevent CUSTOM\nEvent-Subclass: %s\n" % SUBCLASS).encode()
            tail = "".join(f"{k}: {v}\n" for k, v in EXTRA_HEADERS).encode() + b"\n"
            period = 1e9 / rate
            mono = time.monotonic_ns
            for i in range(n):
                due = t0 + int(i * period)
                delay = due - mono()
                if delay > 0:
                    time.sleep(delay / 1e9)
                s.sendall(head + b"Bench-T: %d\n" % mono() + tail)
        sent_ns = time.monotonic_ns()
        reader.join(timeout=60)
        if not box.get("first", b"").startswith(REPLY_PREFIX[:len(box.get("first", b""))]):
            raise ValueError(f"unexpected sendevent reply {box.get('first')!r}")
        out.put({"t0_ns": t0, "sent_ns": sent_ns, "replies": box.get("bytes", 0) // SENDEVENT_REPLY_LEN,
                 "replies_done_ns": box.get("done_ns"), "cpu": cpu_self() - c0,
                 "error": box.get("error")})
        s.close()
    except Exception as e:
        ready.put(False)
        out.put({"error": f"{type(e).__name__}: {e}"})


# -- connect / auth / exit ---------------------------------------------------------------------


def cycle_worker(port: int, n: int, deadline_s: float, go, out, progress) -> None:
    try:
        go.wait()
        c0 = cpu_self()
        t0 = time.monotonic()
        end = t0 + deadline_s
        done = 0
        auth = b"auth %s\n\n" % PASSWORD.encode()
        while done < n and time.monotonic() < end:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            got = recv_exact(s, len(AUTH_REQUEST))
            s.sendall(auth)
            got = recv_exact(s, len(AUTH_OK))
            if got != AUTH_OK:
                raise ConnectionError(f"auth failed: {got!r}")
            s.sendall(b"exit\n\n")
            while s.recv(4096):
                pass
            s.close()
            done += 1
            if not done % 1000:
                progress.value = done
        progress.value = done
        out.put({"n": done, "elapsed": time.monotonic() - t0, "cpu": cpu_self() - c0})
    except Exception as e:
        out.put({"error": f"{type(e).__name__}: {e}", "n": done})


# ============================================================================================
# the runs (parent process)
# ============================================================================================

CTX = mp.get_context("fork")


class Bench:
    def __init__(self, server: Server, budget_end: float) -> None:
        self.server = server
        self.port = server.port
        self.budget_end = budget_end
        self.errors: list[str] = []

    def left(self) -> float:
        return self.budget_end - time.monotonic()

    def _collect(self, procs, out, count: int, timeout: float) -> list[dict]:
        results = []
        end = time.monotonic() + timeout
        while len(results) < count:
            try:
                results.append(out.get(timeout=max(0.1, end - time.monotonic())))
            except queue_mod.Empty:
                break
            if time.monotonic() > end:
                break
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
        for r in results:
            if r.get("error"):
                self.errors.append(r["error"])
        return results

    def _wait_ready(self, ready, count: int) -> bool:
        for _ in range(count):
            try:
                if not ready.get(timeout=15):
                    return False
            except queue_mod.Empty:
                return False
        return True

    # -- api ---------------------------------------------------------------------------------
    def api(self, procs_n: int, conns_per_proc: int, duration: float) -> dict | None:
        ready, out, go = CTX.Queue(), CTX.Queue(), CTX.Event()
        procs = [CTX.Process(target=api_worker, args=(self.port, conns_per_proc, ready, go,
                                                       duration, out), daemon=True)
                 for _ in range(procs_n)]
        for p in procs:
            p.start()
        ok = self._wait_ready(ready, procs_n)
        c0, t0 = self.server.cpu_s(), time.monotonic()
        go.set()
        res = self._collect(procs, out, procs_n, duration + 20) if ok else self._collect(procs, out, procs_n, 5)
        wall = time.monotonic() - t0
        if not ok or len(res) < procs_n or any("error" in r for r in res):
            return None
        total = sum(r["n"] for r in res)
        elapsed = max(r["elapsed"] for r in res)
        return {"rate": total / elapsed, "server_cpu_pct": 100 * (self.server.cpu_s() - c0) / wall,
                "client_cpu_pct": 100 * sum(r["cpu"] for r in res) / elapsed}

    # -- events ------------------------------------------------------------------------------
    def events(self, fmt: str, subs: int, n: int) -> dict | None:
        ready, out, go = CTX.Queue(), CTX.Queue(), CTX.Event()
        sout = CTX.Queue()
        timeout = max(5.0, min(60.0, self.left()))
        procs = [CTX.Process(target=subscriber_worker, args=(self.port, fmt, n, ready, go, timeout,
                                                              out), daemon=True)
                 for _ in range(subs)]
        sender = CTX.Process(target=sender_worker, args=(self.port, n, ready, go, sout), daemon=True)
        for p in procs:
            p.start()
        sender.start()
        if not self._wait_ready(ready, subs + 1):
            self._collect(procs + [sender], out, 0, 1)
            self.errors.append(f"events {fmt} {subs}: a client could not connect")
            return None
        time.sleep(0.05)  # subscriptions are set before their reply: nothing to wait for really
        c0, w0 = self.server.cpu_s(), time.monotonic()
        go.set()
        res = self._collect(procs, out, subs, timeout + 10)
        sres = self._collect([sender], sout, 1, 30)
        wall = time.monotonic() - w0
        if len(res) < subs or not sres or any("error" in r for r in res) or sres[0].get("error"):
            return None
        t0 = sres[0]["t0_ns"]
        rates = []
        for r in res:
            if r["last_ns"] is None or r["count"] < n:
                self.errors.append(f"events {fmt} {subs}: a subscriber got {r['count']} of {n}")
                return None
            rates.append(r["count"] / ((r["last_ns"] - t0) / 1e9))
        return {"per_sub": min(rates), "per_sub_median": median(rates),
                "aggregate": sum(rates),
                "sender_replies_per_s": sres[0]["replies"] / ((sres[0]["replies_done_ns"] - t0) / 1e9),
                "server_cpu_pct": 100 * (self.server.cpu_s() - c0) / wall}

    # -- latency -----------------------------------------------------------------------------
    def latency(self, rate: float, seconds: float) -> dict | None:
        n = int(rate * seconds)
        ready, out, go = CTX.Queue(), CTX.Queue(), CTX.Event()
        sout = CTX.Queue()
        sub = CTX.Process(target=subscriber_worker, args=(self.port, "plain", n, ready, go,
                                                          seconds + 10, out, b"Bench-T: "),
                          daemon=True)
        sender = CTX.Process(target=sender_worker, args=(self.port, n, ready, go, sout, rate),
                             daemon=True)
        sub.start()
        sender.start()
        if not self._wait_ready(ready, 2):
            self._collect([sub, sender], out, 0, 1)
            return None
        c0, w0 = self.server.cpu_s(), time.monotonic()
        go.set()
        res = self._collect([sub], out, 1, seconds + 20)
        self._collect([sender], sout, 1, 10)
        wall = time.monotonic() - w0
        if not res or "error" in res[0]:
            return None
        lat = sorted(res[0]["latencies_ms"])
        if len(lat) < n:
            self.errors.append(f"latency: {len(lat)} of {n} events received")
        if not lat:
            return None

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]

        return {"p50": pct(50), "p99": pct(99), "max": lat[-1], "n": len(lat),
                "server_cpu_pct": 100 * (self.server.cpu_s() - c0) / wall}

    # -- connect/auth/exit cycles ------------------------------------------------------------
    def cycles(self, n: int, max_s: float) -> dict:
        out, go = CTX.Queue(), CTX.Event()
        progress = CTX.Value("i", 0)
        p = CTX.Process(target=cycle_worker, args=(self.port, n, max_s, go, out, progress),
                        daemon=True)
        p.start()
        rss = [(0, self.server.rss_mb())]
        c0, w0 = self.server.cpu_s(), time.monotonic()
        go.set()
        last = 0
        while p.is_alive() and time.monotonic() - w0 < max_s + 15:
            time.sleep(0.05)  # sampling the server's RSS as the cycles go
            done = progress.value
            if done >= last + 2000 or (done and done >= n):
                rss.append((done, self.server.rss_mb()))
                last = done
        res = self._collect([p], out, 1, 10)
        wall = time.monotonic() - w0
        time.sleep(0.3)  # let the server finish closing the last connections
        r = res[0] if res else {"n": progress.value, "elapsed": wall, "error": "no result"}
        return {"n": r.get("n", 0), "rate": r.get("n", 0) / r["elapsed"] if r.get("elapsed") else None,
                "server_cpu_pct": 100 * (self.server.cpu_s() - c0) / wall,
                "rss_mb_by_cycles": rss, "rss_mb_after": self.server.rss_mb(),
                "error": r.get("error")}


def run_suite(b: Bench, ref: Bench | None, *, runs: int, api_s: float, ev_n: dict[int, int],
              lat_s: float, lat_runs: int, n_cycles: int, cycles_max_s: float, api_procs: int,
              formats: tuple[str, ...], reserve: float) -> tuple[dict, dict | None]:
    """Every measurement against ``b.server`` and, when ``ref`` is given, against the reference
    relay too, the runs alternating (softswitch, relay, softswitch, …) so that a burst of load
    from elsewhere on the machine hits both. Connect cycles come first, so that the RSS
    comparison is against the RSS right after start."""
    server = b.server
    res: dict = {"rss_mb_after_start": server.rss_mb()}
    rres: dict | None = {"rss_mb_after_start": ref.server.rss_mb()} if ref else None

    def cycles(bench: Bench, out: dict, n: int, max_s: float) -> None:
        cyc = bench.cycles(n, max_s=max_s)
        out["connect_auth_exit"] = {k: (round(v, 1) if isinstance(v, float) else v)
                                    for k, v in cyc.items()}
        start = out["rss_mb_after_start"]
        out["rss_growth_pct_after_cycles"] = (
            round(100 * (cyc["rss_mb_after"] - start) / start, 1)
            if start and cyc["rss_mb_after"] else None)

    cycles(b, res, n_cycles, cycles_max_s)
    if ref:
        cycles(ref, rres, min(n_cycles, 3000), 4.0)

    def alternate(fn, with_ref: bool, warmup) -> tuple[list, list]:
        """``runs`` runs of ``fn(bench)``, alternating with the reference when asked."""
        mine, theirs = [], []
        fn(b, *warmup)
        if with_ref:
            fn(ref, *warmup)
        for _ in range(runs):
            if b.left() < reserve:
                break
            mine.append(fn(b))
            if with_ref:
                theirs.append(fn(ref))
        return [r for r in mine if r], [r for r in theirs if r]

    def ratio(mine: list, theirs: list, key) -> float | None:
        pairs = [key(m) / key(t) for m, t in zip(mine, theirs, strict=False) if m and t and key(t)]
        return round(median(pairs), 3) if pairs else None

    # api round trips
    def api_summary(rs: list) -> dict:
        return {"per_s": series([r["rate"] for r in rs], 0),
                "server_cpu_pct": round(median([r["server_cpu_pct"] for r in rs]) or 0, 1),
                "client_cpu_pct": round(median([r["client_cpu_pct"] for r in rs]) or 0, 1)}

    per = max(1, 8 // api_procs)
    for key, procs_n, conns in (("api_1conn", 1, 1), ("api_8conn", 8 // per, per)):
        mine, theirs = alternate(lambda bench, d=api_s, p=procs_n, c=conns: bench.api(p, c, d),
                                 ref is not None, (min(api_s, 0.2),))
        layout = (f"{procs_n} process{'es' if procs_n > 1 else ''} x {conns} "
                  f"connection{'s' if conns > 1 else ''}")
        res[key] = dict(api_summary(mine), layout=layout)
        if ref:
            rres[key] = dict(api_summary(theirs), layout=layout)
            res[key]["ratio_to_reference"] = ratio(mine, theirs, lambda r: r["rate"])

    # events
    def ev_summary(rs: list, n: int) -> dict:
        return {"events_per_run": n, "runs_done": len(rs),
                "per_sub_min_per_s": series([r["per_sub"] for r in rs], 0),
                "per_sub_median_per_s": series([r["per_sub_median"] for r in rs], 0),
                "aggregate_per_s": series([r["aggregate"] for r in rs], 0),
                "sender_replies_per_s": series([r["sender_replies_per_s"] for r in rs], 0),
                "server_cpu_pct": round(median([r["server_cpu_pct"] for r in rs]) or 0, 1)}

    for fmt in formats:
        for subs in (1, 4):
            n = ev_n[subs]
            with_ref = ref is not None and fmt == "plain"
            mine, theirs = alternate(lambda bench, k=n, f=fmt, s=subs: bench.events(f, s, k), with_ref,
                                     (min(n, 2000),))
            key = f"events_{fmt}_{subs}sub"
            res[key] = ev_summary(mine, n)
            if with_ref:
                rres[key] = ev_summary(theirs, n)
                res[key]["ratio_to_reference"] = ratio(mine, theirs, lambda r: r["per_sub"])

    # latency at 1,000 events/s
    def lat_summary(rs: list) -> dict:
        return {"runs_done": len(rs), "events_per_run": int(1000 * lat_s),
                "p50": series([r["p50"] for r in rs], 3),
                "p99": series([r["p99"] for r in rs], 3),
                "max": series([r["max"] for r in rs], 3),
                "server_cpu_pct": round(median([r["server_cpu_pct"] for r in rs]) or 0, 1)}

    mine, theirs = [], []
    for _ in range(lat_runs):
        if b.left() < lat_s + 3:
            break
        mine.append(b.latency(1000.0, lat_s))
        if ref:
            theirs.append(ref.latency(1000.0, lat_s))
    res["latency_1000_per_s_ms"] = lat_summary([r for r in mine if r])
    if ref:
        rres["latency_1000_per_s_ms"] = lat_summary([r for r in theirs if r])
    for out, srv in ((res, server), (rres, ref.server if ref else None)):
        if out is not None:
            out["rss_mb_at_end"] = srv.rss_mb()
            out["server_cpu_s_total"] = round(srv.cpu_s(), 1)
    return res, rres


def check_targets(r: dict) -> Targets:
    t = Targets()
    t.check("api_1conn_per_s", r["api_1conn"]["per_s"]["median"], ">=", TARGETS["api_1conn_per_s"], "/s")
    t.check("api_8conn_per_s", r["api_8conn"]["per_s"]["median"], ">=", TARGETS["api_8conn_per_s"], "/s")
    t.check("events_plain_1sub_per_s", r["events_plain_1sub"]["per_sub_min_per_s"]["median"], ">=",
            TARGETS["events_plain_1sub_per_s"], "/s")
    t.check("events_plain_4sub_per_s_each", r["events_plain_4sub"]["per_sub_min_per_s"]["median"],
            ">=", TARGETS["events_plain_4sub_per_s_each"], "/s")
    t.check("latency_p99_ms_at_1000_per_s", r["latency_1000_per_s_ms"]["p99"]["median"], "<=",
            TARGETS["latency_p99_ms"], "ms")
    t.check("connect_auth_exit_per_s", r["connect_auth_exit"]["rate"], ">=",
            TARGETS["connect_auth_exit_per_s"], "/s")
    t.check("rss_mb_after_start", r["rss_mb_after_start"], "<=", TARGETS["rss_mb_after_start"], "MB")
    t.check(f"rss_growth_pct_after_{r['connect_auth_exit']['n']}_cycles",
            r["rss_growth_pct_after_cycles"], "<=", TARGETS["rss_growth_pct_after_cycles"], "%")
    return t


def summary_lines(r: dict, label: str) -> list[str]:
    def ev(key: str) -> str:
        e = r[key]
        return (f"{e['per_sub_min_per_s']['median'] or 0:>8,.0f}/s per subscriber "
                f"(aggregate {e['aggregate_per_s']['median'] or 0:,.0f}/s, "
                f"server CPU {e['server_cpu_pct']}%, {e['runs_done']} runs)")

    lat = r["latency_1000_per_s_ms"]
    cyc = r["connect_auth_exit"]
    out = [
        label,
        f"  api t_echo, 1 connection:  {r['api_1conn']['per_s']['median'] or 0:>8,.0f}/s "
        f"(server CPU {r['api_1conn']['server_cpu_pct']}%)",
        f"  api t_echo, 8 connections: {r['api_8conn']['per_s']['median'] or 0:>8,.0f}/s "
        f"(server CPU {r['api_8conn']['server_cpu_pct']}%, {r['api_8conn']['layout']})",
    ]
    for key in [k for k in r if k.startswith("events_")]:
        fmt, subs = key.split("_")[1:3]
        out.append(f"  events {fmt:5} -> {subs[:-3]} sub{'s' if subs[0] != '1' else ' '}: {ev(key)}")
    out += [
        f"  latency at 1,000 ev/s: p50 {lat['p50']['median']} ms, p99 {lat['p99']['median']} ms, "
        f"max {lat['max']['median']} ms ({lat['runs_done']} runs)",
        f"  connect+auth+exit: {cyc['rate'] or 0:,.0f}/s over {cyc['n']} cycles; RSS "
        f"{r['rss_mb_after_start']} MB after start, {cyc['rss_mb_after']} MB after the cycles "
        f"({r['rss_growth_pct_after_cycles']}%), {r['rss_mb_at_end']} MB at the end",
    ]
    return out


# ============================================================================================
# many listeners (--many N): N idle connections each subscribed to HEARTBEAT
# ============================================================================================

HEARTBEAT_SUB = b"auth ClueCon\n\nevent plain HEARTBEAT\n\n"
SUB_REPLIES = AUTH_REQUEST + AUTH_OK + b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"


def raise_fd_limit(need: int) -> int:
    """Raise this process's open files limit (and so the forked server's) to ``need`` if the
    hard limit allows; returns the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def many_listeners(server: Server, n: int, timeout: float = 120.0) -> dict:
    """Open ``n`` connections that authenticate and subscribe to HEARTBEAT (pipelined from
    one select loop, 500 connects in flight at most); then one ``sendevent HEARTBEAT`` from
    another connection, and the time until every subscriber has the whole event."""
    sel = selectors.DefaultSelector()
    rss0 = server.rss_mb()
    conns: list[socket.socket] = []
    got: dict[int, bytearray] = {}
    done = 0
    t0 = time.monotonic()
    deadline = t0 + timeout
    pending = 0
    while done < n and time.monotonic() < deadline:
        while len(conns) < n and pending < 500:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", server.port))
            conns.append(s)
            got[s.fileno()] = bytearray()
            sel.register(s, selectors.EVENT_WRITE, "connect")
            pending += 1
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            if key.data == "connect":
                s.send(HEARTBEAT_SUB)
                sel.modify(s, selectors.EVENT_READ, "read")
                continue
            try:
                chunk = s.recv(4096)
            except BlockingIOError:
                continue
            if not chunk:
                raise RuntimeError("the server closed a subscriber during set-up: "
                                   + server.tail(500))
            buf = got[s.fileno()]
            buf += chunk
            if len(buf) >= len(SUB_REPLIES):
                if bytes(buf[:len(SUB_REPLIES)]) != SUB_REPLIES:
                    raise RuntimeError(f"unexpected set-up reply {bytes(buf)[:200]!r}")
                del buf[:len(SUB_REPLIES)]
                sel.unregister(s)
                pending -= 1
                done += 1
    setup_s = time.monotonic() - t0
    if done < n:
        raise RuntimeError(f"only {done} of {n} subscribers set up within {timeout} s")
    time.sleep(2.5)  # idle (the server parks connections idle for 1 s): then its memory
    rss1 = server.rss_mb()
    # one HEARTBEAT to all
    for s in conns:
        sel.register(s, selectors.EVENT_READ)
    sender = connect_auth(server.port)
    t1 = time.monotonic()
    sender.sendall(b"sendevent HEARTBEAT\nX-Bench: many\n\n")
    complete = 0
    need: dict[int, int] = {}
    while complete < n and time.monotonic() < t1 + 60:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("a subscriber was closed")
            fd = s.fileno()
            buf = got[fd]
            buf += chunk
            if fd not in need and b"\n\n" in buf:
                head = bytes(buf[:buf.index(b"\n\n")])
                need[fd] = buf.index(b"\n\n") + 2 + int(head.split(b"Content-Length: ")[1].split(b"\n")[0])
            if fd in need and len(buf) >= need[fd]:
                sel.unregister(s)
                complete += 1
    fanout_s = time.monotonic() - t1
    sender.close()
    for s in conns:
        s.close()
    sel.close()
    return {"n": n, "setup_s": round(setup_s, 3), "fanout_s": round(fanout_s, 3),
            "reached": complete,
            "rss_mb_before": rss0, "rss_mb_with_idle_subscribers": rss1,
            "kb_per_idle_connection": round((rss1 - rss0) * 1024 / n, 2) if rss0 and rss1 else None}


def main_many(n: int, runs: int, loglevel: str) -> int:
    env = environment()
    limit = raise_fd_limit(n + 1000)
    if limit < n + 100:
        print(f"the open files limit is {limit}: too low for {n} connections (and the hard "
              f"limit does not allow more); use a smaller --many", file=sys.stderr)
        return 2
    t_start = time.monotonic()
    rows, errors = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="softswitch-bench-esl-many-") as tmp:
            server = Server(pathlib.Path(tmp) / "softswitch", loglevel,
                            {"max-connections": str(n + 100)})
            try:
                server.wait_ready()
                time.sleep(0.5)  # settle
                rows.append(many_listeners(server, n))
            except RuntimeError as e:
                errors.append(str(e))
            finally:
                server.stop()
    t = Targets()
    results = {k: series([r[k] for r in rows], 3) for k in
               ("setup_s", "fanout_s", "kb_per_idle_connection", "rss_mb_before",
                "rss_mb_with_idle_subscribers")}
    if n >= 10_000:
        t.check("many_setup_s", results["setup_s"]["median"], "<=", 5.0, "s")
        t.check("many_kb_per_idle_connection", results["kb_per_idle_connection"]["median"], "<=",
                10.0, "KB")
        t.check("many_heartbeat_to_all_s", results["fanout_s"]["median"], "<=", 1.0, "s")
    report = {"bench": "esl-many", "env": env, "params": {"connections": n, "runs": runs,
                                                          "fd_limit": limit},
              "results": results, "targets": t.as_dict(), "all_targets_pass": t.all_pass,
              "errors": errors[:5], "seconds": round(time.monotonic() - t_start, 1)}
    summary = [f"esl many listeners: {n} connections each subscribed to HEARTBEAT; median of "
               f"{len(rows)} runs ({report['seconds']} s)"]
    for k, v in results.items():
        summary.append(f"  {k}: {v['median']} (min {v['min']}, max {v['max']})")
    summary += ["targets (issue 18; FreeSWITCH: 1,000 such connections take it from 24 MB to "
                "1.58 GB):", *t.lines()]
    if errors:
        summary.append(f"errors: {'; '.join(errors[:3])}")
    emit(report, summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (< 20 s in all)")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure (default 5, quick 3)")
    ap.add_argument("--api-procs", type=int, default=2,
                    help="client processes sharing the 8 api connections (default 2 x 4)")
    ap.add_argument("--loglevel", default="debug", help="server switch.conf loglevel (debug)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole run (default 115, quick 19)")
    ap.add_argument("--reference", action=argparse.BooleanOptionalAction, default=None,
                    help="also measure a trivial gevent relay with the same clients "
                         "(default: on, off with --quick)")
    ap.add_argument("--many", type=int, default=None, metavar="N",
                    help="instead: the many-listeners case, N idle connections each subscribed "
                         "to HEARTBEAT (issue 18: 10000)")
    args = ap.parse_args(argv)
    if args.many:
        return main_many(args.many, args.runs or 3, args.loglevel)
    quick = args.quick
    env = environment()
    runs = args.runs or (3 if quick else 5)
    budget = args.budget or (19.0 if quick else 115.0)
    reference = (not quick) if args.reference is None else args.reference
    t_start = time.monotonic()
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="softswitch-bench-esl-") as tmp:
        root = pathlib.Path(tmp)
        server = Server(root / "softswitch", args.loglevel)
        relay = None
        try:
            ready_s = round(server.wait_ready(), 2)
            relay = RelayServer(root) if reference else None
            time.sleep(0.5)  # settle
            b = Bench(server, t_start + budget)
            rb = Bench(relay, t_start + budget) if relay else None
            results, ref_results = run_suite(
                b, rb, runs=runs, api_s=0.3 if quick else 0.7,
                ev_n={1: 5_000 if quick else 15_000, 4: 3_000 if quick else 10_000},
                lat_s=1.0 if quick else 1.5, lat_runs=1 if quick else runs,
                n_cycles=2_000 if quick else 20_000,
                cycles_max_s=6.0 if quick else min(40.0, b.left() - 60),
                api_procs=args.api_procs, formats=("plain", "json"),
                reserve=4.0 if quick else 25.0)
            results["server_ready_s"] = ready_s
            errors += b.errors + [f"reference: {e}" for e in (rb.errors if rb else [])]
        finally:
            if relay is not None:
                relay.stop()
            code = server.stop()
            log_size = server.log_path.stat().st_size if server.log_path.exists() else 0
            out_tail = server.tail(1500) if code not in (0, None) else ""
    t = check_targets(results)
    report = {
        "bench": "esl",
        "mode": "quick" if quick else "full",
        "env": env,
        "params": {"runs": runs, "server_loglevel": args.loglevel, "sendevent_bytes": len(SENDEVENT),
                   "event_headers": 25, "api_procs": args.api_procs, "budget_s": budget},
        "results": results,
        "targets": t.as_dict(),
        "all_targets_pass": t.all_pass,
        "reference_trivial_gevent_relay": ref_results,
        "errors": errors[:20],
        "server_exit_code": code,
        "server_log_bytes": log_size,
        "seconds": round(time.monotonic() - t_start, 1),
    }
    if out_tail:
        report["server_output_tail"] = out_tail
    summary = summary_lines(
        results, f"esl: softswitch + mod_event_socket on loopback, raw-socket clients in other "
                 f"processes; median of {runs} runs ({report['seconds']} s, {report['mode']})")
    summary += ["targets:", *t.lines()]
    if ref_results:
        summary += summary_lines(ref_results, "reference (same clients, trivial gevent relay, no "
                                              "kernel; runs alternating with the ones above):")
        summary.append("  ratio softswitch/reference (median of paired runs): " + ", ".join(
            f"{k} {v['ratio_to_reference']}" for k, v in results.items()
            if isinstance(v, dict) and v.get("ratio_to_reference") is not None))
    if errors:
        summary.append(f"errors: {'; '.join(errors[:5])}")
    emit(report, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
