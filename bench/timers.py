"""Benchmark of mod_softtimer: how late does ``timer.next()`` return, and at what CPU cost?

For 1, 100 and 1,000 concurrent 20 ms ``soft`` timers (one greenlet each, as media paths use
them), each case runs ``--seconds`` (default 10) and measures:

* **per-timer lateness**: for every return of ``timer.next()``, the time since the tick's ideal
  deadline (``origin + k × 20 ms`` on CLOCK_MONOTONIC, the module's absolute deadline);
  p50/p99/max. This includes waking the other timers of the same tick before this one: the
  k-th greenlet of a tick resumes after the k−1 before it (one thread, one hub). A return is
  recorded as two integers in preallocated arrays shared by all the greenlets (lateness is
  computed after the run), and only every ``--record-every``-th greenlet records (default:
  about 100 per tick), spread along the tick's hand-over: recording costs about as much as a
  timer's own work, and every recording greenlet delays all those after it, so recording them
  all would measure the benchmark;
* **µs per timer**: the time the module's hub callback takes to deliver a tick to all the
  timers and resume them all, over the number of timers (median over ticks);
* **clock wake-up lateness**: how late the module's clock loop itself woke (one wake-up per
  tick, shared by all the timers);
* **CPU**: process CPU time (user+sys, ``time.process_time``) over wall time, as % of one core;
  voluntary context switches (≈ OS wake-ups), the clock loop's wake-ups, skipped ticks;
* **spin window** (switch.conf ``softtimer-spin-usec``): the share of wall time the hub spent
  polling between an early OS wake-up and the deadline (part of the CPU above, as % of one
  core), how many ticks had a window, and how many were woken after the deadline anyway;
* **timer_test 20 100**: mod_commands' measurement reproduced through the timer API (open
  ``soft`` 20 ms with 1 sample, ``next`` once, then 100 × ``next`` timing µs between returns;
  ``Avg: %0.3fms Total Time: %0.3fms``), and through ``core.api_execute("timer_test", "20
  100")`` when mod_commands is installed.

Runs in-process on a kernel built by ``softswitch.testing.make_core``. Prints one JSON line with
every figure, then a human summary. Usage::

    python bench/timers.py [--seconds 10] [--cases 1,100,1000] [--no-timerfd] [--no-floor]
                           [--record-every K]

mod_softtimer runs its C hot path when its optional extension is built (the summary says
which); ``SOFTSWITCH_PURE_PYTHON=1`` in the environment measures its Python code.

A last "floor" case resumes the largest number of greenlets per tick *without* the timer API:
one soft timer's greenlet (the clock's one wake-up) hands over to N bare greenlets that do
nothing but park again, one after the other, the last handing back to it; they record as the
timer cases do. Its µs per greenlet (the hand-over timed by that greenlet) is the cheapest
resume of a greenlet in this process, and its lateness is what any design that resumes one
greenlet per timer per tick could reach here at best.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from array import array
from collections import deque

import gevent

INTERVAL_MS = 20


def _pct(sorted_vals: list[int], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * len(sorted_vals))) - 1))
    return sorted_vals[i] / 1e6


def _summary(vals: list[int]) -> dict:
    s = sorted(vals)
    return {"n": len(s), "p50_ms": _pct(s, 50), "p99_ms": _pct(s, 99),
            "max_ms": s[-1] / 1e6 if s else float("nan"), "min_ms": s[0] / 1e6 if s else float("nan"),
            "mean_ms": (sum(s) / len(s) / 1e6) if s else float("nan")}


class Recorder:
    """Returns of a paced wait as (monotonic ns, clock tick), in two preallocated arrays."""

    def __init__(self, n: int, seconds: float) -> None:
        self.cap = n * (int((seconds + WARMUP + 1.0) * 1000 / INTERVAL_MS) + 4)
        self.ts = array("q", bytes(8 * self.cap))
        self.ticks = array("q", bytes(8 * self.cap))
        self.seq = itertools.count().__next__  # next free slot: one C call

    def lateness(self, t0: int, t1: int, origin: int, step: int) -> dict:
        """Lateness of the returns recorded in [t0, t1)."""
        used = min(self.seq(), self.cap)
        lat = [ts - (origin + k * step)
               for ts, k in zip(self.ts[:used], self.ticks[:used], strict=True) if t0 <= ts < t1]
        return {"returns_recorded": len(lat), "lateness": _summary(lat)}


def _window(seconds: float):
    """Run for ``seconds``; return (mono ns start, end, wall s, cpu %, ctx switches/s)."""
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t0 = time.process_time(), time.monotonic_ns()
    gevent.sleep(seconds)
    cpu1, t1 = time.process_time(), time.monotonic_ns()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = (t1 - t0) / 1e9
    return (t0, t1, wall, round(100 * (cpu1 - cpu0) / wall, 2),
            round((ru1.ru_nvcsw - ru0.ru_nvcsw) / wall, 1))


WARMUP = 0.3


def _record_every(n: int, every: int) -> int:
    return every if every > 0 else max(1, n // 100)


def run_case(core, engine, n: int, seconds: float, every: int) -> dict:
    """``n`` greenlets, each with its own 20 ms soft timer, for ``seconds``."""
    from softswitch import TimerError

    every = _record_every(n, every)
    timers = [core.timer_open("soft", INTERVAL_MS, 160) for _ in range(n)]
    clock = timers[0].private.clock
    rec = Recorder(-(-n // every), seconds)
    ts, ticks, seq = rec.ts, rec.ticks, rec.seq
    mono = time.monotonic_ns

    def pace(timer):
        nxt = timer.next
        try:
            while not nxt():  # SUCCESS is 0; GENERR once the timer is destroyed
                pass
        except TimerError:
            pass

    def pace_recording(timer):
        nxt, p = timer.next, timer.private
        try:
            while not nxt():
                t = mono()
                i = seq()
                ts[i] = t
                ticks[i] = p.last  # the clock tick this return is for
        except IndexError:  # the buffers are full (cannot happen in a bounded run): pace on
            pace(timer)
        except TimerError:
            pass

    # The module's hub callback that delivers a tick and resumes its timers, timed.
    fanout, spans, pc = engine.fanout, [], time.perf_counter_ns

    def timed_fanout(c):
        t = pc()
        fanout(c)
        spans.append(pc() - t)

    greenlets = [gevent.spawn(pace if i % every else pace_recording, t)
                 for i, t in enumerate(timers)]
    gevent.sleep(WARMUP)  # every greenlet has reached its first next()
    engine.lateness.clear()
    wake0, ticks0, skipped0 = engine.wakeups, clock.ticks, sum(t.skipped for t in timers)
    spin0 = _spin_counters(engine)
    engine.fanout = timed_fanout
    try:
        t0, t1, wall, cpu, cs = _window(seconds)
    finally:
        del engine.fanout
    wakeups, nticks = engine.wakeups - wake0, clock.ticks - ticks0
    spin = [b - a for a, b in zip(spin0, _spin_counters(engine), strict=True)]
    skipped = sum(t.skipped for t in timers) - skipped0
    clock_late = list(engine.lateness)
    for t in timers:
        t.destroy()  # wakes every greenlet parked in next()
    gevent.joinall(greenlets, timeout=5)
    return {
        "timers": n,
        "seconds": round(wall, 3),
        "record_every": every,
        **rec.lateness(t0, t1, engine.origin, clock.interval_ns),
        "us_per_timer": round(statistics.median(spans) / n / 1000, 3) if spans else None,
        "clock_wakeup_lateness": _summary(clock_late),
        "cpu_pct_one_core": cpu,
        "voluntary_ctx_switches_per_s": cs,
        "clock_wakeups": wakeups,
        "ticks": nticks,
        "wakeups_per_tick": round(wakeups / nticks, 3) if nticks else None,
        "skipped_ticks": skipped,
        "spin_usec": getattr(engine, "spin_ns", 0) // 1000,
        "spin_cpu_pct_one_core": round(100 * spin[0] / (t1 - t0), 2),
        "spin_windows": spin[1],
        "spin_missed": spin[2],
        "greenlets_left": sum(1 for g in greenlets if not g.dead),
    }


def _spin_counters(engine) -> tuple[int, int, int]:
    """The engine's spin-window counters: ns spent polling, windows, windows missed."""
    return (getattr(engine, "spin_ns_total", 0), getattr(engine, "spins", 0),
            getattr(engine, "spin_missed", 0))


