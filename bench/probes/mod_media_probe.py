"""A bench-only module (loaded by bench/media.py with ``<load module="mod_media_probe"
path="…/bench/probes"/>``): measures, inside the softswitch process, how late the media loops
of playing calls run after their 20 ms tick.

* ``probe_tone://<spec>``, a file interface wrapping ``tone_stream://<spec>``: every
  ``--every``-th handle opened (default 10, so 100 of 1,000 calls) records the monotonic time of
  each ``read``. ``playback`` reads the next file frame right after writing the previous one,
  that is right after its ``read_frame`` returned from the tick: the time of a read is when the
  call's greenlet ran for that tick (plus the ~1.5 µs of its write). The other handles are
  returned unwrapped.
* a 20 ms ``soft`` timer of its own (``media_probe arm``): the clock's ideal tick times are not
  visible outside the timer module, so the grid's phase is taken from all the resumes recorded
  (this timer's and the calls'): the earliest resume of the ticks stands for the tick itself
  (which makes every figure slightly optimistic by that resume's own lateness).

``media_probe stats`` answers JSON: the lateness of every recorded frame (``(t − phase) mod 20
ms``; a frame later than 20 ms folds back, so ``over_10ms`` counts frames in the second half),
the probe timer's own lateness (the clock's wake-up plus whatever held the hub), and how many
samples. ``start`` clears and starts recording, ``stop`` stops, ``off`` ends the probe timer.
"""

from __future__ import annotations

import json
import time
from array import array

import softswitch

STEP = 20_000_000


def _pct(values, p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p / 100 * len(v)))] / 1e6, 3)


class Recorder:
    """A file handle that notes the time of each read, then reads the real one."""

    __slots__ = ("inner", "state", "out")

    def __init__(self, inner, state) -> None:
        self.inner = inner
        self.state = state
        self.out = array("q")
        state.recorders.append(self)

    @property
    def samplerate(self):
        return self.inner.samplerate

    @property
    def channels(self):
        return self.inner.channels

    @property
    def samples_read(self):
        return getattr(self.inner, "samples_read", 0)

    def read(self, samples):
        if self.state.on:
            self.out.append(time.monotonic_ns())
        return self.inner.read(samples)

    def close(self):
        self.inner.close()


@softswitch.hookimpl
def module_load(module, core):
    st = module.state
    st.on = False
    st.every = 10
    st.opened = 0
    st.recorders = []
    st.timer_out = []
    st.timer_stop = False

    def open_probe(path, rate=8000, channels=1):
        inner = core.file_open("tone_stream://" + path, rate, channels)
        st.opened += 1
        return Recorder(inner, st) if st.opened % st.every == 0 else inner

    module.add_file("probe_tone", open_probe, (), "tone_stream:// that notes when it is read")

    def tick_runner(timer) -> None:
        try:
            while not st.timer_stop:
                timer.next()
                if st.on:
                    st.timer_out.append((timer.tick, time.monotonic_ns()))
        finally:
            timer.destroy()

    @module.add_api("media_probe", "bench probe of media lateness", "arm [every]|start|stop|stats|off")
    def media_probe(cmd, session, stream):
        word, _, arg = cmd.strip().partition(" ")
        if word == "arm":
            st.every = max(1, int(arg)) if arg.strip().isdigit() else 10
            module.spawn(tick_runner, core.timer_open("soft", 20, 160))
            stream.write("+OK armed\n")
        elif word == "start":
            for r in st.recorders:
                del r.out[:]
            st.timer_out.clear()
            st.on = True
            stream.write("+OK started\n")
        elif word == "stop":
            st.on = False
            stream.write("+OK stopped\n")
        elif word == "stats":
            stream.write(json.dumps(_stats(st)) + "\n")
        elif word == "off":
            st.timer_stop = True
            st.recorders.clear()
            stream.write("+OK off\n")
        else:
            stream.write("-USAGE: arm [every]|start|stop|stats|off\n")


def _phase(phases: list[int]) -> int:
    """The grid's phase: every resume (the probe timer's and the recorded calls') clusters just
    after the tick, on a circle of 20 ms (a cluster may straddle 0), so the phase is where the
    largest empty arc ends: the earliest resume of any tick stands for the ideal tick time."""
    p = sorted(phases)
    best_gap, start = p[0] + STEP - p[-1], p[0]
    for a, b in zip(p, p[1:], strict=False):
        if b - a > best_gap:
            best_gap, start = b - a, b
    return start


def _stats(st) -> dict:
    if not st.timer_out:
        return {"error": "no samples (arm, start, then stats)"}
    stamps = [t for r in st.recorders for t in r.out]
    phase = _phase([t % STEP for _, t in st.timer_out] + [t % STEP for t in stamps])
    clock = [(t - phase) % STEP for _, t in st.timer_out]
    frames = [(t - phase) % STEP for t in stamps]
    return {
        "legs_recorded": sum(1 for r in st.recorders if len(r.out)),
        "frames": len(frames),
        "frame_ms": {"p50": _pct(frames, 50), "p99": _pct(frames, 99), "max": _pct(frames, 100)},
        "frames_over_10ms": sum(1 for v in frames if v > 10_000_000),
        "clock_ms": {"p50": _pct(clock, 50), "p99": _pct(clock, 99), "max": _pct(clock, 100)},
    }
