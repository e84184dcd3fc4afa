"""A tick's delivery (``SoftTimer.fanout``), driven by hand on an engine whose clock loop is
not running: the hub callback updates every waiting timer, then resumes the greenlets in
arrival order, each handing over to the next."""

from __future__ import annotations

import os

import gevent
import pytest

from mod_softtimer.engine import SoftTimer
from softswitch import Status, TimerError, TimerInterface
from softswitch.timer import timer_open

FAR = 2**62  # a deadline the test never reaches: only the test advances the clock
U32 = 0xFFFFFFFF


@pytest.fixture
def unit():
    engine = SoftTimer(use_timerfd=False)
    iface = TimerInterface(name="soft", init=engine.init, next=engine.next, step=engine.step,
                           sync=engine.sync, check=engine.check, destroy=engine.destroy,
                           bind_next=engine.bind_next)
    yield engine, iface
    engine.shutdown()


def tick(engine, clock, n=1):
    """What the clock loop does at a deadline: advance, then deliver in a hub callback."""
    clock.tick += n
    gevent.get_hub().loop.run_callback(engine.fanout, clock)
    gevent.sleep(0)
    gevent.sleep(0)


def test_delivery_updates_every_waiter_then_resumes_them_in_order(unit):
    engine, iface = unit
    timers = [timer_open(iface, "soft", 20, 160) for _ in range(3)]
    clock = timers[0].private.clock
    clock.deadline = FAR
    order = []

    def pace(i, timer):
        for _ in range(2):
            assert timer.next() == Status.SUCCESS
            order.append((i, timer.tick, timer.samplecount))

    greenlets = [gevent.spawn(pace, i, t) for i, t in enumerate(timers)]
    gevent.sleep(0)
    assert [p.timer for p in clock.waiters] == timers
    assert all(t.private.waiter is g for t, g in zip(timers, greenlets, strict=True))
    tick(engine, clock)
    assert order == [(0, 1, 160), (1, 1, 160), (2, 1, 160)]
    assert [p.timer for p in clock.waiters] == timers  # parked again, same order
    tick(engine, clock, 3)  # the clock loop itself woke 2 ticks late
    assert order[3:] == [(0, 4, 640), (1, 4, 640), (2, 4, 640)]
    assert [t.skipped for t in timers] == [2, 2, 2]
    assert gevent.joinall(greenlets, timeout=5)
    assert all(t.private.waiter is None for t in timers) and not engine.unresumed


def test_a_timer_that_consumed_the_tick_ahead_of_the_clock_keeps_waiting(unit):
    """next() consumes a due tick before the clock loop has seen it; that tick's delivery
    must not wake its next wait."""
    engine, iface = unit
    timer = timer_open(iface, "soft", 20, 160)
    clock, p = timer.private.clock, timer.private
    clock.deadline = FAR
    p.last = clock.tick + 1  # as next() leaves it after consuming tick clock.tick + 1 early
    g = gevent.spawn(timer.next)
    gevent.sleep(0)
    assert clock.waiters == [p]
    tick(engine, clock)  # the clock loop catches up with the tick already consumed
    assert not g.dead and clock.waiters == [p] and timer.tick == 0
    tick(engine, clock)
    assert g.dead and g.value == Status.SUCCESS
    assert (timer.tick, timer.skipped, p.last) == (1, 0, clock.tick)


def test_destroyed_while_queued_for_the_tick_returns_the_delivered_tick(unit):
    engine, iface = unit
    a, b = timer_open(iface, "soft", 20, 160), timer_open(iface, "soft", 20, 160)
    clock = a.private.clock
    clock.deadline = FAR
    results = []

    def first():
        results.append(("a", a.next()))
        b.destroy()  # b's greenlet is queued behind this one, its tick delivered

    def second():
        results.append(("b", b.next(), b.tick))
        with pytest.raises(TimerError, match="destroyed"):
            b.next()
        results.append("raised")

    ga, gb = gevent.spawn(first), gevent.spawn(second)
    gevent.sleep(0)
    tick(engine, clock)
    assert gevent.joinall([ga, gb], timeout=5)
    assert results == [("a", Status.SUCCESS), ("b", Status.SUCCESS, 1), "raised"]
    a.destroy()


def test_engines_use_the_implementation_asked_for(core, engine, implementation):
    """SOFTSWITCH_PURE_PYTHON (set by the ``implementation`` fixture) picks the path."""
    assert engine.implementation == implementation
    timer = core.timer_open("soft", 20, 160)
    kind = type(timer.next).__name__
    assert kind == ("Pacer" if implementation == "C" else "method")
    assert timer.next() == Status.SUCCESS
    timer.destroy()


def test_unusual_numbers_take_the_python_bookkeeping(unit):
    """A tick beyond 64 bits, or not an int at all (user code may assign ``timer.tick``):
    the delivery gives what the Python reference gives; a timer it cannot update gets the
    error in its own next(), the others their tick."""
    engine, iface = unit
    big = timer_open(iface, "soft", 20, 160)
    odd = timer_open(iface, "soft", 20, 160)
    junk = timer_open(iface, "soft", 20, 160)
    fine = timer_open(iface, "soft", 20, 160)
    clock = big.private.clock
    clock.deadline = FAR
    big.tick, odd.tick, junk.tick = 2**70, 5.5, "junk"
    greenlets = [gevent.spawn(t.next) for t in (big, odd, junk, fine)]
    gevent.sleep(0)
    tick(engine, clock, 2)
    assert gevent.joinall(greenlets, timeout=5)
    assert [g.value for g in greenlets] == [Status.SUCCESS, None, None, Status.SUCCESS]
    assert (big.tick, big.skipped, big.samplecount) == (2**70 + 2, 1, ((2**70 + 2) * 160) & U32)
    assert isinstance(greenlets[1].exception, TypeError)  # float & int
    assert isinstance(greenlets[2].exception, TypeError)  # str + int
    assert (fine.tick, fine.skipped, fine.samplecount) == (2, 1, 320)
    assert clock.waiters == [] and all(t.private.waiter is None for t in (odd, junk))


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_REQUIRE_SPEEDUPS") != "1",
                    reason="SOFTSWITCH_REQUIRE_SPEEDUPS=1 not set")
def test_fastpath_is_built_where_required(monkeypatch):
    """Where the C pacing is required (CI), no silent fallback to the Python code."""
    monkeypatch.delenv("SOFTSWITCH_PURE_PYTHON", raising=False)
    engine = SoftTimer(use_timerfd=False)
    assert engine.implementation == "C"
    engine.shutdown()
