"""Sessions: one call leg, its greenlet and its state machine (spec sessions.md §2, §3, §10).

FreeSWITCH's ``switch_core_session.c`` + ``switch_core_state_machine.c`` + the IVR primitives
applications use. One greenlet per session runs :meth:`Session._run`; anything may call
:meth:`Session.set_state` / :meth:`Session.hangup` from any greenlet, which wakes it.

Hot paths (every frame, every state change) avoid work nobody asked for: events are built only
when someone listens, the frame path reuses one :class:`~softswitch.frame.Frame` per direction.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event

from .callevents import add_channel_data
from .callif import STATE_HANDLER_NAMES, AppFlag, Message, MessageId, Signal, StateHandlers
from .causes import Cause, cause2str, cause_q850
from .channel import CF, CallState, Channel, ChannelState, state_name
from .config import switch_true
from .event import Event, EventType, new_uuid
from .frame import Frame, FrameFlag
from .interfaces import call_interface
from .log import NOTICE
from .status import Status
from .timer import micro_time_now

if TYPE_CHECKING:
    from .callif import EndpointInterface
    from .codec import Codec
    from .services import Services
    from .sessions import SessionManager

log = logging.getLogger(__name__)

__all__ = ["Session"]

CS = ChannelState
F = CF
ET = EventType
_SUCCESS = Status.SUCCESS
_FALSE = Status.FALSE
_HANGUP = CS.CS_HANGUP
MAX_STATE_HANDLERS = 30
#: SWITCH_MAX_STACKS: how deep queued commands may nest inside running applications
MAX_STACKS = 16
_CNG = int(FrameFlag.CNG)
_NOMEDIA = int(AppFlag.SAF_SUPPORT_NOMEDIA)
_ZOMBIE = int(AppFlag.SAF_ZOMBIE_EXEC)

_HANDLER_OF = {
    CS.CS_INIT: "on_init", CS.CS_ROUTING: "on_routing", CS.CS_EXECUTE: "on_execute",
    CS.CS_HANGUP: "on_hangup", CS.CS_EXCHANGE_MEDIA: "on_exchange_media",
    CS.CS_SOFT_EXECUTE: "on_soft_execute", CS.CS_CONSUME_MEDIA: "on_consume_media",
    CS.CS_HIBERNATE: "on_hibernate", CS.CS_RESET: "on_reset", CS.CS_PARK: "on_park",
    CS.CS_REPORTING: "on_reporting", CS.CS_DESTROY: "on_destroy",
}
assert set(_HANDLER_OF.values()) == set(STATE_HANDLER_NAMES)


def _stamp(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1_000_000))


def _scope_vars(text: str) -> tuple[dict[str, str] | None, str]:
    """``%[a=1,b=2]rest`` (``%X[…]``: X separates) → ``({a: 1, b: 2}, "rest")``."""
    sep = ","
    i = 1
    if text[1] != "[":
        sep = text[1]
        i = 2
    if i >= len(text) or text[i] != "[":
        return None, text
    end = text.find("]", i)
    if end < 0:
        return None, text
    out: dict[str, str] = {}
    for part in text[i + 1:end].split(sep):
        name, eq, value = part.partition("=")
        if eq and name.strip():
            out[name.strip()] = value
    return out, text[end + 1:]


class Session:
    """One call leg. Created by :meth:`SessionManager.request` (endpoints), never directly."""

    __slots__ = ("core", "manager", "uuid", "id", "channel", "endpoint", "private", "read_codec",
                 "write_codec", "timer", "direction", "_wake", "_greenlet", "_queue",
                 "app_depth", "app_log", "watchers", "_rframe", "_wframe", "_ep_read",
                 "_ep_write", "_ep_kill", "pending_extension", "bridge_partner", "destroyed",
                 "_codec_stack", "dtmf", "scope_vars", "_locks", "_unlocked", "event_lock",
                 "_events", "_queue_pri", "event_lock_pri", "__weakref__")

    def __init__(self, manager: SessionManager, endpoint: EndpointInterface | None, uuid: str,
                 session_id: int, direction: str) -> None:
        # what applications and endpoints see: the module services (softswitch.services), not
        # the kernel object; the session's own kernel work goes through manager.core
        self.core: Services = manager.core.services
        self.manager = manager
        self.uuid = uuid
        self.id = session_id
        self.endpoint = endpoint
        self.private: Any = None
        self.read_codec: Codec | None = None
        self.write_codec: Codec | None = None
        self.timer = None
        self.direction = direction
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._queue: deque | None = None
        self.app_depth = 0
        self.app_log: tuple[str, str] | None = None
        self.watchers: list | None = None
        self._rframe = Frame()
        self._wframe = Frame()
        self._ep_read = endpoint.read_frame if endpoint is not None else None
        self._ep_write = endpoint.write_frame if endpoint is not None else None
        self._ep_kill = endpoint.kill_channel if endpoint is not None else None
        self.pending_extension: list | None = None
        self.bridge_partner: Session | None = None
        self.destroyed = False
        self._codec_stack: list | None = None
        self.dtmf: deque | None = None
        self.scope_vars: dict[str, str] | None = None
        self._locks = 0
        self._unlocked: gevent.event.Event | None = None
        #: > 0 while a command queued with ``event-lock`` runs: no other queued command starts
        #: (nested in its app) until it is done (switch_ivr_parse_event's CF_EVENT_LOCK)
        self.event_lock = 0
        #: commands queued with priority (``switch_core_session_queue_private_event(…, TRUE)``):
        #: they run before the others, even under ``event_lock``; ``event_lock_pri`` (> 0 while
        #: a command sent with ``event-lock-pri`` runs) holds them instead (CF_EVENT_LOCK_PRI)
        self._queue_pri: deque | None = None
        self.event_lock_pri = 0
        self._events: deque | None = None
        ch = self.channel = Channel(self, uuid, direction)
        v = ch.vars
        v["direction"] = direction
        if direction == "outbound":
            ch.flags |= F.CF_OUTBOUND
            v["is_outbound"] = "true"
        v["uuid"] = uuid
        v["call_uuid"] = uuid
        v["session_id"] = str(session_id)

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.uuid} {self.channel.name} {self.channel.state.name}>"

    # ------------------------------------------------------------------------------------------
    # variables (shortcuts to the channel's)
    # ------------------------------------------------------------------------------------------
    def set_variable(self, name: str, value: object) -> None:
        self.channel.set_variable(name, value)

    def get_variable(self, name: str, default: str | None = None) -> str | None:
        return self.channel.get_variable(name, default)

    def expand(self, text: str) -> str:
        return self.channel.expand(text)

    def ready(self) -> bool:
        return self.channel.ready()

    @property
    def module_name(self) -> str:
        ep = self.endpoint
        return ep.module_name if ep is not None else ""

    # ------------------------------------------------------------------------------------------
    # events
    # ------------------------------------------------------------------------------------------
    def fire_event(self, event_type: int, before: tuple | list = (), after: tuple | list = ()) -> bool:
        """Fire a channel event (standard headers, ``before``, channel data, ``after``), only
        when someone listens. Returns whether it was fired."""
        events = self.manager.core.events
        if not events.running or not events.has_listeners(event_type):
            return False
        ev = Event(event_type, _depth=2)
        h = ev.headers
        if before:
            h.extend(before)
        add_channel_data(self.channel, h, event_type, self.manager.core.settings.verbose_channel_events)
        if after:
            h.extend(after)
        return events.fire(ev)

    def _notify(self) -> None:
        """Tell originate (and other watchers) that answer/early media/hangup happened."""
        w = self.watchers
        if w:
            for ev in w:
                ev.set()

    def wake(self) -> None:
        """Wake the session's greenlet (state change, queued command, break)."""
        self._wake.set()

    # ------------------------------------------------------------------------------------------
    # codecs
    # ------------------------------------------------------------------------------------------
    def set_read_codec(self, codec: Codec | None) -> None:
        self.read_codec = codec
        ch = self.channel
        if codec is None:
            return
        impl = codec.implementation
        ch.set_variable("read_codec", impl.iananame)
        ch.set_variable("read_rate", str(impl.actual_samples_per_second))
        self.fire_event(ET.CODEC, after=(
            ("channel-read-codec-name", impl.iananame),
            ("channel-read-codec-rate", str(impl.actual_samples_per_second)),
            ("channel-read-codec-bit-rate", str(impl.bits_per_second))))
        self.manager.db.codec(self)

    def set_write_codec(self, codec: Codec | None) -> None:
        self.write_codec = codec
        ch = self.channel
        if codec is None:
            return
        impl = codec.implementation
        ch.set_variable("write_codec", impl.iananame)
        ch.set_variable("write_rate", str(impl.actual_samples_per_second))
        self.fire_event(ET.CODEC, after=(
            ("Channel-Write-Codec-Name", impl.iananame),
            ("Channel-Write-Codec-Rate", str(impl.actual_samples_per_second)),
            ("Channel-Write-codec-bit-rate", str(impl.bits_per_second))))  # (sic) [L]
        self.manager.db.codec(self)

    # ------------------------------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------------------------------
    def set_state(self, state: int) -> ChannelState:
        """Spec §2.1. Invalid changes are logged (WARNING) and refused, never raised."""
        ch = self.channel
        cur = ch.state
        if state == cur or (cur >= _HANGUP and state < cur):
            return cur
        if not ch.allowed(state):
            log.warning("(%s) Invalid State Change %s -> %s", ch.name, state_name(cur),
                        state_name(state))
            return cur
        ch.state = CS(state)
        if state == _HANGUP and not ch.hangup_cause:
            ch.hangup_cause = Cause.NORMAL_CLEARING
        self._wake.set()
        kill = self._ep_kill
        if kill is not None:
            try:
                kill(self, Signal.BREAK)
            except Exception:
                log.exception("%s: kill_channel(BREAK) of %s raised", ch.name, self.module_name)
        return ch.state

    def set_callstate(self, cs: int) -> None:
        ch = self.channel
        old = ch.callstate
        if old == cs or old == CallState.HANGUP:
            return
        ch.callstate = CallState(cs)
        log.debug("(%s) Callstate Change %s -> %s", ch.name, old.name, ch.callstate.name)
        self.fire_event(ET.CHANNEL_CALLSTATE, before=(
            ("Original-Channel-Call-State", old.name),
            ("Channel-Call-State-Number", str(int(cs)))))
        if cs != CallState.DOWN and cs != CallState.HANGUP:
            self.manager.db.callstate(self)

    def hangup(self, cause: int = Cause.NORMAL_CLEARING) -> ChannelState:
        """End the call (effective once, any greenlet): CHANNEL_HANGUP is fired here, in the
        caller's greenlet, before the session reacts (spec §2.3)."""
        ch = self.channel
        if ch.state >= _HANGUP:
            return ch.state
        if not cause:
            cause = Cause.NORMAL_CLEARING
        old = ch.state
        ch.state = CS.CS_HANGUP
        ch.hangup_cause = cause
        log.log(NOTICE, "Hangup %s [%s] [%s]", ch.name, state_name(old), cause2str(cause))
        self.fire_event(ET.CHANNEL_HANGUP)
        if self._greenlet is None and not self.destroyed:
            self.launch()
        kill = self._ep_kill
        if kill is not None:
            try:
                kill(self, Signal.KILL)
            except Exception:
                log.exception("%s: kill_channel(KILL) of %s raised", ch.name, self.module_name)
        self._wake.set()
        self._notify()
        return ch.state

    # ------------------------------------------------------------------------------------------
    # answer / early media / ringing (spec §2.4)
    # ------------------------------------------------------------------------------------------
    def mark_ring_ready(self) -> Status:
        ch = self.channel
        if ch.flags & (F.CF_RING_READY | F.CF_ANSWERED) or ch.state >= _HANGUP:
            return _FALSE
        ch.flags |= F.CF_RING_READY
        p = ch.caller_profile
        if p is not None:
            p.times.progress = micro_time_now()
        self.fire_event(ET.CHANNEL_PROGRESS)
        self.execute_on("execute_on_ring")
        self.set_callstate(CallState.RINGING)
        self._notify()
        return _SUCCESS

    def mark_pre_answered(self) -> Status:
        ch = self.channel
        if ch.flags & (F.CF_EARLY_MEDIA | F.CF_ANSWERED) or ch.state >= _HANGUP:
            return _FALSE
        ch.flags |= F.CF_EARLY_MEDIA
        ch.set_variable("endpoint_disposition", "EARLY MEDIA")
        p = ch.caller_profile
        if p is not None:
            p.times.progress_media = micro_time_now()
        self.fire_event(ET.CHANNEL_PROGRESS_MEDIA)
        self.execute_on("execute_on_pre_answer")
        self.execute_on("execute_on_media")
        self.manager.db.codec(self)
        self.set_callstate(CallState.EARLY)
        self._notify()
        return _SUCCESS

    def mark_answered(self) -> Status:
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        if ch.flags & F.CF_ANSWERED:
            return _SUCCESS
        p = ch.caller_profile
        if p is not None:
            p.times.answered = micro_time_now()
        ch.flags |= F.CF_ANSWERED
        self.fire_event(ET.CHANNEL_ANSWER)
        ch.set_variable("endpoint_disposition", "ANSWER")
        self.execute_on("execute_on_answer")
        self.manager.db.codec(self)
        self.set_callstate(CallState.ACTIVE)
        self._notify()
        return _SUCCESS

    def execute_on(self, prefix: str) -> None:
        """``switch_channel_execute_on``: every variable (channel, then global) whose name
        starts with ``prefix`` runs: ``app arg`` / ``app:arg`` inline when called on the
        session's own greenlet (else queued), ``app::arg`` queued."""
        v = self.channel.vars
        if not any(k.startswith(prefix) for k in v):
            return
        inline = gevent.getcurrent() is self._greenlet
        for k, value in list(v.items()):
            if not k.startswith(prefix) or not value:
                continue
            if "::" in value:
                app, _, arg = value.partition("::")
                self.queue_command(app.strip(), arg.strip())
                continue
            sp, colon = value.find(" "), value.find(":")
            cut = min(i for i in (sp, colon) if i >= 0) if (sp >= 0 or colon >= 0) else -1
            app, arg = (value[:cut], value[cut + 1:]) if cut >= 0 else (value, "")
            if inline:
                self.execute_application(app.strip(), arg.strip())
            else:
                self.queue_command(app.strip(), arg.strip())

    def _indicate(self, mid: MessageId) -> Status:
        ep = self.endpoint
        fn = ep.receive_message if ep is not None else None
        if fn is None:
            return _SUCCESS
        try:
            st = fn(self, Message(mid))
        except Exception:
            log.exception("%s: receive_message(%s) of %s raised", self.channel.name, mid.name,
                          self.module_name)
            return Status.GENERR
        return _SUCCESS if st is None else Status(st)

    def receive_message(self, msg: Message) -> Status:
        """Send an indication to the endpoint (``switch_core_session_receive_message``)."""
        ep = self.endpoint
        fn = ep.receive_message if ep is not None else None
        if fn is None:
            return Status.NOTIMPL
        st = fn(self, msg)
        return _SUCCESS if st is None else Status(st)

    def answer(self) -> Status:
        """Answer (inbound); a no-op SUCCESS on outbound channels [L]."""
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        if ch.flags & F.CF_OUTBOUND or ch.flags & F.CF_ANSWERED:
            return _SUCCESS
        if self._indicate(MessageId.INDICATE_ANSWER) != _SUCCESS:
            self.hangup(Cause.INCOMPATIBLE_DESTINATION)
            return _FALSE
        return self.mark_answered()

    def pre_answer(self) -> Status:
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        if ch.flags & (F.CF_ANSWERED | F.CF_EARLY_MEDIA):
            return _SUCCESS
        if ch.flags & F.CF_OUTBOUND:
            return self.mark_pre_answered()
        if self._indicate(MessageId.INDICATE_PROGRESS) != _SUCCESS:
            self.hangup(Cause.INCOMPATIBLE_DESTINATION)
            return _FALSE
        self.mark_pre_answered()
        return _SUCCESS

    def ring_ready(self) -> Status:
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        if ch.flags & (F.CF_ANSWERED | F.CF_RING_READY):
            return _SUCCESS
        if not ch.flags & F.CF_OUTBOUND and self._indicate(MessageId.INDICATE_RINGING) != _SUCCESS:
            self.hangup(Cause.INCOMPATIBLE_DESTINATION)
            return _FALSE
        self.mark_ring_ready()
        return _SUCCESS

    # ------------------------------------------------------------------------------------------
    # the greenlet and the state machine (spec §2.2)
    # ------------------------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the session's greenlet (``switch_core_session_thread_launch``); once."""
        if self._greenlet is not None or self.destroyed:
            return
        g = self._greenlet = gevent.spawn(self._run)
        self.channel.flags |= F.CF_THREAD_STARTED
        self.manager._greenlets[g] = self

    def add_state_handler(self, table: StateHandlers) -> int:
        ch = self.channel
        lst = ch.state_handlers
        if lst is None:
            lst = ch.state_handlers = []
        if len(lst) >= MAX_STATE_HANDLERS:
            return -1
        lst.append(table)
        return len(lst) - 1

    def remove_state_handler(self, table: StateHandlers) -> None:
        lst = self.channel.state_handlers
        if lst and table in lst:
            lst.remove(table)

    def _call_handler(self, fn, name: str, table) -> Status:
        try:
            st = fn(self)
        except gevent.GreenletExit:
            raise
        except Exception as e:
            mod = getattr(table, "module", None) or (self.endpoint if table is None else None)
            modname = getattr(mod, "name", "") or self.module_name or "?"
            log.error("%s: state handler %s of %s raised %s: %s; hanging up", self.channel.name,
                      name, modname, type(e).__name__, e)
            log.debug("traceback", exc_info=True)
            self.hangup(Cause.CRASH)
            return _FALSE
        return _SUCCESS if st is None else st

    def _handlers(self, state: int) -> bool:
        """Run the handlers of ``state``; True when the core default may run."""
        name = _HANDLER_OF[state]
        ch = self.channel
        attached = ch.state_handlers or ()
        glob = self.manager.global_handlers
        for tables in (attached, glob):
            for t in tables:
                if t.pre_exec:
                    fn = getattr(t, name)
                    if fn is not None:
                        self._call_handler(fn, name, t)
        ep = self.endpoint
        table = ep.state_handlers if ep is not None else None
        fn = getattr(table, name) if table is not None else None
        if fn is not None:
            st = self._call_handler(fn, name, table)
            if st != _SUCCESS or ch.state != state:
                return False
        for tables in (attached, glob):
            for t in tables:
                if t.pre_exec:
                    continue
                fn = getattr(t, name)
                if fn is None:
                    continue
                st = self._call_handler(fn, name, t)
                if st != _SUCCESS or ch.state != state:
                    return False
        return ch.state == state

    def _set_running_state(self, state: int) -> None:
        ch = self.channel
        ch.running_state = CS(state)
        ch.flags &= ~(F.CF_TRANSFER | F.CF_REDIRECT)
        # inbound: the call state follows first, then CHANNEL_STATE (switch_channel_perform_
        # set_running_state; spec §3.4: B CALLSTATE DOWN->RINGING, then B STATE CS_ROUTING)
        if ch.direction == "inbound" and state < _HANGUP:
            if state == CS.CS_ROUTING:
                self.set_callstate(CallState.RINGING)
            elif ch.flags & F.CF_ANSWERED:
                self.set_callstate(CallState.ACTIVE)
            elif ch.flags & F.CF_EARLY_MEDIA:
                self.set_callstate(CallState.EARLY)
        self.fire_event(ET.CHANNEL_STATE)
        self.manager.db.state(self)

    def _run(self) -> None:
        ch = self.channel
        try:
            new_polls = 0
            while True:
                state = ch.state
                if state == CS.CS_DESTROY:
                    break
                if state != ch.running_state or state >= _HANGUP:
                    self._set_running_state(state)
                    if state == CS.CS_INIT:
                        if self._handlers(state):
                            self.set_state(CS.CS_ROUTING)
                        self.fire_event(ET.CHANNEL_CREATE)
                        self.manager.db.create(self)
                        if ch.flags & F.CF_OUTBOUND:
                            self.fire_event(ET.CHANNEL_ORIGINATE)
                            self.manager.db.originate(self)
                    elif state == _HANGUP:
                        self._hangup_state()
                        self.set_state(CS.CS_REPORTING)
                    elif state == CS.CS_REPORTING:
                        self._reporting_state()
                        self.set_state(CS.CS_DESTROY)
                        break
                    elif self._handlers(state):
                        self._default(state)
                if ch.state == state:
                    if state == CS.CS_NEW:
                        new_polls += 1
                        if new_polls >= 500:
                            log.warning("%s %s Abandoned", self.uuid, ch.name)
                            self.hangup(Cause.WRONG_CALL_STATE)
                        else:
                            gevent.sleep(0.02)
                        continue
                    self._run_queued()
                    if ch.state == state and state < _HANGUP:
                        w = self._wake
                        w.wait()
                        w.clear()
        except gevent.GreenletExit:
            if ch.state < _HANGUP:
                self.hangup(Cause.CRASH)
            self._finish_hangup()
        except BaseException:
            log.exception("%s: the session's greenlet failed (module %s); cleaning up", ch.name,
                          self.module_name)
            if ch.state < _HANGUP:
                self.hangup(Cause.CRASH)
            self._finish_hangup()
        finally:
            if self._locks:
                self._wait_unlocked()
            self._destroy()

    # ------------------------------------------------------------------------------------------
    # read locks: a controller (an outbound Event Socket) keeps the session from being
    # destroyed until it is done with it, as switch_core_session_read_lock does
    # ------------------------------------------------------------------------------------------
    def read_lock(self) -> bool:
        """Keep the session from being destroyed until :meth:`read_unlock`. False (and no
        lock taken) when destruction already began. When the session has reported (CHANNEL_
        HANGUP_COMPLETE fired) and waits for its locks, its watchers are woken."""
        if self.destroyed:
            return False
        self._locks += 1
        return True

    def read_unlock(self) -> None:
        if self._locks > 0:
            self._locks -= 1
            if not self._locks and self._unlocked is not None:
                self._unlocked.set()

    @property
    def reported(self) -> bool:
        """True once the session fired CHANNEL_HANGUP_COMPLETE and only its read locks keep it
        from being destroyed."""
        return self._unlocked is not None

    def _wait_unlocked(self) -> None:
        self._unlocked = gevent.event.Event()
        self._notify()
        try:
            self._unlocked.wait()
        except gevent.GreenletExit:
            pass

    def _finish_hangup(self) -> None:
        """After a greenlet failure: still report (CDR vars, HANGUP_COMPLETE) if not done."""
        ch = self.channel
        try:
            if ch.running_state < _HANGUP:
                self._set_running_state(_HANGUP)
                self._hangup_state()
            if ch.running_state < CS.CS_REPORTING:
                ch.state = CS.CS_REPORTING
                self._set_running_state(CS.CS_REPORTING)
                self._reporting_state()
            ch.state = CS.CS_DESTROY
        except Exception:
            log.exception("%s: cleanup after a failure failed", ch.name)

    def _default(self, state: int) -> None:
        if state == CS.CS_ROUTING:
            self._standard_routing()
        elif state == CS.CS_EXECUTE:
            self._standard_execute()
        elif state == CS.CS_PARK:
            self.park()
        elif state == CS.CS_RESET:
            self.channel.set_variable("call_uuid", self.channel.vars.get("call_uuid") or self.uuid)

    def _standard_routing(self) -> None:
        ch = self.channel
        log.debug("%s Standard ROUTING", ch.name)
        ch.set_variable("call_uuid", ch.vars.get("call_uuid") or self.uuid)
        ext = self.pending_extension
        if ext is not None:
            self.pending_extension = None
            if ch.caller_profile is not None:
                ch.caller_profile.caller_extension = ext
            self.set_state(CS.CS_EXECUTE)
            return
        p = ch.caller_profile
        dialplans = ch.expand(p.dialplan if p is not None and p.dialplan else "XML") \
            if not (ch.flags & F.CF_OUTBOUND and p is not None and not p.dialplan) else ""
        found_iface = 0
        registry = self.manager.core.registry
        for entry in [d.strip() for d in dialplans.split(",")][:25]:
            if not entry:
                continue
            name, _, arg = entry.partition(":")
            iface = registry.get("dialplan", name)
            if iface is None or getattr(iface, "hunt", None) is None:
                log.error("Dialplan [%s] not found, skipping", name)
                continue
            found_iface += 1
            try:
                ext = iface.hunt(self, arg)
            except gevent.GreenletExit:
                raise
            except Exception as e:
                log.error("%s: dialplan %s of %s raised %s: %s; hanging up", ch.name, name,
                          iface.module_name, type(e).__name__, e)
                log.debug("traceback", exc_info=True)
                self.hangup(Cause.DESTINATION_OUT_OF_ORDER)
                return
            if ch.state != CS.CS_ROUTING:
                return  # an inline app moved the call on
            if ext:
                self.set_caller_extension(ext, state=False)
                self.set_state(CS.CS_EXECUTE)
                return
        if ch.flags & F.CF_OUTBOUND and not found_iface:
            if ch.flags & F.CF_ANSWERED:
                log.debug("No Dialplan on answered channel, changing state to HANGUP")
                self.hangup(Cause.NO_ROUTE_DESTINATION)
            else:
                log.debug("No Dialplan, changing state to CONSUME_MEDIA")
                self.set_state(CS.CS_CONSUME_MEDIA)
            return
        log.info("No Route, Aborting")
        self.hangup(Cause.NO_ROUTE_DESTINATION)

    def _standard_execute(self) -> None:
        ch = self.channel
        log.debug("%s Standard EXECUTE", ch.name)
        ch.set_variable("call_uuid", ch.vars.get("call_uuid") or self.uuid)
        p = ch.caller_profile
        ext = p.caller_extension if p is not None else None
        if not ext:
            log.info("%s has no extension to execute, hanging up", ch.name)
            self.hangup(Cause.NO_ROUTE_DESTINATION)
            return
        for app, arg in list(ext):
            if ch.state != CS.CS_EXECUTE:
                return
            st = self.execute_application(app, arg)
            if st != _SUCCESS and st != Status.IGNORE:
                break
        if ch.state == CS.CS_EXECUTE and ch.state < _HANGUP:
            log.log(NOTICE, "%s has executed the last dialplan instruction, hanging up.", ch.name)
            self.hangup(Cause.NORMAL_CLEARING)

    def set_caller_extension(self, apps: list, state: bool = True) -> None:
        """Make ``[(app, arg), …]`` the extension to run (originate ``&app``, dialplans).

        On an outbound channel that has not flipped yet, flip the caller id (CALL_UPDATE,
        CF_DIALPLAN) as FreeSWITCH's ``switch_channel_set_caller_extension`` does. With
        ``state`` (default), move to CS_EXECUTE.
        """
        ch = self.channel
        p = ch.caller_profile
        if p is None:
            return
        p.caller_extension = [(str(a), "" if b is None else str(b)) for a, b in apps]
        if ch.flags & F.CF_OUTBOUND and not ch.flags & F.CF_DIALPLAN:
            self._flip_cid()
        if state:
            self.set_state(CS.CS_EXECUTE)

    def _flip_cid(self) -> None:
        """The outbound leg's caller/callee swap when it enters the dialplan (CALL_UPDATE)."""
        ch = self.channel
        p = ch.caller_profile
        ch.flags |= F.CF_DIALPLAN
        ch.set_variable("pre_transfer_caller_id_name", None)
        ch.set_variable("pre_transfer_caller_id_number", p.caller_id_number)
        name, num = p.callee_id_name, p.callee_id_number
        p.callee_id_name, p.callee_id_number = p.caller_id_name, p.caller_id_number
        p.caller_id_name = name or p.caller_id_name
        p.caller_id_number = num or p.caller_id_number
        ch.set_variable("channel_cid_flipped", "yes")
        partner = self.bridge_partner
        before = [("Direction", "RECV")]
        if partner is not None:
            before.append(("Bridged-To", partner.uuid))
        self.fire_event(ET.CALL_UPDATE, before=before)
        self.manager.db.call_update(self, "RECV")

    def transfer(self, extension: str, dialplan: str | None = None, context: str | None = None) -> Status:
        """Blind transfer (``switch_ivr_session_transfer``): a new caller profile with the
        destination, state ROUTING."""
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        p = ch.caller_profile
        if p is None:
            return _FALSE
        dialplan = dialplan or p.dialplan or "XML"
        context = context or p.context or "default"
        np = p.clone()
        now = micro_time_now()
        np.destination_number = extension
        np.dialplan = dialplan
        np.context = context
        np.transfer_source = f"{now // 1_000_000}:{np.uuid}:bl_xfer:{extension}/{context}/{dialplan}"
        ch.set_caller_profile(np)
        np.times.transferred = now
        ch.set_variable("transfer_source", np.transfer_source)
        ch.set_variable("max_forwards", ch.vars.get("max_forwards"))
        ch.flags |= F.CF_TRANSFER
        if ch.state == CS.CS_ROUTING:
            # already routing (an inline app): route again from the top
            ch.state = CS.CS_RESET
            ch.running_state = CS.CS_RESET
            self.set_state(CS.CS_ROUTING)
        else:
            self.set_state(CS.CS_ROUTING)
        self._wake.set()
        return _SUCCESS

    def _hangup_state(self) -> None:
        """CS_HANGUP (spec §2.3 (1), §3.5)."""
        ch = self.channel
        p = ch.caller_profile
        now = micro_time_now()
        if p is not None and not p.times.hungup:
            p.times.hungup = now
        cause = ch.hangup_cause
        ch.set_variable("hangup_cause", cause2str(cause))
        ch.set_variable("hangup_cause_q850", str(cause_q850(cause)))
        self._cdr_vars(now)
        self.set_callstate(CallState.HANGUP)
        self._handlers(_HANGUP)
        hook = ch.vars.get("api_hangup_hook")
        if hook:
            cmd, _, arg = ch.expand(hook).partition(" ")
            self.core.api_execute(cmd, arg, self)

    def _cdr_vars(self, now: int) -> None:
        ch = self.channel
        p = ch.caller_profile
        sv = ch.set_variable
        sv("digits_dialed", "none")
        if p is None:
            return
        t = p.times
        start = t.created
        sv("start_stamp", _stamp(start))
        sv("profile_start_stamp", _stamp(t.profile_created))
        for name, val in (("answer", t.answered), ("bridge", t.bridged), ("hold", t.last_hold),
                          ("resurrect", t.resurrected), ("progress", t.progress),
                          ("progress_media", t.progress_media)):
            if val:
                sv(name + "_stamp", _stamp(val))
        end = t.hungup or now
        sv("end_stamp", _stamp(end))
        for name, val in (("start", start), ("profile_start", t.profile_created),
                          ("answer", t.answered), ("bridge", t.bridged),
                          ("last_hold", t.last_hold)):
            sv(name + "_epoch", str(val // 1_000_000))
            sv(name + "_uepoch", str(val))
        sv("hold_accum_seconds", str(t.hold_accum // 1_000_000))
        sv("hold_accum_usec", str(t.hold_accum))
        sv("hold_accum_ms", str(t.hold_accum // 1000))
        for name, val in (("resurrect", t.resurrected), ("progress", t.progress),
                          ("progress_media", t.progress_media), ("end", end)):
            sv(name + "_epoch", str(val // 1_000_000))
            sv(name + "_uepoch", str(val))
        if self.app_log is not None:
            sv("last_app", self.app_log[0])
            if self.app_log[1]:
                sv("last_arg", self.app_log[1])
        sv("caller_id", f'"{p.caller_id_name}" <{p.caller_id_number}>' if p.caller_id_name
           else p.caller_id_number)
        ans, prog, pmedia, bridged = t.answered, t.progress, t.progress_media, t.bridged

        def diffs(div: int) -> list[int]:
            def d(a: int, b: int) -> int:
                return (a // div - b // div) if a and b else 0
            return [d(end, start), d(end, ans), d(prog, start), d(ans, start),
                    d(bridged, start) if bridged else 0, d(pmedia, start), d(end, ans)]
        names = ("duration", "billsec", "progresssec", "answersec", "waitsec",
                 "progress_mediasec", "flow_billsec")
        for n, v in zip(names, diffs(1_000_000), strict=True):
            sv(n, str(v))
        mnames = ("mduration", "billmsec", "progressmsec", "answermsec", "waitmsec",
                  "progress_mediamsec", "flow_billmsec")
        for n, v in zip(mnames, diffs(1000), strict=True):
            sv(n, str(v))
        unames = ("uduration", "billusec", "progressusec", "answerusec", "waitusec",
                  "progress_mediausec", "flow_billusec")
        for n, v in zip(unames, diffs(1), strict=True):
            sv(n, str(v))

    def _reporting_state(self) -> None:
        v = self.channel.vars
        process = v.get("process_cdr")
        skip = v.get("skip_cdr_causes")
        report = process is None or switch_true(process) or process in ("a_only", "b_only")
        if process == "a_only" and self.channel.flags & F.CF_OUTBOUND:
            report = False
        elif process == "b_only" and not self.channel.flags & F.CF_OUTBOUND:
            report = False
        if report and skip:
            causes = {c.strip().upper() for c in skip.replace("|", ",").split(",")}
            if cause2str(self.channel.hangup_cause) in causes:
                report = False
        if report:
            self._handlers(CS.CS_REPORTING)
        self.fire_event(ET.CHANNEL_HANGUP_COMPLETE,
                        before=(("Hangup-Cause", cause2str(self.channel.hangup_cause)),))

    def _destroy(self) -> None:
        """Remove the session (spec §2.3 (3)); also for a session whose greenlet never ran."""
        if self.destroyed:
            return
        self.destroyed = True
        ch = self.channel
        self.manager._remove(self)
        self.fire_event(ET.CHANNEL_DESTROY)
        ch.running_state = CS.CS_DESTROY
        self.fire_event(ET.CHANNEL_STATE)
        never_ran = ch.state == CS.CS_NEW and self._greenlet is None
        ch.state = CS.CS_DESTROY
        if not never_ran:
            try:
                self._handlers(CS.CS_DESTROY)
            except Exception:
                log.exception("%s: destroy handlers failed", ch.name)
        t = self.timer
        if t is not None:
            try:
                t.destroy()
            except Exception:
                pass
            self.timer = None
        self.manager.db.destroy(self)
        self.bridge_partner = None
        w = self.watchers
        if w:
            for ev in w:
                ev.set()

    def destroy(self) -> None:
        """Destroy a session whose greenlet never ran (an endpoint refusing after
        ``request``): only CHANNEL_DESTROY and CHANNEL_STATE CS_DESTROY are fired."""
        if self._greenlet is not None:
            self.hangup(Cause.NORMAL_CLEARING)
            return
        self._destroy()

    # ------------------------------------------------------------------------------------------
    # applications
    # ------------------------------------------------------------------------------------------
    def execute_application(self, app: str, arg: str | None = "") -> Status:
        """Run an application with FreeSWITCH's envelope (dialplan-apps §3.2)."""
        ch = self.channel
        arg = arg or ""
        iface = self.manager.core.registry.get("application", app)
        if ch.state >= _HANGUP:
            if iface is None or not int(iface.flags) & _ZOMBIE:
                log.debug("%s Channel is hungup and application '%s' does not have the "
                          "zombie_exec flag.", ch.name, app)
                return Status.IGNORE
            log.debug("%s ZOMBIE EXEC %s(%s)", ch.name, app, arg)
        if iface is None or getattr(iface, "function", None) is None:
            log.error("Invalid Application %s", app)
            self.hangup(Cause.DESTINATION_OUT_OF_ORDER)
            return _FALSE
        if (not int(iface.flags) & _NOMEDIA and ch.direction == "inbound"
                and not ch.flags & (F.CF_ANSWERED | F.CF_EARLY_MEDIA) and ch.state < _HANGUP):
            log.debug("Application %s Requires media! pre_answering channel %s", app, ch.name)
            self.pre_answer()
        v = ch.vars
        app_uuid = v.pop("app_uuid", None) or new_uuid()
        app_uuid_name = v.pop("app_uuid_name", None)
        if v.get("app_disable_expand_variables") != "true":
            expanded = ch.expand(arg)
        else:
            expanded = arg
        scope = None
        if expanded.startswith("%") and len(expanded) > 2:
            scope, expanded = _scope_vars(expanded)
        log.info("EXECUTE [depth=%d] %s %s(%s)", self.app_depth, ch.name, app, expanded)
        if v.get("disable_app_log") != "true":
            self.app_log = (app, expanded)
        name = iface.name
        ch.set_variable("current_application_data", expanded)
        ch.set_variable("current_application", name)
        v.pop("current_application_response", None)
        after = [("Application", name)]
        if expanded:
            after.append(("Application-Data", expanded))
        after.append(("Application-UUID", app_uuid))
        if app_uuid_name:
            after.append(("Application-UUID-Name", app_uuid_name))
        outer_scope = self.scope_vars
        if scope is not None:
            self.scope_vars = scope if outer_scope is None else {**outer_scope, **scope}
        self.fire_event(ET.CHANNEL_EXECUTE, after=after)
        self.manager.db.execute(self, name, expanded)
        ch.set_variable("current_application", name)
        self.app_depth += 1
        try:
            if iface.blocking:  # declared blocking: run in gevent's thread pool (watchdog issue)
                call_interface(iface, self, expanded)
            else:
                iface.function(self, expanded)
        except gevent.GreenletExit:
            raise
        except Exception as e:
            log.error("%s: application %s of %s raised %s: %s; hanging up", ch.name, name,
                      iface.module_name, type(e).__name__, e)
            log.debug("traceback", exc_info=True)
            self.hangup(Cause.DESTINATION_OUT_OF_ORDER)
        finally:
            self.app_depth -= 1
        resp = v.get("current_application_response") or "_none_"
        after = [("Application", name)]
        if expanded:
            after.append(("Application-Data", expanded))
        after.append(("Application-Response", resp))
        after.append(("Application-UUID", app_uuid))
        if app_uuid_name:
            after.append(("Application-UUID-Name", app_uuid_name))
        self.fire_event(ET.CHANNEL_EXECUTE_COMPLETE, after=after)
        self.scope_vars = outer_scope
        return _SUCCESS

    # ------------------------------------------------------------------------------------------
    # queued commands (uuid_broadcast, sendmsg)
    # ------------------------------------------------------------------------------------------
    def queue_command(self, app: str, arg: str = "", *, app_uuid: str | None = None,
                      hangup_cause: int | None = None, priority: bool = False) -> None:
        """Queue an application to run on the session's greenlet: when it is idle (park, between
        states) or nested inside the running application, whose media loop calls
        :meth:`run_queued` each turn. ``priority``: ahead of the other queued commands."""
        self._push((app, arg, app_uuid, hangup_cause), priority)

    def queue_callable(self, fn, priority: bool = False) -> None:
        """Queue ``fn(session)`` to run on the session's greenlet, as :meth:`queue_command`."""
        self._push(fn, priority)

    def _push(self, item, priority: bool) -> None:
        if priority:
            q = self._queue_pri
            if q is None:
                q = self._queue_pri = deque()
        else:
            q = self._queue
            if q is None:
                q = self._queue = deque()
        q.append(item)
        self._wake.set()

    def run_queued(self) -> bool:
        """``switch_ivr_parse_all_events``: fire the events queued to the call, then run the
        queued commands, priority ones first, until the queues are empty or locked
        (``event_lock`` holds the ordinary queue, ``event_lock_pri`` the priority one).

        Applications call it on each turn of their media loops (playback, sleep, park, …): a
        command queued while an application runs executes *nested* inside it, as FreeSWITCH's
        (``sendmsg`` without ``event-lock``). Does nothing off the session's own greenlet or
        beyond :data:`MAX_STACKS` nested applications. True when something ran."""
        if not (self._queue or self._queue_pri or self._events):
            return False
        if gevent.getcurrent() is not self._greenlet:
            return False
        ch = self.channel
        if self.app_depth > MAX_STACKS:
            log.error("Error %s too many stacked extensions [depth=%d]", ch.name, self.app_depth)
            return False
        ran = False
        if self._events and not ch.flags & F.CF_DIVERT_EVENTS:
            self._fire_queued_events()
            ran = True
        while True:
            q = self._queue_pri
            if q:
                if self.event_lock_pri:
                    return ran
            else:
                q = self._queue
                if not q or self.event_lock:
                    return ran
            item = q.popleft()
            ran = True
            if callable(item):
                try:
                    item(self)
                except gevent.GreenletExit:
                    raise
                except Exception:
                    log.exception("%s: queued command %r raised", ch.name, item)
                continue
            app, arg, app_uuid, cause = item
            if app_uuid:
                ch.set_variable("app_uuid", app_uuid)
            self.execute_application(app, arg)
            self.fire_event(ET.COMMAND)
            if cause is not None:
                self.hangup(cause)

    _run_queued = run_queued

    # ------------------------------------------------------------------------------------------
    # events queued to the call (switch_core_session_queue_event): ESL sendevent with its uuid
    # ------------------------------------------------------------------------------------------
    def queue_event(self, event: Event) -> None:
        """Queue ``event`` to this call: its greenlet fires it when next idle (park, sleep,
        between states) with the channel data appended; while the channel has
        CF_DIVERT_EVENTS, it waits for a controller to take it (:meth:`dequeue_events`; the
        watchers are told)."""
        q = self._events
        if q is None:
            q = self._events = deque()
        q.append(event)
        if self.channel.flags & F.CF_DIVERT_EVENTS:
            self._notify()
        else:
            self._wake.set()

    def dequeue_events(self) -> list[Event]:
        """Take every event queued to the call (a controller diverting them)."""
        q = self._events
        if not q:
            return []
        out = list(q)
        q.clear()
        return out

    def _fire_queued_events(self) -> None:
        q = self._events
        ch = self.channel
        while q:
            ev = q.popleft()
            h = ev.headers
            for i, (name, _value) in enumerate(h):
                if name == "Event-Subclass":  # FreeSWITCH's order: the subclass first
                    h.insert(0, h.pop(i))
                    break
            ch.event_set_data(ev)
            self.manager.core.events.fire(ev)

    def break_media(self) -> None:
        """``uuid_break``: ask the running media app to stop (CF_BREAK)."""
        self.channel.set_flag(F.CF_BREAK)

    # ------------------------------------------------------------------------------------------
    # IVR primitives
    # ------------------------------------------------------------------------------------------
    def wait_state_change(self, timeout: float | None = None) -> None:
        """Sleep until woken (state change, hangup, queued command, break) or ``timeout``."""
        w = self._wake
        if not w.is_set():
            w.wait(timeout)
        w.clear()

    def park(self) -> Status:
        """``switch_ivr_park``: CHANNEL_PARK, wait running queued commands until the state
        changes or the call ends, CHANNEL_UNPARK.

        DTMF queued to the call is dequeued on each wake (its DTMF event fires, or goes to the
        controller diverting the call's events), as FreeSWITCH's park does per frame read. Park
        reads no frames: in softswitch a digit reaches the call through :meth:`queue_dtmf`
        (endpoints' receive paths, loopback's partner), which wakes the park, never in-band in
        the frames read; reading would wake each parked leg 50 times a second for nothing
        (1,000 parked null legs: 50,000 timer wakes a second)."""
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        state = ch.state
        ch.flags |= F.CF_PARK | F.CF_CONTROLLED
        self.fire_event(ET.CHANNEL_PARK)
        w = self._wake
        try:
            while ch.state == state and ch.flags & F.CF_PARK:
                if self.dtmf:
                    while self.dequeue_dtmf() is not None:
                        pass
                    continue
                if self.run_queued():
                    continue
                if not w.is_set():
                    w.wait()
                w.clear()
        finally:
            ch.flags &= ~(F.CF_PARK | F.CF_CONTROLLED)
            self.fire_event(ET.CHANNEL_UNPARK)
        return _SUCCESS

    def unpark(self) -> None:
        self.channel.flags &= ~F.CF_PARK
        self._wake.set()

    def sleep(self, ms: int) -> Status:
        """Wait ``ms`` (running queued commands); BREAK early on hangup or CF_BREAK."""
        ch = self.channel
        deadline = time.monotonic() + ms / 1000.0
        w = self._wake
        while True:
            if ch.state >= _HANGUP:
                return _FALSE
            if ch.flags & F.CF_BREAK:
                ch.flags &= ~F.CF_BREAK
                return Status.BREAK
            if self.run_queued():
                continue  # a nested command may have hung up or broken the sleep
            left = deadline - time.monotonic()
            if left <= 0:
                return _SUCCESS
            w.wait(left)
            w.clear()

    def send_dtmf(self, digits: str, duration_ms: int = 0) -> Status:
        ep = self.endpoint
        fn = ep.send_dtmf if ep is not None else None
        if fn is None:
            return Status.NOTIMPL
        for d in digits:
            st = fn(self, d, duration_ms)
            if st not in (None, _SUCCESS):
                return Status(st)
        return _SUCCESS

    # ------------------------------------------------------------------------------------------
    # hold, DTMF
    # ------------------------------------------------------------------------------------------
    def hold(self, display: str = "") -> Status:
        """``switch_ivr_hold``: INDICATE_HOLD to the endpoint, CF_HOLD, CHANNEL_HOLD. FALSE when
        the call state is already HELD (signalling endpoints set it; null legs never do)."""
        ch = self.channel
        if ch.state >= _HANGUP or ch.callstate == CallState.HELD:
            return _FALSE
        self._indicate_msg(Message(MessageId.INDICATE_HOLD, display))
        ch.flags |= F.CF_HOLD
        p = ch.caller_profile
        if p is not None:
            p.times.last_hold = micro_time_now()
        self.fire_event(ET.CHANNEL_HOLD)
        v = ch.vars
        self.manager.db.execute(self, v.get("current_application", ""),
                                v.get("current_application_data", ""))
        return _SUCCESS

    def unhold(self) -> Status:
        """``switch_ivr_unhold``: FALSE unless the call state is HELD."""
        ch = self.channel
        if ch.state >= _HANGUP or ch.callstate != CallState.HELD:
            return _FALSE
        self._indicate_msg(Message(MessageId.INDICATE_UNHOLD))
        ch.flags &= ~F.CF_HOLD
        p = ch.caller_profile
        if p is not None and p.times.last_hold:
            p.times.hold_accum += micro_time_now() - p.times.last_hold
        self.fire_event(ET.CHANNEL_UNHOLD)
        v = ch.vars
        self.manager.db.execute(self, v.get("current_application", ""),
                                v.get("current_application_data", ""))
        return _SUCCESS

    def _indicate_msg(self, msg: Message) -> Status:
        try:
            return self.receive_message(msg)
        except Exception:
            log.exception("%s: receive_message(%s) of %s raised", self.channel.name, msg.id.name,
                          self.module_name)
            return Status.GENERR

    def queue_dtmf(self, digits: str, duration: int = 2000, source: str = "APP") -> None:
        """An endpoint received DTMF: queue it for the apps (``switch_channel_queue_dtmf``)."""
        q = self.dtmf
        if q is None:
            q = self.dtmf = deque()
        for d in digits:
            q.append((d, duration, source))
        self._wake.set()

    def has_dtmf(self) -> bool:
        return bool(self.dtmf)

    def dequeue_dtmf(self) -> tuple[str, int] | None:
        """The next queued digit ``(digit, duration)`` or None; fires DTMF
        (``DTMF-Digit``, ``DTMF-Duration``, ``DTMF-Source`` after the channel data)."""
        q = self.dtmf
        if not q:
            return None
        digit, duration, source = q.popleft()
        after = (("DTMF-Digit", digit), ("DTMF-Duration", str(duration)), ("DTMF-Source", source))
        if self.channel.flags & F.CF_DIVERT_EVENTS:
            # switch_channel_dequeue_dtmf: a controller diverting the call's events takes the
            # DTMF event from the call's queue instead (queue_event)
            ev = Event(ET.DTMF)
            add_channel_data(self.channel, ev.headers, ET.DTMF,
                             self.manager.core.settings.verbose_channel_events)
            ev.headers.extend(after)
            self.queue_event(ev)
        else:
            self.fire_event(ET.DTMF, after=after)
        return digit, duration

    # ------------------------------------------------------------------------------------------
    # media (spec §10): the hot path
    # ------------------------------------------------------------------------------------------
    def read_frame(self, flags: int = 0) -> tuple[Status, Frame | None]:
        """The next frame from the endpoint, in the session's read codec."""
        if self.channel.state >= _HANGUP:
            return _FALSE, None
        rc = self.read_codec
        if rc is None:
            log.error("%s has no read codec.", self.channel.name)
            self.hangup(Cause.INCOMPATIBLE_DESTINATION)
            return _FALSE, None
        st, frame = self._ep_read(self, flags)
        if st != _SUCCESS or frame is None:
            return st, frame
        fc = frame.codec
        if fc is None or fc is rc:
            return st, frame
        fimpl = fc.implementation
        rimpl = rc.implementation
        if fimpl is rimpl:
            return st, frame
        data = frame.data if fimpl.iananame == "L16" else fc.decode(frame.data)
        if rimpl.iananame != "L16":
            data = rc.encode(data)
        out = self._rframe
        out.data = data
        out.samples = frame.samples
        out.rate = rimpl.samples_per_second
        out.codec = rc
        out.flags = frame.flags
        out.timestamp = frame.timestamp
        return st, out

    def write_frame(self, frame: Frame, flags: int = 0) -> Status:
        """Write a frame to the endpoint, encoded to the session's write codec."""
        ch = self.channel
        if ch.state >= _HANGUP:
            return _FALSE
        if frame.flags & _CNG and not ch.flags & F.CF_ACCEPT_CNG:
            return _SUCCESS
        wc = self.write_codec
        if wc is None:
            log.error("%s has no write codec.", ch.name)
            self.hangup(Cause.INCOMPATIBLE_DESTINATION)
            return _FALSE
        fc = frame.codec or self.read_codec
        if fc is None:
            self.hangup(Cause.DESTINATION_OUT_OF_ORDER)
            return _FALSE
        if fc is not wc:
            fimpl = fc.implementation
            wimpl = wc.implementation
            if fimpl is not wimpl:
                data = frame.data if fimpl.iananame == "L16" else fc.decode(frame.data)
                if wimpl.iananame != "L16":
                    data = wc.encode(data)
                out = self._wframe
                out.data = data
                out.samples = frame.samples
                out.rate = wimpl.samples_per_second
                out.codec = wc
                out.flags = frame.flags
                out.timestamp = frame.timestamp
                frame = out
        st = self._ep_write(self, frame, flags)
        return _SUCCESS if st is None else st
