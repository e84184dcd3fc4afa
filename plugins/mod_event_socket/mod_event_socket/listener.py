"""One Event Socket connection (FreeSWITCH's ``listener_run`` + ``parse_command``).

The reader greenlet frames commands, runs them in order and writes their replies. Events and
log lines reach the connection through :meth:`Listener.offer_event` / :meth:`offer_log`
(called by the module's event and log handlers), land on the connection's bounded queue as
ready-to-send bytes, and a writer greenlet sends them in batches (one ``sendall`` per batch).
A write lock keeps replies and events from interleaving: while a command runs, events wait,
so a reply always precedes the events it caused (``bgapi``'s reply before its BACKGROUND_JOB).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent
import gevent.event
import gevent.lock

from softswitch import (
    Event,
    EventType,
    LogLine,
    Status,
    name_event,
    new_uuid,
    parse_level,
    socket_io,
    switch_true,
)

from . import sessioncmds, wire
from .directory import locate_user_params
from .framing import EVENT_SUBCLASS, SPECIAL, FrameError, FrameParser, Message
from .sessioncmds import SessionControl
from .subscriber import Subscriber, parse_event_list

if TYPE_CHECKING:
    from . import EventSocket

log = logging.getLogger("mod_event_socket")

MAX_QUEUE_LEN = 100_000
MAX_MISSED = 500
AUTH_TIMEOUT = 25.0
#: Commands run from one read before the connection lets the rest of the server run.
_BATCH = 256
#: A yield that lets the hub poll sockets: gevent.sleep(0) only runs callbacks (the hub polls
#: after about 50 of them), a due timer makes it poll at once.
_POLL_YIELD = 1e-6
_mono = time.monotonic
#: A client whose command comes within this long after our reply (a request/reply loop) keeps
#: its reader greenlet waiting (until the module's idle sweep); any other parks at once.
_PARK_HOT = 0.01
#: An event that comes this long after the previous one may be written directly (offer_event).
_DIRECT_AFTER = 0.01
_ALL = int(EventType.ALL)
_ALL_TYPE = EventType.ALL
_CUSTOM = EventType.CUSTOM
_SNEAKY = ("bgapi", "sched_api", "eval", "expand", "xml_wrap")
_TRUE = ("true", "yes", "on", "1", "t")
_SUCCESS = Status.SUCCESS


#: What starts every queued log line (FreeSWITCH's log/data message); events start with their
#: Content-Length: the writer counts each kind from the bytes it sends.
_LOG_DATA = wire.LOG_DATA


class Listener(SessionControl, Subscriber):
    """An Event Socket connection (inbound; :mod:`.outbound` for the ``socket`` app's), with
    a session when one is controlled or bound (:class:`.sessioncmds.SessionControl`)."""

    __slots__ = ("module", "core", "sock", "remote_ip", "remote_port", "id", "authed", "running",
                 "allow_log", "allowed_events", "allowed_all_events", "allowed_subclasses",
                 "allowed_api", "queue", "n_events", "n_logs", "lost_events", "lost_logs",
                 "_killing", "_killer", "wlock", "_wake", "_writer", "_out", "io", "parser",
                 "reader", "_retire", "_finished", "replied_at", "first_deadline", "event_at")

    def __init__(self, module: EventSocket, sock: socket.socket, addr: tuple) -> None:
        super().__init__()
        self.module = module
        self.core = module.core
        self.sock = sock
        self.remote_ip = str(addr[0])
        self.remote_port = int(addr[1]) if len(addr) > 1 else 0
        self.id = module.next_id()
        self.authed = False
        self.running = True
        self.allow_log = True
        self.allowed_events: bytearray | None = None
        self.allowed_all_events = False
        self.allowed_subclasses: set[str] | None = None
        self.allowed_api: set[str] | None = None
        self.queue: deque[bytes] = deque()
        self.n_events = 0
        self.n_logs = 0
        self.lost_events = 0
        self.lost_logs = 0
        self._killing = False
        self._killer: gevent.Greenlet | None = None
        self.wlock = gevent.lock.Semaphore()
        self._wake = gevent.event.Event()
        self._writer: gevent.Greenlet | None = None
        self._out: list[bytes] = []
        #: recv / send / wait_readable: the kernel's fastest I/O for this socket
        self.io = socket_io(sock)
        self.parser = FrameParser()
        #: the greenlet reading commands; None while the connection is parked
        self.reader: gevent.Greenlet | None = None
        self._retire = False
        self._finished = False
        #: when our last reply went out (a client in a request/reply loop keeps its reader)
        self.replied_at = -1.0
        #: the first message's deadline (monotonic), 0.0 once it is in
        self.first_deadline = 0.0
        #: when the last event was offered
        self.event_at = 0.0

    def __repr__(self) -> str:
        return f"<Listener {self.id} {self.remote_ip}:{self.remote_port}>"

    # ------------------------------------------------------------------------------------------
    # connection lifecycle
    # ------------------------------------------------------------------------------------------
    # A connection has a reader greenlet while it is busy. One that stays idle (PARK_AFTER, the
    # module's sweep) gives it up: its socket is parked (a read watcher, no greenlet) and a new
    # reader greenlet takes over when data or EOF arrives. An idle writer ends the same way.
    # An idle greenlet costs ~9 KB; a parked connection ~2 KB.

    def run(self) -> None:
        sock = self.sock
        self.reader = gevent.getcurrent()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        parked = False
        try:
            if not self._acl_ok():
                self._send(wire.RUDE_REJECTION + wire.disconnect_notice())
                return
            if self.module.debug:
                log.debug("Connection Open from %s:%d", self.remote_ip, self.remote_port)
            self._send(wire.AUTH_REQUEST)
            self.module.add_listener(self)
            parked = self._read_loop()
        except (OSError, gevent.Timeout):
            pass
        finally:
            if not parked:
                self._finish()

    def _resume(self) -> None:
        """A new reader for a parked connection that became readable."""
        self.reader = gevent.getcurrent()
        parked = False
        try:
            if not self.dead:
                if self.first_deadline:  # still within the first message's 25 s
                    parked = self._read_loop(resumed=True)
                else:
                    parked = self._read_until_closed(None, resumed=True)
        except (OSError, gevent.Timeout):
            pass
        finally:
            if not parked:
                self._finish()

    def _acl_ok(self) -> bool:
        for name in self.module.acls:
            try:
                ok = self.core.acl.check(self.remote_ip, name)
            except LookupError:
                log.error("apply-inbound-acl %r of event_socket.conf is not a network list name or "
                          "CIDR; rejecting %s", name, self.remote_ip)
                ok = False
            except ValueError:
                ok = False
            if not ok:
                log.warning('IP %s Rejected by acl "%s"', self.remote_ip, name)
                return False
        return True

    def _read_loop(self, resumed: bool = False) -> bool:
        # The first complete message must arrive within 25 s; later reads have no timeout. One
        # timer for that whole wait (not one per recv()), cancelled when the message is in.
        # (Parked meanwhile, the module's sweep ends the connection at the deadline.)
        now = _mono()
        if not self.first_deadline:
            self.first_deadline = now + AUTH_TIMEOUT
        first: gevent.Timeout | None = gevent.Timeout(max(self.first_deadline - now, 0.001))
        first.start()
        try:
            return self._read_until_closed(first, resumed)
        except gevent.Timeout as e:
            if e is not first:
                raise
            log.debug("%r sent no complete command within %.0f s; closing", self, AUTH_TIMEOUT)
            self._close_notice(wire.GOODBYE)
            return False
        finally:
            first.close()

    def _read_until_closed(self, first: gevent.Timeout | None, resumed: bool = False) -> bool:
        """Read and run commands until the connection ends (False), or until the socket is
        parked (True): at once when the client is not in a tight request/reply loop (its
        command did not come within PARK_HOT of our reply), else when the module's idle sweep
        interrupts the wait."""
        parser = self.parser
        module = self.module
        busy = module.busy
        events = self.core.events
        io = self.io
        recv = io.recv
        wait = io.wait_readable
        idle = module.idle_readers if io.interruptible else None
        replied_at = self.replied_at
        ready = resumed  # the parked socket became readable: read without waiting
        hot = True
        while self.running:
            # Wait first, then read: a request-and-wait client (api) has sent nothing yet when
            # we get here, and a read that finds nothing costs more than asking the hub. A
            # pipelining client's data is already waiting: the wait still lets the hub poll
            # every other socket before we read more (gevent.sleep(0) would not: it runs
            # callbacks only, and a flood of pipelined commands kept every other connection
            # waiting for up to a second).
            if ready:
                ready = False
            elif idle is not None:
                if not hot:  # a client that takes its time: wait without a greenlet
                    return self._park(first)
                idle[self] = _mono()  # the module's sweep may interrupt this wait
                readable = wait()
                idle.pop(self, None)
                if not readable:
                    return self._park(first) if self.running else False
            else:
                wait()
            try:
                data = recv(65536)
            except BlockingIOError:  # readable, then not (another reader cannot exist): wait
                continue
            if not data:
                # EOF: the client closed, or only shut down its write side and still reads:
                # FreeSWITCH's listener says goodbye either way before it closes
                self._close_notice(wire.GOODBYE)
                return False
            # a client in a tight request/reply loop: its command came right after our reply
            since = _mono() - replied_at
            hot = since < _PARK_HOT
            busy_hot = busy is not None and since < busy.window
            parser.feed(data)
            more = True
            while more:
                with self.wlock:
                    try:
                        for _ in range(_BATCH):
                            msg = parser.next() if self.running else None
                            if msg is None:
                                more = False
                                break
                            if first is not None:
                                first.close()
                                first = None
                                self.first_deadline = 0.0
                            self._command(msg)
                    except FrameError as e:
                        log.warning("%r: %s; closing the connection", self, e)
                        self._close_notice(wire.GOODBYE)
                        return False
                    self._flush()
                if more:  # a long run of pipelined commands in one read: let the others in
                    events.throttle()
                    gevent.sleep(_POLL_YIELD)
            replied_at = self.replied_at = _mono()
            if busy_hot:
                busy.after_reply(replied_at)  # poll for its next command, do not sleep
            events.throttle()  # a pipelining sender keeps the dispatch queue short
        return False

    def _park(self, first: gevent.Timeout | None) -> bool:
        """Give up this reader greenlet: a read watcher calls :meth:`_unpark` when data comes."""
        self.reader = None
        if first is None:
            self.first_deadline = 0.0
        else:
            self.module.parked_first[self] = self.first_deadline
        self.io.park(self._unpark)
        return True

    def _unpark(self) -> None:
        # (in the hub, once: data, EOF or an error on the parked socket)
        self.module.parked_first.pop(self, None)
        if not self.dead:
            self.module.pool.spawn(self._resume)

    def _close_notice(self, text: str) -> None:
        """End the connection with a disconnect notice, sent with any reply still queued."""
        self.running = False
        if not self.said_goodbye:  # (a controlled session's notice may be out already)
            self.said_goodbye = True
            self._out.append(self.session_notice(text))
        try:
            self._flush()
        except OSError:
            pass

    def _send(self, data: bytes) -> None:
        self.io.send(data)

    def _reply(self, data: bytes) -> None:
        self._out.append(data)

    def _flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._send(data)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.module.connections -= 1
        self.running = False
        self.dead = True
        self.release_session()
        self.reader = None
        self.module.remove_listener(self)
        self.module.idle_readers.pop(self, None)
        self.module.idle_writers.pop(self, None)
        self.module.parked_first.pop(self, None)
        self.queue.clear()
        self._wake.set()
        w = self._writer
        if w is not None and w is not gevent.getcurrent():
            w.kill(block=False)
        if self._killing:
            # kill() sends the disconnect notice and closes the socket; the server closes the
            # socket as soon as this handler returns, so wait for it (it is bounded)
            if self._killer is not None and self._killer is not gevent.getcurrent():
                self._killer.join(timeout=3)
            return
        try:
            self.io.close()
        except OSError:
            pass

    def kill(self, text: str) -> None:
        """End the connection from outside (overflow, shutdown) without waiting on the client."""
        if self.dead:
            return
        self.dead = True
        self.running = False
        self._killing = True
        self.queue.clear()
        self._killer = gevent.spawn(self._kill, text)

    def _kill(self, text: str) -> None:
        notice = self.session_notice(text)
        # Best effort: a stalled client will not read it, and nobody waits for it.
        if self.wlock.acquire(timeout=0.2):
            try:
                self.sock.settimeout(1.0)
                self.sock.sendall(notice)
            except OSError:
                pass
            finally:
                self.wlock.release()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.io.close()  # a parked socket's watcher first
        except OSError:
            pass
        if self.reader is None:  # parked: no reader greenlet will end the connection
            self._finish()

    # ------------------------------------------------------------------------------------------
    # outgoing events and log lines
    # ------------------------------------------------------------------------------------------
    def offer_event(self, ev: Event) -> None:
        """Called by the module's event handler for every event (dispatcher greenlet)."""
        if self.dead or not self.events_on or not self.wants(ev):
            return
        if self.n_events >= MAX_QUEUE_LEN:
            self.lost_events += 1
            if self.lost_events > MAX_MISSED:
                log.critical("killing listener %s:%d: %d events lost (its queue of %d is full)",
                             self.remote_ip, self.remote_port, self.lost_events, MAX_QUEUE_LEN)
                self.kill(wire.LOST_EVENTS)
            return
        if self.lost_events:
            log.critical("Lost %d events!", self.lost_events)
            self.lost_events = 0
        data = wire.event_message(ev, self.format)
        now = _mono()
        if (self._writer is None and now - self.event_at > _DIRECT_AFTER and not self.queue
                and not self.wlock.locked()):
            # An event after a quiet spell, nothing queued, no command running: straight into
            # the socket buffer, no writer greenlet (a HEARTBEAT to 10,000 idle subscribers).
            # A stream of events goes through the writer, in batches.
            sent = self.io.send_nowait(data)
            if sent == len(data):
                self.event_at = now
                return
            data = data[sent:]
        self.event_at = now
        self.queue.append(data)
        self.n_events += 1
        self._kick()

    def offer_log(self, line: LogLine, data: bytes) -> None:
        if self.dead or not self.log_on or line.level > self.log_level:
            return
        if self.n_logs >= MAX_QUEUE_LEN:
            self.lost_logs += 1
            if self.lost_logs > MAX_MISSED:
                self.kill(wire.LOST_LOGS)
            return
        self.lost_logs = 0
        self.queue.append(data)
        self.n_logs += 1
        self._kick()

    def _kick(self) -> None:
        if self._writer is None:
            self._writer = gevent.spawn(self._write_loop)
        self._wake.set()

    def retire_writer(self) -> None:
        """The module's idle sweep: the writer has waited long enough; let it end (a new one
        is spawned for the next event)."""
        if self._writer is not None and not self.queue:
            self._retire = True
            self._wake.set()

    def _write_loop(self) -> None:
        q = self.queue
        wake = self._wake
        idle = self.module.idle_writers
        try:
            while not self.dead:
                if not q:
                    if self._retire:
                        return
                    wake.clear()
                    idle[self] = _mono()
                    wake.wait()
                    idle.pop(self, None)
                    continue
                with self.wlock:
                    if self.dead:
                        return
                    batch = []
                    size = 0
                    logs = 0
                    while q and size < 262144:
                        item = q.popleft()
                        batch.append(item)
                        size += len(item)
                        if item.startswith(_LOG_DATA):
                            logs += 1
                    self.n_logs -= logs
                    self.n_events -= len(batch) - logs
                    self._send(batch[0] if len(batch) == 1 else b"".join(batch))
        except OSError:
            self.running = False
        finally:
            idle.pop(self, None)
            self._retire = False
            if self._writer is gevent.getcurrent():
                self._writer = None

    def _drop_queued(self, logs: bool) -> None:
        """Flush queued log lines (``nolog``) or events (``noevents``), keeping the others."""
        keep = [x for x in self.queue if x.startswith(_LOG_DATA) != logs]
        self.queue.clear()
        self.queue.extend(keep)
        if logs:
            self.n_logs = 0
        else:
            self.n_events = 0

    # ------------------------------------------------------------------------------------------
    # commands
    # ------------------------------------------------------------------------------------------
    def _command(self, msg: Message) -> None:
        cmd = msg.command
        low = cmd.lower()
        if "mod_event_socket" in low:
            # Unloading ourselves from our own connection would deadlock: FreeSWITCH runs it
            # as a background job instead (and so do we).
            if "unload" in low:
                cmd, low = "api bgapi unload mod_event_socket", "api bgapi unload mod_event_socket"
            elif "reload" in low:
                cmd, low = "api bgapi reload mod_event_socket", "api bgapi reload mod_event_socket"
        if low.startswith(("exit", "...")):
            self._reply(wire.command_reply("+OK bye"))
            self._close_notice(wire.GOODBYE)  # the reply and the notice in one send
            return
        if not self.authed:
            self._pre_auth(cmd, low)
            return
        reply = self._dispatch(msg, cmd, low)
        if reply is not None:
            self._reply(wire.command_reply(reply or "-ERR command not found"))

    def _pre_auth(self, cmd: str, low: str) -> None:
        if low.startswith("auth "):
            if cmd[5:] == self.module.password:
                self.authed = True
                self._reply(wire.command_reply("+OK accepted"))
            else:
                log.warning("%s:%d failed to authenticate (wrong password)", self.remote_ip, self.remote_port)
                self._reply(wire.command_reply("-ERR invalid"))
                self._close_notice(wire.GOODBYE)
            return
        if low.startswith("userauth "):
            reply = self._userauth(cmd[9:])
            self._reply(wire.command_reply(reply))
            if not self.authed:
                self._close_notice(wire.GOODBYE)
            return
        self._reply(wire.command_reply("-ERR command not found"))

    def _userauth(self, text: str) -> str:
        user, _, domain = text.partition("@")
        password = ""
        if ":" in domain:
            domain, _, password = domain.partition(":")
        if ":" in user:
            user, _, password = user.partition(":")
        if not user or not domain:
            return "-ERR invalid"
        xml = self.core.xml
        params = locate_user_params(xml.section("directory") if xml else None, user, domain)
        if params is None:
            log.warning("userauth %s@%s from %s: no such user in the directory", user, domain, self.remote_ip)
            return "-ERR invalid"
        secret = params.get("esl-password", "")
        if not secret or not password or secret != password:
            log.warning("userauth %s@%s from %s: wrong password", user, domain, self.remote_ip)
            return "-ERR invalid"
        allowed_log = switch_true(params.get("esl-allowed-log", "true"))
        events = params.get("esl-allowed-events")
        api = params.get("esl-allowed-api")
        if events:
            self.allowed_events = bytearray(_ALL + 1)
            self.allowed_subclasses = set()
            parse_event_list(events, self.allowed_events, self.allowed_subclasses)
            self.allowed_all_events = bool(self.allowed_events[_ALL])
        if api:
            self.allowed_api = set(api.split(" " if " " in api else ","))
        self.allow_log = allowed_log
        self.authed = True
        return (f"~Reply-Text: +OK accepted\nAllowed-Events: {events or 'all'}\n"
                f"Allowed-API: {api or 'all'}\nAllowed-LOG: {'true' if allowed_log else 'false'}\n\n")

    def _dispatch(self, msg: Message, cmd: str, low: str) -> str | None:
        """Run an authenticated command from :data:`COMMANDS`; returns the Reply-Text ("" =
        command not found) or None when the command wrote its own reply."""
        for prefix, handler in COMMANDS:
            if low.startswith(prefix):
                return handler(self, msg, cmd)
        return ""

    def _cmd_api_line(self, msg: Message, cmd: str) -> None:
        self._cmd_api(msg, cmd[4:])

    def _cmd_bgapi_line(self, msg: Message, cmd: str) -> str:
        return self._cmd_bgapi(msg, cmd[6:])

    def _cmd_filter_line(self, msg: Message, cmd: str) -> str:
        return self._cmd_filter(cmd[7:])

    def _cmd_nolog(self, msg: Message, cmd: str) -> str:
        self._drop_queued(logs=True)
        if self.log_on:
            self.log_on = False
            self.module.reindex(self)
            return "+OK no longer logging"
        return "-ERR not loging"  # (sic) FreeSWITCH's spelling

    def _cmd_event_line(self, msg: Message, cmd: str) -> str:
        return self._subscribed(self._cmd_event(cmd))

    def _cmd_nixevent_line(self, msg: Message, cmd: str) -> str:
        return self._subscribed(self._cmd_nixevent(cmd))

    def _cmd_noevents(self, msg: Message, cmd: str) -> str:
        self._drop_queued(logs=False)
        if self.events_on:
            self.events_on = False
            self.event_list = bytearray(_ALL + 1)
            self.event_hash = set()
            return self._subscribed("+OK no longer listening for events")
        return "-ERR not listening for events"

    # -- event subscriptions ------------------------------------------------------------------
    def _subscribed(self, reply: str) -> str:
        """After a command that may change what this listener wants: the module re-indexes it
        (the cost of the change is that of this listener's subscriptions, whatever the number
        of listeners) and binds the event types some listener wants (EventSocket.reindex)."""
        self.module.reindex(self)
        return reply

    def _cmd_event(self, cmd: str) -> str:
        sp = cmd.find(" ", 5)
        key_count = 0
        custom = False
        if sp >= 0:
            for count, word in enumerate(cmd[sp + 1:].split(" ")):
                if count == 0 and word.lower() in ("xml", "plain", "json"):
                    self.format = word.lower()
                    continue
                if custom:
                    if self.allowed_subclasses is None or word in self.allowed_subclasses:
                        self.event_hash.add(word)
                        continue
                    return "-ERR permission denied"
                t = name_event(word)
                if t is None:
                    continue
                if (self.allowed_events is not None and not self.allowed_events[t]
                        and not self.allowed_all_events):
                    return "-ERR permission denied"
                key_count += 1
                if t == EventType.ALL:
                    for i in range(_ALL):
                        self.event_list[i] = 1
                self.event_list[t] = 1
                if t == EventType.CUSTOM:
                    custom = True
        if not key_count:
            return "-ERR no keywords supplied"
        self.events_on = True
        return f"+OK event listener enabled {self.format}"

    def _cmd_nixevent(self, cmd: str) -> str:
        sp = cmd.find(" ", 5)
        key_count = 0
        custom = False
        if sp >= 0:
            for word in cmd[sp + 1:].split(" "):
                if custom:
                    self.event_hash.discard(word)
                    continue
                t = name_event(word)
                if t is None:
                    continue
                key_count += 1
                if t == EventType.CUSTOM:
                    custom = True
                elif t == EventType.ALL:
                    self.event_list = bytearray(_ALL + 1)
                else:
                    if self.event_list[_ALL]:
                        self.event_list[_ALL] = 0
                        for i in range(_ALL):
                            self.event_list[i] = 1
                    self.event_list[t] = 0
        if not key_count:
            return "-ERR no keywords supplied"
        self.events_on = True
        return "+OK events nixed"

    def _cmd_filter(self, rest: str) -> str:
        name = rest.lstrip(" ")
        name, sp, value = name.partition(" ")
        val: str | None = value if sp else None
        if name.lower() == "delete" and val is not None:
            name, sp, value = val.partition(" ")
            val = value if sp else None
            if name.lower() == "all":
                self.filters = []
            else:
                self.filters = [(n, v) for n, v in self.filters
                                if not (n.lower() == name.lower() and (val is None or v == val))]
            return f"+OK filter deleted. [{name}][{val or ''}]"
        if val is None:
            return "-ERR invalid syntax"
        if name.lower() == "add":
            name, sp, value = val.partition(" ")
            val = value if sp else None
        if val is None:
            return f"+OK filter added. [{name}]=[(null)]"
        if val == "":  # an empty value deletes, as adding an empty header does in FreeSWITCH
            self.filters = [(n, v) for n, v in self.filters if n.lower() != name.lower()]
        else:
            self.filters.append((name, val))
        return f"+OK filter added. [{name}]=[{val}]"

    # -- logs ---------------------------------------------------------------------------------
    def _cmd_log(self, msg: Message, cmd: str) -> str:
        """FreeSWITCH's ``log``: the word after the spaces following ``log``, cut at the next
        space, is the level (a name or a number; none = DEBUG); the reply quotes that word."""
        if not self.allow_log:
            return "-ERR permission denied"
        level_s = cmd[3:].lstrip(" ").split(" ", 1)[0]
        level = parse_level(level_s) if level_s else 7
        if level == 64:
            return "-ERR invalid log level"
        self.log_level = level
        if not self.log_on:
            self.log_on = True
            self.module.reindex(self)
        return f"+OK log level {level_s} [{level}]"

    # -- api / bgapi ----------------------------------------------------------------------------
    def _api_allowed(self, api_cmd: str, arg: str | None) -> bool:
        allowed = self.allowed_api
        if allowed is None:
            return True
        check = api_cmd
        rest = arg
        while True:
            if check not in allowed:
                return False
            if check.lower() in _SNEAKY and rest:
                check, _, nxt = rest.partition(" ")
                rest = nxt or None
                continue
            return True

    def _cmd_api(self, msg: Message, line: str) -> None:
        console = msg.headers and (msg.get("console_execute") or "").lower() in _TRUE
        api_cmd, _, arg = line.partition(" ")
        if self.allowed_api is not None and not self._api_allowed(api_cmd, arg or None):
            self._reply(wire.command_reply("-ERR permission denied"))
            return
        if self._out:
            self._flush()  # an API may take a while: earlier replies go out first
        if console:
            body = self.module.console_execute(line)
        else:
            body = self.core.api_execute(api_cmd, arg).reply(api_cmd.strip())
        self._out.append(wire.api_response(body))

    def _cmd_bgapi(self, msg: Message, line: str) -> str:
        api_cmd, _, arg = line.partition(" ")
        if not self._api_allowed(api_cmd, arg or None):
            return "-ERR permission denied"
        job = msg.get("job-uuid") or new_uuid()
        self.module.spawn_job(job, api_cmd, arg or None,
                              self.session.uuid if self.session is not None else None)
        return f"~Reply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"

    # -- sendevent ------------------------------------------------------------------------------
    def _cmd_sendevent(self, msg: Message, cmd: str) -> str:
        ev = Event(_CUSTOM, stamp=False)
        # The framing already cut names at ":" and values at CR/LF/NUL, and marked the lines
        # add_header() treats specially, so the common case builds the list in one go.
        sent = msg.headers
        sub_at = -1
        headers: list | None = None
        if not msg.marks & SPECIAL:  # no deletes, arrays, name[n] or _body
            headers = [("Command", cmd), *sent]
            if msg.marks & EVENT_SUBCLASS:
                for i, (k, _) in enumerate(sent):
                    if len(k) == 14 and k.lower() == "event-subclass":
                        sub_at = i + 1
                        break
        if headers is None:
            ev.headers = [("Command", cmd)]
            for name, value in msg.headers:
                try:
                    ev.add_header(name, value)
                except ValueError:
                    continue
            sub_at = -2
        else:
            ev.headers = headers
        if msg.body is not None:
            ev.body = msg.body
        event_uuid = new_uuid()
        ev.headers.append(("Event-UUID", event_uuid))
        ename = cmd[9:].lstrip(" \t")
        if ename:
            t = name_event(ename)
            if t is not None and t is not _ALL_TYPE:
                ev.event_id = t
                if t is _CUSTOM and sub_at != -1:
                    if sub_at >= 0:  # FreeSWITCH moves Event-Subclass to the bottom
                        _, sub = ev.headers.pop(sub_at)
                        ev.subclass = sub
                        ev.headers.append(("Event-Subclass", sub))
                    else:
                        sub = ev.get_header("Event-Subclass")
                        if sub:
                            ev.set_subclass(sub)
        if self.core.session_count:
            uuid = ev.get_header("unique-id")
            s = self.core.sessions.locate(uuid) if uuid else None
            if s is not None:
                # FreeSWITCH queues it to that call (switch_core_session_queue_event): the call
                # fires it when idle, with its channel data and no standard headers, or a
                # listener diverting the call's events takes it (sessioncmds.py)
                s.queue_event(ev)
                return f"+OK {event_uuid}"
        ev.stamp()
        self.core.events.fire(ev)
        return f"+OK {event_uuid}"


#: The commands of an authenticated connection in FreeSWITCH's order (``parse_command``): the
#: first whose prefix starts the command, in any case, runs it. ``sendevent`` and ``api `` come
#: first as the hot ones; no other prefix overlaps theirs, so the order is FreeSWITCH's still.
#: A handler returns the Reply-Text, or None when it wrote its own reply.
COMMANDS: tuple[tuple[str, Callable[[Listener, Message, str], str | None]], ...] = (
    ("sendevent", Listener._cmd_sendevent),
    ("api ", Listener._cmd_api_line),
    ("filter ", Listener._cmd_filter_line),
    # the session commands (sessioncmds.py; resume, connect, getvar need a session)
    ("resume", sessioncmds.cmd_resume),
    ("connect", sessioncmds.cmd_connect),
    ("getvar", sessioncmds.cmd_getvar),
    ("myevents", sessioncmds.cmd_myevents),
    ("divert_events", sessioncmds.cmd_divert_events),
    ("sendmsg", sessioncmds.cmd_sendmsg),
    ("bgapi ", Listener._cmd_bgapi_line),
    ("log", Listener._cmd_log),
    ("linger", sessioncmds.cmd_linger),
    ("nolinger", sessioncmds.cmd_nolinger),
    ("nolog", Listener._cmd_nolog),
    ("event", Listener._cmd_event_line),
    ("nixevent", Listener._cmd_nixevent_line),
    ("noevents", Listener._cmd_noevents),
)
