"""Benchmark: calls playing a tone, in a real softswitch process (issue #16).

    python bench/media.py [--quick] [--runs N] [--legs N] [--seconds S] [--profile]

The server is a real ``python -m softswitch -nc -nf`` with the default conf tree
(``softswitch -copyconf``) plus mod_loopback (``null`` legs), mod_dptools (``playback``),
mod_dialplan_xml, mod_tone_stream and this directory's ``probes/mod_media_probe.py`` (loaded with
``path=``), its Event Socket on a free loopback port. ``fsctl sps`` and ``max_sessions`` are
raised first. Each run:

1. ``--legs`` (1,000) × ``originate null/1000 'playback:probe_tone://%(1000\\,0\\,440);loops=-1'
   inline`` from four client processes: ``tone_stream://`` of the issue, through the probe's
   wrapper, which returns the plain tone_stream handle to 9 calls in 10 and a recording one to
   the tenth. Every leg is a 20 ms media loop: timer tick, tone frame, codec (L16 → L16),
   endpoint write;
2. once ``show channels count`` reaches the legs and the server's CPU has settled, for
   ``--seconds`` (10): the server's CPU (utime + stime over wall time, % of one core) and the
   lateness of the recorded calls' frames after their tick (``media_probe start``/``stats``,
   see ``probes/mod_media_probe.py``); the share of frames delivered (a server starved of CPU by
   the rest of the machine skips ticks, which makes its CPU figure look better than it is: µs
   per *delivered* frame corrects for that);
3. RSS with the legs minus RSS before them, per leg; ``hupall``; RSS 2 s after the count is back
   to 0, in % of the RSS before the legs.

``--profile`` runs the same media loop **in this process** (``softswitch.testing.make_core``,
the same modules) and splits the CPU of one frame: the whole (process CPU / frames), one
playback turn driven in a tight loop on a leg whose timer never waits (tone read +
``read_frame`` + ``write_frame``, and each alone), and the rest: pacing (the soft timer's tick,
one greenlet resumed per leg per tick, the hub).

Targets (issue #16; FreeSWITCH 1.11 on this 2-core machine: all 1,000 up, 105.6 % of one core,
252 KB RSS per call): all up, CPU ≤ 105 % (aim ≤ 50 %), tick lateness p99 ≤ 2 ms, ≤ 64 KB per
call, RSS after hupall within 10 % of before.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pathlib
import tempfile
import time

from _common import Client, Server, Targets, channel_count, emit, environment, median, series
from _common import wait_count as _wait_count

LOADS = ("mod_loopback", "mod_dptools", "mod_dialplan_xml", "mod_tone_stream")
PROBES = pathlib.Path(__file__).resolve().parent / "probes"
TONE = "playback:tone_stream://%(1000\\,0\\,440);loops=-1"
#: the same tone through the probe's recording wrapper (every 10th call records its frame times)
PROBE_TONE = "playback:probe_tone://%(1000\\,0\\,440);loops=-1"


#: ESL replies and channel counts can take long with thousands of media legs on 2 cores
CLIENT_TIMEOUT = 120.0


def wait_count(c: Client, n: int, timeout: float = 120.0) -> bool:
    return _wait_count(c, n, timeout, poll=0.1)


def originate_worker(port: int, count: int, app: str, q) -> None:
    c = Client(port, CLIENT_TIMEOUT)
    ok, err = 0, None
    for _ in range(count):
        reply = c.api(f"originate null/1000 '{app}' inline")
        if reply.startswith("+OK "):
            ok += 1
        elif err is None:
            err = reply.strip()
    q.put((ok, err))
    c.close()


def cpu_pct(server: Server, seconds: float) -> float:
    c0, w0 = server.cpu(), time.monotonic()
    time.sleep(seconds)
    return 100 * (server.cpu() - c0) / (time.monotonic() - w0)


def one_run(server: Server, ctl: Client, legs: int, seconds: float, app: str = TONE) -> dict:
    if not wait_count(ctl, 0):
        return {"error": "channels left over from the previous run"}
    time.sleep(1.0)  # the allocator settles after the previous run (a measurement, no sync)
    before = server.rss_mb()
    idle_cpu = cpu_pct(server, 2.0)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    per = [legs // 4 + (1 if i < legs % 4 else 0) for i in range(4)]
    procs = [ctx.Process(target=originate_worker, args=(server.port, n, app, q)) for n in per]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(30)
    made = sum(r[0] for r in results)
    errors = [r[1] for r in results if r[1]]
    reached = wait_count(ctl, made)
    up_s = time.monotonic() - t0
    time.sleep(2.0)  # past the originate burst: measure the steady state
    ctl.api("media_probe start")
    wait0 = server.runqueue_wait_s()
    load0 = os.getloadavg()[0]
    cpu = cpu_pct(server, seconds)
    waited = server.runqueue_wait_s() - wait0
    ctl.api("media_probe stop")
    lateness = json.loads(ctl.api("media_probe stats"))
    with_legs = server.rss_mb()
    # the probe's records are the bench's, not the server's: its 100 wrapped handles and its
    # timer's stamps, born with the calls, would outlive them and count in the RSS after
    ctl.api("media_probe off")
    playing = channel_count(ctl)
    t1 = time.monotonic()
    ctl.api("hupall")
    cleared = wait_count(ctl, 0, 180)
    hupall_s = time.monotonic() - t1
    time.sleep(2.0)
    after = server.rss_mb()
    ctl.api("fsctl reclaim_mem")  # gc + malloc_trim: what the allocator kept, not what leaked
    reclaimed = server.rss_mb()
    # a starved server skips ticks: CPU per frame is per frame actually delivered
    rec = lateness.get("legs_recorded") or 0
    delivered = lateness.get("frames", 0) / (rec * 50 * seconds) if rec else None
    return {
        "legs": made, "all_up": reached and made == legs and playing == legs, "first_error": errors[:1],
        "frames_delivered_pct": round(100 * delivered, 1) if delivered else None,
        "us_per_delivered_frame": round(cpu / 100 / (legs * 50 * delivered) * 1e6, 2) if delivered else None,
        "up_s": round(up_s, 2), "idle_cpu_pct": round(idle_cpu, 1), "cpu_pct": round(cpu, 1),
        "us_per_frame": round(cpu / 100 / (legs * 50) * 1e6, 2) if legs else None,
        "lateness": lateness, "runqueue_wait_ms_per_s": round(1000 * waited / seconds, 1),
        "loadavg_1m": round(load0, 2),
        "rss_mb_before": before, "rss_mb_with_legs": with_legs, "rss_mb_after_hupall": after,
        "kb_per_call": round((with_legs - before) * 1024 / made, 1) if made and with_legs and before else None,
        "after_hupall_pct": round(100 * after / before, 1) if after and before else None,
        "rss_mb_after_reclaim_mem": reclaimed,
        "after_reclaim_pct": round(100 * reclaimed / before, 1) if reclaimed and before else None,
        "cleared": cleared, "hupall_to_zero_s": round(hupall_s, 2),
    }


# ---------------------------------------------------------------------------------------------
# --profile: where the CPU of one frame goes, in this process
# ---------------------------------------------------------------------------------------------


def profile(legs: int, seconds: float) -> dict:
    """The per-frame CPU cost, by part.

    1. ``legs`` null legs play the tone here (same modules as the server): process CPU over
       ``seconds`` → µs per frame, everything included.
    2. One more null leg whose timer is swapped for one that never waits (a bench timer
       interface), driven in a tight loop without greenlet switches: µs per iteration of the
       playback turn (tone read + ``session.read_frame`` + ``session.write_frame``) and of each
       part alone. What 1. costs beyond 2. is the pacing: the soft timer's tick, resuming one
       greenlet per leg per tick, the hub.
    """
    from gevent import monkey

    monkey.patch_all()
    import types

    import gevent

    import mod_dptools
    import mod_loopback
    import mod_pcm
    import mod_softtimer
    import mod_tone_stream
    import softswitch
    from softswitch import Frame, TimerInterface
    from softswitch.testing import make_core

    bench_mod = types.ModuleType("mod_bench_timer")

    @softswitch.hookimpl
    def module_load(module, core):
        module.add_timer(TimerInterface(name="bench_nowait", init=lambda t: None,
                                        next=lambda t: None, sync=lambda t: None,
                                        destroy=lambda t: None))
    bench_mod.module_load = module_load

    root = tempfile.mkdtemp(prefix="bench-media-prof-")
    core = make_core(root, [mod_softtimer, mod_pcm, mod_dptools, mod_tone_stream, mod_loopback, bench_mod],
                     settings={"loglevel": "warning", "max-sessions": legs + 100,
                               "sessions-per-second": 100000})
    try:
        for _ in range(legs):
            _cause, s = core.sessions.originate("null/1000")
            core.sessions.route_originated(s, TONE, "inline", "default")
        gevent.sleep(2.0)
        c0, w0 = time.process_time(), time.monotonic()
        gevent.sleep(seconds)
        whole = (time.process_time() - c0) / (legs * 50 * (time.monotonic() - w0)) * 1e6
        cpu = whole * legs * 50 / 1e6 * 100

        _cause, s = core.sessions.originate("null/1000")
        core.sessions.route_originated(s, "park", "inline", "default")
        gevent.sleep(0.2)
        s.timer.destroy()
        s.timer = core.timer_open("bench_nowait", 20, 160)
        fh = core.file_open("tone_stream://%(1000,0,440);loops=-1", rate=8000)
        frame = Frame(b"", 160, 8000, core.codec_open("L16@8000h@20i"))
        read, write, read_file = s.read_frame, s.write_frame, fh.read
        n = 200_000

        def timed(body) -> float:
            best = None
            for _ in range(3):
                t0 = time.perf_counter_ns()
                body()
                dt = (time.perf_counter_ns() - t0) / n / 1000
                best = dt if best is None else min(best, dt)
            return best

        def turn():
            for _ in range(n):
                data = read_file(160)
                st, _f = read()
                frame.data = data
                write(frame)

        def only_file():
            for _ in range(n):
                read_file(160)

        def only_read():
            for _ in range(n):
                read()

        def only_write():
            frame.data = bytes(320)
            for _ in range(n):
                write(frame)

        def empty():
            for _ in range(n):
                pass

        parts = {"loop": timed(empty), "tone_stream read": timed(only_file),
                 "session.read_frame (kernel + null read, timer not waiting)": timed(only_read),
                 "session.write_frame (kernel + null write, timer sync)": timed(only_write)}
        full = timed(turn)
        s.hangup()
        return {
            "legs": legs, "cpu_pct": round(cpu, 1), "us_per_frame_all_in": round(whole, 2),
            "us_per_turn_without_pacing": round(full, 2),
            "us_parts": {k: round(v, 2) for k, v in parts.items()},
            "us_pacing_switches_hub": round(whole - full, 2),
        }
    finally:
        core.sessions.hupall()
        core.sessions.wait_empty(30)
        core.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test of the script)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None, help="measuring window per run")
    ap.add_argument("--legs", type=int, default=None)
    ap.add_argument("--loglevel", default=None, help="switch.conf loglevel for the server")
    ap.add_argument("--park", action="store_true",
                    help="control: the legs park instead of playing (same figures, no media)")
    ap.add_argument("--profile", action="store_true", help="in this process: the CPU of one frame, split by part")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    legs = args.legs or (200 if args.quick else 1000)
    env = environment()

    if args.profile:
        prof = profile(legs, seconds)
        summary = [f"in-process, {legs} legs playing a tone: {prof['cpu_pct']} % of one core, "
                   f"{prof['us_per_frame_all_in']} µs per frame all in, of which:",
                   f"  {prof['us_per_turn_without_pacing']:6.2f}  one playback turn without pacing "
                   "(tone read + read_frame + write_frame), made of:"]
        summary += [f"        {v:6.2f}  {k}" for k, v in prof["us_parts"].items()]
        summary += [f"  {prof['us_pacing_switches_hub']:6.2f}  pacing: soft timer tick, one greenlet "
                    "resumed per leg per tick, the hub"]
        emit({"bench": "media-profile", "env": env, **prof}, summary)
        return

    server = Server("bench-media-", LOADS, args.loglevel,
                    extra_loads=f'    <load module="mod_media_probe" path="{PROBES}"/>\n',
                    stop_timeout=60)
    try:
        ctl = Client(server.port, CLIENT_TIMEOUT)
        ctl.api(f"fsctl sps {max(5000, legs * 2)}")
        ctl.api(f"fsctl max_sessions {legs + 1000}")
        time.sleep(1.2)  # the sps budget is refilled once a second
        ctl.api("media_probe arm 10")
        results = [one_run(server, ctl, legs, seconds, "park" if args.park else PROBE_TONE) for _ in range(runs)]
        ctl.api("media_probe off")
        ctl.close()
    finally:
        server.stop()

    def pick(key, sub=None, sub2=None):
        vals = []
        for r in results:
            v = r.get(key)
            if sub is not None:
                v = (v or {}).get(sub)
                if sub2 is not None:
                    v = (v or {}).get(sub2)
            vals.append(v)
        return vals

    t = Targets()
    all_up = all(r.get("all_up") for r in results)
    t.check("all legs up", 1 if all_up else 0, ">=", 1)
    cpu = median(pick("cpu_pct"))
    t.check("cpu_pct (aim <= 50)", cpu, "<=", 105, "% of one core")
    late = median(pick("lateness", "frame_ms", "p99"))
    t.check("frame lateness p99", late, "<=", 2, "ms")
    t.check("kb_per_call", median(pick("kb_per_call")), "<=", 64, "KB")
    t.check("after_hupall_pct", median(pick("after_hupall_pct")), "<=", 110, "%")
    report = {
        "bench": "media-park-control" if args.park else "media", "env": env, "legs": legs, "seconds": seconds, "runs": results,
        "cpu_pct": series(pick("cpu_pct")), "us_per_frame": series(pick("us_per_frame"), 2),
        "frames_delivered_pct": series(pick("frames_delivered_pct")),
        "us_per_delivered_frame": series(pick("us_per_delivered_frame"), 2),
        "frame_p50_ms": series(pick("lateness", "frame_ms", "p50"), 3),
        "frame_p99_ms": series(pick("lateness", "frame_ms", "p99"), 3),
        "clock_p99_ms": series(pick("lateness", "clock_ms", "p99"), 3),
        "kb_per_call": series(pick("kb_per_call")), "after_hupall_pct": series(pick("after_hupall_pct")),
        "after_reclaim_pct": series(pick("after_reclaim_pct")),
        "targets": t.as_dict(), "all_pass": t.all_pass,
    }
    c = report["cpu_pct"]
    summary = [
        f"{legs} null legs {'parked (control, no media)' if args.park else 'playing tone_stream://%(1000,0,440);loops=-1'}, "
        f"real process, {runs} run(s) of {seconds:.0f} s:",
        f"  CPU {c['median']} % of one core (min {c['min']}, max {c['max']}; FreeSWITCH 105.6 %), "
        f"{report['us_per_frame']['median']} µs per frame; {report['frames_delivered_pct']['median']} % of the "
        f"frames were delivered (a starved server skips ticks), {report['us_per_delivered_frame']['median']} µs "
        "per delivered frame",
        f"  frame lateness after the tick (1 call in 10 recorded): p50 {report['frame_p50_ms']['median']} / "
        f"p99 {report['frame_p99_ms']['median']} ms (min {report['frame_p99_ms']['min']}, max "
        f"{report['frame_p99_ms']['max']}); the clock's own p99 {report['clock_p99_ms']['median']} ms; "
        f"the server waited for a CPU {median(pick('runqueue_wait_ms_per_s'))} ms per s (load average "
        f"{median(pick('loadavg_1m'))} on {os.cpu_count()} cores)",
        f"  RSS {report['kb_per_call']['median']} KB per call (FreeSWITCH 252 KB), "
        f"{report['after_hupall_pct']['median']} % of the start after hupall "
        f"(min {report['after_hupall_pct']['min']}, max {report['after_hupall_pct']['max']}), "
        f"{report['after_reclaim_pct']['median']} % after fsctl reclaim_mem",
        *t.lines(),
    ]
    emit(report, summary)


if __name__ == "__main__":
    main()
