"""A bench-only module (loaded by bench/media.py with ``<load module="mod_media_probe"
path="…/bench/probes"/>``): measures, inside the softswitch process, how late 20 ms media ticks
reach their greenlets while calls play.

Two ``soft`` timers of 20 ms, each in its own greenlet recording ``(tick, monotonic ns)`` at every
return of ``timer.next()``:

* ``first`` is opened before the calls (``media_probe arm``), so in each tick it is resumed
  before the calls' greenlets: its lateness is the tick's own (the clock's wake-up);
* ``last`` is opened once the calls run (``media_probe start``), so it is resumed after all of
  them: its lateness is that of the last frame of the tick, the tail every call's frame is at
  or before.

``media_probe stats`` answers JSON: per tick, ``first_ms`` (the first resume, relative to the
earliest one on the 20 ms grid: the base the ideal deadline cannot be read from outside the
timer module), ``handover_ms`` (last − first: the time all the calls' frames of that tick took)
and ``tail_ms`` (first + handover).
"""

from __future__ import annotations

import bisect
import json
import time

import softswitch


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p / 100 * len(v)))], 3)


@softswitch.hookimpl
def module_load(module, core):
    st = module.state
    st.runs = {}

    def open_run(name: str, on: bool) -> None:
        timer = core.timer_open("soft", 20, 160)
        rec = st.runs[name] = {"timer": timer, "out": [], "on": on, "stop": False}
        module.spawn(runner, rec)

    def runner(rec: dict) -> None:
        timer = rec["timer"]
        try:
            while not rec["stop"]:
                timer.next()
                if rec["on"]:
                    rec["out"].append((timer.tick, time.monotonic_ns()))
        finally:
            timer.destroy()

    @module.add_api("media_probe", "bench probe of media tick lateness", "arm|start|stop|stats|off")
    def media_probe(cmd, session, stream):
        word = cmd.strip()
        if word == "arm":
            open_run("first", False)
            stream.write("+OK armed\n")
        elif word == "start":
            open_run("last", True)
            for rec in st.runs.values():
                rec["out"].clear()
                rec["on"] = True
            stream.write("+OK started\n")
        elif word == "stop":
            for rec in st.runs.values():
                rec["on"] = False
            stream.write("+OK stopped\n")
        elif word == "stats":
            stream.write(json.dumps(_stats(st.runs)) + "\n")
        elif word == "off":
            for rec in st.runs.values():
                rec["stop"] = True
            stream.write("+OK off\n")
        else:
            stream.write("-USAGE: arm|start|stop|stats|off\n")


def _stats(runs: dict) -> dict:
    first = runs.get("first", {}).get("out", [])
    last = runs.get("last", {}).get("out", [])
    if not first or not last:
        return {"error": "no samples (arm, start, then stats)"}
    step = 20_000_000
    base = min(t - k * step for k, t in first)
    firsts = sorted(t for _, t in first)
    tick_of = {t: k for k, t in first}

    first_ms, handover_ms, tail_ms = [], [], []
    for _, t in last:
        i = bisect.bisect_right(firsts, t) - 1
        if i < 0 or t - firsts[i] > step:
            continue
        f = firsts[i]
        fl = (f - (base + tick_of[f] * step)) / 1e6
        ho = (t - f) / 1e6
        first_ms.append(fl)
        handover_ms.append(ho)
        tail_ms.append(fl + ho)
    out = {"ticks": len(tail_ms)}
    for name, vals in (("first_ms", first_ms), ("handover_ms", handover_ms), ("tail_ms", tail_ms)):
        out[name] = {"p50": _pct(vals, 50), "p99": _pct(vals, 99), "max": _pct(vals, 100)}
    return out
