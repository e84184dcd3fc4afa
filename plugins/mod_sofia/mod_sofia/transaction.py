"""SIP transactions over UDP (RFC 3261 §17): timers A–K, retransmissions, matching.

The four state machines of §17 with their timers (T1 = 500 ms, T2 = 4 s, T4 = 5 s):

* client INVITE: A (retransmit, doubling), B (64·T1 timeout), D (32 s absorbing response
  retransmissions, re-sending the ACK of a non-2xx final);
* client non-INVITE: E (retransmit, doubling up to T2), F (64·T1 timeout), K (T4 absorbing);
* server INVITE: G (retransmit a non-2xx final, doubling up to T2), H (64·T1 waiting for the
  ACK), I (T4 absorbing ACK retransmissions); a retransmitted INVITE gets the last response again;
* server non-INVITE: J (64·T1 absorbing request retransmissions, answered with the last response).

A 2xx to an INVITE ends both INVITE transactions (§17.1.1.2, §17.2.1): the dialog layer
(:mod:`mod_sofia.profile`) retransmits the 2xx until the ACK and sends the ACK itself.

Timers live in one :class:`TimerHeap` per stack: one greenlet sleeping until the next deadline,
not one greenlet per timer (a busy profile has thousands of live timers).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable

import gevent
import gevent.event

from .message import Message, parse_via, serialize

log = logging.getLogger(__name__)

__all__ = ["TimerHeap", "TransactionLayer", "ClientTransaction", "ServerTransaction",
           "T1", "T2", "T4"]

T1 = 0.5
T2 = 4.0
T4 = 5.0


class _Timer:
    __slots__ = ("deadline", "fn", "cancelled")

    def __init__(self, deadline: float, fn: Callable[[], None]) -> None:
        self.deadline = deadline
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerHeap:
    """Callbacks at monotonic deadlines, run by one greenlet (``start``/``stop``)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._loop = gevent.get_hub().loop

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self._heap.clear()

    def now(self) -> float:
        return self._loop.now()

    def after(self, seconds: float, fn: Callable[[], None]) -> _Timer:
        t = _Timer(self._loop.now() + seconds, fn)
        first = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (t.deadline, next(self._seq), t))
        if first is None or t.deadline < first:
            self._wake.set()
        return t

    def _run(self) -> None:
        heap = self._heap
        while True:
            self._wake.clear()
            if not heap:
                self._wake.wait()
                continue
            delay = heap[0][0] - self._loop.now()
            if delay > 0:
                self._wake.wait(delay)
                continue
            _, _, t = heapq.heappop(heap)
            if t.cancelled:
                continue
            try:
                t.fn()
            except Exception:  # one failing callback must not stop the others
                log.exception("SIP timer callback failed")


