"""CHANNEL_* event bodies: FreeSWITCH's ``switch_channel_event_set_data`` (spec sessions.md §3.1).

Only built when the event has listeners (:meth:`softswitch.session.Session.fire_event` asks the
event system first): a call with nobody watching costs no header work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .causes import cause2str
from .channel import ChannelFlag, callstate_name, state_name
from .event import EventType

if TYPE_CHECKING:
    from .channel import CallerProfile, Channel

__all__ = ["add_channel_data", "profile_headers", "VARIABLE_EVENTS"]

ET = EventType
#: the event types whose channel data carries ``variable_*`` (spec §3.1, [L])
VARIABLE_EVENTS = frozenset((
    ET.CHANNEL_CREATE, ET.CHANNEL_ORIGINATE, ET.CHANNEL_UUID, ET.CHANNEL_ANSWER, ET.CHANNEL_PARK,
    ET.CHANNEL_UNPARK, ET.CHANNEL_BRIDGE, ET.CHANNEL_UNBRIDGE, ET.CHANNEL_PROGRESS,
    ET.CHANNEL_PROGRESS_MEDIA, ET.CHANNEL_HANGUP, ET.CHANNEL_HANGUP_COMPLETE,
    ET.CHANNEL_EXECUTE, ET.CHANNEL_EXECUTE_COMPLETE, ET.CHANNEL_DESTROY, ET.CHANNEL_HOLD,
    ET.CHANNEL_UNHOLD, ET.CHANNEL_DATA, ET.CALL_UPDATE, ET.REQUEST_PARAMS, ET.SESSION_HEARTBEAT,
    ET.API, ET.RECORD_START, ET.RECORD_STOP, ET.PLAYBACK_START, ET.PLAYBACK_STOP,
    ET.MEDIA_BUG_START, ET.MEDIA_BUG_STOP, ET.TEXT, ET.CUSTOM, ET.COMMAND,
))

_DIALPLAN = int(ChannelFlag.CF_DIALPLAN)


_STRING_FIELDS = ("-Username", "-Dialplan", "-Caller-ID-Name", "-Caller-ID-Number",
                  "-Orig-Caller-ID-Name", "-Orig-Caller-ID-Number", "-Callee-ID-Name",
                  "-Callee-ID-Number", "-Network-Addr", "-ANI", "-ANI-II",
                  "-Destination-Number", "-Unique-ID", "-Source", "-Transfer-Source", "-Context",
                  "-RDNIS", "-Channel-Name", "-Profile-Index")
_TIME_FIELDS = ("-Profile-Created-Time", "-Channel-Created-Time", "-Channel-Answered-Time",
                "-Channel-Progress-Time", "-Channel-Progress-Media-Time", "-Channel-Hangup-Time",
                "-Channel-Transfer-Time", "-Channel-Resurrect-Time", "-Channel-Bridged-Time",
                "-Channel-Last-Hold", "-Channel-Hold-Accum")
_NAMES: dict[str, tuple] = {}


def _names(prefix: str) -> tuple:
    n = _NAMES.get(prefix)
    if n is None:
        n = _NAMES[prefix] = (
            prefix + "-Direction", prefix + "-Logical-Direction",
            tuple(prefix + f for f in _STRING_FIELDS), tuple(prefix + f for f in _TIME_FIELDS),
            prefix + "-Screen-Bit", prefix + "-Privacy-Hide-Name", prefix + "-Privacy-Hide-Number")
    return n


_TF = ("false", "true")


def profile_headers(p: CallerProfile, prefix: str, out: list) -> None:
    """``switch_caller_profile_event_set_data``: the ``<prefix>-*`` block, empty strings omitted
    (the Orig-* ones only when the current name/number is set)."""
    direction, logical, strings, times, screen, hide_name, hide_number = _names(prefix)
    out.append((direction, p.direction))
    out.append((logical, p.logical_direction))
    cid_name = p.caller_id_name
    cid_num = p.caller_id_number
    values = (p.username, p.dialplan, cid_name, cid_num,
              p.orig_caller_id_name if cid_name else "",
              p.orig_caller_id_number if cid_num else "", p.callee_id_name, p.callee_id_number,
              p.network_addr, p.ani, p.aniii, p.destination_number, p.uuid, p.source,
              p.transfer_source, p.context, p.rdnis, p.chan_name, p.profile_index)
    out += [item for item in zip(strings, values, strict=True) if item[1]]
    t = p.times
    out += zip(times, (str(t.profile_created), str(t.created), str(t.answered), str(t.progress),
                       str(t.progress_media), str(t.hungup), str(t.transferred),
                       str(t.resurrected), str(t.bridged), str(t.last_hold), str(t.hold_accum)),
               strict=True)
    out.append((screen, _TF[p.screen_bit]))
    out.append((hide_name, _TF[p.privacy_hide_name]))
    out.append((hide_number, _TF[p.privacy_hide_number]))


_NUMBERS = tuple(str(i) for i in range(14))
_VAR_NAMES: dict[str, str] = {}


def _var_name(name: str) -> str:
    """``variable_<name>``, built once per distinct name."""
    v = _VAR_NAMES.get(name)
    if v is None:
        if len(_VAR_NAMES) > 10_000:
            _VAR_NAMES.clear()
        v = _VAR_NAMES[name] = "variable_" + name
    return v


def add_channel_data(ch: Channel, out: list, event_type: int, verbose: bool = False) -> None:
    """Append the channel data headers to the header list ``out`` (an event's ``headers``)."""
    a = out.append
    v = ch.vars
    a(("Channel-State", state_name(ch.running_state)))
    a(("Channel-Call-State", callstate_name(ch.callstate)))
    a(("Channel-State-Number", _NUMBERS[ch.state]))
    a(("Channel-Name", ch.name))
    a(("Unique-ID", ch.uuid))
    ext = v.get("session_external_id")
    if ext:
        a(("Session-External-ID", ext))
    a(("Call-Direction", ch.direction))
    a(("Presence-Call-Direction", ch.direction))
    a(("Channel-HIT-Dialplan",
       "true" if ch.direction == "inbound" or ch.flags & _DIALPLAN else "false"))
    pid = v.get("presence_id")
    if pid:
        a(("Channel-Presence-ID", pid))
    pdata = v.get("presence_data")
    if pdata:
        a(("Channel-Presence-Data", pdata))
    cols = v.get("presence_data_cols")
    if cols:
        a(("Presence-Data-Cols", cols))
        for col in cols.split(":"):
            val = v.get(col)
            if val:
                a(("PD-" + col.replace("_", "-").upper(), val))
    a(("Channel-Call-UUID", v.get("call_uuid") or ch.uuid))
    a(("Answer-State", ch.answer_state()))
    if ch.hangup_cause:
        a(("Hangup-Cause", cause2str(ch.hangup_cause)))
    s = ch.session
    rc = s.read_codec
    if rc is not None:
        impl = rc.implementation
        a(("Channel-Read-Codec-Name", impl.iananame))
        a(("Channel-Read-Codec-Rate", str(impl.actual_samples_per_second)))
        a(("Channel-Read-Codec-Bit-Rate", str(impl.bits_per_second)))
    wc = s.write_codec
    if wc is not None:
        impl = wc.implementation
        a(("Channel-Write-Codec-Name", impl.iananame))
        a(("Channel-Write-Codec-Rate", str(impl.actual_samples_per_second)))
        a(("Channel-Write-Codec-Bit-Rate", str(impl.bits_per_second)))
    p = ch.caller_profile
    if p is not None:
        profile_headers(p, "Caller", out)
        other = ch.originator_profile
        kind = "originator"
        if other is None:
            other, kind = ch.originatee_profile, "originatee"
        if other is not None:
            a(("Other-Type", kind))
            profile_headers(other, "Other-Leg", out)
    if verbose or event_type in VARIABLE_EVENTS:
        scope = s.scope_vars
        if scope:
            out += [("scope_variable_" + k, val) for k, val in scope.items()]
        names = _VAR_NAMES
        out += [(names.get(k) or _var_name(k), val) for k, val in v.items()]
