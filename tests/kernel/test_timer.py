"""The kernel's timer interface (``softswitch.timer``) with a fake timer module: no gevent clock.

``timer.next`` is an attribute holding a function: the generic one (the interface's
``next(timer)``, its result mapped to SUCCESS/GENERR), or the module's own per-timer function
when the interface has ``bind_next``; a destroyed timer's ``next`` raises.
"""

from __future__ import annotations

import gc

import pytest

from softswitch import Status, TimerError, TimerInterface
from softswitch.timer import Timer, timer_open


def fake_interface(**overrides) -> tuple[TimerInterface, list[str]]:
    calls: list[str] = []

    def init(timer: Timer) -> Status:
        calls.append("init")
        return Status.SUCCESS

    def nxt(timer: Timer) -> Status | None:
        calls.append("next")
        timer.tick += 1
        return None

    def destroy(timer: Timer) -> Status:
        calls.append("destroy")
        return Status.SUCCESS

    fns = {"init": init, "next": nxt, "destroy": destroy, **overrides}
    return TimerInterface(name="fake", **fns), calls


@pytest.mark.parametrize(("result", "status"), [
    (None, Status.SUCCESS), (Status.SUCCESS, Status.SUCCESS), (0, Status.SUCCESS),
    (Status.FALSE, Status.GENERR), (Status.GENERR, Status.GENERR), ("junk", Status.GENERR),
])
def test_generic_next_maps_the_module_result_to_success_or_generr(result, status):
    iface, _ = fake_interface(next=lambda timer: result)
    timer = timer_open(iface, "fake", 20, 160)
    assert timer.next() is status
    timer.destroy()


def test_generic_next_calls_the_interface_next_with_the_timer():
    iface, calls = fake_interface()
    timer = timer_open(iface, "fake", 20, 160)
    assert [timer.next(), timer.next()] == [Status.SUCCESS] * 2
    assert timer.tick == 2 and calls == ["init", "next", "next"]
    timer.destroy()


def test_bind_next_makes_the_modules_function_timer_next():
    bound = []

    def bind_next(timer: Timer):
        bound.append(timer)
        return lambda: Status.SUCCESS if timer.tick == 0 else Status.GENERR

    iface, calls = fake_interface(bind_next=bind_next)
    timer = timer_open(iface, "fake", 20, 160)
    assert bound == [timer]
    assert timer.next() is Status.SUCCESS
    assert calls == ["init"]  # the interface's next(timer) is not involved
    timer.destroy()
    with pytest.raises(TimerError, match="destroyed"):
        timer.next()


def test_bind_next_may_keep_the_generic_next():
    iface, calls = fake_interface(bind_next=lambda timer: None)
    timer = timer_open(iface, "fake", 20, 160)
    assert timer.next() is Status.SUCCESS
    assert calls == ["init", "next"]
    timer.destroy()


def test_bind_next_failing_destroys_the_timer():
    def bind_next(timer: Timer):
        raise RuntimeError("no")

    iface, calls = fake_interface(bind_next=bind_next)
    with pytest.raises(RuntimeError, match="no"):
        timer_open(iface, "fake", 20, 160)
    assert calls == ["init", "destroy"]


def test_next_on_a_destroyed_timer_raises_and_holds_no_cycle():
    iface, calls = fake_interface(bind_next=lambda timer: (lambda: Status.SUCCESS))
    timer = timer_open(iface, "fake", 20, 160)
    timer.destroy()
    timer.destroy()  # twice is harmless
    assert calls == ["init", "destroy"]
    with pytest.raises(TimerError, match=r"^next\(\) on a destroyed fake timer"):
        timer.next()
    with pytest.raises(TimerError, match=r"^step\(\) on a destroyed fake timer"):
        timer.step()
    # the raiser does not refer back to the timer (a bound next did, a cycle)
    assert all(r is not timer for r in gc.get_referents(timer.next))


def test_timer_without_next_is_a_clear_error():
    iface, _ = fake_interface(next=None)
    timer = timer_open(iface, "fake", 20, 160)
    with pytest.raises(TimerError, match=r"not properly configured. \(no next\)"):
        timer.next()
    timer.destroy()
