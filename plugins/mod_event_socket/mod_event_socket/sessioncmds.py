"""The session side of an Event Socket connection: what a listener that controls a call can do.

A listener has a session when the ``socket`` application connected it (outbound mode,
:mod:`.outbound`) or when an inbound client bound it with ``myevents <uuid>``. Facts:
``spec/dialplan-apps.md`` §4.4–4.7 and §5, FreeSWITCH's ``parse_command`` and
``switch_ivr_parse_event``.

:class:`SessionControl` is mixed into :class:`~mod_event_socket.listener.Listener`; the
``cmd_*`` functions are entries of its command table (``listener.COMMANDS``), each returning
the Reply-Text ("" = ``-ERR command not found``) or None when it wrote its own reply.

While a listener holds a session it holds a read lock on it (``Session.read_lock``): the
session is not destroyed (no CHANNEL_DESTROY, still in ``show channels``) until the listener is
done, as in FreeSWITCH, so the socket gets every event of the hangup before its notice.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING

import gevent
import gevent.event

from softswitch import (
    Cause,
    ChannelFlag,
    ChannelState,
    Event,
    EventType,
    FrameFlag,
    Status,
    str2cause,
    switch_true,
)

from . import wire

if TYPE_CHECKING:
    from softswitch import Session

    from .framing import Message
    from .listener import Listener

log = logging.getLogger("mod_event_socket")

__all__ = [
    "SessionControl", "cmd_connect", "cmd_divert_events", "cmd_getvar", "cmd_linger",
    "cmd_myevents", "cmd_nolinger", "cmd_resume", "cmd_sendmsg", "run_sendmsg",
]

_ALL = int(EventType.ALL)
_CUSTOM = int(EventType.CUSTOM)
_HANGUP = int(EventType.CHANNEL_HANGUP)
_HANGUP_COMPLETE = int(EventType.CHANNEL_HANGUP_COMPLETE)
_CS_HANGUP = ChannelState.CS_HANGUP
_CF_DIVERT = ChannelFlag.CF_DIVERT_EVENTS
_CF_CONTROLLED = ChannelFlag.CF_CONTROLLED
_CF_TRANSFER = ChannelFlag.CF_TRANSFER
_CNG = int(FrameFlag.CNG)
_MYEVENTS = (
    EventType.CHANNEL_ANSWER, EventType.CHANNEL_APPLICATION, EventType.CHANNEL_BRIDGE,
    EventType.CHANNEL_CREATE, EventType.CHANNEL_DATA, EventType.CHANNEL_DESTROY,
    EventType.CHANNEL_EXECUTE, EventType.CHANNEL_EXECUTE_COMPLETE, EventType.CHANNEL_HANGUP,
    EventType.CHANNEL_HANGUP_COMPLETE, EventType.CHANNEL_ORIGINATE, EventType.CHANNEL_UUID,
    EventType.CHANNEL_OUTGOING, EventType.CHANNEL_PARK, EventType.CHANNEL_PROGRESS,
    EventType.CHANNEL_PROGRESS_MEDIA, EventType.CHANNEL_STATE, EventType.CHANNEL_UNBRIDGE,
    EventType.CHANNEL_UNPARK, EventType.DETECTED_SPEECH, EventType.DTMF, EventType.NOTALK,
    EventType.TALK,
)
#: How long the notice waits for the dispatcher to hand this socket the session's last event
#: (it is normally there within a millisecond; the bound keeps a stalled dispatcher from
#: keeping the socket open).
_LAST_EVENT_WAIT = 1.0


def atoi(text: str | None) -> int:
    """C's ``atoi``: the leading (signed) digits after spaces, 0 when there are none."""
    if not text:
        return 0
    s = text.lstrip(" \t\n\r\f\v")
    i = 1 if s[:1] in ("-", "+") else 0
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    return int(s[:j]) if j > i else 0


