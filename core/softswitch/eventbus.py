"""The event system: bind, fire, dispatch (``switch_event.c`` on gevent).

``fire()`` freezes the event and puts it on a bounded dispatch queue; dispatcher greenlets take
events off it and deliver each to the callbacks bound to its type (newest binding first), then
to those bound to ALL — the seed's ``switch_event_deliver``.

Ordering: every subscriber sees events in fire order, even when several dispatchers run. Each
binding has a small mailbox: a dispatcher first posts the event to the mailbox of every matching
binding (no switch can happen meanwhile), then runs the mailboxes that nobody is running.
Callbacks should not block; one that does (a module doing I/O in its callback) holds up only
briefly: a watchdog notices a dispatcher stuck inside a callback for 0.1 s while work is
waiting and starts another dispatcher, which carries on with every other subscriber. The
blocked subscriber gets its events, in order, once its callback returns.

Back-pressure: the queue holds ``DISPATCH_QUEUE_LEN × MAX_DISPATCH`` events. A producer waits
while it is full — except a callback running inside a dispatcher, which never waits (it would
wait for itself): its event is queued past the bound. When the queue grows past
``DISPATCH_QUEUE_LEN × running dispatchers``, one more dispatcher starts, up to MAX_DISPATCH − 1,
as FreeSWITCH's ``switch_event_queue_dispatch_event`` does.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.event
from gevent import getcurrent

from .event import Event, EventError, EventType, identity_headers, use_identity

log = logging.getLogger(__name__)

__all__ = ["EventSystem", "EventNode", "EventStats", "DISPATCH_QUEUE_LEN"]

DISPATCH_QUEUE_LEN = 10000
#: A binding whose callback is stuck keeps at most this many events waiting for it.
NODE_BACKLOG = 100_000
_ALL = int(EventType.ALL)

EventCallback = Callable[..., None]


class EventNode:
    """A binding (``switch_event_node_t``): remove it with :meth:`EventSystem.unbind`."""

    __slots__ = ("id", "event_id", "subclass", "callback", "user_data", "_mailbox", "_busy",
                 "removed", "dropped", "_call")

    def __init__(self, owner, event_id, subclass, callback, user_data) -> None:
        self.id = owner
        self.event_id = event_id
        self.subclass = subclass
        self.callback = callback
        self.user_data = user_data
        self._mailbox: deque[Event] = deque()
        self._busy = False
        self.removed = False
        self.dropped = 0
        self._call = callback if user_data is None else (lambda ev: callback(ev, user_data))

    def matches(self, event: Event) -> bool:
        sub = self.subclass
        esub = event.subclass
        if sub is None:
            return True
        if esub is None:
            return False
        if sub == esub:
            return True
        if sub.startswith("file:"):
            return event.get_header("file") == sub[5:]
        if sub.startswith("func:"):
            return event.get_header("function") == sub[5:]
        return False

    def __repr__(self) -> str:
        sub = f" {self.subclass}" if self.subclass else ""
        return f"<EventNode {self.id} {EventType(self.event_id).name}{sub}>"


@dataclass
class EventStats:
    """Counters for ``show``-style introspection."""

    fired: int = 0
    delivered: int = 0
    dropped_not_running: int = 0
    dropped_backlog: int = 0
    callback_errors: int = 0
    queue_depth: int = 0
    queue_peak: int = 0
    dispatchers: int = 0
    overflow_puts: int = 0


class EventSystem:
    """One per core. Thread model: everything runs on the gevent hub's thread."""

    def __init__(self, cpu_count: int | None = None) -> None:
        cpus = cpu_count or os.cpu_count() or 1
        self.max_dispatch = min(max(2, cpus // 2 + 1), 64)
        self.capacity = DISPATCH_QUEUE_LEN * self.max_dispatch
        # A plain deque and one wake-up per burst: gevent's Queue costs a hub round trip per
        # put, which dominated the fire→deliver path.
        self._q: deque[Event | None] = deque()
        self._work = gevent.event.Event()
        self._lists: list[tuple[EventNode, ...]] = [() for _ in range(_ALL + 1)]
        self._dispatchers: list[gevent.Greenlet] = []
        self._progress: dict[gevent.Greenlet, list] = {}  # greenlet -> [events done, inside]
        self._watchdog: gevent.Greenlet | None = None
        self._room = gevent.event.Event()
        self._waiting_producers = 0
        self.running = False
        self.subclasses: dict[str, list] = {}  # name -> [owner, bound_by_listener]
        self.stats = EventStats()
        #: This kernel's identity headers (Core-UUID, FreeSWITCH-Hostname, …): see fire().
        self.identity: tuple[tuple[str, str], ...] = ()

    def set_identity(self, core_uuid: str | None, hostname: str, switchname: str, ipv4: str,
                     ipv6: str) -> None:
        """This kernel's identity headers; also the process default for new events (the
        kernel started last wins; fire() corrects events stamped with another's)."""
        self.identity = identity_headers(core_uuid, hostname, switchname, ipv4, ipv6)
        use_identity(self.identity)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start one dispatcher; events fired from now on are delivered."""
        if self.running:
            return
        self.running = True
        self._launch()
        self._watchdog = gevent.spawn(self._watch)
        self._watchdog.name = "event-watchdog"
        log.info("Activate Eventing Engine.")

    def stop(self, drain_timeout: float = 0.0) -> None:
        """Stop dispatching. With ``drain_timeout``, first let queued events go out."""
        if drain_timeout:
            self.drain(drain_timeout)
        self.running = False
        if self._watchdog is not None:
            self._watchdog.kill(block=False)
            self._watchdog = None
        for _ in self._dispatchers:
            self._q.append(None)
        self._work.set()
        gevent.joinall(self._dispatchers, timeout=2)
        for g in self._dispatchers:
            if not g.dead:
                g.kill(block=False)
        self._dispatchers = []
        self._progress.clear()
        discarded = len(self._q)
        self._q = deque()
        self._work = gevent.event.Event()
        self._room.set()
        if discarded:
            log.debug("event system stopped with %d queued events discarded", discarded)

    def drain(self, timeout: float) -> bool:
        """Wait until the queue is empty and no callback is running (bounded by ``timeout``)."""
        with gevent.Timeout(timeout, False):
            while self._q or any(n._busy or n._mailbox for lst in self._lists for n in lst):
                gevent.sleep(0.005)
            return True
        return False

    def _launch(self, reason: str = "") -> None:
        idx = len(self._dispatchers)
        g = gevent.Greenlet(self._dispatch_loop)
        g.name = f"event-dispatch-{idx}"
        self._progress[g] = [0, False]
        self._dispatchers.append(g)
        g.start()
        if idx:
            log.warning("Create additional event dispatch thread %d%s", idx, reason)

    def _watch(self) -> None:
        """Start another dispatcher when every one is stuck inside a blocking callback."""
        last: dict[gevent.Greenlet, int] = {}
        while self.running:
            gevent.sleep(0.1)
            stuck = []
            for g, (done, inside) in self._progress.items():
                if inside and last.get(g) == done:
                    stuck.append(g)
                last[g] = done
            if not stuck or len(stuck) < len(self._dispatchers) or len(self._dispatchers) >= 64:
                continue
            pending = len(self._q) or any(
                n._mailbox and not n._busy for lst in self._lists for n in lst)
            if pending:
                blocked = {n.id for lst in self._lists for n in lst if n._busy}
                self._launch(f" (callbacks of {', '.join(sorted(map(str, blocked)))} are blocking)")

    # -- subclasses -----------------------------------------------------------------------------
    def reserve_subclass(self, owner: str, name: str) -> bool:
        """Reserve CUSTOM subclass ``name`` for ``owner``. False (INUSE) if another owns it."""
        entry = self.subclasses.get(name)
        if entry is None:
            self.subclasses[name] = [owner, False]
            return True
        if entry[1]:  # reserved only by a listener's bind: the owner takes it
            entry[0], entry[1] = owner, False
            return True
        return entry[0] == owner

    def free_subclass(self, owner: str, name: str) -> bool:
        entry = self.subclasses.get(name)
        if entry is None:
            return False
        if entry[0] == owner:
            del self.subclasses[name]
            return True
        entry[1] = True  # in use by listeners: detach
        return False

    # -- binding --------------------------------------------------------------------------------
    def bind(
        self,
        owner: str,
        event_type: int,
        subclass: str | None,
        callback: EventCallback,
        user_data: object = None,
    ) -> EventNode:
        """Call ``callback(event)`` (``callback(event, user_data)`` when ``user_data`` is given)
        for each matching event. ``event_type`` may be ``EventType.ALL``; ``subclass`` None
        means any subclass. Returns the node to :meth:`unbind`.

        Callbacks run in a dispatcher greenlet and share the (frozen) event: keep it, never
        change it. A callback should hand work off quickly; one that blocks delays only itself.
        """
        event_type = int(EventType(event_type))
        if subclass and event_type not in (EventType.CUSTOM, _ALL):
            raise EventError(f"subclass {subclass!r} given for {EventType(event_type).name}; only CUSTOM has subclasses")
        if subclass and subclass not in self.subclasses and not subclass.startswith(("file:", "func:")):
            self.subclasses[subclass] = [owner, True]
        node = EventNode(owner, event_type, subclass or None, callback, user_data)
        self._lists[event_type] = (node, *self._lists[event_type])  # newest first
        return node

    def unbind(self, node: EventNode) -> bool:
        lst = self._lists[node.event_id]
        if node not in lst:
            return False
        node.removed = True
        node._mailbox.clear()
        self._lists[node.event_id] = tuple(n for n in lst if n is not node)
        return True

    def unbind_owner(self, owner: str) -> int:
        """Remove every binding made by ``owner`` (a module's unload does this)."""
        count = 0
        for i, lst in enumerate(self._lists):
            keep = []
            for n in lst:
                if n.id == owner:
                    n.removed = True
                    n._mailbox.clear()
                    count += 1
                else:
                    keep.append(n)
            if len(keep) != len(lst):
                self._lists[i] = tuple(keep)
        return count

    def unbind_callback(self, callback: EventCallback) -> int:
        count = 0
        for i, lst in enumerate(self._lists):
            gone = [n for n in lst if n.callback == callback]
            for n in gone:
                n.removed = True
                n._mailbox.clear()
            if gone:
                self._lists[i] = tuple(n for n in lst if n.callback != callback)
                count += len(gone)
        return count

    def throttle(self, limit: int = 1000) -> None:
        """Yield until at most ``limit`` events wait for dispatch: for producers that read from
        the network (ESL ``sendevent``), so a flood cannot starve the dispatcher."""
        q = self._q
        while len(q) > limit and self.running:
            gevent.sleep(0)

    def has_listeners(self, event_type: int) -> bool:
        """Is anyone bound to this type (or to ALL)? Lets hot paths skip building events that
        nobody would receive."""
        return bool(self._lists[event_type] or self._lists[_ALL])

    def nodes(self) -> list[EventNode]:
        return [n for lst in self._lists for n in lst]

    # -- firing ---------------------------------------------------------------------------------
    def fire(self, event: Event) -> bool:
        """Queue ``event`` for delivery. It is frozen from now on.

        Dropped (and counted) when the event system is not running, as in FreeSWITCH.
        """
        if not self.running:
            self.stats.dropped_not_running += 1
            return False
        if event.ident is not self.identity and event.ident is not None and not event._frozen:
            event.reidentify(self.identity)  # stamped with another kernel's (or a stale) one
        event._frozen = True
        q = self._q
        depth = len(q)
        if depth >= DISPATCH_QUEUE_LEN * len(self._dispatchers) and len(self._dispatchers) < self.max_dispatch - 1:
            self._launch()
        if depth >= self.capacity:
            if getcurrent() in self._progress:
                self.stats.overflow_puts += 1  # never wait for ourselves
            else:
                self._wait_room()
                if not self.running:
                    self.stats.dropped_not_running += 1
                    return False
                q = self._q
        q.append(event)
        self.stats.fired += 1
        work = self._work
        if not work.is_set():
            work.set()
        return True

    def _wait_room(self) -> None:
        self._waiting_producers += 1
        try:
            while self.running and len(self._q) >= self.capacity:
                self._room.clear()
                self._room.wait(1.0)
        finally:
            self._waiting_producers -= 1

    # -- dispatching ----------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        q = self._q
        stats = self.stats
        lists = self._lists
        progress = self._progress[getcurrent()]
        # a dispatcher started because others are blocked first serves the waiting mailboxes
        progress[1] = True
        for lst in lists:
            for node in lst:
                if node._mailbox and not node._busy:
                    self._run_node(node)
        progress[1] = False
        n = 0
        work = self._work
        while True:
            if not q:
                work.clear()
                if not q:
                    work.wait()
                    continue
            ev = q.popleft()
            if ev is None:
                return
            progress[1] = True
            nodes = lists[ev.event_id] + lists[_ALL]
            if nodes:
                run = []
                for node in nodes:
                    if node.subclass is None or node.matches(ev):
                        mb = node._mailbox
                        if len(mb) >= NODE_BACKLOG:
                            node.dropped += 1
                            stats.dropped_backlog += 1
                            continue
                        mb.append(ev)
                        if not node._busy:
                            run.append(node)
                for node in run:
                    if not node._busy:
                        self._run_node(node)
            progress[0] += 1
            progress[1] = False
            n += 1
            if self._waiting_producers and len(q) < self.capacity:
                self._room.set()
            if not n & 255:
                depth = len(q)
                if depth > stats.queue_peak:
                    stats.queue_peak = depth
                # Let sockets and timers run during a long burst. A due timer, not sleep(0):
                # sleep(0) only queues a callback, and the hub polls sockets after ~50 of those.
                gevent.sleep(1e-6)

    def _run_node(self, node: EventNode) -> None:
        node._busy = True
        mb = node._mailbox
        call = node._call
        stats = self.stats
        try:
            while mb:
                ev = mb.popleft()
                try:
                    call(ev)
                    stats.delivered += 1
                except gevent.GreenletExit:
                    raise
                except Exception:
                    stats.callback_errors += 1
                    log.exception(
                        "event callback of %s (%s) raised on %s; other subscribers still get it",
                        node.id, getattr(node.callback, "__qualname__", node.callback), ev.name,
                    )
        finally:
            node._busy = False

    def snapshot(self) -> EventStats:
        s = self.stats
        s.queue_depth = len(self._q)
        s.dispatchers = len(self._dispatchers)
        return s
