"""mod_softtimer as a module: installation, loading, the interface it registers, its lifecycle.

No timing thresholds here beyond generous sanity bounds; bench/timers.py carries the figures.
"""

from __future__ import annotations

import time

import gevent
import importlib_metadata
import pytest

import mod_softtimer
import softswitch
from softswitch import Status, TimerError
from softswitch.timer import get_time_source


def test_module_is_installed():
    eps = importlib_metadata.entry_points(group="softswitch.modules")
    ep = eps["mod_softtimer"]
    assert ep.value == "mod_softtimer"
    assert ep.dist is not None and ep.dist.name == "softswitch-mod-softtimer"
    assert ep.load() is mod_softtimer


def test_loaded_first_as_a_core_module(core, engine):
    mod = core.modules.modules["mod_softtimer"]
    assert mod.phase == "core"
    assert not mod.permanent
    iface = core.registry.get("timer", "soft")
    assert isinstance(iface, softswitch.TimerInterface)
    assert iface.module is mod
    assert engine.running
    assert engine.mode in ("timerfd", "sleep")


def test_interface_is_in_the_core_db_for_show_timer(core):
    _, rows = core.db.query("SELECT name, ikey FROM interfaces WHERE type = 'timer'")
    assert ("soft", "mod_softtimer") in rows


def test_timer_name_is_case_insensitive(core):
    timer = core.timer_open("SOFT", 20, 160)
    try:
        assert timer.name == "soft"
        assert (timer.interval, timer.samples) == (20, 160)
    finally:
        timer.destroy()


def test_unknown_timer_name_is_a_clear_error(core):
    with pytest.raises(TimerError, match=r"^invalid timer nope! .*mod_softtimer"):
        core.timer_open("nope", 20, 160)


@pytest.mark.parametrize("interval", [0, -20, 2001, 10**9, 20.5, "20", None, True])
def test_bad_interval_is_a_clear_error(core, interval):
    with pytest.raises(TimerError, match=r"timer soft: interval must be .* 1 to 2000"):
        core.timer_open("soft", interval, 160)


@pytest.mark.parametrize("samples", [-1, 1_000_001, 2**40, 1.5, "160", None, True])
def test_bad_samples_is_a_clear_error(core, samples):
    with pytest.raises(TimerError, match=r"timer soft: samples per interval must be"):
        core.timer_open("soft", 20, samples)


def test_engine_refuses_an_interval_it_does_not_support(engine):
    """The kernel checks the range first; the module checks it again (FreeSWITCH's init)."""
    from softswitch.timer import Timer

    iface = softswitch.TimerInterface(name="soft", init=engine.init)
    t = Timer(iface, 2001, 160)
    assert engine.init(t) == Status.GENERR


def test_runtime_drives_the_clock_without_busy_looping(core, engine, wait_for):
    """With no timer open the clock loop still ticks (20 ms, FreeSWITCH's default) and sleeps."""
    mod = core.modules.modules["mod_softtimer"]
    assert mod.runtime_running
    w0, t0 = engine.wakeups, time.monotonic()
    wait_for(lambda: engine.wakeups >= w0 + 5, timeout=10)
    gevent.sleep(0.2)
    elapsed_ms = (time.monotonic() - t0) * 1000
    # one wake-up per 20 ms tick, never a spin: a generous bound
    assert engine.wakeups - w0 <= elapsed_ms / 20 * 2 + 5


def test_cached_time_comes_from_the_clock_loop(core, engine, wait_for):
    assert get_time_source() is engine.time_source
    now = softswitch.cached_micro_time_now()
    assert abs(now - softswitch.micro_time_now()) < 5_000_000
    wait_for(lambda: softswitch.cached_micro_time_now() > now, timeout=5)
    assert abs(softswitch.epoch_time_now() - time.time()) <= 2
    assert softswitch.epoch_time_now() == softswitch.cached_micro_time_now() // 1_000_000
    assert softswitch.mono_micro_time_now() > 0


def test_shutdown_resets_the_time_source(kernel_factory, wait_for):
    core = kernel_factory(modules=["mod_softtimer"])
    engine = core.modules.modules["mod_softtimer"].state.softtimer
    wait_for(lambda: get_time_source() is engine.time_source)
    core.shutdown()
    assert get_time_source() is None
    assert abs(softswitch.cached_micro_time_now() - softswitch.micro_time_now()) < 5_000_000


