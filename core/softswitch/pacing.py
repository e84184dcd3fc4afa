"""Timer pacing: the per-tick hot path a timer module needs, owned by the kernel.

A timer module that parks greenlets on shared clocks (mod_softtimer) has two hot halves:

* ``timer.next()`` for a timer whose greenlet is woken by a tick: check that nothing unusual is
  going on, park the greenlet on its clock, switch away (to the next greenlet of the tick being
  delivered, else the hub), return SUCCESS (or GENERR when woken with a value);
* the tick's delivery: every timer waiting on the clock consumes the tick (``tick``,
  ``samplecount``, ``skipped``) and its greenlet is queued to be resumed.

:func:`new_pacing` gives a :class:`Pacing` that does both, over the module's own objects. It is
the C extension ``softswitch._pacing`` where it is built and what it relies on checks out
(the slots of the given classes, greenlet's C API table), else the Python code below, the
reference the C code is tested against. Which one runs is logged once at DEBUG;
``SOFTSWITCH_PURE_PYTHON=1`` (:func:`softswitch.pure_python`) forces Python.

The objects, by the slots they must have (``__slots__``; the C code reads them by offset):

* the timer (:class:`softswitch.Timer`): ``private``, ``tick``, ``samplecount``, ``samples``,
  ``skipped``;
* ``private_cls``, the module's ``timer.private``: ``clock`` (None for a timer without a
  clock), ``last`` (the clock tick it consumed last), ``waiter`` (its parked greenlet or None),
  ``closed`` (bool), ``timer``;
* ``clock_cls``: ``tick`` (the clock's last tick), ``deadline`` (monotonic ns of the next one),
  ``waiters`` (a list of privates).

The module keeps the rest: ``slow_next(timer)`` (its full ``next``, for every case the fast path
does not take; None means SUCCESS), ``on_error(timer, private, greenlet, exc)`` (cleans up when
an exception took a greenlet out of its wait; may raise another), ``deliver_one(private, k,
waiting, batch)`` (the delivery of one timer with unusual values: appends the greenlet to
``batch`` or the private back to ``waiting``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import MethodType
from typing import Any, Protocol

from greenlet import getcurrent
from greenlet import greenlet as _RawGreenlet

from .accel import choose, load_extension, pure_python
from .status import Status
from .timer import Timer

log = logging.getLogger(__name__)

__all__ = ["Pacing", "new_pacing", "pacing_implementation"]

_SUCCESS = Status.SUCCESS
_GENERR = Status.GENERR
_switch = _RawGreenlet.switch  # skips the "switch" lookup in each gevent Greenlet's dict


class Pacing(Protocol):
    """What :func:`new_pacing` returns."""

    #: ``"C"`` or ``"Python"``.
    implementation: str
    #: Set it when the timer module shuts down: every ``next`` then takes ``slow_next``.
    stopping: bool

    def bind(self, timer: Timer) -> Callable[[], Status]:
        """The function ``timer.next`` becomes (a timer module's ``bind_next``)."""

    def deliver(self, clock: Any) -> None:
        """The tick's bookkeeping for every timer waiting on ``clock``; their greenlets go on
        ``ready`` (the first to arrive on top), for the caller to resume."""


class PythonPacing:
    """The Python implementation (and the reference of ``softswitch._pacing.State``)."""

    implementation = "Python"

    def __init__(self, *, ready: list, hub_switch: Callable, slow_next: Callable,
                 on_error: Callable, deliver_one: Callable, **_: Any) -> None:
        self.ready = ready
        self.stopping = False
        self._deliver_one = deliver_one
        self._next = self._make_next(ready, hub_switch, slow_next, on_error)

    def _make_next(self, ready: list, hub_switch: Callable, slow: Callable, on_error: Callable):
        from time import monotonic_ns as mono

        pacing = self
        switch = _switch

        def next_fast(timer: Timer) -> Status:
            """``timer.next()``: the woken-by-a-tick case; every other one in ``slow_next``."""
            p = timer.private
            clock = p.clock
            # While a tick is being handed over (ready not empty), the clock loop runs right
            # after it: a next tick that fell due meanwhile is left to it rather than read off
            # the clock by every greenlet.
            if (p.last != clock.tick or p.waiter is not None or p.closed or pacing.stopping
                    or (not ready and mono() >= clock.deadline)):
                return _SUCCESS if slow(timer) is None else _GENERR
            g = getcurrent()
            p.waiter = g
            clock.waiters.append(p)
            try:
                why = switch(ready.pop()) if ready else hub_switch()
            except BaseException as e:
                on_error(timer, p, g, e)
                raise
            return _GENERR if why else _SUCCESS

        return next_fast

    def bind(self, timer: Timer) -> Callable[[], Status]:
        return MethodType(self._next, timer)

    def deliver(self, clock: Any) -> None:
        waiters = clock.waiters
        if not waiters:
            return
        clock.waiters = waiting = []
        k = clock.tick
        one = self._deliver_one
        batch: list = []  # the greenlets to resume, in arrival order
        try:
            for p in waiters:
                one(p, k, waiting, batch)
        finally:  # (even after an error: those in batch consumed the tick)
            batch.reverse()
            self.ready[0:0] = batch  # under whatever is queued (nothing, normally)


def _extension():
    """``softswitch._pacing`` if built and not switched off (asked each time: the switch may
    change between two timer modules, as it does between tests), else None."""
    ext = load_extension("softswitch._pacing", "timer pacing", check=("State",))
    if ext is not None and ext.greenlet_c_api != "ok":
        choose("timer pacing: greenlet switch", "greenlet.switch",
               f"greenlet's C API not used: {ext.greenlet_c_api}")
    return ext


def pacing_implementation() -> str:
    """``"C"`` when :func:`new_pacing` would give the C implementation (built, not switched
    off), else ``"Python"``. (The C one can still fall back for classes it cannot use.)"""
    return "C" if _extension() is not None else "Python"


def new_pacing(*, ready: list, hub_switch: Callable[[], Any], slow_next: Callable,
               on_error: Callable, deliver_one: Callable, private_cls: type, clock_cls: type,
               timer_cls: type = Timer, use_c: bool | None = None) -> Pacing:
    """The pacing of a timer module (see the module docstring for the arguments).

    :param use_c: None: C when available (built, its dependencies check out, not
        ``SOFTSWITCH_PURE_PYTHON=1``), else Python. True: C or :class:`RuntimeError` saying
        why not. False: Python.
    """
    kwargs = dict(ready=ready, hub_switch=hub_switch, slow_next=slow_next, on_error=on_error,
                  deliver_one=deliver_one)
    if use_c is False:
        return PythonPacing(**kwargs)
    ext = _extension()
    if ext is None:
        if use_c:
            raise RuntimeError("softswitch._pacing is not available: "
                               + ("SOFTSWITCH_PURE_PYTHON=1 is set" if pure_python()
                                  else "the kernel was installed without its C extension "
                                       "(no C compiler?)"))
        return PythonPacing(**kwargs)
    try:
        state = ext.State(raw_switch=_switch, getcurrent=getcurrent, success=_SUCCESS,
                          generr=_GENERR, timer_cls=timer_cls, private_cls=private_cls,
                          clock_cls=clock_cls, **kwargs)
    except (TypeError, AttributeError) as e:  # a layout the C code cannot read: Python can
        if use_c:
            raise RuntimeError(f"softswitch._pacing cannot pace these objects: {e}") from e
        choose(f"timer pacing of {private_cls.__name__}/{clock_cls.__name__}", "Python",
               f"the C code cannot use {private_cls.__name__}/{clock_cls.__name__}: {e}")
        return PythonPacing(**kwargs)
    return _CPacing(state)


class _CPacing:
    """The C State with the :class:`Pacing` interface."""

    __slots__ = ("_state", "bind", "deliver")
    implementation = "C"

    def __init__(self, state: Any) -> None:
        self._state = state
        self.bind = state.bind
        self.deliver = state.deliver

    @property
    def stopping(self) -> bool:
        return self._state.stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._state.stopping = value

    @property
    def greenlet_c_api(self) -> bool:
        """Greenlets are switched through greenlet's C API (else through greenlet.switch)."""
        return self._state.c_api
