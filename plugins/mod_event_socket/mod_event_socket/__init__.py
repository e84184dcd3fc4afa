"""mod_event_socket: the Event Socket server, wire-compatible with FreeSWITCH's.

Configuration ``event_socket.conf`` (FreeSWITCH's defaults)::

    <configuration name="event_socket.conf">
      <settings>
        <param name="listen-ip" value="127.0.0.1"/>      <!-- "::" listens on IPv6 and IPv4 -->
        <param name="listen-port" value="8021"/>
        <param name="password" value="ClueCon"/>
        <param name="apply-inbound-acl" value="loopback.auto"/>  <!-- repeatable; all must pass -->
        <param name="stop-on-bind-error" value="false"/>
        <param name="busy-poll-usec" value="200"/>  <!-- softswitch: see busypoll.py; 0 = off -->
        <param name="max-connections" value="16384"/>  <!-- softswitch: more are refused -->
      </settings>
    </configuration>

As in FreeSWITCH, the configuration is read when the module's runtime starts (after every
module has loaded); events fired before the listening socket is up are not delivered to ESL.

Data flow: the kernel's dispatcher calls :meth:`EventSocket.on_event` once per event; each
listener's subscriptions and filters decide; matching events go on that listener's bounded
queue as bytes serialized once per event and format (shared by all listeners); the listener's
writer greenlet sends them in batches.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import TYPE_CHECKING

import gevent
import gevent.event
import gevent.pool
import gevent.socket

import softswitch
from softswitch import AppFlag, Event, EventType, Status, params, switch_true

from . import wire
from .busypoll import DEFAULT_USEC, BusyPoll
from .listener import Listener
from .outbound import socket_app
from .sessioncmds import SessionFanout
from .sink import SinkListener, event_sink

if TYPE_CHECKING:
    from typing import Any as Core  # the core facade the hooks get

    from softswitch import LogLine, ModuleInterface

log = logging.getLogger("mod_event_socket")

__all__ = ["EventSocket", "module_load", "module_runtime", "module_shutdown"]

MAX_ACL = 100
#: event_socket.conf ``max-connections`` default: generous (each idle connection costs a few
#: KB and a file descriptor), but a flood of connections is refused instead of taking every
#: descriptor and all memory.
DEFAULT_MAX_CONNECTIONS = 16384
#: A connection idle this long (seconds) gives up its reader greenlet (its socket is parked)
#: and its writer greenlet: an idle greenlet costs ~9 KB, a parked connection ~2 KB.
PARK_AFTER = 1.0
#: accept() errors that mean "out of descriptors or memory for now": accepting pauses
_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ALL = int(EventType.ALL)
#: a listener subscribed to nothing
_NONE = bytes(_ALL + 1)
#: one copy of each subscription pattern in use (idle listeners subscribed alike share it)
_SHAPES: dict[bytes, bytes] = {}


class EventSocket:
    """The module's state: configuration, the server socket and the live listeners."""

    def __init__(self, module: ModuleInterface, core: Core) -> None:
        self.module = module
        self.core = core
        self.ip = "127.0.0.1"
        self.port = 8021
        self.password = "ClueCon"
        self.acls: list[str] = []
        self.stop_on_bind_error = False
        self.debug = 0
        self.busy: BusyPoll | None = BusyPoll(DEFAULT_USEC)
        #: every live listener (a dict as an ordered set: adding and removing cost O(1))
        self.listeners: dict[Listener | SinkListener, None] = {}
        #: event type -> the listeners subscribed to it (ALL subscribes to every type)
        self.by_type: dict[int, dict[Listener | SinkListener, None]] = {}
        #: listeners bound to a call with myevents, by the call's uuid (sessioncmds.py)
        self.fanout = SessionFanout(self)
        #: the listeners that want log lines
        self.loggers: dict[Listener | SinkListener, None] = {}
        self.sinks: dict[int, SinkListener] = {}
        #: listeners whose reader / writer greenlet waits, and since when (the idle sweep)
        self.idle_readers: dict[Listener, float] = {}
        self.idle_writers: dict[Listener, float] = {}
        #: parked listeners whose first message is not in yet, and its deadline
        self.parked_first: dict[Listener, float] = {}
        self._sweep_timer = None
        self.ready = False
        self.done = False
        self.server: socket.socket | None = None
        self.max_connections = DEFAULT_MAX_CONNECTIONS
        self._refused = 0  # connections refused since the last log line about it
        #: connections open (parked ones hold no greenlet: the pool does not count them)
        self.connections = 0
        self._refused_logged = 0.0
        self._ids = 0
        self._stopped = gevent.event.Event()
        self.pool = gevent.pool.Pool(None)
        self.jobs = 0
        self._nodes: dict[int, object] = {}  # event type -> our binding for it
        self._sinks_due = 0.0  # when to look for expired event_sink listeners (0: none exist)

    def reindex(self, listener: Listener | SinkListener) -> None:
        """Index ``listener`` under what it wants now, and bind exactly the event types some
        listener wants (ALL alone when one asked for ALL), so the core need not build events
        that no client would receive.

        The cost is that of this listener's subscriptions (the number of event types), not of
        the number of listeners: 10,000 clients subscribing cost 10,000 small updates.
        """
        live = not listener.dead and listener in self.listeners
        new = bytes(listener.event_list) if live and listener.events_on else _NONE
        if self.fanout.takes(listener, live):
            new = _NONE  # a call's myevents listener: offered its call's events by uuid
        if len(_SHAPES) >= 4096:  # (only sharing is lost)
            _SHAPES.clear()
        new = _SHAPES.setdefault(new, new)  # listeners subscribed alike share one copy
        old = listener.indexed or _NONE
        if new is not old and new != old:
            changed = []
            by_type = self.by_type
            for t in range(_ALL + 1):
                if old[t] != new[t]:
                    changed.append(t)
                    if new[t]:
                        by_type.setdefault(t, {})[listener] = None
                    else:
                        members = by_type.get(t)
                        if members is not None:
                            members.pop(listener, None)
                            if not members:
                                del by_type[t]
            listener.indexed = new
            self._rebind()
        logs = live and listener.log_on
        if logs != listener.indexed_log:
            listener.indexed_log = logs
            if logs:
                self.loggers[listener] = None
            else:
                self.loggers.pop(listener, None)

    def _rebind(self) -> None:
        """Bind the event types in ``by_type`` (ALL alone when some listener wants ALL): at
        most one binding per event type, whatever the number of listeners."""
        desired = (_ALL,) if _ALL in self.by_type else self.by_type.keys()
        nodes = self._nodes
        for t in [t for t in nodes if t not in desired]:
            self.core.events.unbind(nodes.pop(t))
        for t in desired:
            if t not in nodes:
                nodes[t] = self.module.bind_event(t, self.on_event)

    # -- configuration ----------------------------------------------------------------------------
    def read_config(self) -> None:
        cfg = self.module.config("event_socket.conf")
        if cfg is None:
            log.error("Open of event_socket.conf failed; using defaults (127.0.0.1:8021, "
                      "password ClueCon, loopback.auto)")
        acls = []
        for name, value in params(cfg):
            lname = name.lower()
            if name == "listen-ip":
                self.ip = value or "127.0.0.1"
            elif name == "listen-port":
                # FreeSWITCH: (uint16_t) atoi(val); 0 binds a free port (the log line names it)
                try:
                    port = int(value)
                except ValueError:
                    port = -1
                if 0 <= port <= 65535:
                    self.port = port
                else:
                    log.error("event_socket.conf: listen-port %r is not a port number (0-65535); "
                              "using 8021", value)
                    self.port = 8021
            elif name == "password":
                self.password = value or "ClueCon"
            elif lname == "apply-inbound-acl":
                if len(acls) >= MAX_ACL:
                    log.error("event_socket.conf: more than %d apply-inbound-acl; %r ignored", MAX_ACL, value)
                elif value:
                    acls.append(value)
            elif lname == "stop-on-bind-error":
                self.stop_on_bind_error = switch_true(value)
            elif lname == "busy-poll-usec":
                try:
                    usec = int(value)
                except ValueError:
                    log.error("event_socket.conf: busy-poll-usec %r is not a number; using %d",
                              value, DEFAULT_USEC)
                    usec = DEFAULT_USEC
                self.busy = BusyPoll(usec) if usec > 0 else None
            elif lname == "max-connections":
                try:
                    self.max_connections = int(value)
                    if self.max_connections < 1:
                        raise ValueError(value)
                except ValueError:
                    log.error("event_socket.conf: max-connections %r is not a positive number; "
                              "using %d", value, DEFAULT_MAX_CONNECTIONS)
                    self.max_connections = DEFAULT_MAX_CONNECTIONS
            elif name == "debug":
                try:
                    self.debug = int(value)
                except ValueError:
                    self.debug = 0
            # nat-map: accepted and ignored (FreeSWITCH forces it off too)
        self.acls = acls or ["loopback.auto"]
        for name in self.acls:
            if "/" not in name and name not in self.core.acl:
                log.error("event_socket.conf: apply-inbound-acl %r is neither a network list nor a "
                          "CIDR; every connection will be rejected until it is fixed", name)

    # -- listeners --------------------------------------------------------------------------------
    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_listener(self, listener: Listener | SinkListener) -> None:
        self.listeners[listener] = None
        self.reindex(listener)

    def remove_listener(self, listener: Listener | SinkListener) -> None:
        self.listeners.pop(listener, None)
        self.reindex(listener)

    # -- event_sink's stateful listeners ----------------------------------------------------
    def add_sink(self, listener: SinkListener) -> None:
        self.sinks[listener.id] = listener
        self.add_listener(listener)
        self._sinks_due = self._sinks_due or time.monotonic() + 1.0

    def remove_sink(self, listener: SinkListener) -> None:
        listener.dead = True
        self.sinks.pop(listener.id, None)
        self.remove_listener(listener)

    def find_sink(self, ident: int) -> SinkListener | None:
        listener = self.sinks.get(ident) if ident else None
        if listener is not None and listener.is_expired(time.time()):
            self.remove_sink(listener)
            return None
        return listener

    def expire_sinks(self) -> None:
        """Stateful listeners go 60 s after their last check-listener (checked with events)."""
        now = time.time()
        for listener in list(self.sinks.values()):
            if listener.is_expired(now):
                log.critical("Stateful Listener %d has expired", listener.id)
                self.remove_sink(listener)

    def handle(self, sock: socket.socket, addr: tuple) -> None:
        if self.done:
            self.connections -= 1
            sock.close()
            return
        Listener(self, sock, addr).run()

    def spawn_listener(self, listener: Listener) -> None:
        """Serve an outbound (``socket … async``) connection in a greenlet of the module."""
        self.module.spawn(listener.run)

    # -- event and log fan-out ------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if not self.ready:
            return
        # only the listeners subscribed to its type (ALL sets every type: see Subscriber)
        members = self.by_type.get(event.event_id)
        if members:
            for listener in list(members) if len(members) > 1 else members:
                listener.offer_event(event)
        if self._sinks_due and time.monotonic() >= self._sinks_due:
            self._sinks_due = time.monotonic() + 1.0
            self.expire_sinks()

    def on_log(self, line: LogLine) -> None:
        data = None
        for listener in list(self.loggers):
            if line.level <= listener.log_level:
                if data is None:
                    data = wire.log_message(line)
                listener.offer_log(line, data)

    # -- background jobs --------------------------------------------------------------------------
    def spawn_job(self, job_uuid: str, cmd: str, arg: str | None, owner: str | None = None) -> None:
        self.module.spawn(self._job, job_uuid, cmd, arg, owner)

    def _job(self, job_uuid: str, cmd: str, arg: str | None, owner: str | None = None) -> None:
        self.jobs += 1
        try:
            result = self.core.api_execute(cmd, arg or "")
            if result.error:
                body = f"-ERR {cmd.strip()} failed: {result.error}\n"
            elif result.found and result.status == Status.SUCCESS:
                body = result.output
            else:
                body = f"-ERR {cmd.strip()} Command not found!\n"
            ev = Event(EventType.BACKGROUND_JOB)
            ev.add_header("Job-UUID", job_uuid)
            if owner:  # a bgapi of a listener with a session (passes its myevents)
                ev.add_header("Job-Owner-UUID", owner)
            ev.add_header("Job-Command", cmd)
            if arg:
                ev.add_header("Job-Command-Arg", arg)
            ev.body = body
            self.core.events.fire(ev)
        finally:
            self.jobs -= 1

    def console_execute(self, line: str) -> str:
        """``api`` with ``console_execute: true`` (fs_cli): ``;;``-separated commands."""
        out = []
        for part in line.split(";;"):
            text = part.strip()
            if not text:
                continue
            cmd, _, arg = text.partition(" ")
            result = self.core.api_execute(cmd, arg)
            if not result.found or result.status != Status.SUCCESS:
                out.append(f"-ERR {cmd} Command not found!\n")
            else:
                out.append(result.output)
        return "".join(out) or "-ERR no reply\n"

    # -- runtime and shutdown ---------------------------------------------------------------------
    def runtime(self) -> Status:
        self.read_config()
        failures = 0
        last_log = 0.0
        while not self.done:
            try:
                self.server = self._listen()
                break
            except OSError as e:
                failures += 1
                now = time.monotonic()
                # FreeSWITCH logs every 100 ms retry; once every 10 s is enough to be seen
                if now - last_log >= 10.0:
                    log.error("Socket Error! Could not listen on %s:%d (%s)%s", self.ip, self.port,
                              e.strerror or e,
                              "" if self.stop_on_bind_error else "; retrying every 100 ms")
                    last_log = now
                if self.stop_on_bind_error:
                    log.error("stop-on-bind-error is set: mod_event_socket stays loaded without a listener")
                    return Status.TERM
                if self._stopped.wait(0.1):
                    return Status.TERM
        if self.done:
            return Status.TERM
        self.ready = True
        # the bound port: listen-port 0 (tests, several instances on one host) picks a free one
        bound = self.server.getsockname()[1]
        log.info("Event Socket listening on %s:%d (password %s, acl %s, max-connections %d)",
                 self.ip, bound, "set" if self.password != "ClueCon" else "the default ClueCon",
                 ",".join(self.acls), self.max_connections)
        self._sweep_timer = gevent.get_hub().loop.timer(PARK_AFTER, PARK_AFTER)
        self._sweep_timer.start(self._sweep_idle)
        self._accept_loop(self.server)
        self._stopped.wait()
        return Status.TERM

    def _listen(self) -> socket.socket:
        family = socket.getaddrinfo(self.ip, self.port, 0, socket.SOCK_STREAM)[0][0]
        sock = gevent.socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.ip, self.port))
            sock.listen(1024)
        except OSError:
            sock.close()
            raise
        return sock

    def _accept_loop(self, server: socket.socket) -> None:
        """Accept connections until shutdown: each is served in its own greenlet, or refused
        with a notice when ``max-connections`` are open; when the process runs out of file
        descriptors (or memory), accepting pauses (up to a second, doubling) instead of
        failing, and the connections wait in the listen backlog."""
        delay = 0.0
        while not self.done:
            try:
                sock, addr = server.accept()
            except OSError as e:
                if self.done or e.errno not in _RESOURCE_ERRORS:
                    if not self.done:
                        log.error("Event Socket: accept failed (%s); no new connections until "
                                  "mod_event_socket is reloaded", e.strerror or e)
                    return
                delay = min(delay * 2 or 0.01, 1.0)
                if delay == 0.01 or delay == 1.0:
                    log.warning("Event Socket: out of %s (%s): accepting paused for %.0f ms; "
                                "raise the open files limit (ulimit -n) or max-connections "
                                "lower", "file descriptors" if e.errno in (errno.EMFILE, errno.ENFILE)
                                else "memory", e.strerror, delay * 1000)
                if self._stopped.wait(delay):
                    return
                continue
            delay = 0.0
            if self.connections >= self.max_connections:
                self._refuse(sock, addr)
                continue
            self.connections += 1
            self.pool.spawn(self.handle, sock, addr)

    def _sweep_idle(self) -> None:
        """(In the hub, every PARK_AFTER.) Park the connections idle for PARK_AFTER and retire
        their idle writers: thousands of idle clients hold no greenlet."""
        limit = time.monotonic() - PARK_AFTER
        for listener, since in list(self.idle_readers.items()):
            if since <= limit:
                listener.io.interrupt()  # its reader parks the socket and ends
        for listener, since in list(self.idle_writers.items()):
            if since <= limit:
                listener.retire_writer()
        now = time.monotonic()
        for listener, deadline in list(self.parked_first.items()):
            if deadline <= now:  # no complete first message within 25 s (as when not parked)
                del self.parked_first[listener]
                log.debug("%r sent no complete command within 25 s; closing", listener)
                listener.kill(wire.GOODBYE)

    def _refuse(self, sock: socket.socket, addr: tuple) -> None:
        """Over ``max-connections``: say so (without waiting on the client) and close."""
        try:
            sock.setblocking(False)
            sock.send(wire.disconnect_notice(wire.TOO_MANY % self.max_connections))
        except OSError:
            pass
        sock.close()
        self._refused += 1
        now = time.monotonic()
        if now - self._refused_logged >= 1.0:
            log.warning("Event Socket: max-connections (%d) reached: refused %d connection(s), "
                        "the last from %s:%s; raise max-connections in event_socket.conf if "
                        "they are expected", self.max_connections, self._refused, addr[0],
                        addr[1] if len(addr) > 1 else "")
            self._refused = 0
            self._refused_logged = now

    def shutdown(self) -> None:
        self.done = True
        self.ready = False
        self._stopped.set()
        if self._sweep_timer is not None:
            self._sweep_timer.stop()
            self._sweep_timer.close()
            self._sweep_timer = None
        if self.server is not None:
            self.server.close()
        for listener in list(self.listeners):
            if isinstance(listener, Listener):
                listener.kill(wire.SHUTTING_DOWN)
        # let the notices go out (each kill is bounded), then stop what is left
        gevent.joinall([g for g in list(self.pool)], timeout=2.0)
        self.pool.kill(timeout=1.0)
        self.listeners = {}
        self.by_type = {}
        self.fanout.clear()
        self.loggers = {}
        self.sinks = {}
        if self.busy is not None:
            self.busy.close()


# ---------------------------------------------------------------------------------------------
# hooks
# ---------------------------------------------------------------------------------------------


@softswitch.hookimpl
def module_load(module: ModuleInterface, core: Core) -> Status:
    es = EventSocket(module, core)
    module.state.es = es
    module.bind_log(es.on_log, level=7)  # event types are bound as listeners subscribe
    module.add_api("event_sink", "event_sink", "<web data>",
                   lambda cmd, session, stream: event_sink(es, cmd, session, stream))
    # The outbound Event Socket (outbound.py): here, as in FreeSWITCH, with the protocol
    module.add_application("socket", "Connect to a socket", "Connect to a socket",
                           "<ip>[:<port>]", lambda session, data: socket_app(es, session, data),
                           AppFlag.SAF_SUPPORT_NOMEDIA)
    return Status.SUCCESS


@softswitch.hookimpl
def module_runtime(module: ModuleInterface) -> Status:
    return module.state.es.runtime()


@softswitch.hookimpl
def module_shutdown(module: ModuleInterface) -> Status:
    module.state.es.shutdown()
    return Status.SUCCESS
