"""Adaptive busy polling for clients in a tight request/reply loop.

A client that sends its next command as soon as it has the reply (``api`` after ``api``) makes
the server sleep in epoll between commands and pay an operating-system wake-up for each one:
on a virtual machine that wake-up costs more than serving the command. When such a client is
seen (its command arrived within the window after our previous reply), the hub keeps polling
sockets for up to ``busy-poll-usec`` after the reply instead of sleeping, so the next command
is picked up without a wake-up. Clients that pause longer than the window (people, monitoring
that polls once a second) never cause it, and it ends by itself once the client goes quiet.

It is the idea of Linux's ``SO_BUSY_POLL`` done in the event loop: a libev *idle* watcher,
which makes each loop iteration poll without blocking while it is active (timers and every
other socket are served as usual). ``busy-poll-usec`` 0 turns it off.
"""

from __future__ import annotations

import time

import gevent

__all__ = ["BusyPoll", "DEFAULT_USEC"]

#: event_socket.conf ``busy-poll-usec`` default: the window after a reply, in microseconds.
DEFAULT_USEC = 200

_mono = time.monotonic


class BusyPoll:
    """One per module: keeps the hub polling until ``until`` (monotonic seconds)."""

    __slots__ = ("window", "until", "_idle", "spins")

    def __init__(self, usec: int = DEFAULT_USEC) -> None:
        self.window = max(usec, 0) / 1e6
        self.until = 0.0
        self._idle = None
        self.spins = 0  # how many times a window was opened (tests, statistics)

    def after_reply(self, now: float) -> None:
        """A reply just went to a client in a tight loop: poll until ``now`` + the window."""
        self.until = now + self.window
        idle = self._idle
        if idle is None:
            idle = self._idle = gevent.get_hub().loop.idle()
        if not idle.active:
            self.spins += 1
            idle.start(self._poll)

    def _poll(self) -> None:
        # (in the hub, once per loop iteration while active)
        if _mono() >= self.until:
            self._idle.stop()

    def close(self) -> None:
        if self._idle is not None:
            self._idle.stop()
            self._idle.close()
            self._idle = None
