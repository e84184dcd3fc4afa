"""The hub watchdog: says which code holds the gevent hub too long, while it holds it.

softswitch runs every connection, call and timer in one OS thread; code that runs a CPU loop
or a blocking call without yielding (an API, an application, an event callback) stops them
all. The watchdog makes that visible:

* a timer in the hub notes the time every ``threshold / 2``;
* a real OS thread (not a greenlet: it runs while the hub is stuck) checks that time; when it
  is older than the threshold it takes the stack of the hub thread (``sys._current_frames``),
  finds the module the code belongs to (the innermost frame inside a loaded module's
  package), and writes a WARNING at once, to the console and the log file, without waiting for
  the hub (log listeners such as the Event Socket get the line once the hub is free);
* when the hub is free again it fires a ``CUSTOM`` event ``softswitch::hub_blocked``
  (``Blocked-Module``, ``Blocked-MS``, ``Blocked-Stack``) and logs how long it lasted.

``hub-watchdog-ms`` in switch.conf sets the threshold (default 100; 0 turns it off). An API or
application that must block (a system call, a CPU-bound job) declares it when it registers
(``module.add_api(..., blocking=True)``): the kernel runs it in gevent's thread pool instead.
"""

from __future__ import annotations

import linecache
import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable

import gevent
from gevent import monkey

__all__ = ["HubWatchdog", "DEFAULT_THRESHOLD_MS", "BLOCKED_SUBCLASS"]

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD_MS = 100
BLOCKED_SUBCLASS = "softswitch::hub_blocked"

# the real ones, whether or not the process is monkey-patched
_start_thread = monkey.get_original("_thread", "start_new_thread")
_sleep = monkey.get_original("time", "sleep")
_get_ident = monkey.get_original("_thread", "get_ident")
_mono = time.monotonic


def _module_of(frames: list, modules: Callable[[], dict[str, str]]) -> str:
    """The loaded module the innermost frame belongs to ("" for the kernel or unknown code).

    ``modules()``: python package name -> softswitch module name.
    """
    owners = modules()
    for frame in reversed(frames):
        name = frame.f_globals.get("__name__", "") or ""
        top = name.split(".", 1)[0]
        if top in owners:
            return owners[top]
    return ""


def _format_stack(frame) -> str:
    """The stack as traceback prints it, without keeping the source files it read.

    ``linecache`` keeps every line of every file it opens, for the life of the process: a
    report made while calls were coming in (a loaded machine) left thousands of lines of
    source, born among the calls' objects, that kept pymalloc arenas from being given back
    after the calls had gone. The files read for this stack only are dropped again.
    """
    before = set(linecache.cache)
    try:
        return "".join(traceback.format_list(traceback.extract_stack(frame)))
    finally:
        for name in set(linecache.cache) - before:
            linecache.cache.pop(name, None)


class HubWatchdog:
    """One per running core. ``fire(event)`` fires the report event (called in the hub)."""

    def __init__(self, threshold_ms: int, fire: Callable[[object], None],
                 modules: Callable[[], dict[str, str]], report: Callable[[str], None]) -> None:
        self.threshold = threshold_ms / 1000.0
        self._fire = fire
        self._modules = modules
        self._report = report  # writes a line at once, from any thread
        self._hub = gevent.get_hub()
        self._hub_thread = _get_ident()
        self._tick = _mono()
        self._timer = None
        self._running = False
        #: the last 100 reports (statistics and tests): (module, blocked seconds, stack text);
        #: bounded: a loaded machine makes one every few seconds, for the life of the process
        self.reports: deque[tuple[str, float, str]] = deque(maxlen=100)

    def start(self) -> None:
        if self.threshold <= 0 or self._running:
            return
        self._running = True
        self._tick = _mono()
        period = self.threshold / 2
        self._timer = self._hub.loop.timer(period, period)
        self._timer.start(self._beat)
        _start_thread(self._watch, ())

    def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.stop()
            self._timer.close()
            self._timer = None

    def _beat(self) -> None:  # in the hub
        self._tick = _mono()

    def _watch(self) -> None:  # in the watchdog thread
        period = self.threshold / 2
        while self._running:
            _sleep(period)
            since = self._tick
            held = _mono() - since
            if held <= self.threshold or not self._running:
                continue
            frame = sys._current_frames().get(self._hub_thread)
            frames = []
            while frame is not None:
                frames.append(frame)
                frame = frame.f_back
            frames.reverse()
            module = _module_of(frames, self._modules)
            stack = _format_stack(frames[-1]) if frames else ""
            self._report(
                f"The hub has been held for {held * 1000:.0f} ms (hub-watchdog-ms "
                f"{self.threshold * 1000:.0f}) by {('module ' + module) if module else 'the kernel or unknown code'}"
                f"; nothing else runs meanwhile. Declare a blocking API with "
                f"add_api(..., blocking=True) or yield. Stack:\n{stack}")
            # wait for the hub to be free again, then tell it (the bus is the hub's)
            while self._running and self._tick == since:
                _sleep(period)
            total = self._tick - since
            self.reports.append((module, total, stack))
            self._hub.loop.run_callback_threadsafe(self._done, module, total, stack)

    def _done(self, module: str, total: float, stack: str) -> None:  # in the hub
        log.warning("The hub was held for %.0f ms by %s", total * 1000,
                    f"module {module}" if module else "the kernel or unknown code")
        from .event import Event, EventType

        ev = Event(EventType.CUSTOM, BLOCKED_SUBCLASS)
        ev.add_header("Blocked-Module", module)
        ev.add_header("Blocked-MS", str(int(total * 1000)))
        ev.add_header("Blocked-Stack", stack.strip())
        try:
            self._fire(ev)
        except Exception:  # the event system may be stopping
            pass