def run_floor(core, engine, n: int, seconds: float, every: int) -> dict:
    """The cost floor: ``n`` bare greenlets resumed per tick, without the timer API.

    One soft timer's greenlet (woken by the clock, once per tick) hands over to the ``n``
    greenlets one after the other, each handing over to the next as the module's hand-over
    does, the last one back to it; every ``every``-th one records its return as in
    :func:`run_case`.
    """
    from greenlet import getcurrent
    from greenlet import greenlet as raw

    switch = raw.switch  # not g.switch: no lookup in the instance dict of a gevent Greenlet
    every = _record_every(n, every)
    leader_timer = core.timer_open("soft", INTERVAL_MS, 160)
    p = leader_timer.private
    rec = Recorder(-(-n // every), seconds)
    ts, ticks, seq = rec.ts, rec.ticks, rec.seq
    mono = time.monotonic_ns
    parked: list = []
    chain: deque = deque()
    hub_switch = gevent.get_hub().switch
    spans: list[int] = []

    def bare():
        me, append, pop = getcurrent(), parked.append, chain.popleft
        while True:
            append(me)
            switch(pop()) if chain else hub_switch()

    def recording():
        me, append, pop = getcurrent(), parked.append, chain.popleft
        try:
            while True:
                append(me)
                switch(pop()) if chain else hub_switch()
                t = mono()
                i = seq()
                ts[i] = t
                ticks[i] = p.last
        except IndexError:
            bare()

    def lead():
        me, nxt, pop = getcurrent(), leader_timer.next, chain.popleft
        while not nxt():
            t = mono()
            chain.extend(parked)
            parked.clear()
            chain.append(me)
            switch(pop())  # the n greenlets run; the last one switches back here
            spans.append(mono() - t)

    greenlets = [gevent.spawn(bare if i % every else recording) for i in range(n)]
    gevent.sleep(0)  # all parked before the leader starts
    leader = gevent.spawn(lead)
    gevent.sleep(WARMUP)
    del spans[:]
    t0, t1, wall, cpu, cs = _window(seconds)
    leader_timer.destroy()
    leader.join(timeout=5)
    gevent.killall(greenlets, timeout=5)
    return {"timers": n, "seconds": round(wall, 3), "record_every": every,
            **rec.lateness(t0, t1, engine.origin, p.clock.interval_ns),
            "us_per_timer": round(statistics.median(spans) / n / 1000, 3) if spans else None,
            "cpu_pct_one_core": cpu, "voluntary_ctx_switches_per_s": cs}


def timer_test_api_reproduced(core, mss: int = 20, count: int = 100) -> dict:
    """mod_commands' ``timer_test`` measurement, done here through the timer API."""
    timer = core.timer_open("soft", mss, 1)
    try:
        timer.next()
        start = then = time.monotonic_ns() // 1000
        total = 0
        for _ in range(count):
            timer.next()
            now = time.monotonic_ns() // 1000
            total += now - then
            then = now
    finally:
        timer.destroy()
    avg = (total // count) / 1000
    text = "Avg: %0.3fms Total Time: %0.3fms" % (avg, (then - start) / 1000)
    return {"avg_ms": avg, "total_ms": (then - start) / 1000, "output": text}


def timer_test_via_api(core) -> dict | None:
    res = core.api_execute("timer_test", "20 100")
    if not res.found:
        return None
    m = re.search(r"Avg: ([0-9.]+)ms Total Time: ([0-9.]+)ms", res.output)
    return {"output": res.output.strip(), "avg_ms": float(m.group(1)) if m else None,
            "total_ms": float(m.group(2)) if m else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per case (default 10)")
    ap.add_argument("--cases", default="1,100,1000", help="timer counts (default 1,100,1000)")
    ap.add_argument("--no-timerfd", action="store_true", help="use the sleep fallback clock")
    ap.add_argument("--record-every", type=int, default=0, metavar="K",
                    help="record the returns of every K-th greenlet (default: about 100 a tick)")
    ap.add_argument("--no-floor", dest="floor", action="store_false",
                    help="skip the cost-floor case (greenlets parked on the clock, no timer API)")
    args = ap.parse_args(argv)
    cases = [int(x) for x in args.cases.split(",") if x.strip()]
    seconds = max(0.5, min(args.seconds, 15.0))  # bounded: < 60 s for the default run

    from importlib_metadata import entry_points

    from softswitch.testing import make_core

    installed = {ep.name for ep in entry_points(group="softswitch.modules")}
    if "mod_softtimer" not in installed:
        print("mod_softtimer is not installed (pip install plugins/mod_softtimer)", file=sys.stderr)
        return 2
    modules = ["mod_softtimer"] + (["mod_commands"] if "mod_commands" in installed else [])
    root = tempfile.mkdtemp(prefix="softswitch-bench-timers-")
    settings = {"loglevel": "err"}
    if args.no_timerfd:
        settings["enable-softtimer-timerfd"] = "false"
    logging.disable(logging.WARNING)
    core = make_core(root, modules, settings=settings)
    try:
        engine = core.modules.modules["mod_softtimer"].state.softtimer
        results = {
            "bench": "timers",
            "python": platform.python_version(),
            "gevent": gevent.__version__,
            "cpus": os.cpu_count(),
            "clock": engine.mode,
            "implementation": getattr(engine, "implementation", "Python"),
            "interval_ms": INTERVAL_MS,
            "cases": [],
        }
        results["loadavg_before"] = os.getloadavg()
        for n in cases:
            results["cases"].append(run_case(core, engine, n, seconds, args.record_every))
        if args.floor:
            results["floor"] = run_floor(core, engine, max(cases), min(seconds, 5.0),
                                         args.record_every)
        results["timer_test_20_100"] = timer_test_api_reproduced(core)
        if "mod_commands" in core.modules.modules:
            results["timer_test_20_100_mod_commands"] = timer_test_via_api(core)
        results["loadavg_after"] = os.getloadavg()
    finally:
        core.shutdown()
        logging.disable(logging.NOTSET)
        shutil.rmtree(root, ignore_errors=True)

    print(json.dumps(results))
    print(f"\nsoft timer, {INTERVAL_MS} ms, {results['clock']} clock, "
          f"{results['implementation']} hot path, {results['cpus']} CPUs, {seconds:g} s per case")
    print(f"{'timers':>10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'us/timer':>8} | "
          f"{'clock p50':>9} {'p99':>6} {'max':>6} | {'CPU %':>6} {'wake/tick':>9} {'cs/s':>5} "
          f"{'skipped':>7}")

    def us(c: dict) -> str:
        return f"{c['us_per_timer']:>8.2f}" if c.get("us_per_timer") is not None else f"{'-':>8}"

    for c in results["cases"]:
        la, cl = c["lateness"], c["clock_wakeup_lateness"]
        print(f"{c['timers']:>10} {la['p50_ms']:>7.3f} {la['p99_ms']:>7.3f} {la['max_ms']:>7.3f} "
              f"{us(c)} | {cl['p50_ms']:>9.3f} {cl['p99_ms']:>6.3f} {cl['max_ms']:>6.3f} | "
              f"{c['cpu_pct_one_core']:>6.2f} {c['wakeups_per_tick']!s:>9} "
              f"{c['voluntary_ctx_switches_per_s']:>5.0f} {c['skipped_ticks']:>7}")
    for c in results["cases"]:
        if c["spin_usec"]:
            print(f"{c['timers']:>10} spin window {c['spin_usec']} us: {c['spin_windows']} ticks "
                  f"polled, {c['spin_missed']} woken after the deadline; "
                  f"{c['spin_cpu_pct_one_core']:.2f} % of a core (in CPU %)")
    fl = results.get("floor")
    if fl:
        la = fl["lateness"]
        print(f"{'floor':>10} {la['p50_ms']:>7.3f} {la['p99_ms']:>7.3f} {la['max_ms']:>7.3f} "
              f"{us(fl)} | {'':>9} {'':>6} {'':>6} | {fl['cpu_pct_one_core']:>6.2f}   "
              f"({fl['timers']} bare greenlets resumed per tick, no timer API)")
    every = sorted({c["record_every"] for c in results["cases"]})
    print(f"lateness recorded for every K-th greenlet, K = {', '.join(map(str, every))} "
          "(--record-every)")
    la0, la1 = results["loadavg_before"], results["loadavg_after"]
    print(f"load average before/after: {la0[0]:.2f} / {la1[0]:.2f} (other processes share the CPUs)")
    print(f"timer_test 20 100 (through the timer API): {results['timer_test_20_100']['output']}")
    mc = results.get("timer_test_20_100_mod_commands")
    if mc:
        print(f"timer_test 20 100 (mod_commands API):      {mc['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
