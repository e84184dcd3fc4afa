"""The soft timer: shared interval clocks on the monotonic clock, driven by one greenlet.

Every timer of the same interval shares one :class:`Clock`. Clock deadlines are absolute,
``origin + k × interval`` for the k-th tick, so lateness never accumulates, and all clocks
share one ``origin``, so a 20 ms and a 40 ms clock tick together (as in FreeSWITCH's matrix
mode). The module waits on **one** timerfd armed for the earliest deadline of all clocks; on
each wake-up the hub itself (the timerfd's io watcher, :meth:`SoftTimer.on_wake`) advances
every clock that is due and delivers its tick to its waiters. So 1,000 timers at 20 ms cost
one OS wake-up every 20 ms, not 1,000 sleeps.

An OS wake-up comes late (~0.15-0.3 ms on a VM), so the timerfd is armed ``spin_usec``
(switch.conf ``softtimer-spin-usec``, default 300 µs, 0 = off) *before* a clock's deadline.
Woken early, the hub leaves the timerfd expired: it stays readable, so the hub's loop keeps
polling without blocking (every other watcher, I/O included, is served as usual) and calls
the watcher again each iteration, until the deadline is reached; then the tick is delivered
at once. The deadline itself never moves: no timer returns before it.

The hot path is the tick's delivery (see :meth:`SoftTimer.fanout`): the hub callback updates
every waiting timer (``tick``, ``samplecount``) in one loop, then resumes the waiting greenlets
one after the other, each handing over straight to the next when it parks again. A greenlet's
own share is the lean ``timer.next`` this module binds to each timer
(:meth:`SoftTimer.bind_next`): check, park, switch, return. Both halves are the kernel's timer
pacing (:func:`softswitch.new_pacing`): C where the kernel's extension is built
(:data:`IMPLEMENTATION` ``"C"``), its Python reference otherwise or with
``SOFTSWITCH_PURE_PYTHON=1``. In C the per-timer cost of a tick is close to that of resuming a
bare greenlet (``bench/timers.py`` measures both).

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
import sys
import time
from array import array
from typing import TYPE_CHECKING

import gevent
import gevent.event
from gevent.exceptions import BlockingSwitchOutError
from greenlet import getcurrent
from greenlet import greenlet as RawGreenlet

from softswitch import (
    MAX_TIMER_INTERVAL_MS,
    Status,
    Timer,
    TimerError,
    micro_time_now,
    new_pacing,
    pacing_implementation,
)

from ._timerfd import TimerFD, open_timerfd

if TYPE_CHECKING:
    from softswitch.services import TimerService

log = logging.getLogger(__name__)

__all__ = ["SoftTimer", "Clock", "TimerPrivate", "IMPLEMENTATION"]

#: ``"C"`` when the kernel's timer pacing runs in C (its extension built, and not
#: ``SOFTSWITCH_PURE_PYTHON=1`` when this module was imported), else ``"Python"``; a
#: :class:`SoftTimer` uses C when it can unless told otherwise (``use_c``).
IMPLEMENTATION = pacing_implementation()
MAX_INTERVAL_MS = MAX_TIMER_INTERVAL_MS

_U32 = 0xFFFFFFFF
_SUCCESS = Status.SUCCESS
_FALSE = Status.FALSE
_GENERR = Status.GENERR
_mono = time.monotonic_ns
#: switch.conf ``softtimer-spin-usec`` default: how early (µs) the timerfd wakes the hub before
#: a clock's deadline, to poll without sleeping until it (0: wake at the deadline itself).
DEFAULT_SPIN_USEC = 300
#: Upper bound of ``softtimer-spin-usec``: the window costs up to that much CPU per tick.
MAX_SPIN_USEC = 2000
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
        #: is delivered (:meth:`SoftTimer.fanout`), or when it left next() otherwise.
        self.waiter = None
        self.closed = False
        self.last_sync = -1
        self.timer = timer  # the tick's delivery updates it


class Lateness:
    """The last ``size`` wake-up latenesses (ns), oldest first: a ring in one preallocated
    ``array('q')``.

    It was a ``deque(maxlen=65536)`` of ints: each wake-up allocated an int object that lived
    for the next 65,536 wake-ups (minutes), so ints born during a burst of calls sat among the
    calls' objects and kept pymalloc's arenas from being given back once the calls had gone.
    Here a value is stored, not an object: the ring allocates nothing after its creation.
    """

    __slots__ = ("_ring", "_size", "_count")

    def __init__(self, size: int) -> None:
        self._ring = array("q", bytes(8 * size))
        self._size = size
        self._count = 0  # values appended since the last clear

    def append(self, value: int) -> None:
        self._ring[self._count % self._size] = value
        self._count += 1

    def clear(self) -> None:
        self._count = 0

    def __len__(self) -> int:
        return min(self._count, self._size)

    def __iter__(self):
        n, size, ring = self._count, self._size, self._ring
        if n <= size:
            return iter(ring[:n])
        k = n % size
        return iter(ring[k:] + ring[:k])


class SoftTimer:
    """The module's engine: its clocks, the clock loop, and the timer interface functions.

    :param use_timerfd: wait on a timerfd (Linux); False, or no timerfd available, sleeps until
        each deadline with gevent instead (millisecond precision).
    :param base_interval: ms between clock loop wake-ups when no timer is open; also the age
        limit of :func:`softswitch.cached_micro_time_now` (FreeSWITCH's
        ``microseconds_per_tick``: 20 ms, or 1 ms with switch.conf ``1ms-timer``).
    :param use_c: the C hot path of the kernel's pacing (True: it must be available); None:
        when available, unless ``SOFTSWITCH_PURE_PYTHON=1`` is in the environment.
    :param timers: the kernel's timer service (``core.timers``): the clock loop's last tick
        becomes that kernel's cached time (:func:`softswitch.cached_micro_time_now`); None
        for an engine outside a kernel (tests).
    :param spin_usec: with a timerfd, wake up this many µs before a clock's deadline and keep
        the hub polling (without sleeping) until the deadline, so that the tick is delivered
        as soon as it is due rather than when the OS gets round to waking us (0: off; clamped
        to 0..:data:`MAX_SPIN_USEC`). Not used by the sleep fallback.
    """

    def __init__(self, use_timerfd: bool = True, base_interval: int = 20,
                 use_c: bool | None = None, spin_usec: int = DEFAULT_SPIN_USEC,
                 timers: TimerService | None = None) -> None:
        self.timers = timers
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
        self._stop = gevent.event.Event()  # run() waits on it while the hub drives the timerfd
        self.spin_ns = min(max(int(spin_usec), 0), MAX_SPIN_USEC) * 1000
        #: How early the timerfd is armed before ``next_deadline``: ``spin_ns`` when a clock
        #: ticks then, 0 for a deadline of the idle tick alone (nobody waits for it).
        self._spin_next = 0
        self._spin_from = 0  # mono ns of the early wake-up whose window is open, else 0
        #: The greenlets of a tick not resumed yet (see fanout), used as a stack: in reverse
        #: arrival order, the next one to resume last (popped without a Python call in C).
        self._ready: list = []
        #: The kernel's pacing: timer.next (bind_next) and a tick's bookkeeping (fanout).
        self._pacing = new_pacing(
            ready=self._ready, hub_switch=self._hub_switch, slow_next=self.next,
            on_error=self._switch_failed, deliver_one=self._deliver_one,
            private_cls=TimerPrivate, clock_cls=Clock, use_c=use_c)
        self.implementation = self._pacing.implementation
        self.stopping = False
        self.running = False
        self.timer_count = 0  # open timers, interval 1 included (FreeSWITCH's timer_count)
        #: Wall-clock µs of the last clock wake-up: softswitch.cached_micro_time_now().
        self.timestamp = micro_time_now()
        self.time_source = functools.partial(getattr, self, "timestamp")
        # statistics (bench/timers.py, tests)
        self.wakeups = 0
        self.lateness = Lateness(65536)  # ns past the deadline, per wake-up
        self.spins = 0  # ticks whose early wake-up came before the deadline: a window polled
        self.spin_ns_total = 0  # time spent in those windows (the CPU cost of spin_usec)
        self.spin_missed = 0  # ticks with a window whose OS wake-up came after the deadline

    @property
    def mode(self) -> str:
        return "timerfd" if self.timerfd is not None else "sleep"

    @property
    def spin_window_ns(self) -> int:
        """How early (ns) the timerfd is armed before ``next_deadline``: :attr:`spin_ns` when
        a clock ticks then, 0 when only the idle tick is due (nobody waits for it) or the
        window is off (``softtimer-spin-usec`` 0)."""
        return self._spin_next

    @property
    def unresumed(self) -> int:
        """Greenlets whose tick was delivered but that are not resumed yet (non-zero only while
        the hub runs :meth:`fanout`)."""
        return len(self._ready)

    @property
    def spinning(self) -> bool:
        """True while a spin window is open: woken early, the hub polls until
        ``next_deadline`` (other greenlets' I/O is served meanwhile)."""
        return self._spin_from != 0

    # ------------------------------------------------------------------------------------------
    # the clock loop (module_runtime)
    # ------------------------------------------------------------------------------------------
    def run(self) -> Status:
        """Drive the clocks until shutdown; returns TERM. One wake-up per distinct deadline.

        With a timerfd, the hub drives the clocks (:meth:`on_wake`, the timerfd's io watcher)
        and this greenlet only waits for shutdown; without one it is the sleep fallback's loop.
        """
        if self.stopping:
            return Status.TERM
        self.running = True
        self.timestamp = micro_time_now()
        if self.timers is not None:
            self.timers.set_time_source(self.time_source)
        try:
            if self.timerfd is not None:
                self._arm()
                self._watcher.start(self.on_wake)
                self._stop.wait()
            else:
                self._sleep_loop()
        finally:
            self.running = False
            if self._watcher is not None:
                self._watcher.stop()  # also when this greenlet is killed: no more ticks
            if self.stopping:
                self._close()
        return Status.TERM

    def _arm(self) -> None:
        """Arm the timerfd for ``next_deadline``, early by the spin window if a clock ticks then.

        The ctypes syscall costs tens of µs on a cold cache: it is done after a tick's delivery,
        never before it.
        """
        self.timerfd.arm(self.next_deadline - self._spin_next)

    def on_wake(self) -> None:
        """(In the hub: the timerfd's io watcher; public so that a test can drive the window
        by hand.) Deliver the tick that is due, if it is.

        Woken early (the spin window), the timerfd is left expired: not read, not re-armed, it
        stays readable, so the hub's next loop iteration polls without blocking (serving every
        other watcher as usual) and calls this again, until the deadline is reached. Then every
        due clock is advanced and its tick delivered (:meth:`fanout`) right here, and only
        after that is the timerfd re-armed.
        """
        if self.stopping:
            self._watcher.stop()  # run() closes it
            return
        now = _mono()
        armed = self.next_deadline
        if now < armed:
            if now + self._spin_next < armed:
                # Not our early wake-up (a stale readiness of a timerfd re-armed since): wait.
                self.timerfd.arm(armed - self._spin_next)
            elif not self._spin_from:
                self._spin_from = now
            return
        spin_from = self._spin_from
        if spin_from:
            self._spin_from = 0
            self.spins += 1
            self.spin_ns_total += now - spin_from
        elif self._spin_next:
            self.spin_missed += 1
        try:
            for clock in self._advance(now, armed):
                try:
                    self.fanout(clock)  # (an attribute lookup: bench/timers.py times it)
                except BaseException:
                    self.hub.handle_error(self.fanout, *sys.exc_info())
        finally:
            if not self.stopping:
                self._arm()

    def _sleep_loop(self) -> None:
        """The clock loop without a timerfd: sleep until each deadline, deliver in the hub."""
        while not self.stopping:
            now = self._sleep_until()
            if self.stopping:
                break
            armed = self.next_deadline  # _rearm() may have moved it while we waited
            if now >= armed:
                due = self._advance(now, armed)
                for clock in due:
                    # The swap happens in the hub callback, so a destroy() in between still
                    # finds its greenlet in clock.waiters.
                    self._run_callback(self.fanout, clock)
                if due:
                    gevent.sleep(0)  # let the hub deliver the tick before we sleep again
            # else: woken early (a shutdown kick, or a spurious wake-up): wait again

    def _sleep_until(self) -> int:
        """The fallback wait: gevent's timer (ms granularity), re-checked against the clock."""
        mono = time.monotonic_ns
        now = mono()
        while now < self.next_deadline and not self.stopping:
            self._kick.clear()
            self._kick.wait((self.next_deadline - now) / 1e9)  # _rearm() kicks for earlier ones
            now = mono()
        return now

    def _advance(self, now: int, armed: int) -> list[Clock]:
        """Advance every due clock to ``now``; set the next deadline.

        Returns the advanced clocks that have waiters: the caller delivers their tick
        (:meth:`fanout`).
        """
        self.wakeups += 1
        late = now - armed
        self.lateness.append(late)
        if late > 1_000_000_000:  # FreeSWITCH resyncs after a 20 s jump; we just skip, loudly
            log.warning("soft timer: the clock loop woke %d ms late (process stopped, or a "
                        "suspended machine); timers skip the ticks they missed", late // 1_000_000)
        self.timestamp = time.time_ns() // 1000
        origin = self.origin
        due = []
        nd = self.base_deadline
        if now >= nd:
            nd = self.base_deadline = origin + ((now - origin) // self.base_ns + 1) * self.base_ns
        cd = nd + 1  # the earliest clock deadline
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
                    due.append(clock)
            if d < cd:
                cd = d
        if cd <= nd:
            nd = cd
            self._spin_next = self.spin_ns
        else:
            self._spin_next = 0  # only the idle tick: nobody to deliver to, no window
        self.next_deadline = nd
        return due

    def fanout(self, clock: Clock) -> None:
        """(In the hub.) Deliver the clock's tick to every timer parked on it, and resume them.
        (Public so that tests drive a delivery by hand and bench/timers.py times it.)

        First, in one loop, each waiting timer consumes the tick (``last``, ``tick``,
        ``samplecount``, ``skipped``: what its ``next`` would do after waking) and its greenlet
        is queued on ``_ready`` (a stack: the first to arrive on top). Then the greenlets are
        resumed in arrival order, one after the
        other: each one, when it parks again in ``next``, switches straight to the next ready
        greenlet instead of back to the hub (one greenlet switch per wake-up instead of two),
        and the last one returns to the hub, here. A greenlet that yields for anything else
        returns here too, and this loop goes on. A resumed ``next`` has nothing left to do
        but return SUCCESS.
        """
        self._pacing.deliver(clock)
        ready = self._ready
        pop = ready.pop
        while ready:
            g = pop()
            try:
                g.switch()
            except BaseException:  # a raw greenlet that died with an error: keep waking others
                self.hub.handle_error(g, *sys.exc_info())

    def _deliver_one(self, p: TimerPrivate, k: int, waiting: list, batch: list) -> None:
        """One timer of a tick's delivery with unusual values (the pacing's ``deliver_one``):
        its greenlet goes on ``batch``, or ``p`` back on ``waiting``."""
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
        batch.append(p.waiter)
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
        if deadline < self.next_deadline or (deadline == self.next_deadline
                                             and self._spin_next != self.spin_ns):
            self.next_deadline = deadline
            self._spin_next = self.spin_ns
            if not self.running:
                return
            if self.timerfd is not None:
                self._arm()
            else:
                self._kick.set()

    # ------------------------------------------------------------------------------------------
    # shutdown
    # ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Release every waiter (their ``next`` returns FALSE) and make :meth:`run` return."""
        self.stopping = True
        self._pacing.stopping = True
        for clock in list(self._clock_list):
            if clock.waiters:
                self._run_callback(self._release, clock)
        timers = self.timers
        if timers is not None and timers.get_time_source() is self.time_source:
            timers.set_time_source(None)
        if self.running:
            if self._watcher is not None:
                self._watcher.stop()  # no more ticks; run() closes it
            self._stop.set()  # run() returns TERM
            self._kick.set()  # (the sleep fallback's loop)
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
            # (_ready is only ever non-empty while the hub runs fanout, so the hub itself
            # never gets here with it non-empty: it gets BlockingSwitchOutError.)
            why = _switch(ready.pop()) if ready else self._hub_switch()
        except BaseException as e:  # gevent.Timeout, GreenletExit, ...: leave cleanly
            self._switch_failed(timer, p, g, e)
            raise
        # A tick was delivered (fanout did the bookkeeping), or destroy/shutdown woke us.
        return _FALSE if why else None

    def bind_next(self, timer: Timer):
        """The interface's ``bind_next``: ``timer.next`` for a timer of a clock (not interval 1)."""
        p = timer.private
        if p is None or p.clock is None:
            return None
        return self._pacing.bind(timer)

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
            "spin_usec": self.spin_ns // 1000,
            "spins": self.spins,
            "spin_ns_total": self.spin_ns_total,
            "spin_missed": self.spin_missed,
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
