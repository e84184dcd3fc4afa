"""The soft timer: shared interval clocks on the monotonic clock, driven by one greenlet.

Every timer of the same interval shares one :class:`Clock`. Clock deadlines are absolute,
``origin + k × interval`` for the k-th tick, so lateness never accumulates, and all clocks
share one ``origin``, so a 20 ms and a 40 ms clock tick together (as in FreeSWITCH's matrix
mode). The module's runtime greenlet (:meth:`SoftTimer.run`) sleeps on **one** timerfd armed
for the earliest deadline of all clocks; on each wake-up it advances every clock that is due
and wakes that clock's waiters in one hub callback. So 1,000 timers at 20 ms cost one OS
wake-up every 20 ms, not 1,000 sleeps.

The hot path is the tick's delivery (see :meth:`SoftTimer._fanout`): the hub callback updates
every waiting timer (``tick``, ``samplecount``) in one loop, then resumes the waiting greenlets
one after the other, each handing over straight to the next when it parks again. A greenlet's
own share is the lean ``timer.next`` this module binds to each timer
(:meth:`SoftTimer.bind_next`): check, park, switch, return. Both halves have a C twin in the
optional extension ``mod_softtimer._fastpath`` (:data:`IMPLEMENTATION` ``"C"``), used when it
was built; the Python code here is the reference it is tested against, and what runs without
it (or with ``SOFTSWITCH_SOFTTIMER_PURE_PYTHON=1`` in the environment). In C the per-timer
cost of a tick is close to that of resuming a bare greenlet (``bench/timers.py`` measures both).

Per-timer semantics follow FreeSWITCH's Linux soft timer (one timerfd per timer, ``TFD = 2``;
see ``spec/timers-codecs.md`` §2): a timer remembers the last clock tick it consumed
(``last``), exactly as a timerfd keeps its unread expirations:

* ``next``: wait until the clock passes ``last``; ``tick += expirations`` (a late caller
  jumps ahead at once, no burst; the ticks it jumped over are counted in ``timer.skipped``);
  ``samplecount = tick × samples``.
* ``step``: ``tick += 1``, ``samplecount += samples``; ``check(step)``: has a tick come since
  ``last``? (does not consume it, as polling a timerfd does not); ``sync``: the generic sync,
  ``tick = (now − start) / interval``.
* interval 1 is special, as in FreeSWITCH: init only counts the timer; next/step/check
  return FALSE.

``samplecount`` is a ``uint32_t`` in FreeSWITCH, so it wraps at 2**32 here too.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import deque
from types import MethodType
from typing import TYPE_CHECKING

import gevent
import gevent.event
from gevent.exceptions import BlockingSwitchOutError
from greenlet import getcurrent
from greenlet import greenlet as RawGreenlet

from softswitch import Status, TimerError
from softswitch.timer import (
    MAX_INTERVAL_MS,
    Timer,
    get_time_source,
    micro_time_now,
    set_time_source,
)

from ._timerfd import TimerFD, open_timerfd

try:
    from . import _fastpath
except ImportError:  # not built (no C compiler at install): the Python code below runs
    _fastpath = None

if TYPE_CHECKING:
    from types import ModuleType

log = logging.getLogger(__name__)

__all__ = ["SoftTimer", "Clock", "TimerPrivate", "IMPLEMENTATION"]

#: ``"C"`` when the optional extension ``mod_softtimer._fastpath`` was built, else
#: ``"Python"``; a :class:`SoftTimer` uses it unless told otherwise (``use_c``, or
#: ``SOFTSWITCH_SOFTTIMER_PURE_PYTHON=1`` in the environment when it is made).
IMPLEMENTATION = "C" if _fastpath is not None else "Python"
PURE_PYTHON_ENV = "SOFTSWITCH_SOFTTIMER_PURE_PYTHON"

_U32 = 0xFFFFFFFF
_SUCCESS = Status.SUCCESS
_FALSE = Status.FALSE
_GENERR = Status.GENERR
_mono = time.monotonic_ns
#: ``greenlet.switch`` itself: ``_switch(g)`` skips the lookup of "switch" in the instance
#: dict every gevent Greenlet has (a cache miss per greenlet per tick).
_switch = RawGreenlet.switch


class Clock:
    """One interval's clock, shared by every timer of that interval."""

    __slots__ = ("interval", "interval_ns", "tick", "deadline", "waiters", "count", "ticks",
                 "skipped")

    def __init__(self, interval: int, origin: int, now: int) -> None:
        self.interval = interval
        self.interval_ns = interval * 1_000_000
        #: Index of the last deadline passed, counted from the engine's origin.
        self.tick = (now - origin) // self.interval_ns
        #: Absolute monotonic ns of the next tick.
        self.deadline = origin + (self.tick + 1) * self.interval_ns
        #: The :class:`TimerPrivate` of the timers parked in ``next``, woken at the next tick.
        self.waiters: list[TimerPrivate] = []
        self.count = 0  # open timers
        self.ticks = 0  # ticks delivered by the clock loop
        self.skipped = 0  # ticks the clock loop itself woke too late for

    def __repr__(self) -> str:
        return (f"<Clock {self.interval}ms timers={self.count} waiting={len(self.waiters)} "
                f"tick={self.tick} skipped={self.skipped}>")


