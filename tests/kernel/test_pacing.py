"""Timer pacing (softswitch.pacing): the C extension softswitch._pacing and its Python twin.

Both implementations run the same tests on a small clock of their own (the soft timer's tests
run them again through mod_softtimer). ``SOFTSWITCH_REQUIRE_SPEEDUPS=1`` (tox's kernel env)
makes a missing C extension a failure; ``SOFTSWITCH_EXPECT_NO_SPEEDUPS=1`` (tox's nocc env,
installed with ``CC=false``) checks that the install went on without it.
"""

from __future__ import annotations

import logging
import os
import time

import gevent
import pytest

import softswitch
from softswitch import Status, Timer, TimerInterface, new_pacing, pacing_implementation, timer

C_BUILT = pacing_implementation() == "C" if not softswitch.pure_python() else None


class Clock:
    __slots__ = ("tick", "deadline", "waiters")

    def __init__(self) -> None:
        self.tick = 0
        self.deadline = time.monotonic_ns() + 3600 * 10**9  # far: the fast path parks
        self.waiters: list = []


class Private:
    __slots__ = ("clock", "last", "waiter", "closed", "timer")

    def __init__(self, clock, timer) -> None:
        self.clock, self.last, self.waiter, self.closed, self.timer = clock, 0, None, False, timer


class Bare:  # no slots: the C code cannot read it
    pass


@pytest.fixture(params=["C", "Python"])
def use_c(request, monkeypatch):
    if request.param == "C":
        if softswitch.pure_python():
            pytest.skip("SOFTSWITCH_PURE_PYTHON=1")
        if pacing_implementation() != "C":
            pytest.skip("softswitch._pacing is not built")
    return request.param == "C"


def make(use_c, private_cls=Private, clock_cls=Clock, slow_calls=None):
    hub = gevent.get_hub()
    ready: list = []
    slow_calls = [] if slow_calls is None else slow_calls

    def slow_next(t):
        slow_calls.append(t)
        return None

    def deliver_one(p, k, waiting, batch):  # the generic bookkeeping, for unusual values
        t = p.timer
        t.tick += k - p.last
        p.last = k
        batch.append(p.waiter)
        p.waiter = None

    def on_error(t, p, g, exc):
        if p.waiter is g:
            p.waiter = None
        if p in p.clock.waiters:
            p.clock.waiters.remove(p)

    pacing = new_pacing(ready=ready, hub_switch=hub.switch, slow_next=slow_next,
                        on_error=on_error, deliver_one=deliver_one, private_cls=private_cls,
                        clock_cls=clock_cls, use_c=use_c)
    return pacing, ready


def new_timer(clock):
    t = Timer(TimerInterface(name="test"), 20, 160)
    t.private = Private(clock, t)
    return t


def fanout(pacing, ready, clock):
    clock.tick += 1
    pacing.deliver(clock)
    while ready:
        ready.pop().switch()


def test_a_tick_wakes_every_parked_timer_in_order(use_c):
    pacing, ready = make(use_c)
    assert pacing.implementation == ("C" if use_c else "Python")
    clock = Clock()
    timers = [new_timer(clock) for _ in range(3)]
    order = []

    def run(t, name):
        assert t.next() == Status.SUCCESS
        order.append((name, t.tick, t.samplecount))

    for t in timers:
        t.next = pacing.bind(t)
    gs = [gevent.spawn(run, t, i) for i, t in enumerate(timers)]
    gevent.sleep(0)
    assert len(clock.waiters) == 3
    gevent.get_hub().loop.run_callback(fanout, pacing, ready, clock)
    assert gevent.joinall(gs, timeout=5)
    assert order == [(0, 1, 160), (1, 1, 160), (2, 1, 160)]
    assert clock.waiters == [] and all(t.private.waiter is None for t in timers)


def test_unusual_cases_take_the_slow_path(use_c):
    calls = []
    pacing, _ = make(use_c, slow_calls=calls)
    clock = Clock()
    t = new_timer(clock)
    t.next = pacing.bind(t)
    t.private.closed = True
    assert t.next() == Status.SUCCESS and calls == [t]
    t.private.closed = False
    pacing.stopping = True
    assert t.next() == Status.SUCCESS and calls == [t, t]
    pacing.stopping = False
    clock.deadline = 0  # a tick is due that the clock loop has not delivered
    assert t.next() == Status.SUCCESS and len(calls) == 3


def test_a_layout_the_c_code_cannot_read_falls_back_to_python(caplog):
    if C_BUILT is not True:
        pytest.skip("softswitch._pacing is not in use here")
    with caplog.at_level(logging.DEBUG, logger="softswitch"):
        pacing, _ = make(None, private_cls=Bare)
    assert pacing.implementation == "Python"
    assert "the C code cannot use Bare/Clock" in caplog.text
    with pytest.raises(RuntimeError, match="cannot pace these objects"):
        make(True, clock_cls=Bare)


def test_the_c_state_checks_what_it_is_given():
    if C_BUILT is not True:
        pytest.skip("softswitch._pacing is not in use here")
    pacing, _ = make(True)
    with pytest.raises(TypeError, match="Clock"):
        pacing.deliver(object())
    with pytest.raises(TypeError, match="Timer"):
        pacing.bind(object())
    t = new_timer(Clock())
    t.next = pacing.bind(t)
    with pytest.raises(TypeError, match="no arguments"):
        t.next(1)


def test_greenlet_c_api_is_checked_and_used():
    if C_BUILT is not True:
        pytest.skip("softswitch._pacing is not in use here")
    import softswitch._pacing as ext

    assert ext.greenlet_c_api == "ok"
    pacing, _ = make(True)
    assert pacing.greenlet_c_api


def test_pure_python_switch(monkeypatch):
    for value, expected in (("1", True), ("0", False), ("", False)):
        monkeypatch.setenv("SOFTSWITCH_PURE_PYTHON", value)
        assert softswitch.pure_python() is expected
    monkeypatch.setenv("SOFTSWITCH_PURE_PYTHON", "1")
    assert pacing_implementation() == "Python"
    assert make(None)[0].implementation == "Python"
    with pytest.raises(RuntimeError, match="SOFTSWITCH_PURE_PYTHON=1"):
        make(True)


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_REQUIRE_SPEEDUPS") != "1",
                    reason="SOFTSWITCH_REQUIRE_SPEEDUPS=1 not set (tox's kernel env sets it)")
def test_pacing_is_built_where_required(monkeypatch):
    monkeypatch.delenv("SOFTSWITCH_PURE_PYTHON", raising=False)
    import softswitch._pacing  # noqa: F401 - its ImportError, if any, says why

    assert pacing_implementation() == "C"


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_EXPECT_NO_SPEEDUPS") != "1",
                    reason="only in tox's nocc env (installed with CC=false)")
def test_install_without_a_compiler_runs_python():
    with pytest.raises(ImportError):
        import softswitch._pacing  # noqa: F401
    assert pacing_implementation() == "Python"


def test_timer_module_constant_is_public():
    assert softswitch.MAX_TIMER_INTERVAL_MS == timer.MAX_INTERVAL_MS == 2000
