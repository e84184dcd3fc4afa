"""Fast reads and writes on a gevent socket, for servers that handle many small messages.

A module gets a :class:`SocketIO` from :func:`socket_io` and calls its ``recv``, ``send`` and
``wait_readable``; which path runs is chosen once, at import, and logged once at DEBUG:

* **gevent internals** (when this gevent has them, checked on a probe socket): ``recv`` and
  ``send`` are those of the non-blocking ``_socket.socket`` inside the gevent socket, and the
  wait is on gevent's own read watcher of the socket. Every attribute of a gevent socket goes
  through its Python ``__getattr__`` hook, and its ``recv`` turns "nothing yet" into a raised
  and caught EAGAIN: for a request/reply protocol this path halves the cost of the I/O.
* **public gevent**: the socket's own ``recv``/``send``; a gevent socket's ``recv`` waits in
  the hub itself (``wait_readable`` has nothing to do), any other socket object is waited on
  with ``gevent.socket.wait_read``. Forced by ``SOFTSWITCH_PURE_PYTHON=1``, and used for any
  socket object that is not a gevent socket as this gevent makes them.

Either way a close of the socket from another greenlet ends a wait with an OSError, and once
the socket is closed a late call fails with EBADF: it never reaches another connection that
reused the descriptor number.

Idle connections without a greenlet: a greenlet blocked in a wait keeps about 9 KB (its saved
C stack and frame chunk); a server with thousands of idle connections can instead end the
wait (:meth:`SocketIO.interrupt`, only where :attr:`SocketIO.interruptible`), let the
greenlet finish, and :meth:`SocketIO.park` the socket: a read watcher calls back when data
(or EOF) arrives, and a new greenlet takes over. Close such a socket with
:meth:`SocketIO.close`, which stops the parked watcher first.
"""

from __future__ import annotations

import _socket
import errno
import socket
from collections.abc import Callable

import gevent
import gevent.socket
from gevent.hub import Waiter

from .accel import choose, pure_python

__all__ = ["SocketIO", "socket_io", "IMPLEMENTATION"]


def _probe() -> str | None:
    """Why the internals path cannot run here, or None when it can."""
    if pure_python():
        return "SOFTSWITCH_PURE_PYTHON=1"
    try:
        a, b = gevent.socket.socketpair()
    except OSError as e:  # pragma: no cover - no socketpair on this system
        return f"no probe socket: {e}"
    try:
        for name in ("_sock", "_read_event", "_wait"):
            if not hasattr(a, name):
                return f"gevent {gevent.__version__} sockets have no {name}"
        # (_socket.socket: monkey-patching replaces socket.socket and socket.SocketType)
        if not isinstance(a._sock, _socket.socket) or a._sock.gettimeout() != 0.0:
            return "gevent's inner socket is not a non-blocking socket.socket"
        return None
    finally:
        a.close()
        b.close()


_WHY_NOT = _probe()
#: "gevent internals" or "public gevent": what :func:`socket_io` gives for a gevent socket
IMPLEMENTATION = "public gevent" if _WHY_NOT else "gevent internals"
choose("socket reads", IMPLEMENTATION, _WHY_NOT or "")
_INTERNALS = _WHY_NOT is None
_GEVENT_SOCKET = gevent.socket.socket


class SocketIO:
    """The I/O of one connected socket: ``recv(n)``, ``send(data)`` (all of it, waiting in the
    hub when the socket buffer is full), ``wait_readable()``. Made by :func:`socket_io`."""

    __slots__ = ("sock", "recv", "_raw_send", "_fast", "_gevent", "_waiter", "_parked")

    def __init__(self, sock: socket.socket, fast: bool) -> None:
        self.sock = sock
        self._fast = fast
        self._gevent = isinstance(sock, _GEVENT_SOCKET)
        self._waiter: Waiter | None = None
        self._parked = None
        raw = sock._sock if fast else sock
        #: recv(n) -> bytes: b"" at EOF; BlockingIOError when nothing is there yet (a
        #: spurious wake-up: wait again)
        self.recv = raw.recv
        self._raw_send = raw.send

    def send(self, data: bytes) -> None:
        """Send all of ``data``: one ``send()`` system call when the buffer has room (gevent's
        ``sendall`` adds a ``getsockopt`` to every call), else gevent waits for room."""
        try:
            sent = self._raw_send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            self.sock.sendall(data[sent:] if sent else data)

    def send_nowait(self, data: bytes) -> int:
        """Send what the socket buffer takes now, without waiting: the count of bytes sent
        (0 on the public gevent path, whose send() would wait)."""
        if not self._fast:
            return 0
        try:
            return self._raw_send(data)
        except BlockingIOError:
            return 0

    @property
    def interruptible(self) -> bool:
        """True when :meth:`interrupt` can end a wait (gevent internals path)."""
        return self._fast

    def wait_readable(self) -> bool:
        """Wait in the hub until the socket is readable (or closed: EOF or an error to read).

        :returns: True, or False when :meth:`interrupt` ended the wait.
        :raises OSError: the socket was closed, here or from another greenlet while waiting.
        """
        sock = self.sock
        if self._fast:
            # gevent's own read watcher of the socket, looked up each time, never kept: gevent
            # drops it when the socket closes (and waiting on a closed socket's watcher aborts
            # the process, a libev assertion). Waited on as gevent's Hub.wait does (a Waiter
            # as the callback): a close() from another greenlet throws into it.
            watcher = sock._read_event
            if watcher is None:
                raise OSError(errno.EBADF, "the connection was closed")
            waiter = self._waiter = Waiter()
            watcher.start(waiter.switch, True)
            try:
                return waiter.get()
            finally:
                watcher.stop()
                self._waiter = None
        elif not self._gevent:
            fd = sock.fileno()
            if fd < 0:
                raise OSError(errno.EBADF, "the connection was closed")
            gevent.socket.wait_read(fd)


    def interrupt(self) -> bool:
        """End the current :meth:`wait_readable` (it returns False). Call it from the hub (a
        timer's callback, say) or another greenlet. Returns whether a wait was ended."""
        waiter = self._waiter
        if waiter is None:
            return False
        self._waiter = None
        hub = gevent.get_hub()
        if gevent.getcurrent() is hub:
            waiter.switch(False)
        else:
            hub.loop.run_callback(self._interrupt, waiter)
        return True

    def _interrupt(self, waiter: Waiter) -> None:
        if waiter.greenlet is not None and not waiter.ready():
            waiter.switch(False)

    def park(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (in the hub: it must not block; spawn a greenlet) once when the
        socket is readable (data, EOF or an error), holding no greenlet meanwhile."""
        if self._parked is not None:
            raise RuntimeError("this socket is parked already")
        fd = self.sock.fileno()
        if fd < 0:
            raise OSError(errno.EBADF, "the connection was closed")
        watcher = self._parked = gevent.get_hub().loop.io(fd, 1)
        watcher.start(self._unparked, callback)

    def _unparked(self, callback: Callable[[], None]) -> None:
        self.unpark()
        callback()

    @property
    def parked(self) -> bool:
        return self._parked is not None

    def unpark(self) -> None:
        """Stop waiting for the parked socket (no callback)."""
        watcher = self._parked
        if watcher is not None:
            self._parked = None
            watcher.stop()
            watcher.close()

    def close(self) -> None:
        """Unpark, then close the socket."""
        self.unpark()
        self.sock.close()


def socket_io(sock: socket.socket) -> SocketIO:
    """The fastest I/O this gevent allows for ``sock`` (see the module's doc)."""
    return SocketIO(sock, _INTERNALS and isinstance(sock, _GEVENT_SOCKET))