class TimerPrivate:
    """What a soft timer keeps in ``timer.private``."""

    __slots__ = ("clock", "last", "waiter", "closed", "last_sync", "timer")

    def __init__(self, clock: Clock | None, last: int, timer: Timer) -> None:
        self.clock = clock  # None for interval 1
        self.last = last  # clock tick consumed by the last next() (the timerfd's read position)
        #: The greenlet parked in next() while it is in ``clock.waiters``; None once the tick
        #: is delivered (:meth:`SoftTimer._fanout`), or when it left next() otherwise.
        self.waiter = None
        self.closed = False
        self.last_sync = -1
        self.timer = timer  # the tick's delivery updates it


class SoftTimer:
    """The module's engine: its clocks, the clock loop, and the timer interface functions.

    :param use_timerfd: wait on a timerfd (Linux); False, or no timerfd available, sleeps until
        each deadline with gevent instead (millisecond precision).
    :param base_interval: ms between clock loop wake-ups when no timer is open; also the age
        limit of :func:`softswitch.cached_micro_time_now` (FreeSWITCH's
        ``microseconds_per_tick``: 20 ms, or 1 ms with switch.conf ``1ms-timer``).
    :param use_c: the C hot path of ``mod_softtimer._fastpath`` (True: it must be built);
        None: when built, unless ``SOFTSWITCH_SOFTTIMER_PURE_PYTHON=1`` is in the environment.
    """

    def __init__(self, use_timerfd: bool = True, base_interval: int = 20,
                 use_c: bool | None = None) -> None:
        self.hub = gevent.get_hub()
        self._hub_switch = self.hub.switch
        self._run_callback = self.hub.loop.run_callback
        self.origin = time.monotonic_ns()
        self.clocks: dict[int, Clock] = {}
        self._clock_list: list[Clock] = []
        self.base_ns = base_interval * 1_000_000
        self.base_deadline = self.origin + self.base_ns
        self.next_deadline = self.base_deadline
        self.timerfd: TimerFD | None = open_timerfd() if use_timerfd else None
        self._watcher = None
        if self.timerfd is not None:
            self._watcher = self.hub.loop.io(self.timerfd.fd, 1)
        self._kick = gevent.event.Event()  # the sleep fallback's early wake-up
        self._ready: deque = deque()  # greenlets of a tick not resumed yet (see _fanout)
        self._next_fast = self._make_next_fast()
        if use_c is None:
            use_c = _fastpath is not None and os.environ.get(PURE_PYTHON_ENV, "") in ("", "0")
        #: The C twin of bind_next/_deliver (mod_softtimer._fastpath.State), or None.
        self._fast = self._make_fast(_fastpath) if use_c else None
        self.implementation = "C" if self._fast is not None else "Python"
        self.stopping = False
        self.running = False
        self.timer_count = 0  # open timers, interval 1 included (FreeSWITCH's timer_count)
        #: Wall-clock µs of the last clock wake-up: softswitch.cached_micro_time_now().
        self.timestamp = micro_time_now()
        self.time_source = functools.partial(getattr, self, "timestamp")
        # statistics (bench/timers.py, tests)
        self.wakeups = 0
        self.lateness: deque[int] = deque(maxlen=65536)  # ns past the deadline, per wake-up

    @property
    def mode(self) -> str:
        return "timerfd" if self.timerfd is not None else "sleep"

    # ------------------------------------------------------------------------------------------
    # the clock loop (module_runtime)
    # ------------------------------------------------------------------------------------------
    def run(self) -> Status:
        """Drive the clocks until shutdown; returns TERM. One wake-up per distinct deadline."""
        if self.stopping:
            return Status.TERM
        self.running = True
        self.timestamp = micro_time_now()
        set_time_source(self.time_source)
        mono = time.monotonic_ns
        try:
            while not self.stopping:
                if self.timerfd is not None:
                    # Arming also clears the expiration that woke us: no read() needed.
                    self.timerfd.arm(self.next_deadline)
                    self.hub.wait(self._watcher)
                    now = mono()
                else:
                    now = self._sleep_until()
                if self.stopping:
                    break
                armed = self.next_deadline  # _rearm() may have moved it while we waited
                if now >= armed:
                    if self._advance(now, armed):
                        # Let the hub deliver the tick first (its callbacks run in order, ours
                        # after them), and only then re-arm: that syscall through ctypes costs
                        # tens of µs on a cold cache, which no timer should wait for.
                        gevent.sleep(0)
                # else: woken early (a shutdown kick, or a spurious wake-up): wait again
        finally:
            self.running = False
            if self.stopping:
                self._close()
        return Status.TERM

    def _sleep_until(self) -> int:
        """The fallback wait: gevent's timer (ms granularity), re-checked against the clock."""
        mono = time.monotonic_ns
        now = mono()
        while now < self.next_deadline and not self.stopping:
            self._kick.clear()
            self._kick.wait((self.next_deadline - now) / 1e9)  # _rearm() kicks for earlier ones
            now = mono()
        return now

    def _advance(self, now: int, armed: int) -> bool:
        """Advance every due clock to ``now`` and schedule the wake-up of its waiters.

        Returns whether a delivery (:meth:`_fanout`) was scheduled.
        """
        self.wakeups += 1
        late = now - armed
        self.lateness.append(late)
        if late > 1_000_000_000:  # FreeSWITCH resyncs after a 20 s jump; we just skip, loudly
            log.warning("soft timer: the clock loop woke %d ms late (process stopped, or a "
                        "suspended machine); timers skip the ticks they missed", late // 1_000_000)
        self.timestamp = time.time_ns() // 1000
        origin = self.origin
        delivering = False
        nd = self.base_deadline
        if now >= nd:
            nd = self.base_deadline = origin + ((now - origin) // self.base_ns + 1) * self.base_ns
        for clock in self._clock_list:
            d = clock.deadline
            if now >= d:
                step = clock.interval_ns
                k = (now - origin) // step
                if k - clock.tick > 1:
                    clock.skipped += k - clock.tick - 1
                clock.tick = k
                clock.ticks += 1
                d = clock.deadline = origin + (k + 1) * step
                if clock.waiters:
                    # The swap happens in the hub callback, so a destroy() in between still
                    # finds its greenlet in clock.waiters.
                    self._run_callback(self._fanout, clock)
                    delivering = True
            if d < nd:
                nd = d
        self.next_deadline = nd
        return delivering

    def _fanout(self, clock: Clock) -> None:
        """(In the hub.) Deliver the clock's tick to every timer parked on it, and resume them.

        First, in one loop, each waiting timer consumes the tick (``last``, ``tick``,
        ``samplecount``, ``skipped``: what its ``next`` would do after waking) and its greenlet
        is queued on ``_ready``, in arrival order. Then the greenlets are resumed one after the
        other: each one, when it parks again in ``next``, switches straight to the next ready
        greenlet instead of back to the hub (one greenlet switch per wake-up instead of two),
        and the last one returns to the hub, here. A greenlet that yields for anything else
        returns here too, and this loop goes on. A resumed ``next`` has nothing left to do
        but return SUCCESS.
        """
        if self._fast is not None:
            self._fast.deliver(clock)
        else:
            self._deliver(clock)
        ready = self._ready
        pop = ready.popleft
        while ready:
            g = pop()
            try:
                g.switch()
            except BaseException:  # a raw greenlet that died with an error: keep waking others
                self.hub.handle_error(g, *sys.exc_info())

    def _deliver(self, clock: Clock) -> None:
        """The tick's bookkeeping for every timer waiting on ``clock``; their greenlets are
        queued on ``_ready``. (``_fastpath.State.deliver`` is its C twin.)"""
        waiters = clock.waiters
        if not waiters:
            return
        clock.waiters = waiting = []
        k = clock.tick
        one = self._deliver_one
        for p in waiters:
            one(p, k, waiting)

    def _deliver_one(self, p: TimerPrivate, k: int, waiting: list) -> None:
        """One timer of :meth:`_deliver` (also the C twin's fallback for unusual values)."""
        n = k - p.last
        if n <= 0:  # it consumed this tick ahead of the clock loop (see next): keep waiting
            waiting.append(p)
            return
        timer = p.timer
        try:
            tick = timer.tick + n
            samplecount = (tick * timer.samples) & _U32
            if n > 1:
                timer.skipped += n - 1
        except Exception as e:  # user code stored junk in the timer: its next() raises
            self._fail_waiter(p, e)
            return
        p.last = k
        timer.tick = tick
        timer.samplecount = samplecount
        self._ready.append(p.waiter)
        p.waiter = None

    def _fail_waiter(self, p: TimerPrivate, exc: Exception) -> None:
        """The tick could not be delivered to this timer: its waiting next() raises ``exc``
        (as it would have when next() did its own bookkeeping); the other timers go on."""
        g, p.waiter = p.waiter, None
        if g is not None:
            self._run_callback(g.throw, exc)

    def _release(self, clock: Clock) -> None:
        """(In the hub.) Resume every greenlet parked on ``clock`` without a tick: shutdown."""
        waiters, clock.waiters = clock.waiters, []
        for p in waiters:
            g, p.waiter = p.waiter, None
            if g is None:
                continue
            try:
                g.switch(_GENERR)
            except BaseException:
                self.hub.handle_error(g, *sys.exc_info())

    def _rearm(self, deadline: int) -> None:
        """A new clock ticks before the armed deadline: wake the clock loop earlier."""
        if deadline < self.next_deadline:
            self.next_deadline = deadline
            if not self.running:
                return
            if self.timerfd is not None:
                self.timerfd.arm(deadline)
            else:
                self._kick.set()

    # ------------------------------------------------------------------------------------------
    # shutdown
    # ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Release every waiter (their ``next`` returns FALSE) and make :meth:`run` return."""
        self.stopping = True
        if self._fast is not None:
            self._fast.stopping = True
        for clock in list(self._clock_list):
            if clock.waiters:
                self._run_callback(self._release, clock)
        if get_time_source() is self.time_source:  # another core in this process may own it
            set_time_source(None)
        if self.running:
            if self.timerfd is not None:
                self.timerfd.arm(1)  # expire now: the loop wakes, sees stopping, returns TERM
            else:
                self._kick.set()
        else:
            self._close()

    def _close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self.timerfd is not None:
            self.timerfd.close()

    # ------------------------------------------------------------------------------------------
    # the timer interface
    # ------------------------------------------------------------------------------------------
    def init(self, timer: Timer) -> Status:
        interval = timer.interval
        if not 1 <= interval <= MAX_INTERVAL_MS:
            log.error("soft timer: interval must be 1..%d ms, not %s", MAX_INTERVAL_MS, interval)
            return Status.GENERR
        if self.stopping:
            log.error("soft timer: cannot open a timer, mod_softtimer is shutting down")
            return Status.FALSE
        now = time.monotonic_ns()
        timer.start = now // 1000
        self.timer_count += 1
        if interval == 1:  # FreeSWITCH: counted only; next/step/check return FALSE
            timer.private = TimerPrivate(None, 0, timer)
            return _SUCCESS
        clock = self.clocks.get(interval)
        if clock is None:
            clock = self.clocks[interval] = Clock(interval, self.origin, now)
            self._clock_list.append(clock)
            self._rearm(clock.deadline)
        clock.count += 1
        # The first next() waits for the clock's next tick: what a fresh timerfd gives.
        timer.private = TimerPrivate(clock, (now - self.origin) // clock.interval_ns, timer)
        return _SUCCESS

    def next(self, timer: Timer) -> Status | None:
        """The interface's ``next(timer)``, with every case; ``timer.next`` is leaner (bind_next).

        Returns None (SUCCESS) with the tick consumed, or FALSE: interval 1, a destroyed timer,
        shutdown, or a wait ended by destroy/shutdown instead of a tick.
        """
        p = timer.private
        clock = p.clock
        if clock is None or p.closed or self.stopping:
            return _FALSE
        last = p.last
        if clock.tick > last or _mono() >= clock.deadline:
            # A tick is due, maybe not yet seen by the clock loop: consume it now (a late
            # caller jumps over every tick it missed, no burst).
            k = (_mono() - self.origin) // clock.interval_ns
            if k > last:
                _consume(timer, p, k)
                return None
        if p.waiter is not None:
            raise TimerError(_misuse(timer, False))
        g = getcurrent()
        p.waiter = g
        clock.waiters.append(p)
        ready = self._ready
        try:
            # Hand over to the next greenlet of the tick being delivered, else to the hub.
            # (_ready is only ever non-empty while the hub runs _fanout, so the hub itself
            # never gets here with it non-empty: it gets BlockingSwitchOutError.)
            why = _switch(ready.popleft()) if ready else self._hub_switch()
        except BaseException as e:  # gevent.Timeout, GreenletExit, ...: leave cleanly
            self._switch_failed(timer, p, g, e)
            raise
        # A tick was delivered (_fanout did the bookkeeping), or destroy/shutdown woke us.
        return _FALSE if why else None

    def bind_next(self, timer: Timer):
        """The interface's ``bind_next``: ``timer.next`` for a timer of a clock (not interval 1)."""
        p = timer.private
        if p is None or p.clock is None:
            return None
        if self._fast is not None:
            return self._fast.bind(timer)
        return MethodType(self._next_fast, timer)

    def _make_fast(self, fastpath: ModuleType | None):
        if fastpath is None:
            raise RuntimeError("mod_softtimer._fastpath is not built (no C compiler at install?)")
        return fastpath.State(
            ready=self._ready, hub_switch=self._hub_switch, raw_switch=_switch,
            getcurrent=getcurrent, slow_next=self.next, on_error=self._switch_failed,
            deliver_one=self._deliver_one, success=_SUCCESS, generr=_GENERR,
            timer_cls=Timer, private_cls=TimerPrivate, clock_cls=Clock)

    def _make_next_fast(self):
        ready = self._ready
        hub_switch = self._hub_switch
        slow = self.next
        engine = self
        switch = _switch

        def next_fast(timer: Timer) -> Status:
            """``timer.next()``: the woken-by-a-tick case, every other one in :meth:`next`."""
            p = timer.private
            clock = p.clock
            # While a tick is being handed over (ready not empty), the clock loop runs right
            # after it: a next tick that fell due meanwhile (a hand-over longer than an
            # interval) is left to it rather than read off the clock by every greenlet.
            if (p.last != clock.tick or p.waiter is not None or p.closed or engine.stopping
                    or (not ready and _mono() >= clock.deadline)):
                return _SUCCESS if slow(timer) is None else _GENERR
            g = getcurrent()
            p.waiter = g
            clock.waiters.append(p)
            try:
                why = switch(ready.popleft()) if ready else hub_switch()
            except BaseException as e:
                engine._switch_failed(timer, p, g, e)
                raise
            return _GENERR if why else _SUCCESS

        return next_fast

    def _switch_failed(self, timer: Timer, p: TimerPrivate, g, exc: BaseException) -> None:
        """An exception took ``g`` out of next(): clean up; from the hub it is misuse."""
        self._unpark(p, g)
        if isinstance(exc, BlockingSwitchOutError):
            raise TimerError(_misuse(timer, True)) from exc

    def _unpark(self, p: TimerPrivate, g) -> None:
        """An exception took ``g`` out of next(): never resume it later by mistake."""
        if p.waiter is g:
            p.waiter = None
        try:
            p.clock.waiters.remove(p)
        except ValueError:
            pass
        try:
            self._ready.remove(g)  # the tick was delivered (consumed) but not resumed yet
        except ValueError:
            pass

    def step(self, timer: Timer) -> Status:
        p = timer.private
        if p.clock is None or p.closed or self.stopping:
            return _FALSE
        timer.tick += 1
        timer.samplecount = (timer.samplecount + timer.samples) & _U32
        return _SUCCESS

    def check(self, timer: Timer, step: bool = False) -> Status:
        p = timer.private
        clock = p.clock
        if clock is None or p.closed or self.stopping:
            return _FALSE
        if (time.monotonic_ns() - self.origin) // clock.interval_ns > p.last:
            timer.diff = 0
            if step:
                self.step(timer)
            return _SUCCESS
        timer.diff = 1
        return _FALSE

    def sync(self, timer: Timer) -> Status:
        """FreeSWITCH's generic sync: re-derive ``tick`` from the time since ``start``."""
        p = timer.private
        if p.closed or self.stopping:
            return _FALSE
        tick = (time.monotonic_ns() // 1000 - timer.start) // (timer.interval * 1000)
        if timer.interval == 1 and tick == p.last_sync:
            tick += 1
        p.last_sync = tick
        timer.tick = tick
        timer.samplecount = (tick * timer.samples) & _U32
        return _SUCCESS

    def destroy(self, timer: Timer) -> Status:
        """Close the timer; a greenlet waiting in its ``next`` returns FALSE."""
        p = timer.private
        if p is None or p.closed:
            return _SUCCESS
        p.closed = True
        self.timer_count -= 1
        clock = p.clock
        if clock is None:
            return _SUCCESS
        g = p.waiter
        if g is not None:  # parked in next(), the tick not delivered yet
            try:
                clock.waiters.remove(p)
            except ValueError:
                pass
            else:
                self._run_callback(_wake, p, g)
        clock.count -= 1
        if clock.count == 0 and self.clocks.get(clock.interval) is clock:
            # No timer left: stop waking for this interval. Its waiters list is empty.
            del self.clocks[clock.interval]
            self._clock_list.remove(clock)
        return _SUCCESS

    # ------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Counters for benchmarks and tests."""
        return {
            "mode": self.mode,
            "running": self.running,
            "wakeups": self.wakeups,
            "timers": self.timer_count,
            "clocks": {c.interval: {"timers": c.count, "waiting": len(c.waiters), "ticks": c.ticks,
                                    "skipped": c.skipped} for c in self._clock_list},
        }


def _consume(timer: Timer, p: TimerPrivate, k: int) -> None:
    """The timer reads its clock at tick ``k`` (> ``p.last``): FreeSWITCH's timerfd ``next``."""
    n = k - p.last
    p.last = k
    tick = timer.tick + n
    timer.tick = tick
    if n > 1:
        timer.skipped += n - 1
    timer.samplecount = (tick * timer.samples) & _U32


def _wake(p: TimerPrivate, g) -> None:
    """(In the hub.) Wake the greenlet of a destroyed timer, if it still waits in next()."""
    if p.waiter is g:  # not if an exception (a gevent.Timeout) took it out in the meantime
        p.waiter = None
        g.switch(_GENERR)


def _misuse(timer: Timer, in_hub: bool) -> str:
    if in_hub:
        return "soft timer: next() cannot wait in the gevent hub; call it from a greenlet"
    return (f"soft timer {timer.interval}ms: next() while another greenlet waits on the same "
            "timer; give each greenlet its own timer")
