"""A Linux ``timerfd`` on CLOCK_MONOTONIC, armed with absolute deadlines, through ctypes.

FreeSWITCH paces its media with timerfds on Linux (``switch_time.c``, ``TFD``). Python 3.11 has
no ``os.timerfd_*`` (that arrived in 3.13), so we call libc. The fd is non-blocking: the clock
loop waits for it with a gevent io watcher, so the hub never blocks, and the kernel's hrtimer
wakes us at the deadline instead of epoll's millisecond-rounded timeout.

:func:`open_timerfd` returns None where timerfd is unavailable (not Linux, no libc symbol, a
sandbox that forbids it); the caller falls back to sleeping until the deadline.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys

log = logging.getLogger(__name__)

__all__ = ["TimerFD", "open_timerfd"]

CLOCK_MONOTONIC = 1
TFD_TIMER_ABSTIME = 1
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = getattr(os, "O_CLOEXEC", 0o2000000)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            # the process's own symbols (libc is loaded): ctypes.util.find_library would run
            # `ldconfig -p` in a subprocess while the module loads, holding the hub for 100+ ms
            lib = ctypes.CDLL(None, use_errno=True)
            create, settime = lib.timerfd_create, lib.timerfd_settime
        except (OSError, AttributeError):
            return None
        create.argtypes = [ctypes.c_int, ctypes.c_int]
        create.restype = ctypes.c_int
        settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                            ctypes.POINTER(_Itimerspec)]
        settime.restype = ctypes.c_int
        _libc = lib
    return _libc


class TimerFD:
    """One non-blocking monotonic timerfd; :meth:`arm` sets a one-shot absolute deadline."""

    __slots__ = ("fd", "_settime", "_spec", "_ref")

    def __init__(self, fd: int, lib: ctypes.CDLL) -> None:
        self.fd = fd
        self._settime = lib.timerfd_settime
        self._spec = _Itimerspec()  # reused: arming happens once per clock wake-up
        self._ref = ctypes.byref(self._spec)

    def arm(self, deadline_ns: int) -> None:
        """Expire once at ``deadline_ns`` on CLOCK_MONOTONIC (``time.monotonic_ns()``).

        A deadline already past expires at once. Re-arming resets the expiry count.
        """
        if deadline_ns <= 0:
            deadline_ns = 1  # all-zero it_value would disarm the timer instead
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(deadline_ns, 1_000_000_000)
        if self._settime(self.fd, TFD_TIMER_ABSTIME, self._ref, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def consume(self) -> int:
        """Read (and so clear) the expiry count; 0 when it has not expired."""
        try:
            return int.from_bytes(os.read(self.fd, 8), sys.byteorder)
        except BlockingIOError:
            return 0
        except InterruptedError:  # pragma: no cover - PEP 475 retries reads, but be safe
            return 0

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def open_timerfd() -> TimerFD | None:
    """A new :class:`TimerFD`, or None when this platform cannot make one."""
    lib = _load_libc()
    if lib is None:
        return None
    fd = lib.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
    if fd < 0:
        err = ctypes.get_errno()
        log.warning("timerfd_create failed (%s); the soft timer sleeps until its deadlines instead",
                    errno.errorcode.get(err, err))
        return None
    return TimerFD(fd, lib)
