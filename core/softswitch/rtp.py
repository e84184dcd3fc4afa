"""RTP (RFC 3550) and RFC 4733/2833 telephone-events: FreeSWITCH's ``switch_rtp``.

An endpoint opens one :class:`RtpSession` per call leg with :func:`rtp_open`; the port comes
from switch.conf ``rtp-start-port`` .. ``rtp-end-port`` (even ports, RTCP's odd neighbour left
free, as FreeSWITCH does). The session does not pace itself: the endpoint's ``read_frame``
waits on the session timer first (``session.timer.next()``) and then calls :meth:`RtpSession.read`,
which never blocks — so one timer tick is one frame, whatever the network does.

Receive side:

* every datagram waiting on the socket is drained into a small reorder buffer keyed by the
  extended sequence number; :meth:`read` hands out the oldest one, drops duplicates and
  packets older than the last one delivered (late), and waits one tick for a missing packet
  when a later one is already there (jitter tolerance without adding fixed delay);
* packets from another address than the remote one are dropped (one log line per session),
  except the first RTP packet, which the session follows when it is not from the SDP's address
  (FreeSWITCH's RTP auto-adjust: NAT, multi-homed peers); after one accepted packet the remote
  is locked;
* packets of the negotiated telephone-event payload type are decoded (RFC 4733 §2.3): one
  digit per event (timestamp), reported when its end bit arrives (or when a new event starts
  without one), through :meth:`RtpSession.take_dtmf`.

Send side: :meth:`write` stamps sequence (random start), timestamp (random start, advanced by
the samples of each frame) and SSRC; :meth:`send_dtmf` queues a telephone-event which
:meth:`write` sends in place of audio at the frame rate (start with the marker bit, growing
duration, three end packets), as FreeSWITCH's ``rtp_common_write`` does; on a leg that only
reads, :meth:`read` sends them on the read clock.
"""

from __future__ import annotations

import errno
import heapq
import logging
import random
import socket as _stdsocket
import struct
import weakref
from collections import deque
from collections.abc import Callable

from gevent import socket

log = logging.getLogger(__name__)

__all__ = ["RtpSession", "RtpError", "RtpPortAllocator", "rtp_open", "DTMF_CHARS",
           "parse_rtp", "build_rtp"]

_HDR = struct.Struct("!BBHII")
_EVENT = struct.Struct("!BBH")
#: RFC 4733 event codes 0..15
DTMF_CHARS = "0123456789*#ABCD"


class RtpError(Exception):
    """No port free, or the address cannot be bound (the message says which)."""


