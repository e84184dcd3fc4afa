"""Benchmark of the call model (issue #14), in-process on a kernel from ``make_core``.

* **memory**: RSS per parked session (N calls originated to a null-like endpoint and parked),
  and RSS after they all hang up, against the RSS before (target: ≤ 64 KB per session, back
  within 10 %). The target is checked on the first round (a fresh process); later rounds are
  reported as ``after_vs_before_pct_warm``: what the first round keeps is pymalloc arenas
  pinned by a few hundred long-lived objects born during the burst (sqlite's statement cache,
  gevent's hub), not sessions (tracemalloc: ~0.1 MB of Python objects survive the round);
* **calls/s**: create → park → hang up → destroy, every event fired (built only when someone
  listens) and the ``channels`` table written, in batches of ``--batch`` calls; measured with
  no event listener (the target) and with one ALL listener counting events (for reference);
* **frame path**: ``--frame-sessions`` sessions each reading 20 ms frames paced by a ``soft``
  timer and writing them through PCMU (L16 → PCMU encode, mod_pcm): CPU per frame with the
  timer wake-up excluded = CPU of the read/write loop − CPU of the same greenlets only waiting
  on their timers (measured right after, same count); also the unpaced cost of one
  ``read_frame`` + ``write_frame`` in a tight loop.

The endpoint is defined here (``bnull``: like ``null``, auto-answers in CONSUME_MEDIA; its
reads wait on the session's soft timer when it has one). Usage::

    python bench/sessions.py [--quick] [--runs N] [--calls N] [--batch N] [--seconds S]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The allocator the server runs on (softswitch.memory.exec_with_system_malloc): the C library's,
# unless PYTHONMALLOC is set (PYTHONMALLOC=pymalloc measures Python's). Done by hand here, before
# gevent's monkey-patching, which importing softswitch would come before.
if "PYTHONMALLOC" not in os.environ and sys.platform.startswith("linux"):
    os.environ["PYTHONMALLOC"] = "malloc"
    os.execv(sys.executable, sys.orig_argv)

from gevent import monkey  # noqa: E402

monkey.patch_all()

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from _common import Targets, emit, environment, series, vm_status  # noqa: E402

import softswitch  # noqa: E402
from softswitch import (  # noqa: E402
    Cause,
    ChannelState,
    EventType,
    Frame,
    SessionRefused,
    StateHandlers,
    Status,
)
from softswitch.sessions import RECLAIM_DELAY  # noqa: E402
from softswitch.testing import make_core  # noqa: E402


def bench_module(state: dict) -> types.ModuleType:
    mod = types.ModuleType("mod_benchnull")

    def load(module, core):
        def outgoing(core_, originator, var_event, profile, flags):
            try:
                s = core_.sessions.request(endpoint, "outbound")
            except SessionRefused as e:
                return e.cause, None
            s.set_read_codec(core_.codec_open("L16@8000h@20i"))
            s.set_write_codec(core_.codec_open(var_event.get("bnull_write_codec", "L16@8000h@20i")))
            s.channel.set_name("bnull/" + profile.destination_number)
            s.private = Frame(bytes(320), 160, 8000, s.read_codec)
            if var_event.get("bnull_timer") == "true":
                s.timer = core_.timer_open("soft", 20, 160)
            profile.source = "mod_benchnull"
            s.channel.set_caller_profile(profile)
            s.channel.set_state(ChannelState.CS_INIT)
            return Cause.SUCCESS, s

        def on_consume_media(session):
            session.mark_answered()

        def read_frame(session, flags):
            t = session.timer
            if t is not None:
                t.next()
            return Status.SUCCESS, session.private

        def write_frame(session, frame, flags):
            return Status.SUCCESS

        endpoint = module.add_endpoint(
            "bnull", outgoing_channel=outgoing, read_frame=read_frame, write_frame=write_frame,
            state_handlers=StateHandlers(on_consume_media=on_consume_media))

        @module.add_application("park", "Park")
        def park(session, data):
            state["parked"] += 1
            if state["parked"] >= state["want"]:
                state["all_parked"].set()
            session.park()

        @module.add_application("frames", "read/write frames")
        def frames(session, data):
            read = session.read_frame
            write = session.write_frame
            ok = Status.SUCCESS
            stop = state["stop_frames"]
            n = 0
            while not stop.is_set():
                st, f = read()
                if st is not ok:
                    break
                write(f)
                n += 1
            state["frames"] += n

    mod.module_load = softswitch.hookimpl(load)
    return mod


def wait_all_parked(state: dict, n: int, timeout: float = 60.0) -> None:
    state["parked"] = 0
    state["want"] = n
    state["all_parked"] = gevent.event.Event()


def originate_parked(core, state: dict, n: int, dial: str = "bnull/1000") -> list:
    wait_all_parked(state, n)
    out = []
    for _ in range(n):
        cause, s = core.sessions.originate(dial)
        if cause != Cause.SUCCESS:
            raise RuntimeError(f"originate failed: {Cause(cause).name}")
        core.sessions.route_originated(s, "&park")
        out.append(s)
    if not state["all_parked"].wait(60):
        raise RuntimeError("the calls did not all park")
    return out


def rss_kb() -> float:
    return vm_status().get("VmRSS", 0.0) * 1024


def memory(core, state: dict, n: int) -> dict:
    gc.collect()
    before = rss_kb()
    sessions = originate_parked(core, state, n)
    core.sessions.flush_db()
    gc.collect()
    parked = rss_kb()
    core.sessions.hupall(Cause.NORMAL_CLEARING)
    if not core.sessions.wait_empty(60):
        raise RuntimeError("calls left after hupall")
    del sessions
    # as bench/calls.py does (2 s after the count is back to 0): the kernel gives memory back
    # once the table has been empty RECLAIM_DELAY seconds after a peak
    gevent.sleep(RECLAIM_DELAY + 1.0)
    core.sessions.flush_db()
    gc.collect()
    after = rss_kb()
    return {"kb_per_session": (parked - before) / n, "rss_before_kb": before,
            "rss_parked_kb": parked, "rss_after_kb": after,
            "after_vs_before_pct": (after - before) / before * 100}


def throughput(core, state: dict, calls: int, batch: int) -> dict:
    done = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while done < calls:
        k = min(batch, calls - done)
        originate_parked(core, state, k)
        core.sessions.hupall(Cause.NORMAL_CLEARING)
        if not core.sessions.wait_empty(60):
            raise RuntimeError("calls left after hupall")
        done += k
    core.sessions.flush_db()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"calls_per_s_wall": calls / wall, "calls_per_s_cpu": calls / cpu}


def frame_path(core, state: dict, n: int, seconds: float) -> dict:
    state["frames"] = 0
    state["stop_frames"] = gevent.event.Event()
    sessions = []
    for _ in range(n):
        cause, s = core.sessions.originate("{bnull_timer=true,bnull_write_codec=PCMU}bnull/f")
        if cause != Cause.SUCCESS:
            raise RuntimeError(Cause(cause).name)
        sessions.append(s)
    for s in sessions:
        core.sessions.route_originated(s, "&frames")
    gevent.sleep(1.0)  # settle: every session is in its loop
    f0 = state["frames"]
    live0 = sum(s.timer.tick for s in sessions)
    c0 = time.process_time()
    t0 = time.perf_counter()
    gevent.sleep(seconds)
    cpu_io = time.process_time() - c0
    wall = time.perf_counter() - t0
    ticks_io = sum(s.timer.tick for s in sessions) - live0
    state["stop_frames"].set()
    core.sessions.hupall(Cause.NORMAL_CLEARING)
    core.sessions.wait_empty(60)
    frames_counted = state["frames"] - f0

    # the same number of greenlets only waiting on their soft timers
    stop = gevent.event.Event()
    counts = [0]

    def waiter():
        t = core.timer_open("soft", 20, 160)
        nxt = t.next
        try:
            while not stop.is_set():
                nxt()
                counts[0] += 1
        finally:
            t.destroy()

    gs = [gevent.spawn(waiter) for _ in range(n)]
    gevent.sleep(1.0)
    k0 = counts[0]
    c0 = time.process_time()
    gevent.sleep(seconds)
    cpu_timer = time.process_time() - c0
    ticks_timer = counts[0] - k0
    stop.set()
    gevent.joinall(gs, timeout=5)
    per_frame_io = cpu_io / max(1, ticks_io) * 1e6
    per_tick_timer = cpu_timer / max(1, ticks_timer) * 1e6
    return {"frames": ticks_io, "frames_counted_by_app": frames_counted, "wall_s": wall,
            "us_cpu_per_frame_total": per_frame_io, "us_cpu_per_timer_tick": per_tick_timer,
            "us_cpu_per_frame_excl_timer": per_frame_io - per_tick_timer,
            "frames_per_s": ticks_io / wall}


def tight_frame_loop(core, iterations: int) -> float:
    """µs for one read_frame + write_frame (L16 in, PCMU out), no timer."""
    cause, s = core.sessions.originate("{bnull_write_codec=PCMU}bnull/t")
    read = s.read_frame
    write = s.write_frame
    t0 = time.process_time()
    for _ in range(iterations):
        st, f = read()
        write(f)
    us = (time.process_time() - t0) / iterations * 1e6
    s.hangup()
    core.sessions.wait_empty(10)
    return us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--calls", type=int, default=None)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--parked", type=int, default=1000)
    ap.add_argument("--frame-sessions", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=None)
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    calls = args.calls or (2000 if args.quick else 10000)
    seconds = args.seconds or (2.0 if args.quick else 5.0)

    import logging
    logging.disable(logging.INFO)  # the per-call NOTICE/INFO lines are not what is measured
    root = tempfile.mkdtemp(prefix="bench-sessions-")
    state: dict = {"parked": 0, "want": 0, "all_parked": gevent.event.Event(), "frames": 0,
                   "stop_frames": gevent.event.Event()}
    # the codecs (L16, PCMU) and the soft timer are modules: the kernel loads only what it is given
    core = make_core(root, modules=[("mod_benchnull", bench_module(state)), "mod_pcm",
                                    "mod_softtimer"],
                     settings={"sessions-per-second": "1000000", "max-sessions": "100000",
                               "loglevel": "warning"})
    report: dict = {"bench": "sessions", "env": environment(), "runs": runs,
                    "allocator": os.environ.get("PYTHONMALLOC", "pymalloc")}
    try:
        rss_start = rss_kb()
        mem = [memory(core, state, args.parked) for _ in range(runs)]
        quiet = [throughput(core, state, calls, args.batch) for _ in range(runs)]
        counter = [0]

        def count(ev):
            counter[0] += 1
        node = core.events.bind("bench", EventType.ALL, None, count, None)
        loud = [throughput(core, state, max(1000, calls // 5), args.batch) for _ in range(runs)]
        core.events.unbind(node)
        frames = [frame_path(core, state, args.frame_sessions, seconds) for _ in range(runs)]
        tight = [tight_frame_loop(core, 20000 if args.quick else 100000) for _ in range(runs)]
        rss_end = rss_kb()
    finally:
        core.shutdown()

    t = Targets()
    kb = series([mem[0]["kb_per_session"]])  # a fresh process; later rounds reuse its memory
    kb_warm = series([m["kb_per_session"] for m in mem[1:]])
    back = series([mem[0]["after_vs_before_pct"]])  # the first 1,000 calls of the process
    warm = series([m["after_vs_before_pct"] for m in mem[1:]])  # later rounds of 1,000
    cps = series([q["calls_per_s_cpu"] for q in quiet], 0)
    cps_wall = series([q["calls_per_s_wall"] for q in quiet], 0)
    cps_loud = series([q["calls_per_s_cpu"] for q in loud], 0)
    pf = series([f["us_cpu_per_frame_excl_timer"] for f in frames], 2)
    pf_total = series([f["us_cpu_per_frame_total"] for f in frames], 2)
    tick = series([f["us_cpu_per_timer_tick"] for f in frames], 2)
    tight_s = series(tight, 2)
    t.check("kb_per_parked_session", kb["median"], "<=", 64, "KB")
    t.check("rss_after_hangup_vs_before_pct", back["median"], "<=", 10, "%")
    t.check("calls_per_s_cpu_no_listener", cps["median"], ">=", 2000)
    t.check("us_cpu_per_frame_excl_timer", pf["median"], "<=", 10, "µs")
    report.update({
        "memory": {"kb_per_session": kb, "kb_per_session_warm": kb_warm,
                   "after_vs_before_pct": back,
                   "after_vs_before_pct_warm": warm, "detail": mem,
                   "rss_start_kb": rss_start, "rss_end_kb": rss_end},
        "throughput": {"calls_per_s_cpu": cps, "calls_per_s_wall": cps_wall,
                       "calls_per_s_cpu_with_all_listener": cps_loud,
                       "events_counted_with_listener": counter[0], "calls": calls,
                       "batch": args.batch},
        "frames": {"us_cpu_per_frame_excl_timer": pf, "us_cpu_per_frame_total": pf_total,
                   "us_cpu_per_timer_tick": tick, "us_tight_read_write": tight_s,
                   "sessions": args.frame_sessions, "detail": frames},
        "targets": t.as_dict(), "all_pass": t.all_pass,
    })
    summary = [
        f"sessions bench ({runs} runs, medians [min–max]; allocator {report['allocator']})",
        f"  memory: {kb['median']} KB per parked session (first round; later {kb_warm['median']}), "
        f"RSS after "
        f"hangup {back['median']} % vs before (first round; later rounds {warm['median']} %)",
        f"  create→park→hangup→destroy: {cps['median']} calls/s CPU ({cps_wall['median']} wall) "
        f"[{cps['min']}–{cps['max']}]; with an ALL listener {cps_loud['median']} calls/s",
        f"  frame path at {args.frame_sessions} sessions: {pf['median']} µs/frame excl. timer "
        f"[{pf['min']}–{pf['max']}] (total {pf_total['median']}, timer tick {tick['median']}); "
        f"tight read+write {tight_s['median']} µs",
        *t.lines(),
    ]
    emit(report, summary)


if __name__ == "__main__":
    main()
