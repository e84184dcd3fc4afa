"""The timer interface (``switch_core_timer.c``) and the core's time helpers.

A timer module (mod_softtimer provides ``soft``) registers a :class:`TimerInterface` whose
functions drive a :class:`Timer`. Media code opens one by name and paces its frames::

    timer = core.timer_open("soft", interval=20, samples=160)
    while running:
        timer.next()            # cooperative: the greenlet sleeps, the hub keeps running
        send_frame(timer.samplecount)
    timer.destroy()

``samplecount`` starts at ``samples`` and ``tick`` at 0, as FreeSWITCH's ``timer_init`` sets them.
:func:`timer_open` validates the name, interval (1..2000 ms) and samples before the module's
``init`` runs; every failure is a :class:`TimerError` that names the timer.

Time helpers: :func:`micro_time_now` (wall-clock µs), :func:`mono_micro_time_now` (monotonic µs,
for durations and deadlines), :func:`cached_micro_time_now` (FreeSWITCH's
``switch_micro_time_now``: the soft timer's last tick while it runs, else the clock) and
:func:`epoch_time_now` (seconds, from the cached time). A timer module provides the cached time
with :func:`set_time_source`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import MethodType
from typing import Any

from .interfaces import Interface
from .status import Status, as_status

__all__ = [
    "Timer",
    "TimerInterface",
    "TimerError",
    "micro_time_now",
    "epoch_time_now",
    "mono_micro_time_now",
    "cached_micro_time_now",
    "set_time_source",
    "get_time_source",
    "timer_open",
]

#: Sanity bounds checked by the kernel before any timer module sees the values.
MAX_INTERVAL_MS = 2000
#: The public name of :data:`MAX_INTERVAL_MS` (``softswitch.MAX_TIMER_INTERVAL_MS``).
MAX_TIMER_INTERVAL_MS = MAX_INTERVAL_MS
MAX_SAMPLES = 1_000_000


class TimerError(Exception):
    """Opening or using a timer failed; the message says which timer and why."""


TimerFunc = Callable[["Timer"], Status | None]

_SUCCESS = Status.SUCCESS
_GENERR = Status.GENERR


@dataclass(eq=False)
class TimerInterface(Interface):
    """A timer implementation: functions taking the :class:`Timer` (``check`` also ``step``).

    ``bind_next`` (optional, no FreeSWITCH counterpart) serves the media hot path: called once
    after a successful ``init``, it returns the zero-argument function that ``timer.next``
    becomes for that timer (it must return ``Status.SUCCESS`` or ``Status.GENERR``, as
    :attr:`Timer.next` does), or None to keep the generic ``next`` (``next(timer)``, its
    result mapped to SUCCESS/GENERR).
    """

    init: TimerFunc | None = None
    next: TimerFunc | None = None
    step: TimerFunc | None = None
    sync: TimerFunc | None = None
    check: Callable[[Timer, bool], Status | None] | None = None
    destroy: TimerFunc | None = None
    bind_next: Callable[[Timer], Callable[[], Status] | None] | None = None

    def __post_init__(self) -> None:
        self.kind = "timer"


class Timer:
    """An open timer (``switch_timer_t``).

    ``timer.next()`` waits (cooperatively) for the next tick and returns ``Status.SUCCESS``;
    any failure of the timer module is ``Status.GENERR``; :class:`TimerError` when the timer was
    destroyed or its module has no ``next``. It is the media hot path (every timer, every
    frame), so ``next`` is an attribute holding a function, not a method: the timer module's own
    per-timer function when its interface has ``bind_next``, else a generic one; a destroyed
    timer's ``next`` raises. Calling it costs one Python call, no lookup by name and no flag test.
    """

    __slots__ = ("name", "interface", "interval", "samples", "samplecount", "last_samplecount",
                 "tick", "diff", "start", "private", "flags", "destroyed", "skipped", "next",
                 "_next")

    next: Callable[[], Status]

    def __init__(self, interface: TimerInterface, interval: int, samples: int) -> None:
        self.name = interface.name
        self.interface = interface
        self.interval = interval
        self.samples = samples
        self.samplecount = samples
        self.last_samplecount = 0
        self.tick = 0
        self.diff = 0
        self.start = 0
        self.private: Any = None
        self.flags = 0
        self.destroyed = False
        self.skipped = 0  # ticks jumped over because the caller was late
        self._next: TimerFunc = interface.next or _unconfigured_next
        self.next = MethodType(_generic_next, self)  # timer_open() may bind the module's own

    def _fn(self, name: str):
        if self.destroyed:
            raise TimerError(f"{name}() on a destroyed {self.name} timer (it was destroyed; open a new one)")
        fn = getattr(self.interface, name)
        if fn is None:
            raise TimerError(f"timer {self.name}: Timer is not properly configured. (no {name})")
        return fn

    def step(self) -> Status:
        """Advance one tick without waiting (``tick + 1``, ``samplecount + samples``)."""
        st = self._fn("step")(self)
        return _SUCCESS if st is None else as_status(st)

    def sync(self) -> Status:
        """Re-derive the position (``tick``, ``samplecount``) from the clock."""
        st = self._fn("sync")(self)
        return _SUCCESS if st is None else as_status(st)

    def check(self, step: bool = False) -> Status:
        """Non-blocking: SUCCESS (``diff`` 0) when the next tick has come, else FALSE (``diff``>0).

        With ``step``, a SUCCESS also steps the timer.
        """
        st = self._fn("check")(self, step)
        return _SUCCESS if st is None else as_status(st)

    def destroy(self) -> None:
        if self.destroyed:
            return
        fn = self.interface.destroy
        try:
            if fn is not None:
                fn(self)
        finally:
            self.destroyed = True
            self._next = _destroyed_next
            self.next = functools.partial(_raise_destroyed, self.name)  # no cycle through self

    def __enter__(self) -> Timer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return f"<Timer {self.name} {self.interval}ms tick={self.tick} samplecount={self.samplecount}>"


def _generic_next(timer: Timer) -> Status:
    """``timer.next`` unless the module binds its own: its ``next(timer)``, mapped to a Status."""
    st = timer._next(timer)
    return _SUCCESS if st is None or st == 0 else _GENERR


def _unconfigured_next(timer: Timer) -> Status:
    raise TimerError(f"timer {timer.name}: Timer is not properly configured. (no next)")


def _destroyed_next(timer: Timer) -> Status:
    return _raise_destroyed(timer.name)


def _raise_destroyed(name: str) -> Status:
    raise TimerError(f"next() on a destroyed {name} timer (it was destroyed; open a new one)")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def timer_open(interface: TimerInterface | None, name: str, interval: int, samples: int) -> Timer:
    """Validate, build and initialise a timer (``switch_core_timer_init``).

    :raises TimerError: unknown timer name, interval outside 1..2000 ms, samples outside
        0..1,000,000, or the timer module refused the timer. The message names the timer.
    """
    if interface is None:
        raise TimerError(f"invalid timer {name}! No loaded module provides a timer named {name!r}; "
                         "the 'soft' timer comes from mod_softtimer (pip install "
                         "softswitch-mod-softtimer)")
    if not _is_int(interval) or not 0 < interval <= MAX_INTERVAL_MS:
        raise TimerError(f"timer {name}: interval must be a whole number of ms from 1 to "
                         f"{MAX_INTERVAL_MS}, not {interval!r}")
    if not _is_int(samples) or not 0 <= samples <= MAX_SAMPLES:
        raise TimerError(f"timer {name}: samples per interval must be a whole number from 0 to "
                         f"{MAX_SAMPLES}, not {samples!r}")
    if interface.init is None:
        raise TimerError(f"timer {name}: Timer is not properly configured. (no init)")
    timer = Timer(interface, interval, samples)
    st = interface.init(timer)
    if st not in (None, Status.SUCCESS):
        raise TimerError(f"timer {name} refused interval {interval} ms, {samples} samples "
                         f"({as_status(st).name}); see the log of {interface.module_name or 'its module'}")
    if interface.bind_next is not None:
        try:
            fn = interface.bind_next(timer)
        except BaseException:
            timer.destroy()
            raise
        if fn is not None:
            timer.next = fn
    return timer


# --------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------

_source: Callable[[], int] | None = None


def micro_time_now() -> int:
    """Wall-clock microseconds since the epoch."""
    return time.time_ns() // 1000


def epoch_time_now() -> int:
    """Seconds since the epoch, from :func:`cached_micro_time_now` (``switch_epoch_time_now``)."""
    src = _source
    return (src() if src is not None else time.time_ns() // 1000) // 1_000_000


def mono_micro_time_now() -> int:
    """Monotonic microseconds (for durations and deadlines)."""
    return time.monotonic_ns() // 1000


def cached_micro_time_now() -> int:
    """A "now" for hot paths: the timer module's last tick when one runs, else the clock.

    FreeSWITCH's ``switch_micro_time_now`` returns the soft timer's timestamp the same way.
    """
    src = _source
    return src() if src is not None else time.time_ns() // 1000


def set_time_source(source: Callable[[], int] | None) -> None:
    """Let a timer module provide :func:`cached_micro_time_now` (None to go back to the clock).

    The source is process-wide and returns wall-clock µs; a module that sets it resets it to
    None when it shuts down (when :func:`get_time_source` is still its own).
    """
    global _source
    _source = source


def get_time_source() -> Callable[[], int] | None:
    """The function behind :func:`cached_micro_time_now`, or None when it reads the clock."""
    return _source