def parse_rtp(data: bytes) -> tuple[int, bool, int, int, int, bytes] | None:
    """``(payload type, marker, seq, timestamp, ssrc, payload)``, or None for a non-RTP datagram."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    offset = 12 + (b0 & 0x0F) * 4
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + struct.unpack_from("!H", data, offset + 2)[0] * 4
    end = len(data)
    if b0 & 0x20:  # padding
        pad = data[-1]
        end -= pad
    if offset > end:
        return None
    return b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc, data[offset:end]


def build_rtp(pt: int, marker: bool, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    return _HDR.pack(0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


class RtpPortAllocator:
    """Even ports in ``[start, end)``, handed out round-robin so a port just freed rests."""

    def __init__(self, start: int, end: int) -> None:
        start += start & 1
        if end - start < 2:
            raise RtpError(f"rtp-start-port {start} .. rtp-end-port {end} leaves no even port")
        self.start = start
        self.end = end
        self.used: set[int] = set()
        self._next = start

    def take(self) -> int:
        span = (self.end - self.start) // 2
        for _ in range(span):
            port = self._next
            self._next += 2
            if self._next >= self.end:
                self._next = self.start
            if port not in self.used:
                self.used.add(port)
                return port
        raise RtpError(f"no free RTP port in {self.start}..{self.end} "
                       f"({len(self.used)} in use): widen rtp-start-port/rtp-end-port in switch.conf")

    def release(self, port: int) -> None:
        self.used.discard(port)


_ALLOCATORS: dict[int, tuple[Callable[[], object], RtpPortAllocator]] = {}


def _allocator(core) -> RtpPortAllocator:
    # ``core`` is what a module holds (the services: switch.conf settings under core.admin) or
    # the kernel itself; one allocator per kernel, keyed by its settings object
    admin = getattr(core, "admin", None)
    s = admin.settings if admin is not None else core.settings
    # (Settings is an unhashable dataclass: key by identity, held weakly so a stopped kernel's
    # entry goes with it)
    entry = _ALLOCATORS.get(id(s))
    alloc = entry[1] if entry is not None and entry[0]() is s else None
    if alloc is None or (alloc.start, alloc.end) != (s.rtp_start_port + (s.rtp_start_port & 1), s.rtp_end_port):
        alloc = RtpPortAllocator(s.rtp_start_port, s.rtp_end_port)
        key = id(s)
        try:
            ref = weakref.ref(s, lambda _r, k=key: _ALLOCATORS.pop(k, None))
        except TypeError:  # a settings object without weak references (a test's namespace)
            ref = lambda s=s: s  # noqa: E731
        _ALLOCATORS[key] = (ref, alloc)
    return alloc


def rtp_open(core, local_ip: str, payload_type: int, samples: int, *, rate: int = 8000,
             te_payload_type: int = 0, name: str = "") -> RtpSession:
    """Open an RTP session on ``local_ip`` with a port from switch.conf's RTP range.

    :param payload_type: what :meth:`RtpSession.write` sends (0 PCMU, 8 PCMA, …)
    :param samples: samples per frame (160 for 20 ms at 8 kHz)
    :param te_payload_type: the telephone-event payload type (0: none negotiated)
    :param name: how log lines name the owner (the channel name)
    :raises RtpError: no free port, or ``local_ip`` cannot be bound.
    """
    alloc = _allocator(core)
    tries = max(1, min(64, (alloc.end - alloc.start) // 2))
    last: OSError | None = None
    for _ in range(tries):
        port = alloc.take()
        sock = socket.socket(_stdsocket.AF_INET6 if ":" in local_ip else _stdsocket.AF_INET,
                             _stdsocket.SOCK_DGRAM)
        try:
            sock.bind((local_ip, port))
        except OSError as e:
            sock.close()
            alloc.release(port)
            last = e
            if e.errno == errno.EADDRINUSE:
                continue          # another program holds it: try the next one
            break
        sock.setblocking(False)
        return RtpSession(sock, port, alloc, payload_type, samples, rate, te_payload_type, name)
    raise RtpError(f"cannot bind an RTP port on {local_ip} ({last}): check rtp-ip in the profile "
                   "and rtp-start-port/rtp-end-port in switch.conf")


class RtpSession:
    """One RTP stream pair (send and receive) on one UDP port."""

    def __init__(self, sock, port: int, alloc: RtpPortAllocator | None, payload_type: int,
                 samples: int, rate: int = 8000, te_payload_type: int = 0, name: str = "") -> None:
        self.sock = sock
        self.local_ip = sock.getsockname()[0]
        self.local_port = port
        self._alloc = alloc
        self.payload_type = payload_type
        self.samples = samples
        self.rate = rate
        self.te_payload_type = te_payload_type
        self.name = name or f"rtp:{port}"
        self.remote: tuple[str, int] | None = None
        # send state (RFC 3550 §5.1: random initial seq and timestamp)
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        # receive state
        self._buf: list[tuple[int, bytes, int, bool]] = []   # (ext seq, payload, ts, marker) heap
        self._have: set[int] = set()
        self._next_ext: int | None = None    # extended seq expected next
        self._cycles = 0
        self._max_seq: int | None = None
        self._waited = False
        self.remote_ssrc: int | None = None
        self.last_pt = payload_type
        self.last_ts = 0
        # telephone-events
        self._dtmf_in: deque[tuple[str, int]] = deque()
        self._ev_ts: int | None = None
        self._ev_done = False
        self._ev_code = 0
        self._ev_dur = 0
        self._dtmf_out: deque[tuple[int, int]] = deque()
        self._dtmf_cur: list | None = None
        self._wrote = False
        # counters (as switch_rtp_stats_t, the subset we keep)
        self.packets_in = self.packets_out = 0
        self.bytes_in = self.bytes_out = 0
        self.dropped_wrong_source = self.dropped_late = self.dropped_duplicate = 0
        self.dropped_invalid = 0
        self.dtmf_in = self.dtmf_out = 0
        self._warned_source = False
        #: follow the source of the first RTP packet when it is not the SDP's address (on by
        #: default, as FreeSWITCH without disable-rtp-auto-adjust); then locked
        self.auto_adjust = True
        self.auto_adjusted = False
        self._locked = False
        self.closed = False

    def set_remote(self, ip: str, port: int) -> None:
        self.remote = (ip, port)

    # -- send ----------------------------------------------------------------------------------
    def write(self, payload: bytes, samples: int | None = None, marker: bool = False) -> bool:
        """Send one frame (or, while a DTMF event is being sent, the event's next packet)."""
        if self.closed or self.remote is None:
            return False
        samples = self.samples if samples is None else samples
        self._wrote = True
        if self._dtmf_cur is not None or self._dtmf_out:
            self._write_dtmf(samples)
            self.ts = (self.ts + samples) & 0xFFFFFFFF
            return True
        pkt = _HDR.pack(0x80, (0x80 if marker else 0) | self.payload_type, self.seq, self.ts,
                        self.ssrc) + payload
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + samples) & 0xFFFFFFFF
        return self._send(pkt)

    def _send(self, pkt: bytes) -> bool:
        try:
            self.sock.sendto(pkt, self.remote)
        except OSError as e:
            log.debug("%s: RTP send to %s:%d failed: %s", self.name, *self.remote, e)
            return False
        self.packets_out += 1
        self.bytes_out += len(pkt)
        return True

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> bool:
        """Queue one RFC 4733 event; False for a character that is no DTMF digit."""
        code = DTMF_CHARS.find(digit.upper())
        if code < 0 or not self.te_payload_type:
            return False
        self._dtmf_out.append((code, max(40, duration_ms) * self.rate // 1000))
        return True

    def _write_dtmf(self, samples: int) -> None:
        cur = self._dtmf_cur
        if cur is None:
            code, total = self._dtmf_out.popleft()
            # [code, event timestamp, total duration, sent so far, end packets sent]
            cur = self._dtmf_cur = [code, self.ts, total, 0, 0]
            marker = True
        else:
            marker = False
        code, ts, total, sent, ends = cur
        sent = min(sent + samples, total, 0xFFFF)
        end = sent >= total
        pkt = _HDR.pack(0x80, (0x80 if marker else 0) | self.te_payload_type, self.seq, ts,
                        self.ssrc) + _EVENT.pack(code, (0x80 if end else 0) | 10, sent)
        self.seq = (self.seq + 1) & 0xFFFF
        self._send(pkt)
        cur[3] = sent
        if end:
            # RFC 4733 §2.5.1.4: the end packet three times; the same seq-advancing copies
            for _ in range(2):
                pkt = _HDR.pack(0x80, self.te_payload_type, self.seq, ts, self.ssrc) + \
                    _EVENT.pack(code, 0x80 | 10, sent)
                self.seq = (self.seq + 1) & 0xFFFF
                self._send(pkt)
            self._dtmf_cur = None
            self.dtmf_out += 1

    # -- receive -------------------------------------------------------------------------------
    def _drain(self) -> None:
        sock = self.sock
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                if e.errno == errno.ECONNREFUSED:  # ICMP port unreachable from a peer
                    continue
                log.debug("%s: RTP receive failed: %s", self.name, e)
                return
            remote = self.remote
            if remote is not None and (addr[0] != remote[0] or addr[1] != remote[1]):
                if self.auto_adjust and not self._locked and parse_rtp(data) is not None:
                    # switch_rtp's auto-adjust: the peer's first RTP comes from elsewhere than
                    # its SDP said (NAT, a host with several addresses): follow it, once
                    log.info("%s: Auto Changing audio port from %s:%d to %s:%d", self.name,
                             remote[0], remote[1], addr[0], addr[1])
                    self.remote = remote = (addr[0], addr[1])
                    self.auto_adjusted = True
                else:
                    self.dropped_wrong_source += 1
                    if not self._warned_source:
                        self._warned_source = True
                        log.warning("%s: dropping RTP from %s:%d, the call's media is with %s:%d",
                                    self.name, addr[0], addr[1], remote[0], remote[1])
                    continue
            parsed = parse_rtp(data)
            if parsed is None:
                self.dropped_invalid += 1
                continue
            self._locked = True
            pt, marker, seq, ts, ssrc, payload = parsed
            self.packets_in += 1
            self.bytes_in += len(data)
            if self.te_payload_type and pt == self.te_payload_type:
                self._event(ts, payload)
                continue
            self._queue(seq, ts, marker, payload, ssrc)

    def _queue(self, seq: int, ts: int, marker: bool, payload: bytes, ssrc: int) -> None:
        if ssrc != self.remote_ssrc:
            # a new stream (or the first): restart the sequence space
            self.remote_ssrc = ssrc
            self._buf.clear()
            self._have.clear()
            self._cycles = 0
            self._max_seq = None
            self._next_ext = None
        if self._max_seq is None:
            self._max_seq = seq
            ext = seq
        else:
            delta = (seq - self._max_seq) & 0xFFFF
            if delta < 0x8000:                # ahead (maybe wrapped)
                if seq < self._max_seq:
                    self._cycles += 0x10000
                self._max_seq = seq
                ext = self._cycles + seq
            else:                             # behind: reordered or late
                cycles = self._cycles - 0x10000 if seq > self._max_seq else self._cycles
                ext = cycles + seq
        if self._next_ext is not None and ext < self._next_ext:
            self.dropped_late += 1
            return
        if ext in self._have:
            self.dropped_duplicate += 1
            return
        if len(self._buf) >= 64:  # a flood: keep the newest
            self._have.discard(heapq.heappop(self._buf)[0])
        self._have.add(ext)
        heapq.heappush(self._buf, (ext, payload, ts, marker))

    def read(self) -> bytes | None:
        """The next audio payload in sequence order, or None (nothing due this tick)."""
        if self.closed:
            return None
        if (self._dtmf_cur is not None or self._dtmf_out) and not self._wrote and self.remote is not None:
            # nobody writes audio on this leg (a reading-only app): events go out on the read
            # clock, as switch_rtp's do_2833 runs from the read path too
            self._write_dtmf(self.samples)
            self.ts = (self.ts + self.samples) & 0xFFFFFFFF
        self._wrote = False
        self._drain()
        buf = self._buf
        if not buf:
            return None
        ext = buf[0][0]
        if self._next_ext is not None and ext > self._next_ext and len(buf) < 3 and not self._waited:
            self._waited = True          # a gap: give the missing packet one tick to arrive
            return None
        self._waited = False
        ext, payload, ts, marker = heapq.heappop(buf)
        self._have.discard(ext)
        self._next_ext = ext + 1
        self.last_ts = ts
        return payload

    def _event(self, ts: int, payload: bytes) -> None:
        if len(payload) < 4:
            self.dropped_invalid += 1
            return
        code, flags, duration = _EVENT.unpack_from(payload)
        end = bool(flags & 0x80)
        if ts != self._ev_ts:
            if self._ev_ts is not None and not self._ev_done:
                self._report(self._ev_code, self._ev_dur)   # the previous one never ended
            self._ev_ts = ts
            self._ev_done = False
        if self._ev_done:
            return                         # retransmitted end packets
        self._ev_code = code
        self._ev_dur = duration
        if end:
            self._ev_done = True
            self._report(code, duration)

    def _report(self, code: int, duration: int) -> None:
        if code < len(DTMF_CHARS):
            self._dtmf_in.append((DTMF_CHARS[code], duration * 1000 // self.rate))
            self.dtmf_in += 1

    @property
    def dtmf_pending(self) -> bool:
        """True when :meth:`take_dtmf` has digits (a cheap per-frame check)."""
        return bool(self._dtmf_in)

    def take_dtmf(self) -> list[tuple[str, int]]:
        """Digits received since the last call: ``[(digit, duration_ms), …]``."""
        if not self._dtmf_in:
            return []
        out = list(self._dtmf_in)
        self._dtmf_in.clear()
        return out

    def stats(self) -> dict[str, int]:
        return {"in_packets": self.packets_in, "in_bytes": self.bytes_in,
                "out_packets": self.packets_out, "out_bytes": self.bytes_out,
                "in_dropped_wrong_source": self.dropped_wrong_source,
                "in_dropped_late": self.dropped_late, "in_duplicates": self.dropped_duplicate,
                "in_invalid": self.dropped_invalid, "in_dtmf": self.dtmf_in, "out_dtmf": self.dtmf_out}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.close()
        finally:
            if self._alloc is not None:
                self._alloc.release(self.local_port)
