"""Outbound Event Socket: the ``socket`` application connects a call to a remote ESL server.

``socket <host>[:<port>][/<path>][|<host>…] [async] [full]`` (spec ``dialplan-apps.md`` §4):
the call connects, sends nothing, and waits for the client's ``connect``; the reply is the
channel data (``Socket-Mode``, ``Control``). Registered here, not in mod_dptools, as FreeSWITCH
does: the protocol lives in this module (the listener, its commands and events).

Modes:

* **sync** (``static``): the listener's reader runs on the call's own greenlet, inside the
  application; ``sendmsg`` to the call runs inline and is answered when the app ends.
* **async**: the reader is a greenlet of its own; the call waits for ``connect`` then parks,
  running the queued ``sendmsg`` commands; replies come at once.
* without ``full`` only ``exit filter resume connect getvar myevents divert_events sendmsg``;
  the rest is ``-ERR command not found`` as in FreeSWITCH.

When the listener ends (``exit``, the client closing, hangup) the application returns and the
dialplan goes on (the call is never hung up by the socket itself, as in FreeSWITCH).

Foot-guns of FreeSWITCH fixed here (nobody can depend on a call parked with nobody in
control):

* async, the client closes (or sends nothing) before ``connect``: FreeSWITCH parks the call
  anyway and it stays parked until killed. Here the application returns at once.
* async, the client sends something but never ``connect``: FreeSWITCH waits for it as long as
  the channel lives. Here ``connect`` must come within the handshake timeout (25 s, FreeSWITCH's
  first-message timeout; channel variable ``socket_handshake_timeout`` in seconds), else the
  socket is closed with its notice and the application returns.
* async, ``exit`` right after ``connect``: FreeSWITCH's listener may end before the call
  parks, and the park then never ends. Here the application does not park once the listener
  has ended.
* ``resume`` on a sync socket: FreeSWITCH sets CS_RESET and nothing ever leaves it (the call
  idles until killed). Here ``resume`` (or ``socket_resume=true``) means what it means in
  async mode: the dialplan goes on with its next action.

Every such end is logged (ERROR, naming the channel, the remote and what happened).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import TYPE_CHECKING

import gevent
import gevent.event
import gevent.socket

from softswitch import NOTICE, ChannelFlag, ChannelState

from . import wire
from .framing import Message
from .listener import Listener

if TYPE_CHECKING:
    from softswitch import Session

    from . import EventSocket

log = logging.getLogger("mod_event_socket")

__all__ = ["OutboundListener", "socket_app"]

DEFAULT_PORT = 8084
#: FreeSWITCH's timeout for the first message of an outbound connection (seconds)
HANDSHAKE_TIMEOUT = 25.0
#: Without ``full``: the commands of a single-channel socket (FreeSWITCH checks these before
#: refusing the rest)
_SINGLE = ("filter ", "resume", "connect", "getvar", "myevents", "divert_events", "sendmsg")
_CF_CONTROLLED = ChannelFlag.CF_CONTROLLED
_CS_HANGUP = ChannelState.CS_HANGUP


def _atoi(text: str) -> int:
    digits = ""
    for c in text.lstrip(" "):
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else 0


class OutboundListener(Listener):
    """The listener of one outbound connection: pre-authenticated, bound to its session."""

    outbound = True

    def __init__(self, module: EventSocket, sock: socket.socket, addr: tuple, session: Session,
                 is_async: bool, full: bool, timeout: float) -> None:
        super().__init__(module, sock, addr)
        self.authed = True
        self.async_mode = is_async
        self.inline = not is_async
        self.full = full
        self.timeout = timeout
        self.first_pending = True
        #: set at ``connect`` and when the listener ends: what the async app waits for
        self.progress = gevent.event.Event()
        self.is_connected = False
        self.finished = False
        self.why = ""
        self.logged = False
        self._inline_wake: gevent.event.Event | None = None
        self.bind_session(session)

    def __repr__(self) -> str:
        return f"<OutboundListener {self.id} {self.remote_ip}:{self.remote_port}>"

    def connected(self) -> None:
        self.is_connected = True
        self.progress.set()

    def _session_changed(self) -> None:
        self.progress.set()  # a hangup while the async app waits for connect ends the wait
        super()._session_changed()

    def run(self) -> None:
        sock = self.sock
        # an outbound connection is a descriptor like any other: it counts toward
        # max-connections (as _finish uncounts it), though it is never refused
        self.module.connections += 1
        self.reader = gevent.getcurrent()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        parked = False
        try:
            self.module.add_listener(self)
            parked = self._read_loop()
        except (OSError, gevent.Timeout):
            pass
        finally:
            if not parked:
                self._finish()

    def _finish(self) -> None:
        try:
            super()._finish()
        finally:
            self.finished = True
            self.progress.set()
            w = self._inline_wake
            if w is not None:
                w.set()

    def _unpark(self) -> None:
        # A sync socket's reader is the call's own greenlet, inside the application: it waits
        # for its parked socket itself (_read_loop) instead of handing it to a new greenlet.
        w = self._inline_wake
        if w is not None:
            w.set()
        else:
            super()._unpark()

    def _read_loop(self) -> bool:
        first = gevent.Timeout(self.timeout)
        first.start()
        try:
            parked = self._read_until_closed(first)
            if self.inline:
                # sync: an idle connection may be parked by the module's sweep; this greenlet
                # (the call's) waits for it to become readable and reads on
                while parked and not self.dead:
                    w = self._inline_wake = gevent.event.Event()
                    w.wait()
                    self._inline_wake = None
                    self.io.unpark()
                    if self.dead:
                        break
                    self.reader = gevent.getcurrent()
                    parked = self._read_until_closed(None)
                parked = False
            if not parked and not self.said_goodbye:
                self._close_notice(wire.GOODBYE)
            return parked
        except gevent.Timeout as e:
            if e is not first:
                raise
            if not self.dead:  # (else the application gave up first, and said so)
                s = self.session
                self.why = f"sent no command within {self.timeout:g} s"
                log.critical("Socket Error! %s: the outbound socket %s:%d %s; closing it, the "
                             "dialplan goes on", s.channel.name if s else "", self.remote_ip,
                             self.remote_port, self.why)
                self.logged = True
                self._close_notice(wire.GOODBYE)
            return False
        finally:
            first.close()

    def _close_notice(self, text: str) -> None:
        if not self.why and not self.is_connected:
            if self.first_pending:
                self.why = "ended before any command was read"
            elif self.async_mode:
                self.why = "ended before connect"
        super()._close_notice(text)

    def _command(self, msg: Message) -> None:
        if self.first_pending:
            self.first_pending = False
            if not msg.command[:7].lower() == "connect":
                # FreeSWITCH runs the first command but drops its reply unless it is connect
                # (``myevents`` sent first took effect silently [obs])
                n = len(self._out)
                super()._command(msg)
                del self._out[n:]
                return
        super()._command(msg)

    def _dispatch(self, msg: Message, cmd: str, low: str) -> str | None:
        if not self.full and not low.startswith(_SINGLE):
            return ""
        return super()._dispatch(msg, cmd, low)


def _connect(host: str, port: int) -> socket.socket:
    """A TCP connection (keepalive 30 s, NODELAY) to ``host``:``port`` (any address family)."""
    err: OSError | None = None
    # (gevent's resolver: a host name must not hold the hub while it resolves)
    for family, stype, proto, _, sa in gevent.socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = gevent.socket.socket(family, stype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hasattr(socket, "TCP_KEEPIDLE"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 30)
            sock.connect(sa)
            return sock
        except OSError as e:
            err = e
            sock.close()
    raise err or OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH))


def socket_app(es: EventSocket, session: Session, data: str) -> None:
    """The ``socket`` application (FreeSWITCH's ``socket_function``)."""
    ch = session.channel
    argv = data.split() if data else []
    if not argv:
        log.error("Parse Error! (socket needs <host>[:<port>] [async] [full])")
        return
    port = DEFAULT_PORT
    sock = None
    addr: tuple = ()
    for host in argv[0].split("|"):
        if not host:
            log.error("Missing Host!")
            continue
        log.log(NOTICE, "Trying host: %s", host)
        port_name = None
        if ":" in host:
            host, _, port_name = host.rpartition(":")
            port = _atoi(port_name)  # (not reset for the next host, as in FreeSWITCH)
        base = port_name if port_name is not None else host
        if "/" in base:
            cut, _, path = base.partition("/")
            if port_name is None:
                host = cut
            ch.set_variable("socket_path", path)
        ch.set_variable("socket_host", host)
        try:
            sock = _connect(host, port)
            addr = (host, port)
            break
        except (OSError, UnicodeError) as e:
            log.error("Socket Error: %s (%s:%d)", getattr(e, "strerror", None) or e, host, port)
    if sock is None:
        log.error("Socket Error! %s: no host of %r could be reached", ch.name, argv[0])
        return
    flags = {a.lower() for a in argv[1:]}
    timeout = HANDSHAKE_TIMEOUT
    tv = ch.get_variable("socket_handshake_timeout")
    if tv:
        try:
            timeout = max(float(tv), 0.001)
        except ValueError:
            log.warning("%s: socket_handshake_timeout %r is not a number of seconds; using %g",
                        ch.name, tv, HANDSHAKE_TIMEOUT)
    listener = OutboundListener(es, sock, addr, session, "async" in flags, "full" in flags,
                                timeout)
    if es.done:
        sock.close()
        listener.release_session()
        return
    ch.flags |= _CF_CONTROLLED
    if not listener.async_mode:
        listener.run()
        _after(listener)
        return
    es.spawn_listener(listener)
    # Wait for connect, the listener's end, or the handshake timeout (the listener closes
    # itself when no command came in time; the deadline here also covers a client that talks
    # but never sends connect).
    deadline = gevent.Timeout(listener.timeout)
    deadline.start()
    try:
        while not (listener.is_connected or listener.finished or ch.state >= _CS_HANGUP):
            listener.progress.clear()  # (no switch since the check: nothing can be missed)
            listener.progress.wait()
    except gevent.Timeout as e:
        if e is not deadline:
            raise
        if not listener.dead:
            listener.why = listener.why or f"sent no connect within {listener.timeout:g} s"
            listener.kill(wire.GOODBYE)
    finally:
        deadline.close()
    if listener.finished or not listener.is_connected or listener.dead:
        # FreeSWITCH parks here anyway: the call then stays parked with nobody in control
        if ch.state < _CS_HANGUP and listener.why and not listener.logged:
            log.error("%s: the outbound socket %s:%d %s; closed it, not parking the call, the "
                      "dialplan goes on", ch.name, listener.remote_ip, listener.remote_port,
                      listener.why)
        return
    session.park()
    _after(listener)


def _after(listener: OutboundListener) -> None:
    s = listener.session
    if s is None:
        return
    ch = s.channel
    if ch.state < _CS_HANGUP and listener.why and not listener.is_connected and not listener.logged:
        log.error("%s: the outbound socket %s:%d %s; the dialplan goes on", ch.name,
                  listener.remote_ip, listener.remote_port, listener.why)
    # (resume: the dialplan goes on with its next action; FreeSWITCH's CS_RESET round trip
    # left a sync socket's call idle forever, see the module's doc)