def test_two_kernels_in_one_process(kernel_factory, wait_for):
    """Each kernel has its own engine; shutting one down leaves the other's time source."""
    a = kernel_factory(modules=["mod_softtimer"])
    ea = a.modules.modules["mod_softtimer"].state.softtimer
    wait_for(lambda: ea.running)
    b = kernel_factory(modules=["mod_softtimer"])
    eb = b.modules.modules["mod_softtimer"].state.softtimer
    wait_for(lambda: eb.running)
    assert ea is not eb
    assert get_time_source() is eb.time_source
    a.shutdown()
    assert get_time_source() is eb.time_source
    t = b.timer_open("soft", 20, 160)
    assert t.next() == Status.SUCCESS
    t.destroy()


def test_shutdown_releases_every_waiter(kernel_factory, spawn, wait_for):
    core = kernel_factory(modules=["mod_softtimer"])
    engine = core.modules.modules["mod_softtimer"].state.softtimer
    mod = core.modules.modules["mod_softtimer"]
    timers = [core.timer_open("soft", interval, 8) for interval in (2000, 2000, 1000, 40)]

    def pace(timer):
        while (status := timer.next()) == Status.SUCCESS:
            pass
        return status

    greenlets = [spawn(pace, t) for t in timers]
    wait_for(lambda: all(t.private.waiter is not None for t in timers[:3]))
    core.shutdown()
    assert gevent.joinall(greenlets, timeout=5) and all(g.dead for g in greenlets)
    assert [g.value for g in greenlets] == [Status.GENERR] * 4
    assert not mod.runtime_running
    assert engine.timerfd is None or engine.timerfd.fd == -1
    # a timer that outlived its module fails at once, it never hangs
    assert timers[0].next() == Status.GENERR
    assert timers[0].check() == Status.FALSE
    assert timers[0].step() == Status.FALSE
    timers[0].destroy()


def test_unload_and_load_again(core, spawn, wait_for):
    timer = core.timer_open("soft", 1000, 8)
    g = spawn(timer.next)
    wait_for(lambda: timer.private.waiter is not None)
    assert core.modules.unload("mod_softtimer") == (Status.SUCCESS, "")
    assert g.join(timeout=5) is None and g.value == Status.GENERR
    with pytest.raises(TimerError, match="invalid timer soft!"):
        core.timer_open("soft", 20, 160)
    assert core.modules.load("mod_softtimer") == (Status.SUCCESS, "")
    wait_for(lambda: core.modules.modules["mod_softtimer"].state.softtimer.running)
    t2 = core.timer_open("soft", 20, 160)
    assert t2.next() == Status.SUCCESS
    t2.destroy()


def test_sleep_fallback_without_timerfd(kernel_factory, spawn, wait_for):
    """switch.conf enable-softtimer-timerfd=false: sleep until deadlines, same semantics."""
    core = kernel_factory(modules=["mod_softtimer"], settings={"enable-softtimer-timerfd": "false"})
    engine = core.modules.modules["mod_softtimer"].state.softtimer
    assert engine.mode == "sleep"
    timer = core.timer_open("soft", 20, 160)
    for _ in range(3):
        assert timer.next() == Status.SUCCESS
    assert timer.tick == 3 + timer.skipped
    assert timer.samplecount == timer.tick * 160
    slow = core.timer_open("soft", 2000, 8)  # a new clock with a later deadline
    fast = core.timer_open("soft", 10, 80)  # and one with an earlier one: the loop is kicked
    assert fast.next() == Status.SUCCESS
    g = spawn(slow.next)
    wait_for(lambda: slow.private.waiter is not None)
    slow.destroy()
    g.join(timeout=5)
    assert g.value == Status.GENERR
    core.shutdown()
    assert timer.next() == Status.GENERR


def test_1ms_timer_setting(kernel_factory, wait_for):
    core = kernel_factory(modules=["mod_softtimer"], settings={"1ms-timer": "true"})
    engine = core.modules.modules["mod_softtimer"].state.softtimer
    assert engine.base_ns == 1_000_000
    w0 = engine.wakeups
    wait_for(lambda: engine.wakeups >= w0 + 30, timeout=10)
