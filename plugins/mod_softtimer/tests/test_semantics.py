"""Timer semantics against spec/timers-codecs.md §1–2 (FreeSWITCH's Linux soft timer).

``tick`` starts at 0 and ``samplecount`` at ``samples``; ``next`` adds the clock ticks since the
last read (a late caller jumps ahead, the jumped-over ticks counted in ``skipped``) and sets
``samplecount = tick × samples``; ``step`` adds one tick; ``check`` says whether a tick has come
without consuming it; ``sync`` re-derives ``tick`` from the time since ``start``.
"""

from __future__ import annotations

import time

import gevent
import gevent.event
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mod_softtimer.engine import SoftTimer
from softswitch import Status, TimerError, TimerInterface
from softswitch.timer import Timer, timer_open

U32 = 0xFFFFFFFF


def test_open_starts_at_tick_0_and_samplecount_samples(core):
    timer = core.timer_open("soft", 20, 160)
    assert (timer.tick, timer.samplecount, timer.skipped, timer.diff) == (0, 160, 0, 0)
    assert timer.start > 0
    timer.destroy()


def test_next_advances_tick_and_sets_samplecount(core):
    timer = core.timer_open("soft", 20, 160)
    for _ in range(5):
        before = timer.private.last
        assert timer.next() == Status.SUCCESS
        # tick advances by the clock ticks since the last read (1 unless this greenlet was late)
        assert timer.private.last > before
    assert timer.tick == 5 + timer.skipped
    assert timer.samplecount == timer.tick * 160
    timer.destroy()


def test_next_waits_for_a_tick_cooperatively(core, spawn):
    """While one greenlet waits in next(), others (and the hub) keep running."""
    timer = core.timer_open("soft", 200, 1600)
    g = spawn(timer.next)
    ran = []
    for _ in range(5):
        gevent.sleep(0)
        ran.append(1)
    assert len(ran) == 5
    assert g.join(timeout=5) is None and g.value == Status.SUCCESS
    timer.destroy()


def test_step_adds_one_tick_and_samples(core):
    timer = core.timer_open("soft", 20, 160)
    assert timer.step() == Status.SUCCESS
    assert (timer.tick, timer.samplecount) == (1, 320)
    assert timer.step() == Status.SUCCESS
    assert (timer.tick, timer.samplecount) == (2, 480)
    timer.destroy()


@given(samples=st.integers(0, 1_000_000), steps=st.integers(0, 3000))
def test_step_samplecount_is_a_uint32(samples, steps):
    """FreeSWITCH's samplecount is uint32_t: step wraps it, as ``+=`` does in C."""
    engine = SoftTimer(use_timerfd=False)
    iface = TimerInterface(name="soft", init=engine.init, step=engine.step, destroy=engine.destroy)
    timer = timer_open(iface, "soft", 20, samples)
    for _ in range(steps):
        timer.step()
    assert timer.tick == steps
    assert timer.samplecount == (samples * (steps + 1)) & U32
    timer.destroy()
    engine.shutdown()


def test_next_samplecount_wraps_as_a_uint32(core):
    timer = core.timer_open("soft", 10, 1_000_000)
    timer.tick = 5000  # as if the timer had run for 50 s
    assert timer.next() == Status.SUCCESS
    assert timer.samplecount == (timer.tick * 1_000_000) & U32
    assert timer.samplecount < 2**32
    timer.destroy()


def test_late_caller_catches_up_by_skipping(core, engine, wait_for):
    """No burst: one next() jumps over every tick missed, and counts them in ``skipped``."""
    timer = core.timer_open("soft", 20, 160)
    assert timer.next() == Status.SUCCESS
    tick, skipped, last = timer.tick, timer.skipped, timer.private.last
    clock = engine.clocks[20]
    wait_for(lambda: clock.tick >= last + 3, timeout=10)  # fall 3+ ticks behind
    assert timer.next() == Status.SUCCESS  # returns at once
    n = timer.private.last - last
    assert n >= 3
    assert timer.tick == tick + n
    assert timer.skipped == skipped + n - 1
    assert timer.samplecount == timer.tick * 160
    timer.destroy()


def test_check_before_the_tick_is_false_with_diff(core):
    timer = core.timer_open("soft", 500, 4000)
    assert timer.next() == Status.SUCCESS  # just after a tick: the next one is ~500 ms away
    tick = timer.tick
    assert timer.check() == Status.FALSE
    assert timer.diff > 0
    assert timer.check(step=True) == Status.FALSE
    assert timer.tick == tick  # no step without the tick
    timer.destroy()