class ClientTransaction:
    """A request we sent; ``on_response(tx, msg)`` gets each response that passes the machine,
    ``on_timeout(tx)`` is Timer B / F."""

    __slots__ = ("layer", "request", "addr", "key", "state", "data", "on_response", "on_timeout",
                 "interval", "timer", "end_timer", "ack")

    def __init__(self, layer: TransactionLayer, request: Message, addr: tuple[str, int],
                 on_response: Callable, on_timeout: Callable | None) -> None:
        self.layer = layer
        self.request = request
        self.addr = addr
        self.key = (request.branch, request.cseq[1])
        self.state = "calling" if request.method == "INVITE" else "trying"
        self.data = serialize(request)
        self.on_response = on_response
        self.on_timeout = on_timeout
        self.interval = T1
        self.timer = None
        self.end_timer = None
        self.ack: bytes | None = None

    def start(self) -> None:
        self.layer.send(self.data, self.addr)
        timers = self.layer.timers
        if not self.layer.reliable(self.addr):
            self.timer = timers.after(T1, self._retransmit)       # A / E
        self.end_timer = timers.after(64 * T1, self._timeout)     # B / F

    def _retransmit(self) -> None:
        if self.state not in ("calling", "trying", "proceeding"):
            return
        if self.request.method == "INVITE" and self.state != "calling":
            return
        self.layer.send(self.data, self.addr)
        self.layer.retransmissions += 1
        if self.request.method == "INVITE":
            self.interval *= 2
        else:
            self.interval = T2 if self.state == "proceeding" else min(self.interval * 2, T2)
        self.timer = self.layer.timers.after(self.interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in ("calling", "trying", "proceeding"):
            self.state = "terminated"
            self.layer.remove_client(self)
            if self.on_timeout is not None:
                self.on_timeout(self)

    def _cancel_timers(self) -> None:
        for t in (self.timer, self.end_timer):
            if t is not None:
                t.cancel()

    def receive(self, msg: Message) -> None:
        status = msg.status
        invite = self.request.method == "INVITE"
        if self.state == "completed":
            if invite and status >= 300 and self.ack is not None:
                self.layer.send(self.ack, self.addr)   # the final was retransmitted: ACK again
            return
        if self.state == "terminated":
            return
        if status < 200:
            self.state = "proceeding"
            self.on_response(self, msg)
            return
        self._cancel_timers()
        if invite and status < 300:
            self.state = "terminated"       # §17.1.1.2: 2xx ends it; the TU ACKs
            self.layer.remove_client(self)
            self.on_response(self, msg)
            return
        self.state = "completed"
        if invite:
            self.ack = serialize(self._non2xx_ack(msg))
            self.layer.send(self.ack, self.addr)
            wait = 32.0                       # Timer D
        else:
            wait = T4                         # Timer K
        self.layer.timers.after(wait, self._terminate)
        self.on_response(self, msg)

    def _terminate(self) -> None:
        self.state = "terminated"
        self.layer.remove_client(self)

    def _non2xx_ack(self, res: Message) -> Message:
        """§17.1.1.3: same Request-URI, top Via, From, Call-ID, Route; the response's To."""
        req = self.request
        ack = Message("ACK", req.uri)
        ack.add("Via", req.get_all("Via")[0])
        for name in ("Max-Forwards", "From"):
            if req.get(name) is not None:
                ack.add(name, req.get(name))
        ack.add("To", res.get("To") or "")
        ack.add("Call-ID", req.call_id)
        ack.add("CSeq", f"{req.cseq[0]} ACK")
        for r in req.get_all("Route"):
            ack.add("Route", r)
        return ack


class ServerTransaction:
    """A request we received. The TU answers with :meth:`respond`."""

    __slots__ = ("layer", "request", "addr", "key", "state", "last", "last_status", "interval",
                 "timer", "on_ack_timeout", "owner")

    def __init__(self, layer: TransactionLayer, request: Message, addr: tuple[str, int], key) -> None:
        self.layer = layer
        self.request = request
        self.addr = addr
        self.key = key
        self.state = "proceeding" if request.method == "INVITE" else "trying"
        self.last: bytes | None = None
        self.last_status = 0
        self.interval = T1
        self.timer = None
        self.on_ack_timeout: Callable | None = None
        #: what the TU hangs on the transaction (the call of an INVITE)
        self.owner = None

    def respond(self, res: Message) -> None:
        if self.state in ("completed", "confirmed", "terminated"):
            return
        self.last = serialize(res)
        self.last_status = res.status
        self.layer.send(self.last, self.addr)
        if res.status < 200:
            if self.request.method != "INVITE":
                self.state = "proceeding"
            return
        timers = self.layer.timers
        if self.request.method == "INVITE":
            if res.status < 300:
                self.state = "terminated"     # §17.2.1: the TU retransmits the 2xx
                timers.after(64 * T1, self._forget)  # keep absorbing INVITE retransmissions
                return
            self.state = "completed"
            if not self.layer.reliable(self.addr):
                self.timer = timers.after(T1, self._retransmit)   # G
            timers.after(64 * T1, self._timer_h)              # H
        else:
            self.state = "completed"
            timers.after(64 * T1, self._forget)               # J

    def _retransmit(self) -> None:
        if self.state != "completed":
            return
        self.layer.send(self.last, self.addr)
        self.layer.retransmissions += 1
        self.interval = min(self.interval * 2, T2)
        self.timer = self.layer.timers.after(self.interval, self._retransmit)

    def _timer_h(self) -> None:
        if self.state == "completed":
            log.debug("no ACK for the %d to INVITE %s from %s:%d", self.last_status,
                      self.request.call_id, *self.addr)
            self._forget()
            if self.on_ack_timeout is not None:
                self.on_ack_timeout(self)

    def _forget(self) -> None:
        self.state = "terminated"
        self.layer.remove_server(self)

    def retransmitted(self) -> None:
        """The same request again: answer with the last response (if any)."""
        if self.last is not None and self.state != "confirmed":
            self.layer.send(self.last, self.addr)
            self.layer.retransmissions += 1

    def ack(self) -> None:
        if self.state == "completed":
            self.state = "confirmed"
            if self.timer is not None:
                self.timer.cancel()
            self.layer.timers.after(T4, self._forget)         # I


class TransactionLayer:
    """Matching (§17.1.3, §17.2.3) and the send path of one transport."""

    def __init__(self, send: Callable[[bytes, tuple[str, int]], None], timers: TimerHeap,
                 reliable: Callable[[tuple[str, int]], bool] | None = None) -> None:
        self.send = send
        self.timers = timers
        #: over a reliable transport (TCP) nothing is retransmitted (Timers A, E, G not set)
        self.reliable = reliable or (lambda addr: False)
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        self.servers: dict[tuple, ServerTransaction] = {}
        self.retransmissions = 0

    # -- client side -------------------------------------------------------------------------
    def request(self, msg: Message, addr: tuple[str, int], on_response: Callable,
                on_timeout: Callable | None = None) -> ClientTransaction:
        tx = ClientTransaction(self, msg, addr, on_response, on_timeout)
        self.clients[tx.key] = tx
        tx.start()
        return tx

    def remove_client(self, tx: ClientTransaction) -> None:
        if self.clients.get(tx.key) is tx:
            del self.clients[tx.key]

    def match_response(self, msg: Message) -> ClientTransaction | None:
        try:
            method = msg.cseq[1]
        except ValueError:
            return None
        return self.clients.get((msg.branch, method))

    # -- server side -------------------------------------------------------------------------
    @staticmethod
    def server_key(msg: Message):
        via = msg.get_all("Via")[0]
        _, host, port, params = parse_via(via)
        method = msg.method
        if method == "ACK":
            method = "INVITE"
        branch = params.get("branch", "")
        if branch.startswith("z9hG4bK"):
            return (branch, host, port, method)
        # RFC 2543 peers: match on the request's identity instead (§17.2.3's fallback)
        return (msg.uri, msg.from_tag(), msg.call_id, msg.cseq[0], via, method)

    def match_request(self, msg: Message) -> ServerTransaction | None:
        return self.servers.get(self.server_key(msg))

    def server(self, msg: Message, addr: tuple[str, int]) -> ServerTransaction:
        key = self.server_key(msg)
        tx = ServerTransaction(self, msg, addr, key)
        self.servers[key] = tx
        return tx

    def remove_server(self, tx: ServerTransaction) -> None:
        if self.servers.get(tx.key) is tx:
            del self.servers[tx.key]

    def find_invite_for_cancel(self, cancel: Message) -> ServerTransaction | None:
        """§9.2: the INVITE transaction a CANCEL names (same branch and sent-by)."""
        key = self.server_key(cancel)
        return self.servers.get((*key[:-1], "INVITE"))

    def clear(self) -> None:
        self.clients.clear()
        self.servers.clear()
