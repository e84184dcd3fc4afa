"""The channel of a session: states, call states, flags, variables, caller profiles.

FreeSWITCH's ``switch_channel.c`` / ``switch_caller.c`` data model (spec sessions.md §1–§2).
The state *mechanics* (the state machine greenlet, hangup) live in :mod:`softswitch.session`;
a :class:`Channel` holds the data and the transition rules.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from .causes import Cause
from .timer import micro_time_now

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)

__all__ = [
    "ChannelState", "CallState", "ChannelFlag", "ChannelCap", "CallerProfile", "Timetable",
    "Channel", "state_name", "name_state", "callstate_name",
]


class ChannelState(enum.IntEnum):
    CS_NEW = 0
    CS_INIT = 1
    CS_ROUTING = 2
    CS_SOFT_EXECUTE = 3
    CS_EXECUTE = 4
    CS_EXCHANGE_MEDIA = 5
    CS_PARK = 6
    CS_CONSUME_MEDIA = 7
    CS_HIBERNATE = 8
    CS_RESET = 9
    CS_HANGUP = 10
    CS_REPORTING = 11
    CS_DESTROY = 12
    CS_NONE = 13


CS = ChannelState
_STATE_NAMES = tuple(s.name for s in ChannelState)


def state_name(state: int) -> str:
    return _STATE_NAMES[state]


def name_state(name: str) -> ChannelState:
    """``switch_channel_name_state``: case-insensitive; unknown → CS_DESTROY (sic)."""
    try:
        return ChannelState[name.strip().upper()]
    except KeyError:
        return CS.CS_DESTROY


class CallState(enum.IntEnum):
    DOWN = 0
    DIALING = 1
    RINGING = 2
    EARLY = 3
    ACTIVE = 4
    HELD = 5
    RING_WAIT = 6
    HANGUP = 7
    UNHELD = 8


_CALLSTATE_NAMES = tuple(c.name for c in CallState)


def callstate_name(cs: int) -> str:
    return _CALLSTATE_NAMES[cs] if 0 <= cs < len(_CALLSTATE_NAMES) else "UNKNOWN"


class ChannelFlag(enum.IntFlag):
    """The CF_* flags the kernel and modules use (a subset of FreeSWITCH's; bit values are ours)."""

    CF_ANSWERED = 1 << 0
    CF_OUTBOUND = 1 << 1
    CF_EARLY_MEDIA = 1 << 2
    CF_BRIDGE_ORIGINATOR = 1 << 3
    CF_TRANSFER = 1 << 4
    CF_ACCEPT_CNG = 1 << 5
    CF_REDIRECT = 1 << 6
    CF_BRIDGED = 1 << 7
    CF_HOLD = 1 << 8
    CF_ORIGINATOR = 1 << 9
    CF_ORIGINATING = 1 << 10
    CF_RING_READY = 1 << 11
    CF_PARK = 1 << 12
    CF_BREAK = 1 << 13
    CF_CONTROLLED = 1 << 14
    CF_DIALPLAN = 1 << 15
    CF_NOMEDIA = 1 << 16
    CF_PROXY_MODE = 1 << 17
    CF_UNBRIDGE = 1 << 18
    CF_THREAD_STARTED = 1 << 19
    CF_REPORTING = 1 << 20
    CF_DESTROYED = 1 << 21
    CF_LEG_HOLDING = 1 << 22
    CF_SERVICE = 1 << 23
    CF_DIVERT_EVENTS = 1 << 24
    CF_BLOCK_STATE = 1 << 25
    CF_EVENT_PARSE = 1 << 26
    CF_EARLY_OK = 1 << 27
    CF_MEDIA_ACK = 1 << 28
    CF_VIDEO = 1 << 29


class ChannelCap(enum.IntFlag):
    CC_MEDIA_ACK = 1 << 0
    CC_BYPASS_MEDIA = 1 << 1
    CC_PROXY_MEDIA = 1 << 2
    CC_JITTERBUFFER = 1 << 3
    CC_FS_RTP = 1 << 4
    CC_QUEUEABLE_DTMF_DELAY = 1 << 5
    CC_IO_OVERRIDE = 1 << 6
    CC_RTP_RTT = 1 << 7
    CC_MSRP = 1 << 8


class _Ints:
    """The flags as plain ints, for the kernel's own tests and sets: an IntFlag operation
    builds (and caches) a pseudo-member per new combination, which is slow and keeps memory."""

    def __init__(self, flags: type[enum.IntFlag]) -> None:
        for m in flags:
            setattr(self, m.name, int(m))


CF = _Ints(ChannelFlag)
F = CF

# set_state's allowed transitions (spec §2.1)
_MID = frozenset((CS.CS_EXCHANGE_MEDIA, CS.CS_SOFT_EXECUTE, CS.CS_ROUTING, CS.CS_EXECUTE,
                  CS.CS_PARK, CS.CS_CONSUME_MEDIA, CS.CS_HIBERNATE, CS.CS_RESET))
_ALLOWED: dict[int, frozenset] = {
    CS.CS_NEW: frozenset(ChannelState), CS.CS_RESET: frozenset(ChannelState),
    CS.CS_INIT: _MID,
    CS.CS_HIBERNATE: (_MID - {CS.CS_HIBERNATE}) | {CS.CS_INIT},
    CS.CS_HANGUP: frozenset((CS.CS_REPORTING, CS.CS_DESTROY)),
    CS.CS_REPORTING: frozenset((CS.CS_DESTROY,)),
    CS.CS_DESTROY: frozenset(),
    CS.CS_NONE: frozenset(),
}
for _s in (CS.CS_ROUTING, CS.CS_EXECUTE, CS.CS_SOFT_EXECUTE, CS.CS_EXCHANGE_MEDIA, CS.CS_PARK,
           CS.CS_CONSUME_MEDIA):
    _ALLOWED[_s] = (_MID - {_s}) | {CS.CS_ROUTING}
del _s


class Timetable:
    """A profile's times, µs since the epoch, 0 = not yet (``switch_channel_timetable_t``)."""

    __slots__ = ("profile_created", "created", "answered", "progress", "progress_media", "hungup",
                 "transferred", "resurrected", "bridged", "last_hold", "hold_accum")

    def __init__(self) -> None:
        self.profile_created = self.created = self.answered = self.progress = 0
        self.progress_media = self.hungup = self.transferred = self.resurrected = 0
        self.bridged = self.last_hold = self.hold_accum = 0

    def copy(self) -> Timetable:
        t = Timetable()
        for name in Timetable.__slots__:
            setattr(t, name, getattr(self, name))
        return t


class CallerProfile:
    """``switch_caller_profile_t``: who calls whom, in FreeSWITCH's field names."""

    __slots__ = ("username", "dialplan", "caller_id_name", "caller_id_number",
                 "orig_caller_id_name", "orig_caller_id_number", "callee_id_name",
                 "callee_id_number", "network_addr", "ani", "aniii", "rdnis",
                 "destination_number", "uuid", "source", "transfer_source", "context",
                 "chan_name", "profile_index", "direction", "logical_direction", "times",
                 "caller_extension", "screen_bit", "privacy_hide_name", "privacy_hide_number")

    def __init__(self, *, username: str = "", dialplan: str = "", caller_id_name: str = "",
                 caller_id_number: str = "0000000000", network_addr: str = "", ani: str = "",
                 aniii: str = "", rdnis: str = "", source: str = "", context: str = "default",
                 destination_number: str = "", callee_id_name: str = "",
                 callee_id_number: str = "", direction: str = "inbound",
                 orig_caller_id_name: str | None = None,
                 orig_caller_id_number: str | None = None, uuid: str = "",
                 chan_name: str = "") -> None:
        self.username = username
        self.dialplan = dialplan
        self.caller_id_name = caller_id_name
        self.caller_id_number = caller_id_number
        self.orig_caller_id_name = caller_id_name if orig_caller_id_name is None else orig_caller_id_name
        self.orig_caller_id_number = (caller_id_number if orig_caller_id_number is None
                                      else orig_caller_id_number)
        self.callee_id_name = callee_id_name
        self.callee_id_number = callee_id_number
        self.network_addr = network_addr
        self.ani = ani or caller_id_number
        self.aniii = aniii
        self.rdnis = rdnis
        self.destination_number = destination_number
        self.uuid = uuid
        self.source = source
        self.transfer_source = ""
        self.context = context or "default"
        self.chan_name = chan_name
        self.profile_index = "1"
        self.direction = direction
        self.logical_direction = direction
        self.times = Timetable()
        self.caller_extension: list[tuple[str, str]] | None = None
        self.screen_bit = True
        self.privacy_hide_name = False
        self.privacy_hide_number = False

    def clone(self) -> CallerProfile:
        """The next profile of the same channel (transfer): fields and times copied,
        ``profile_index`` + 1, no extension."""
        p = CallerProfile.__new__(CallerProfile)
        for name in CallerProfile.__slots__:
            setattr(p, name, getattr(self, name))
        p.times = self.times.copy()
        p.caller_extension = None
        try:
            p.profile_index = str(int(self.profile_index) + 1)
        except ValueError:
            p.profile_index = "1"
        return p

    def get_field(self, name: str) -> str | None:
        """``switch_caller_get_field_by_name``: a field by name, None when there is no such
        field (``field`` gives "" instead)."""
        name = name.lower()
        if name in _TIME_FIELDS or (name in _PROFILE_FIELDS):
            return self.field(name)
        return None

    def field(self, name: str) -> str:
        """A field by its dialplan name (``caller_id_number``, ``chan_name``, …); unknown → ""."""
        name = name.lower()
        if name in _TIME_FIELDS:
            return str(getattr(self.times, _TIME_FIELDS[name]))
        if name in CallerProfile.__slots__ and name not in ("times", "caller_extension"):
            v = getattr(self, name)
            if isinstance(v, bool):
                return "true" if v else "false"
            return "" if v is None else str(v)
        return ""

    def __repr__(self) -> str:
        return (f"<CallerProfile {self.caller_id_name!r} <{self.caller_id_number}> -> "
                f"{self.destination_number} @{self.context}/{self.dialplan}>")


_PROFILE_FIELDS = frozenset((
    "username", "dialplan", "caller_id_name", "caller_id_number", "orig_caller_id_name",
    "orig_caller_id_number", "callee_id_name", "callee_id_number", "network_addr", "ani",
    "aniii", "rdnis", "destination_number", "uuid", "source", "transfer_source", "context",
    "chan_name", "profile_index", "screen_bit", "privacy_hide_name", "privacy_hide_number"))
_TIME_FIELDS = {"profile_created_time": "profile_created", "created_time": "created",
                "answered_time": "answered", "progress_time": "progress",
                "progress_media_time": "progress_media", "hungup_time": "hungup",
                "transferred_time": "transferred"}


class Channel:
    """A session's channel (``switch_channel_t``). See docs/calls.md §1."""

    __slots__ = ("session", "uuid", "name", "direction", "logical_direction", "state",
                 "running_state", "callstate", "hangup_cause", "flags", "caps", "vars",
                 "caller_profile", "originator_profile", "originatee_profile", "private",
                 "state_handlers", "__weakref__")

    def __init__(self, session: Session, uuid: str, direction: str) -> None:
        self.session = session
        self.uuid = uuid
        self.name = "N/A"
        self.direction = direction
        self.logical_direction = direction
        self.state = CS.CS_NEW
        self.running_state = CS.CS_NONE
        self.callstate = CallState.DOWN
        self.hangup_cause = Cause.NONE
        self.flags = 0
        self.caps = 0
        self.vars: dict[str, str] = {}
        self.caller_profile: CallerProfile | None = None
        self.originator_profile: CallerProfile | None = None
        self.originatee_profile: CallerProfile | None = None
        self.private: dict[str, Any] | None = None
        self.state_handlers: list | None = None

    def __repr__(self) -> str:
        return f"<Channel {self.name} {self.uuid} {self.state.name}>"

    # -- flags ----------------------------------------------------------------------------------
    def set_flag(self, flag: int) -> None:
        flag = int(flag)
        self.flags |= flag
        if flag & F.CF_BREAK:
            self.session.wake()

    def clear_flag(self, flag: int) -> None:
        self.flags &= ~int(flag)

    def test_flag(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def set_cap(self, cap: int) -> None:
        self.caps |= int(cap)

    def clear_cap(self, cap: int) -> None:
        self.caps &= ~int(cap)

    def test_cap(self, cap: int) -> bool:
        return bool(self.caps & cap)

    @property
    def answered(self) -> bool:
        return bool(self.flags & F.CF_ANSWERED)

    @property
    def early_media(self) -> bool:
        return bool(self.flags & F.CF_EARLY_MEDIA)

    @property
    def ring_ready(self) -> bool:
        return bool(self.flags & F.CF_RING_READY)

    # -- variables ------------------------------------------------------------------------------
    def set_variable(self, name: str, value: object) -> None:
        """Set (moving it to the end) or, with an empty/None value, delete a variable."""
        v = self.vars
        if name in v:
            del v[name]
        if value is None or value == "":
            return
        v[name] = value if value.__class__ is str else str(value)

    def get_variable(self, name: str, default: str | None = None) -> str | None:
        """As ``switch_channel_get_variable``: the running app's scope variables (``%[…]``),
        the channel's, a caller-profile field (``destination_number``, ``caller_id_number``,
        …; ``aleg_``/``bleg_`` for the originator/originatee profile), then the globals."""
        scope = self.session.scope_vars
        if scope is not None and name in scope:
            return scope[name]
        value = self.vars.get(name)
        if value is not None:
            return value
        p = self.caller_profile
        if name.startswith("aleg_") or name.startswith("bleg_"):
            p = self.originator_profile if name[0] == "a" else self.originatee_profile
            name_in_profile = name[5:]
        else:
            name_in_profile = name
        if p is not None:
            value = p.get_field(name_in_profile)
            if value is not None:
                return value
        return self.session.core.vars.get(name, default)

    def get_variable_local(self, name: str, default: str | None = None) -> str | None:
        """Only the channel's own variable (no global fallback)."""
        return self.vars.get(name, default)

    def del_variable(self, name: str) -> None:
        self.vars.pop(name, None)

    def variables(self) -> list[tuple[str, str]]:
        return list(self.vars.items())

    def expand(self, text: str) -> str:
        if "$" not in text:
            return text
        return self.session.core.expand(text, self.get_variable)

    # -- names, profiles ------------------------------------------------------------------------
    def set_name(self, name: str) -> None:
        self.name = name
        self.set_variable("channel_name", name)
        if self.caller_profile is not None:
            self.caller_profile.chan_name = name

    def set_caller_profile(self, profile: CallerProfile) -> None:
        """Install a (new) caller profile: uuid, channel name, created times filled in."""
        old = self.caller_profile
        profile.uuid = self.uuid
        if self.name != "N/A":
            profile.chan_name = self.name
        if profile.direction != self.direction:
            profile.direction = self.direction
            profile.logical_direction = self.logical_direction
        now = micro_time_now()
        t = profile.times
        if old is None:
            t.profile_created = t.profile_created or now
            t.created = t.created or now
        else:
            ot = old.times
            t.profile_created = now
            t.created, t.answered, t.progress, t.progress_media, t.hungup = (
                ot.created, ot.answered, ot.progress, ot.progress_media, ot.hungup)
        self.caller_profile = profile

    # -- state rules ----------------------------------------------------------------------------
    def set_state(self, state: int) -> ChannelState:
        """Spec §2.1: move the target state if allowed; returns the state now in force."""
        return self.session.set_state(state)

    def allowed(self, state: int) -> bool:
        cur = self.state
        if state == cur or (cur >= CS.CS_HANGUP and state < cur):
            return False
        return state in _ALLOWED[cur]

    def set_callstate(self, cs: int) -> None:
        self.session.set_callstate(cs)

    def hangup(self, cause: int = Cause.NORMAL_CLEARING) -> ChannelState:
        return self.session.hangup(cause)

    # -- readiness (spec §2.4) -------------------------------------------------------------------
    def up(self) -> bool:
        return self.state < CS.CS_HANGUP

    def down(self) -> bool:
        return self.state >= CS.CS_HANGUP

    def ready(self) -> bool:
        st = self.state
        return (not self.hangup_cause and CS.CS_ROUTING < st < CS.CS_HANGUP and st != CS.CS_RESET
                and not self.flags & F.CF_TRANSFER)

    def media_ready(self) -> bool:
        s = self.session
        return (self.ready() and bool(self.flags & (F.CF_ANSWERED | F.CF_EARLY_MEDIA))
                and s.read_codec is not None and s.write_codec is not None)

    def answer_state(self) -> str:
        if self.state >= CS.CS_HANGUP:
            return "hangup"
        if self.flags & F.CF_ANSWERED:
            return "answered"
        if self.flags & F.CF_EARLY_MEDIA:
            return "early"
        return "ringing"

    def event_set_data(self, event) -> None:
        """Add the channel data (spec §3.1) to ``event``."""
        from .callevents import add_channel_data  # (callevents imports this module)

        add_channel_data(self, event.headers, event.event_id)
