"""Soak: fuzzed Event Socket frames from many connections, then is the server still well?

    python bench/soak.py [--frames N] [--conns C] [--procs P] [--max-seconds S] [--seed X]

A real softswitch process (bench/esl.py's server: mod_event_socket, the test module and
mod_commands, for ``status``) takes
``--frames`` frames (default 10^6; ``--frames 20000`` for a short run) from ``--conns``
connections spread over ``--procs`` client processes. Each connection authenticates, then
sends frames drawn at random: good commands (``api t_echo``, ``event``, ``filter``,
``sendevent`` with arbitrary bytes in headers and bodies, ``log``/``nolog``), malformed ones
(binary garbage, header lines without a colon, NUL bytes, CR-only line ends, unknown
commands), huge ones (header blocks up to 256 KB, bodies up to 1 MB), truncated ones (the
connection closes in the middle), fatal ones (a negative or oversized Content-Length: the
server drops the connection, the client reconnects) and slowloris ones (a frame sent a few
bytes at a time). Clients read and discard whatever the server sends, so neither side stalls
on a full socket buffer. The run is bounded by ``--max-seconds`` (default 600) as well.

Then, on a fresh connection: 200 ``api status`` round trips (median and p99), the server's
RSS against its RSS after start, and whether it is still running. One JSON line, then a
summary.

Targets (issue 18): no crash, no hang; RSS within 1.5x of start; ``api status`` round trip
under 5 ms right after.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import pathlib
import random
import socket
import sys
import tempfile
import time

from _common import Targets, emit, environment, median
from esl import Server, connect_auth

CTX = mp.get_context("fork")

GOOD = [
    b"api t_echo %s\n\n",
    b"api t_nothing_here %s\n\n",
    b"event plain CUSTOM soak::%s\n\n",
    b"event json HEARTBEAT CUSTOM soak::x\n\n",
    b"nixevent CUSTOM soak::%s\n\n",
    b"noevents\n\n",
    b"filter X-Soak %s\n\n",
    b"filter delete all\n\n",
    b"log %s\n\n",
    b"nolog\n\n",
    b"myevents %s\n\n",
    b"sendmsg %s\n\n",
    b"bgapi t_echo %s\n\n",
]


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def word(rng: random.Random) -> bytes:
    return rng.choice([b"x", b"1", b"\xe9t\xe9", b"\xff\xfe", b"debug", b"-1", b"%41",
                       rng.randbytes(rng.randint(1, 12)).replace(b"\n", b"").replace(b"\0", b"")])


def frame(rng: random.Random) -> tuple[str, bytes]:
    """One fuzzed frame: (kind, bytes)."""
    r = rng.random()
    if r < 0.40:
        return "good", rng.choice(GOOD).replace(b"%s", word(rng))
    if r < 0.60:
        headers = b"".join(b"X-%d: %s\n" % (i, word(rng)) for i in range(rng.randint(0, 12)))
        body = rand_bytes(rng, rng.randint(0, 300)).replace(b"\0", b"")
        cl = b"Content-Length: %d\n" % len(body) if body else b""
        return "sendevent", (b"sendevent " + rng.choice([b"CUSTOM", b"HEARTBEAT", b"NOPE", b""])
                             + b"\nEvent-Subclass: soak::x\n" + headers + cl + b"\n" + body)
    if r < 0.80:
        junk = rand_bytes(rng, rng.randint(1, 400))
        return "garbage", junk + rng.choice([b"\n\n", b"\r\n\r\n", b"", b"\n"])
    if r < 0.927:
        return "malformed", rng.choice([
            b"no colon header\nJust a line\nAnother\n\n",
            b"api t_echo a\r\rb\r\n\r\n",
            b"event plain\0CUSTOM\n\n",
            b"\n\n\n\r\n",
            b"sendevent CUSTOM\nName\0: v\nContent-Length: abc\n\n",
            b"api t_echo " + b"y" * rng.randint(1000, 5000) + b"\n\n",
        ])
    if r < 0.929:  # 0.2 %: 10^6 frames carry ~0.5 GB of them
        big = rng.randint(10_000, 256_000)
        if rng.random() < 0.5:
            return "huge", b"api t_echo z\nX-Big: " + b"h" * big + b"\n\n"
        body = b"b" * rng.randint(100_000, 1_000_000)
        return "huge", b"sendevent CUSTOM\nContent-Length: %d\n\n" % len(body) + body
    if r < 0.97:
        return "truncated", rng.choice([b"api t_echo never", b"sendevent CUSTOM\nContent-Length: 100\n\nabc"])
    if r < 0.985:
        return "fatal", rng.choice([b"sendevent\nContent-Length: -5\n\n",
                                    b"sendevent\nContent-Length: 99999999\n\n"])
    return "slowloris", b"api t_echo slow\nX-Slow: " + b"s" * rng.randint(10, 60) + b"\n\n"


def drain(s: socket.socket) -> None:
    try:
        while s.recv(1 << 20):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def send_all(s: socket.socket, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        try:
            n = s.send(view)
            view = view[n:]
        except BlockingIOError:
            drain(s)
            if time.monotonic() > deadline:
                raise TimeoutError("the server does not read") from None
            time.sleep(0.0005)  # the socket buffer is full: let the server catch up


def open_conn(port: int) -> socket.socket:
    s = connect_auth(port)
    s.setblocking(False)
    return s


def client(port: int, conns: int, frames: int, seed: int, deadline: float, out) -> None:
    rng = random.Random(seed)
    kinds: dict[str, int] = {}
    sent = reconnects = 0
    error = None
    try:
        socks = [open_conn(port) for _ in range(conns)]
        while sent < frames and time.monotonic() < deadline:
            i = rng.randrange(conns)
            s = socks[i]
            kind, data = frame(rng)
            kinds[kind] = kinds.get(kind, 0) + 1
            try:
                if kind == "slowloris":
                    for k in range(0, len(data), 7):
                        send_all(s, data[k:k + 7], deadline)
                        time.sleep(0.0002)  # a slow client: a few bytes at a time
                else:
                    send_all(s, data, deadline)
                drain(s)
            except (ConnectionError, OSError):
                kind = "fatal"  # the server dropped it (as it must after a fatal frame)
            sent += 1
            if kind in ("truncated", "fatal"):
                s.close()
                socks[i] = open_conn(port)
                reconnects += 1
        for s in socks:
            drain(s)
            s.close()
    except Exception as e:  # noqa: BLE001 - reported in the results
        error = f"{type(e).__name__}: {e}"
    out.put({"sent": sent, "kinds": kinds, "reconnects": reconnects, "error": error})


def api_round_trips(port: int, n: int = 200) -> list[float]:
    s = connect_auth(port)
    s.setblocking(True)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(b"api status\n\n")
            buf = b""
            while b"\n\n" not in buf:
                buf += s.recv(65536)
            head, _, rest = buf.partition(b"\n\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\n")[0])
            while len(rest) < length:
                rest += s.recv(65536)
            times.append((time.perf_counter() - t0) * 1000)
            if not rest.startswith(b"UP "):
                raise RuntimeError(f"api status answered {rest[:80]!r} (is mod_commands installed?)")
    finally:
        s.close()
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames in all (default 10^6)")
    ap.add_argument("--conns", type=int, default=100, help="connections in all (default 100)")
    ap.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="bound on the fuzzing time")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--loglevel", default="info", help="server switch.conf loglevel (info)")
    args = ap.parse_args(argv)
    env = environment()
    t_start = time.monotonic()
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="softswitch-bench-soak-") as tmp:
        server = Server(pathlib.Path(tmp) / "softswitch", args.loglevel,
                        {"max-connections": str(args.conns * 4 + 100)},
                        extra_modules='  <load module="mod_commands"/>\n')
        try:
            server.wait_ready()
            time.sleep(0.5)  # settle
            before = api_round_trips(server.port, 50)
            rss0 = server.rss_mb()
            out = CTX.Queue()
            per = max(1, args.frames // args.procs)
            deadline = time.monotonic() + args.max_seconds
            procs = [CTX.Process(target=client, args=(server.port, max(1, args.conns // args.procs),
                                                      per, args.seed + i, deadline, out), daemon=True)
                     for i in range(args.procs)]
            t0 = time.monotonic()
            for p in procs:
                p.start()
            res = []
            for _ in procs:
                try:
                    res.append(out.get(timeout=args.max_seconds + 120))
                except Exception:  # noqa: BLE001
                    errors.append("a client process did not report (hung?)")
            fuzz_s = time.monotonic() - t0
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
            alive = server.proc.poll() is None
            after = api_round_trips(server.port) if alive else []
            rss1 = server.rss_mb() if alive else None
            errors += [r["error"] for r in res if r.get("error")]
        finally:
            code = server.stop()
            tail = server.tail(1500)
    kinds: dict[str, int] = {}
    for r in res:
        for k, v in r["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
    sent = sum(r["sent"] for r in res)
    after_sorted = sorted(after)
    results = {
        "frames_sent": sent, "frames_by_kind": kinds,
        "reconnects": sum(r["reconnects"] for r in res),
        "fuzz_seconds": round(fuzz_s, 1), "frames_per_s": round(sent / fuzz_s) if fuzz_s else None,
        "server_alive_after": alive, "server_exit_code": code,
        "rss_mb_start": rss0, "rss_mb_after": rss1,
        "rss_ratio": round(rss1 / rss0, 2) if rss0 and rss1 else None,
        "api_status_ms_before_median": round(median(before), 3) if before else None,
        "api_status_ms_after_median": round(median(after), 3) if after else None,
        "api_status_ms_after_p99": round(after_sorted[int(len(after_sorted) * 0.99) - 1], 3) if after else None,
    }
    t = Targets()
    t.check("server_alive_after", 1 if alive else 0, ">=", 1)
    t.check("all_frames_sent", sent, ">=", args.frames)
    t.check("rss_ratio", results["rss_ratio"], "<=", 1.5, "x")
    t.check("api_status_ms_after_median", results["api_status_ms_after_median"], "<=", 5.0, "ms")
    report = {"bench": "soak", "env": env, "params": vars(args), "results": results,
              "targets": t.as_dict(), "all_targets_pass": t.all_pass, "errors": errors[:5],
              "seconds": round(time.monotonic() - t_start, 1)}
    if code not in (0, None):
        report["server_output_tail"] = tail
    summary = [
        f"soak: {sent} fuzzed frames from {args.conns} connections in {args.procs} processes "
        f"({results['fuzz_seconds']} s, {results['frames_per_s']} frames/s)",
        f"  by kind: {kinds}; reconnects {results['reconnects']}",
        f"  server alive: {alive}; RSS {rss0} MB -> {rss1} MB ({results['rss_ratio']}x)",
        f"  api status round trip: {results['api_status_ms_before_median']} ms before, "
        f"{results['api_status_ms_after_median']} ms after (p99 {results['api_status_ms_after_p99']})",
        "targets:", *t.lines(),
    ]
    if errors:
        summary.append(f"errors: {'; '.join(errors[:3])}")
    emit(report, summary)
    return 0 if t.all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