def linger_notice(session_uuid: str, channel_name: str, linger_time: int) -> bytes:
    """The notice FreeSWITCH sends once when a lingering listener's channel hangs up."""
    return (b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\n"
            b"Content-Disposition: linger\nChannel-Name: %s\nLinger-Time: %d\n"
            b"Content-Length: 0\n\n" % (session_uuid.encode(), wire.wire_bytes(channel_name),
                                        linger_time))


class _Watch:
    """Put in ``session.watchers``: the kernel calls :meth:`set` on answer, early media, hangup
    and when the session has reported and waits for its read locks."""

    __slots__ = ("listener",)

    def __init__(self, listener: SessionControl) -> None:
        self.listener = listener

    def set(self) -> None:
        self.listener._session_changed()


class SessionControl:
    """The session state of a listener (class attributes are the defaults: a listener without a
    session costs nothing more)."""

    #: the controlled (outbound) or bound (inbound ``myevents <uuid>``) session
    session: Session | None = None
    #: outbound mode: made by the ``socket`` application
    outbound = False
    #: ``socket … full``: the whole inbound command set
    full = False
    #: ``socket … async`` (and a bound inbound listener): sendmsg is queued, not run inline
    async_mode = False
    #: the session's greenlet runs this listener's reader (``socket`` without ``async``)
    inline = False
    resume = False
    linger = False
    linger_time = 0
    #: the channel went down and the notice (linger or goodbye) was dealt with
    handled_disco = False
    said_goodbye = False
    _watch: _Watch | None = None
    _last_event: gevent.event.Event | None = None
    #: which of the session's final events this listener was given (1 HANGUP, 2 _COMPLETE)
    _final_seen = 0
    _disco: gevent.Greenlet | None = None
    _linger_timer: gevent.Greenlet | None = None

    # -- binding ----------------------------------------------------------------------------
    def bind_session(self, session: Session) -> bool:
        """Hold ``session`` (read lock) and watch it. False when it is already being
        destroyed."""
        if not session.read_lock():
            return False
        self.session = session
        self._watch = _Watch(self)
        w = session.watchers
        if w is None:
            session.watchers = [self._watch]
        else:
            w.append(self._watch)
        if session.channel.state >= _CS_HANGUP:
            self._session_changed()
        return True

    def release_session(self) -> None:
        """The listener is done: let the session go on (and be destroyed)."""
        s = self.session
        if s is None:
            return
        t = self._linger_timer
        if t is not None:
            self._linger_timer = None
            t.kill(block=False)
        w = s.watchers
        if w and self._watch in w:
            w.remove(self._watch)
        s.channel.flags &= ~_CF_CONTROLLED
        if self.outbound and self.async_mode:
            # The park of the socket application ends: the dialplan goes on with its next
            # action (FreeSWITCH clears CF_CONTROLLED, which ends switch_ivr_park).
            s.unpark()
        s.read_unlock()

    def connected(self) -> None:
        """``connect`` was received (the outbound listener wakes its application)."""

    def take_diverted(self) -> None:
        """``divert_events on``: the events queued to the call (``sendevent`` with its
        Unique-ID) come here raw, whatever the subscriptions: no standard headers, no channel
        data (FreeSWITCH's listener moves them into its queue on each poll)."""
        s = self.session
        if s is None:
            return
        for ev in s.dequeue_events():
            if self.dead or not self.events_on:  # type: ignore[attr-defined]
                continue  # (FreeSWITCH sends its queue only with events enabled)
            self.queue.append(wire.event_message(ev, self.format))  # type: ignore[attr-defined]
            self.n_events += 1  # type: ignore[attr-defined]
            self._kick()  # type: ignore[attr-defined]

    def session_notice(self, text: str) -> bytes:
        s = self.session
        return wire.disconnect_notice(text, s.uuid if s is not None else None)

    # -- events -------------------------------------------------------------------------------
    def wants(self, ev: Event) -> bool:
        """The Subscriber's decision, and with a session and ``myevents``: only the session's
        events (Unique-ID), or those it owns (Job-Owner-UUID: its ``bgapi`` jobs)."""
        s = self.session
        if s is None or not self.myevents:
            return super().wants(ev)  # type: ignore[misc]
        el = self.event_list  # type: ignore[attr-defined]
        eid = ev.event_id
        if el[_ALL]:
            send = True
        elif el[eid]:
            send = eid != _CUSTOM or ev.subclass is None or ev.subclass in self.event_hash  # type: ignore[attr-defined]
        else:
            return False
        if send and self.filters:  # type: ignore[attr-defined]
            send = self._filter(ev)  # type: ignore[attr-defined]
        if send:
            uuid = s.uuid
            if ev.get_header("unique-id") != uuid:
                send = ev.get_header("job-owner-uuid") == uuid
            elif eid == _HANGUP_COMPLETE or eid == _HANGUP:
                # the disconnect notice waits for this (see _handle_disco)
                self._final_seen |= 2 if eid == _HANGUP_COMPLETE else 1
                if self._last_event is not None:
                    self._last_event.set()
        return send

    # -- hangup: linger or goodbye ------------------------------------------------------------
    def _session_changed(self) -> None:
        s = self.session
        if s is not None and s.channel.flags & _CF_DIVERT:
            self.take_diverted()
        if s is None or self.handled_disco or self._disco is not None:
            return
        if s.channel.state < _CS_HANGUP:
            return
        # A reader of its own (async, bound inbound) waits until the session has reported, so
        # that CHANNEL_HANGUP … CHANNEL_HANGUP_COMPLETE all precede the notice (spec §7: the
        # order clients accept); a reader on the session's greenlet (sync) cannot wait for that.
        if not self.inline and not s.reported:
            return
        self._last_event = gevent.event.Event()
        self._disco = gevent.spawn(self._handle_disco)

    def _handle_disco(self) -> None:
        s = self.session
        if s is None or self.dead:  # type: ignore[attr-defined]
            return
        want, bit = (_HANGUP, 1) if self.inline else (_HANGUP_COMPLETE, 2)
        if (self.events_on and self.myevents and self.event_list[want]  # type: ignore[attr-defined]
                and not self._final_seen & bit):
            with gevent.Timeout(_LAST_EVENT_WAIT, False):
                while not self._final_seen & bit and not self.dead:  # type: ignore[attr-defined]
                    self._last_event.clear()  # type: ignore[union-attr]
                    self._last_event.wait()  # type: ignore[union-attr]
        if self.dead:  # type: ignore[attr-defined]
            return
        with self.wlock:  # type: ignore[attr-defined]
            if self.dead:  # type: ignore[attr-defined]
                return
            self.handled_disco = True
            self._send_queued()
            ch = s.channel
            if self.linger:
                log.debug("%s Socket Linger %d", ch.name, self.linger_time)
                try:
                    self._send(linger_notice(s.uuid, ch.name, self.linger_time))  # type: ignore[attr-defined]
                except OSError:
                    self._end()
                    return
                if self.linger_time != -1:
                    # FreeSWITCH compares whole epoch seconds: closed in the first second
                    # after hangup + n (``linger 2`` closed 2.69 s after the hangup [obs])
                    now = time.time()
                    delay = int(now) + self.linger_time + 1 - now
                    self._linger_timer = gevent.spawn_later(max(delay, 0), self._linger_expired)
                return
        self._end()

    def _linger_expired(self) -> None:
        self._linger_timer = None
        s = self.session
        log.debug("%s linger timeout, closing socket", s.channel.name if s else "")
        with self.wlock:  # type: ignore[attr-defined]
            self._end()

    def _send_queued(self) -> None:
        """Write every event already queued for this socket (the caller holds the write lock)."""
        q = self.queue  # type: ignore[attr-defined]
        if q:
            batch = list(q)
            q.clear()
            self.n_events = 0  # type: ignore[attr-defined]
            self.n_logs = 0  # type: ignore[attr-defined]
            try:
                self._send(b"".join(batch))  # type: ignore[attr-defined]
            except OSError:
                pass

    def _end(self) -> None:
        """End the connection: goodbye notice (once), close; the reader sees it and finishes."""
        self.running = False
        if not self.said_goodbye:
            self.said_goodbye = True
            self._out.append(self.session_notice(wire.GOODBYE))  # type: ignore[attr-defined]
            try:
                self._flush()  # type: ignore[attr-defined]
            except OSError:
                pass
        self._shutdown_socket()

    def _shutdown_socket(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# commands (entries of listener.COMMANDS)
# ---------------------------------------------------------------------------------------------
def cmd_resume(listener: Listener, msg: Message, cmd: str) -> str:
    s = listener.session
    if s is None:
        return ""
    listener.resume = True
    s.set_variable("socket_resume", "true")
    return "+OK"


def cmd_connect(listener: Listener, msg: Message, cmd: str) -> str | None:
    s = listener.session
    if s is None:
        return ""
    listener.connected()
    listener._reply(parse_command(listener, s))
    return None


def parse_command(listener: Listener, session: Session) -> bytes:
    """The ``connect`` reply: one serialized CHANNEL_DATA header block (no Content-Length
    framing), as FreeSWITCH's ``parse_command`` writes it. Named so that its
    ``Event-Calling-Function`` is FreeSWITCH's."""
    ev = Event(EventType.CHANNEL_DATA)
    ch = session.channel
    p = ch.caller_profile
    if p is not None:
        p.event_set_data(ev, "Channel")
    ch.event_set_data(ev)
    h = ev.headers
    h.append(("Content-Type", "command/reply"))
    h.append(("Reply-Text", "+OK\n"))
    h.append(("Socket-Mode", "async" if listener.async_mode else "static"))
    h.append(("Control", "full" if listener.full else "single-channel"))
    return ev.encode("plain")


def _lookup(session: Session, name: str) -> str | None:
    """``switch_channel_get_variable``: the channel's variables, then the caller profile's
    fields (``destination_number``), then the global variables."""
    ch = session.channel
    v = ch.get_variable_local(name)
    if v:
        return v
    p = ch.caller_profile
    if p is not None:
        f = p.field(name)
        if f:
            return f
    return session.core.vars.get(name)


def cmd_getvar(listener: Listener, msg: Message, cmd: str) -> str:
    s = listener.session
    if s is None:
        return ""
    _, sp, name = cmd.partition(" ")
    if not sp:
        return ""
    return _lookup(s, name) or ""  # "" (unset, empty, no name) is "-ERR command not found"


def cmd_myevents(listener: Listener, msg: Message, cmd: str) -> str:
    s = listener.session
    if s is None and not cmd[:9].lower() == "myevents ":
        return ""
    if listener.myevents:
        return "-ERR aready enabled."  # (sic)
    text = cmd
    if s is None:
        uuid, sp, _fmt = cmd[9:].partition(" ")
        found = listener.core.sessions.locate(uuid) if uuid else None
        if found is None:
            if sp:
                return "-ERR invalid uuid"
        elif not listener.bind_session(found):
            if sp:
                return "-ERR invalid uuid"
        # FreeSWITCH cuts the line at the space after the uuid, then looks for a format word
        # in what is left: the format word of ``myevents <uuid> json`` is never seen.
        text = cmd[:9 + len(uuid)]
        listener.async_mode = True
    for t in _MYEVENTS:
        listener.event_list[t] = 1
    listener.myevents = True
    listener.events_on = True
    if "xml" in text or "XML" in text:
        listener.format = "xml"
    if "json" in text or "JSON" in text:
        listener.format = "json"
    listener.module.reindex(listener)
    return "+OK Events Enabled"


def cmd_divert_events(listener: Listener, msg: Message, cmd: str) -> str:
    s = listener.session
    if s is None:
        return "-ERR not controlling a session."
    onoff = cmd[13:].lstrip(" ")
    if not onoff:
        return "-ERR missing value."
    if onoff.lower() == "on":
        s.channel.flags |= _CF_DIVERT
        listener.take_diverted()
        return "+OK events diverted"
    s.channel.flags &= ~_CF_DIVERT
    s.wake()  # the call fires what was queued meanwhile
    return "+OK events not diverted"


def cmd_linger(listener: Listener, msg: Message, cmd: str) -> str:
    if listener.session is None:
        return "-ERR not controlling a session"  # (no period, unlike divert_events)
    if cmd[6:7] == " " and cmd[7:8]:
        t = atoi(cmd[7:])
    else:
        t = -1
    listener.linger = True
    listener.linger_time = t
    if t != -1:
        return f"+OK will linger {t} seconds"
    return "+OK will linger"


def cmd_nolinger(listener: Listener, msg: Message, cmd: str) -> str:
    if listener.session is None:
        return "-ERR not controlling a session"
    listener.linger = False
    return "+OK will not linger"


def cmd_sendmsg(listener: Listener, msg: Message, cmd: str) -> str:
    s = listener.session
    is_async = listener.async_mode or switch_true(msg.get("async") or "")
    uuid: str | None = cmd[7:].lstrip(" ")
    if not uuid:
        uuid = msg.get("session-id")
    if uuid and s is not None and uuid == s.uuid:
        uuid = None
    if not uuid and s is not None:
        if is_async:
            _queue(s, msg)
        else:
            # sync mode: run here, on the session's greenlet (this reader); +OK after it ends
            run_sendmsg(s, msg)
        return "+OK"
    target = listener.core.sessions.locate(uuid) if uuid else None
    if target is None:
        return f"-ERR invalid session id [{uuid or ''}]"
    _queue(target, msg)
    return "+OK"


def _queue(session: Session, msg: Message) -> None:
    def queued(s: Session) -> None:
        run_sendmsg(s, msg)
        # FreeSWITCH re-types the message as PRIVATE_COMMAND and fires it with the channel
        # data after running it (switch_ivr_parse_next_event)
        ev = Event(EventType.PRIVATE_COMMAND, stamp=False)
        ev.headers = [("Command", msg.command), *msg.headers]
        if msg.body is not None:
            ev.body = msg.body
        ev.stamp()
        s.channel.event_set_data(ev)
        s.core.events.fire(ev)

    session.queue_callable(queued)


#: ``call-command`` is compared on 7 bytes including a terminating NUL (FreeSWITCH hashes each
#: with the length of "execute"): "execute…" matches execute, "hangup" must be exact.
def _cc(name: str) -> bytes:
    return (name.encode("utf-8", "surrogateescape") + b"\0")[:7]


_EXECUTE, _HANGUP_CC, _NOMEDIA, _UNICAST, _XFEREXT = (
    _cc("execute"), _cc("hangup"), _cc("nomedia"), _cc("unicast"), _cc("xferext"))


def run_sendmsg(session: Session, msg: Message) -> Status:
    """``switch_ivr_parse_event``: run one ``sendmsg`` on the session's greenlet."""
    ch = session.channel
    cc = msg.get("call-command")
    if not cc:
        log.error("%s Invalid Command! (sendmsg without call-command)", ch.name)
        return Status.FALSE
    # CF_EVENT_LOCK holds the call's ordinary queue while this runs, CF_EVENT_LOCK_PRI its
    # priority queue (what uuid_broadcast-like callers fill); sendmsg itself always queues to
    # the ordinary one (mod_event_socket queues with priority FALSE), so a sendmsg with
    # event-lock-pri alone lets the following sendmsgs run nested, as FreeSWITCH's does
    lock = switch_true(msg.get("event-lock") or "")
    lock_pri = switch_true(msg.get("event-lock-pri") or "")
    if lock:
        session.event_lock += 1
    if lock_pri:
        session.event_lock_pri += 1
    try:
        lead = msg.get("lead-frames")
        if lead and ch.media_ready():
            count = atoi(lead)
            most = count * 2
            while count > 0:
                most -= 1
                if most <= 0:
                    break
                st, frame = session.read_frame()
                if st != Status.SUCCESS or frame is None:
                    return Status.FALSE
                if not frame.flags & _CNG:
                    count -= 1
        key = _cc(cc)
        if key == _EXECUTE:
            _execute(session, msg)
        elif key == _HANGUP_CC:
            cause = msg.get("hangup-cause")
            session.hangup(str2cause(cause) if cause else Cause.NORMAL_CLEARING)
        elif key == _XFEREXT:
            apps = []
            for name, value in msg.headers:
                if name.lower() == "application":
                    app, _, arg = value.partition(" ")
                    apps.append((app, arg))
            # switch_channel_transfer_to_extension: the extension runs when ROUTING is entered
            session.pending_extension = apps
            ch.flags |= _CF_TRANSFER
            session.set_state(ChannelState.CS_ROUTING)
        elif key == _UNICAST or key == _NOMEDIA:
            # Accepted (+OK, as FreeSWITCH answers); softswitch has no raw UDP media path
            # (unicast) nor media proxying to drop (nomedia), so nothing else happens.
            log.warning("%s sendmsg %s: not supported by softswitch (no %s); ignored", ch.name,
                        cc, "UDP unicast media" if key == _UNICAST else "proxy media mode")
        # anything else: a no-op, +OK (as FreeSWITCH)
        return Status.SUCCESS
    finally:
        if lock:
            session.event_lock -= 1
        if lock_pri:
            session.event_lock_pri -= 1


def _execute(session: Session, msg: Message) -> None:
    app = msg.get("execute-app-name")
    if not app:
        return
    arg = msg.get("execute-app-arg")
    if not arg:
        ctype = msg.get("content-type")
        if ctype and ctype.lower() == "text/plain":
            arg = msg.body
    loops_h = msg.get("loops")
    loops = atoi(loops_h) if loops_h is not None else 1
    event_uuid = msg.get("event-uuid")
    event_uuid_name = msg.get("event-uuid-name")
    held = _hold_bleg(session) if switch_true(msg.get("hold-bleg") or "") else None
    try:
        _loop(session, app, arg, loops, event_uuid, event_uuid_name)
    finally:
        if held is not None:
            held()


def _is_moh(stream: str | None) -> bool:
    """``switch_is_moh``: a hold music stream, not ``silence`` nor ``indicate_hold``."""
    return bool(stream) and stream.lower() not in ("silence", "indicate_hold")


def _hold_music(ch) -> str | None:
    """``switch_channel_get_hold_music``: ``temp_hold_music``, else ``hold_music``, expanded."""
    var = ch.get_variable("temp_hold_music") or ch.get_variable("hold_music")
    return ch.expand(var) if var else None


def _hold_bleg(session: Session):
    """``hold-bleg: true``: while the command runs, the bridged partner hears the hold music
    (the partner's ``hold_music``, else this channel's) played in a loop, as FreeSWITCH's
    ``switch_ivr_broadcast(b, stream, SMF_ECHO_ALEG | SMF_LOOP)``. Without a bridge or without
    hold music nothing happens (FreeSWITCH's too: no CHANNEL_HOLD, no music). Returns the stop
    function or None."""
    ch = session.channel
    partner = session.bridge_partner
    if partner is None or not ch.test_flag(ChannelFlag.CF_BRIDGED):
        return None
    stream = _hold_music(partner.channel) or _hold_music(ch)
    if not _is_moh(stream):
        return None
    stopped = []

    def play(b: Session) -> None:
        bch = b.channel
        while not stopped and bch.ready():
            before = time.monotonic()
            if b.execute_application("playback", stream) != Status.SUCCESS:
                break
            if time.monotonic() - before < 0.5:  # the broadcast loop's guard
                break

    partner.queue_callable(play)

    def stop() -> None:
        # switch_channel_stop_broadcast: the loop ends and the running playback breaks
        stopped.append(True)
        if partner.channel.get_variable("current_application") == "playback":
            partner.break_media()

    return stop


def _loop(session: Session, app: str, arg: str | None, loops: int, event_uuid: str | None,
          event_uuid_name: str | None) -> None:
    ch = session.channel
    x = 0
    while x < loops or loops < 0:
        log.debug("%s Command Execute [depth=%d] %s(%s)", ch.name, session.app_depth, app,
                  arg or "")
        before = time.monotonic()
        if event_uuid:
            ch.set_variable("app_uuid", event_uuid)
        if event_uuid_name:
            ch.set_variable("app_uuid_name", event_uuid_name)
        ch.set_variable("current_loop", str(x + 1))
        ch.set_variable("total_loops", str(loops))
        if session.execute_application(app, arg or "") != Status.SUCCESS:
            break
        # an iteration shorter than half a second ends the loop (FreeSWITCH's guard)
        if not ch.ready() or time.monotonic() - before < 0.5:
            break
        x += 1
    ch.del_variable("current_loop")
    ch.del_variable("total_loops")


class SessionFanout:
    """Events for the listeners bound to a call with ``myevents``, found by the event's uuid.

    A listener with ``myevents`` and a session only ever gets its call's events (``Unique-ID``)
    and its jobs' (``Job-Owner-UUID``): offering every channel event to each of them would cost
    O(listeners) per event (500 outbound calls: 500 offers per event, all but one dropped).
    Such listeners are indexed here by their call's uuid instead of by event type
    (``EventSocket.reindex`` hands them over); this object stands in ``by_type`` for the union
    of their event types, so the core still delivers exactly the types someone wants.
    """

    def __init__(self, es) -> None:
        self.es = es
        self.by_uuid: dict[str, dict] = {}
        self.counts = [0] * (_ALL + 1)
        #: listener -> (uuid, the event types it was indexed with)
        self.members: dict = {}

    def takes(self, listener, live: bool) -> bool:
        """(Re)index ``listener``; True when it is indexed here (and must not be by type)."""
        old = self.members.pop(listener, None)
        changed = False
        if old is not None:
            uuid, shape = old
            group = self.by_uuid.get(uuid)
            if group is not None:
                group.pop(listener, None)
                if not group:
                    del self.by_uuid[uuid]
            changed |= self._count(shape, -1)
        s = getattr(listener, "session", None)
        take = bool(live and s is not None and listener.myevents and listener.events_on)
        if take:
            shape = bytes(listener.event_list)
            self.members[listener] = (s.uuid, shape)
            self.by_uuid.setdefault(s.uuid, {})[listener] = None
            changed |= self._count(shape, 1)
        if changed:
            self.es._rebind()
        return take

    def _count(self, shape: bytes, delta: int) -> bool:
        counts = self.counts
        by_type = self.es.by_type
        changed = False
        for t in range(_ALL + 1):
            if shape[t]:
                counts[t] += delta
                if delta > 0 and counts[t] == 1:
                    by_type.setdefault(t, {})[self] = None
                    changed = True
                elif delta < 0 and counts[t] == 0:
                    members = by_type.get(t)
                    if members is not None:
                        members.pop(self, None)
                        if not members:
                            del by_type[t]
                    changed = True
        return changed

    def offer_event(self, ev: Event) -> None:
        by_uuid = self.by_uuid
        uuid = ev.get_header("unique-id")
        group = by_uuid.get(uuid) if uuid is not None else None
        if group:
            for listener in list(group) if len(group) > 1 else group:
                listener.offer_event(ev)
        owner = ev.get_header("job-owner-uuid")  # (once per event, not per listener)
        if owner is not None and owner != uuid:
            group = by_uuid.get(owner)
            if group:
                for listener in list(group):
                    listener.offer_event(ev)

    def clear(self) -> None:
        self.by_uuid = {}
        self.counts = [0] * (_ALL + 1)
        self.members = {}
