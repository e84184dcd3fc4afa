"""Benchmark of mod_softtimer: how late does ``timer.next()`` return, and at what CPU cost?

For 1, 100 and 1,000 concurrent 20 ms ``soft`` timers (one greenlet each, as media paths use
them), each case runs ``--seconds`` (default 10) and measures:

* **per-timer lateness**: for every return of ``timer.next()``, the time since the tick's ideal
  deadline (``origin + k × 20 ms`` on CLOCK_MONOTONIC, the module's absolute deadline);
  p50/p99/max. This includes waking the other timers of the same tick before this one: the
  k-th greenlet of a tick resumes after the k−1 before it (one thread, one hub).
* **clock wake-up lateness**: how late the module's clock loop itself woke (one wake-up per
  tick, shared by all the timers);
* **CPU**: process CPU time (user+sys, ``time.process_time``) over wall time, as % of one core;
  voluntary context switches (≈ OS wake-ups), the clock loop's wake-ups, skipped ticks;
* **timer_test 20 100**: mod_commands' measurement reproduced through the timer API (open
  ``soft`` 20 ms with 1 sample, ``next`` once, then 100 × ``next`` timing µs between returns;
  ``Avg: %0.3fms Total Time: %0.3fms``), and through ``core.api_execute("timer_test", "20
  100")`` when mod_commands is installed.

Runs in-process on a kernel built by ``softswitch.testing.make_core``. Prints one JSON line with
every figure, then a human summary. Usage::

    python bench/timers.py [--seconds 10] [--cases 1,100,1000] [--no-timerfd] [--no-floor]

A last "floor" case parks the largest number of greenlets straight on the clock, without the
timer API: the cost of resuming that many greenlets per tick in this process, for comparison.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time

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


def run_case(core, engine, n: int, seconds: float) -> dict:
    """``n`` greenlets, each with its own 20 ms soft timer, for ``seconds``."""
    timers = [core.timer_open("soft", INTERVAL_MS, 160) for _ in range(n)]
    clock = timers[0].private.clock
    origin, step = engine.origin, clock.interval_ns
    mono = time.monotonic_ns
    state = {"record": False, "stop": False}
    samples: list[list[int]] = [[] for _ in range(n)]

    def pace(timer, out):
        append = out.append
        nxt = timer.next
        p = timer.private
        while not state["stop"]:
            if nxt():
                return  # destroyed at the end of the case
            if state["record"]:
                append(mono() - (origin + p.last * step))

    greenlets = [gevent.spawn(pace, t, s) for t, s in zip(timers, samples, strict=True)]
    gevent.sleep(0.3)  # warm-up: every greenlet has reached its first next()
    engine.lateness.clear()
    wake0, ticks0, skipped0 = engine.wakeups, clock.ticks, sum(t.skipped for t in timers)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = time.process_time(), time.monotonic()
    state["record"] = True
    gevent.sleep(seconds)
    state["record"] = False
    cpu1, wall1 = time.process_time(), time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    wakeups, ticks = engine.wakeups - wake0, clock.ticks - ticks0
    skipped = sum(t.skipped for t in timers) - skipped0
    clock_late = list(engine.lateness)
    state["stop"] = True
    for t in timers:
        t.destroy()  # wakes any greenlet still parked in next()
    gevent.joinall(greenlets, timeout=5)
    lat = [x for s in samples for x in s]
    wall = wall1 - wall0
    return {
        "timers": n,
        "seconds": round(wall, 3),
        "returns": len(lat),
        "lateness": _summary(lat),
        "clock_wakeup_lateness": _summary(clock_late),
        "cpu_pct_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "voluntary_ctx_switches_per_s": round((ru1.ru_nvcsw - ru0.ru_nvcsw) / wall, 1),
        "clock_wakeups": wakeups,
        "ticks": ticks,
        "wakeups_per_tick": round(wakeups / ticks, 3) if ticks else None,
        "skipped_ticks": skipped,
        "greenlets_left": sum(1 for g in greenlets if not g.dead),
    }


def run_floor(core, engine, n: int, seconds: float) -> dict:
    """The cost floor: ``n`` greenlets parked straight on the 20 ms clock, no timer API.

    Same clock loop, same hand-over from greenlet to greenlet, none of the per-timer
    bookkeeping: what resuming ``n`` greenlets per tick costs in this process by itself.
    """
    from greenlet import getcurrent

    keep = core.timer_open("soft", INTERVAL_MS, 160)  # keeps the 20 ms clock alive
    clock = keep.private.clock
    origin, step = engine.origin, clock.interval_ns
    mono = time.monotonic_ns
    state = {"record": False, "stop": False}
    samples: list[list[int]] = [[] for _ in range(n)]
    hub_switch, ready = engine._hub_switch, engine._ready

    def park(out):
        append, me = out.append, getcurrent()
        while not state["stop"]:
            clock.waiters.append(me)
            ready.popleft().switch(None) if ready else hub_switch()
            if state["record"]:
                append(mono() - (origin + clock.tick * step))

    greenlets = [gevent.spawn(park, s) for s in samples]
    gevent.sleep(0.3)
    cpu0, wall0 = time.process_time(), time.monotonic()
    state["record"] = True
    gevent.sleep(seconds)
    state["record"] = False
    cpu1, wall1 = time.process_time(), time.monotonic()
    state["stop"] = True
    gevent.killall(greenlets, timeout=5)
    keep.destroy()
    lat = [x for s in samples for x in s]
    return {"timers": n, "seconds": round(wall1 - wall0, 3), "returns": len(lat),
            "lateness": _summary(lat),
            "cpu_pct_one_core": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 2)}


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
            "interval_ms": INTERVAL_MS,
            "cases": [],
        }
        results["loadavg_before"] = os.getloadavg()
        for n in cases:
            results["cases"].append(run_case(core, engine, n, seconds))
        if args.floor:
            results["floor"] = run_floor(core, engine, max(cases), min(seconds, 5.0))
        results["timer_test_20_100"] = timer_test_api_reproduced(core)
        if "mod_commands" in core.modules.modules:
            results["timer_test_20_100_mod_commands"] = timer_test_via_api(core)
        results["loadavg_after"] = os.getloadavg()
    finally:
        core.shutdown()
        logging.disable(logging.NOTSET)
        shutil.rmtree(root, ignore_errors=True)

    print(json.dumps(results))
    print(f"\nsoft timer, {INTERVAL_MS} ms, {results['clock']} clock, {results['cpus']} CPUs, "
          f"{seconds:g} s per case")
    print(f"{'timers':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} | {'clock p50':>9} "
          f"{'p99':>6} {'max':>6} | {'CPU %':>6} {'wake/tick':>9} {'cs/s':>6} {'skipped':>7}")
    for c in results["cases"]:
        la, cl = c["lateness"], c["clock_wakeup_lateness"]
        print(f"{c['timers']:>7} {la['p50_ms']:>8.3f} {la['p99_ms']:>8.3f} {la['max_ms']:>8.3f} | "
              f"{cl['p50_ms']:>9.3f} {cl['p99_ms']:>6.3f} {cl['max_ms']:>6.3f} | "
              f"{c['cpu_pct_one_core']:>6.2f} {c['wakeups_per_tick']!s:>9} "
              f"{c['voluntary_ctx_switches_per_s']:>6.0f} {c['skipped_ticks']:>7}")
    fl = results.get("floor")
    if fl:
        print(f"{'floor':>7} {fl['lateness']['p50_ms']:>8.3f} {fl['lateness']['p99_ms']:>8.3f} "
              f"{fl['lateness']['max_ms']:>8.3f} | {'':>9} {'':>6} {'':>6} | "
              f"{fl['cpu_pct_one_core']:>6.2f}   ({fl['timers']} bare greenlets, no timer API)")
    la0, la1 = results["loadavg_before"], results["loadavg_after"]
    print(f"load average before/after: {la0[0]:.2f} / {la1[0]:.2f} (other processes share the CPUs)")
    print(f"timer_test 20 100 (through the timer API): {results['timer_test_20_100']['output']}")
    mc = results.get("timer_test_20_100_mod_commands")
    if mc:
        print(f"timer_test 20 100 (mod_commands API):      {mc['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
