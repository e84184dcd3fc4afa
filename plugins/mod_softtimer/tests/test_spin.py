"""The spin window (switch.conf ``softtimer-spin-usec``): the timerfd wakes the hub early, the
hub polls until the deadline and delivers the tick at once.

Correctness only (no timing thresholds): no timer returns before its tick's deadline, 0 turns
the window off, other greenlets' I/O is served while the window is open.
"""

from __future__ import annotations

import time

import gevent
import gevent.socket
import pytest

from mod_softtimer.engine import DEFAULT_SPIN_USEC, MAX_SPIN_USEC, SoftTimer
from softswitch import Status, TimerInterface
from softswitch.timer import timer_open


def _engine(kernel_factory, wait_for, **settings):
    core = kernel_factory(modules=["mod_softtimer"], settings=settings)
    engine = core.modules.modules["mod_softtimer"].state.softtimer
    wait_for(lambda: engine.running, message="the clock loop (module_runtime) did not start")
    return core, engine


@pytest.mark.parametrize(("value", "usec"), [
    (None, DEFAULT_SPIN_USEC), ("0", 0), ("150", 150), (" 42 ", 42), ("junk", DEFAULT_SPIN_USEC),
    ("-5", 0), (str(MAX_SPIN_USEC + 1), MAX_SPIN_USEC),
])
def test_spin_setting(kernel_factory, wait_for, value, usec):
    settings = {} if value is None else {"softtimer-spin-usec": value}
    core, engine = _engine(kernel_factory, wait_for, **settings)
    assert engine.spin_ns == usec * 1000
    assert engine.stats()["spin_usec"] == usec
    core.shutdown()


def _pace_and_check(core, engine, spawn, intervals, ticks):
    """Timers of ``intervals`` (one greenlet each) take ``ticks`` ticks; every return of next()
    is checked against its tick's absolute deadline. Returns the timers."""
    timers = [core.timer_open("soft", iv, 8) for iv in intervals]
    early = []

    def pace(timer):
        p = timer.private
        step = p.clock.interval_ns
        for _ in range(ticks):
            assert timer.next() == Status.SUCCESS
            now = time.monotonic_ns()
            deadline = engine.origin + p.last * step  # the tick it just consumed
            if now < deadline:
                early.append((timer.interval, p.last, deadline - now))

    greenlets = [spawn(pace, t) for t in timers]
    assert gevent.joinall(greenlets, timeout=30)
    for g in greenlets:
        assert g.successful(), g.exception
    assert early == []
    return timers


def test_no_timer_returns_before_its_deadline(kernel_factory, wait_for, spawn):
    # a wide window (2 ms), mixed intervals: 20 and 40 ms tick together, 30 ms in between
    core, engine = _engine(kernel_factory, wait_for, **{"softtimer-spin-usec": "2000"})
    assert engine.spin_ns == 2_000_000
    s0 = engine.spins
    timers = _pace_and_check(core, engine, spawn, [20] * 20 + [30] * 5 + [40] * 5 + [10] * 5, 8)
    # (the OS almost always wakes us within 2 ms: some windows were polled)
    wait_for(lambda: engine.spins > s0, timeout=10, message="no spin window was ever opened")
    assert engine.spin_ns_total > 0
    for t in timers:
        assert t.tick == 8 + t.skipped
        assert t.samplecount == t.tick * 8
        t.destroy()
    core.shutdown()


def test_spin_0_turns_the_window_off(kernel_factory, wait_for, spawn):
    core, engine = _engine(kernel_factory, wait_for, **{"softtimer-spin-usec": "0"})
    assert engine.spin_ns == 0
    w0 = engine.wakeups
    timers = _pace_and_check(core, engine, spawn, [20] * 10, 5)
    assert engine.wakeups > w0
    assert (engine.spins, engine.spin_ns_total, engine.spin_missed) == (0, 0, 0)
    assert engine.spin_window_ns == 0
    for t in timers:
        t.destroy()
    core.shutdown()


def test_io_of_other_greenlets_is_served_during_the_window(kernel_factory, wait_for, spawn):
    """While the hub polls for the deadline, a ping-pong over a socket pair goes on."""
    core, engine = _engine(kernel_factory, wait_for, **{"softtimer-spin-usec": "2000"})
    timers = [core.timer_open("soft", 20, 8) for _ in range(10)]

    def pace(timer):
        while timer.next() == Status.SUCCESS:
            pass

    pacers = [spawn(pace, t) for t in timers]
    a, b = gevent.socket.socketpair()
    served = {"total": 0, "in_window": 0}

    def echo():
        while data := b.recv(16):
            if engine.spinning:  # a window is open: the hub is polling for the deadline
                served["in_window"] += 1
            served["total"] += 1
            b.sendall(data)

    def ping():
        while True:
            a.sendall(b"x")
            assert a.recv(16) == b"x"

    spawn(echo)
    spawn(ping)
    wait_for(lambda: served["in_window"] >= 3, timeout=20,
             message="no I/O was served while a spin window was open")
    n = served["total"]
    wait_for(lambda: served["total"] > n + 10, timeout=10)
    for t in timers:
        t.destroy()
    assert gevent.joinall(pacers, timeout=5)
    a.close()
    b.close()
    core.shutdown()


def test_the_window_logic_unit():
    """on_wake, driven by hand: not due yet and outside the window (a stale readiness): re-arm
    and wait; inside the window: poll; at the deadline: deliver, count the window, re-arm."""
    engine = SoftTimer(use_timerfd=True, spin_usec=300)
    if engine.timerfd is None:
        engine.shutdown()
        pytest.skip("no timerfd on this platform")
    try:
        iface = TimerInterface(name="soft", init=engine.init, next=engine.next,
                               destroy=engine.destroy)
        t = timer_open(iface, "soft", 20, 160)  # a clock: its deadlines open windows
        clock = t.private.clock
        assert engine.spin_window_ns == 300_000
        engine.next_deadline = clock.deadline = time.monotonic_ns() + 10_000_000_000  # far
        engine.on_wake()
        assert not engine.spinning and engine.wakeups == 0
        engine.next_deadline = clock.deadline = time.monotonic_ns() + 200_000  # in the window
        engine.on_wake()
        assert engine.spinning and engine.wakeups == 0
        deadline = engine.next_deadline
        while not engine.wakeups:  # (the window's own poll, by hand)
            engine.on_wake()
            # a call that ended before the deadline cannot have delivered the tick
            assert time.monotonic_ns() >= deadline or clock.ticks == 0
        assert (engine.wakeups, engine.spins, engine.spinning, clock.ticks) == (1, 1, False, 1)
        assert engine.spin_ns_total > 0
        assert engine.next_deadline > deadline
        t.destroy()
    finally:
        engine.shutdown()