def test_check_after_the_tick_succeeds_steps_and_does_not_consume(core, wait_for):
    timer = core.timer_open("soft", 20, 160)
    assert timer.next() == Status.SUCCESS
    last = timer.private.last
    wait_for(lambda: timer.check() == Status.SUCCESS, timeout=5)
    assert timer.diff == 0
    tick = timer.tick
    assert timer.check(step=True) == Status.SUCCESS
    assert timer.tick == tick + 1
    assert timer.samplecount == (tick + 1) * 160
    # check did not consume the expiration (a timerfd poll): next() returns it at once
    assert timer.next() == Status.SUCCESS
    n = timer.private.last - last
    assert timer.tick == tick + 1 + n
    assert timer.samplecount == timer.tick * 160
    timer.destroy()


def test_sync_rederives_tick_from_the_clock(core):
    timer = core.timer_open("soft", 20, 160)
    for _ in range(3):
        timer.next()
    timer.step()
    timer.step()
    lo = (time.monotonic_ns() // 1000 - timer.start) // 20_000
    assert timer.sync() == Status.SUCCESS
    hi = (time.monotonic_ns() // 1000 - timer.start) // 20_000
    assert lo <= timer.tick <= hi
    assert timer.samplecount == timer.tick * 160
    timer.destroy()


def test_interval_1_is_special(core):
    """FreeSWITCH: interval 1 only counts the timer; next/step/check return FALSE."""
    timer = core.timer_open("soft", 1, 8)
    assert timer.next() == Status.GENERR  # Timer.next maps any non-success to GENERR
    assert timer.step() == Status.FALSE
    assert timer.check() == Status.FALSE
    assert timer.check(step=True) == Status.FALSE
    assert timer.sync() == Status.SUCCESS
    first = timer.tick
    assert timer.sync() == Status.SUCCESS  # unchanged since the last sync: +1
    assert timer.tick > first
    assert timer.samplecount == (timer.tick * 8) & U32
    timer.destroy()


def test_many_timers_of_mixed_intervals_share_clocks(core, engine, spawn):
    intervals = [10, 20, 30, 40, 60, 120]
    timers = [core.timer_open("soft", iv, iv * 8) for iv in intervals for _ in range(20)]
    assert sorted(engine.clocks) == intervals
    assert all(c.count == 20 for c in engine.clocks.values())
    w0 = engine.wakeups

    def run(timer, polite):
        out = []
        for _ in range(4):
            out.append(timer.next())
            if polite:  # yield to the hub in the middle of a tick's hand-over
                gevent.sleep(0)
        return out

    greenlets = [spawn(run, t, i % 2) for i, t in enumerate(timers)]
    assert gevent.joinall(greenlets, timeout=30) and all(g.dead for g in greenlets)
    for g, t in zip(greenlets, timers, strict=True):
        assert g.value == [Status.SUCCESS] * 4
        assert t.tick == 4 + t.skipped
        assert t.samplecount == t.tick * t.samples
    # 480 returns from next(), from far fewer clock wake-ups (at most one per distinct deadline)
    assert engine.wakeups - w0 < 480 / 4
    for t in timers:
        t.destroy()
    assert engine.clocks == {}


def test_1000_timers_of_one_interval_cost_one_wakeup_per_tick(core, engine, spawn):
    timers = [core.timer_open("soft", 20, 160) for _ in range(1000)]
    clock = engine.clocks[20]
    done = []

    def run(timer):
        timer.next()
        done.append(timer)
        for _ in range(3):
            timer.next()

    w0, t0 = engine.wakeups, clock.ticks
    greenlets = [spawn(run, t) for t in timers]
    assert gevent.joinall(greenlets, timeout=60) and all(g.dead for g in greenlets)
    # the idle 20 ms tick and the 20 ms clock share their deadlines: one wake-up per tick
    assert engine.wakeups - w0 <= clock.ticks - t0 + 2
    assert all(t.tick == 4 + t.skipped for t in timers)
    for t in timers:
        t.destroy()


def test_destroy_while_waiting_wakes_the_waiter(core, engine, spawn, wait_for):
    timer = core.timer_open("soft", 2000, 16000)
    other = core.timer_open("soft", 2000, 16000)
    g = spawn(timer.next)
    wait_for(lambda: timer.private.waiter is not None)
    timer.destroy()
    assert g.join(timeout=5) is None and g.dead
    assert g.value == Status.GENERR
    assert engine.clocks[2000].count == 1 and engine.clocks[2000].waiters == []
    with pytest.raises(TimerError, match="destroyed"):
        timer.next()
    timer.destroy()  # twice is harmless
    other.destroy()
    assert 2000 not in engine.clocks


def test_destroy_from_a_greenlet_woken_by_the_same_tick(core, spawn):
    """A timer destroyed while its waiter is queued for the current tick returns FALSE."""
    a = core.timer_open("soft", 20, 160)
    b = core.timer_open("soft", 20, 160)
    results = {}

    def first():
        a.next()
        results["a"] = a.next()
        b.destroy()

    def second():
        b.next()
        results["b"] = b.next()

    ga, gb = spawn(first), spawn(second)
    assert gevent.joinall([ga, gb], timeout=10)
    assert results["a"] == Status.SUCCESS
    assert results["b"] in (Status.SUCCESS, Status.GENERR)
    a.destroy()


def test_no_stray_wakeup_when_an_exception_beats_destroy(core, spawn, wait_for):
    """A greenlet taken out of next() by an exception is never resumed later by the timer."""

    class Interrupt(Exception):
        pass

    timer = core.timer_open("soft", 2000, 16000)

    def waiter():
        try:
            timer.next()
        except Interrupt:
            pass
        # a stray switch into this wait would raise gevent's InvalidSwitchError
        return gevent.event.Event().wait(timeout=0.3)

    g = spawn(waiter)
    wait_for(lambda: timer.private.waiter is not None)
    g.kill(Interrupt, block=False)  # scheduled first...
    timer.destroy()  # ...then the destroy's wake-up
    assert g.join(timeout=5) is None and g.dead
    assert g.successful(), g.exception
    assert g.value is False


def test_timeout_while_waiting_leaves_the_clock_clean(core, engine):
    timer = core.timer_open("soft", 2000, 16000)
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.05):
            timer.next()
    assert timer.private.waiter is None
    assert engine.clocks[2000].waiters == []
    assert timer.check() in (Status.SUCCESS, Status.FALSE)
    timer.destroy()


def test_two_greenlets_on_one_timer_is_a_clear_error(core, spawn, wait_for):
    timer = core.timer_open("soft", 2000, 16000)
    g = spawn(timer.next)
    wait_for(lambda: timer.private.waiter is not None)
    with pytest.raises(TimerError, match="another greenlet waits on the same timer"):
        timer.next()
    timer.destroy()
    g.join(timeout=5)
    assert g.value == Status.GENERR


def test_next_from_the_hub_is_a_clear_error(core):
    timer = core.timer_open("soft", 2000, 16000)
    errors = []

    def in_hub():
        try:
            timer.next()
        except TimerError as e:
            errors.append(str(e))

    hub = gevent.get_hub()
    hub.loop.run_callback(in_hub)
    gevent.sleep(0)
    gevent.sleep(0)
    assert errors and "hub" in errors[0]
    timer.destroy()


def test_timer_test_measurement(core):
    """mod_commands' timer_test: open soft/20 ms/1 sample, next once, time N nexts."""
    timer = core.timer_open("soft", 20, 1)
    timer.next()
    start = then = time.monotonic_ns() // 1000
    total = 0
    for _ in range(10):
        assert timer.next() == Status.SUCCESS
        now = time.monotonic_ns() // 1000
        total += now - then
        then = now
    timer.destroy()
    avg_ms = total // 10 / 1000
    assert 5 <= avg_ms <= 200  # sanity only; bench/timers.py measures the real figure
    assert then >= start


def test_timer_without_runtime_engine_unit():
    """The engine works without a kernel (as in the hypothesis test) and fails cleanly after
    shutdown."""
    engine = SoftTimer(use_timerfd=True)
    iface = TimerInterface(name="soft", init=engine.init, next=engine.next, step=engine.step,
                           sync=engine.sync, check=engine.check, destroy=engine.destroy)
    t = timer_open(iface, "soft", 20, 160)
    assert isinstance(t, Timer)
    engine.shutdown()
    assert t.next() == Status.GENERR
    with pytest.raises(TimerError, match=r"refused interval 20 ms, 160 samples \(FALSE\)"):
        timer_open(iface, "soft", 20, 160)
    t.destroy()
