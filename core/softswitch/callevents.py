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


def profile_headers(p: CallerProfile, prefix: str, out: list) -> None:
    """``switch_caller_profile_event_set_data``: the ``<prefix>-*`` block, empty strings omitted."""
    a = out.append
    a((prefix + "-Direction", p.direction))
    a((prefix + "-Logical-Direction", p.logical_direction))
    if p.username:
        a((prefix + "-Username", p.username))
    if p.dialplan:
        a((prefix + "-Dialplan", p.dialplan))
    if p.caller_id_name:
        a((prefix + "-Caller-ID-Name", p.caller_id_name))
    if p.caller_id_number:
        a((prefix + "-Caller-ID-Number", p.caller_id_number))
    if p.caller_id_name and p.orig_caller_id_name:
        a((prefix + "-Orig-Caller-ID-Name", p.orig_caller_id_name))
    if p.caller_id_number and p.orig_caller_id_number:
        a((prefix + "-Orig-Caller-ID-Number", p.orig_caller_id_number))
    if p.callee_id_name:
        a((prefix + "-Callee-ID-Name", p.callee_id_name))
    if p.callee_id_number:
        a((prefix + "-Callee-ID-Number", p.callee_id_number))
    if p.network_addr:
        a((prefix + "-Network-Addr", p.network_addr))
    if p.ani:
        a((prefix + "-ANI", p.ani))
    if p.aniii:
        a((prefix + "-ANI-II", p.aniii))
    if p.destination_number:
        a((prefix + "-Destination-Number", p.destination_number))
    if p.uuid:
        a((prefix + "-Unique-ID", p.uuid))
    if p.source:
        a((prefix + "-Source", p.source))
    if p.transfer_source:
        a((prefix + "-Transfer-Source", p.transfer_source))
    if p.context:
        a((prefix + "-Context", p.context))
    if p.rdnis:
        a((prefix + "-RDNIS", p.rdnis))
    if p.chan_name:
        a((prefix + "-Channel-Name", p.chan_name))
    if p.profile_index:
        a((prefix + "-Profile-Index", p.profile_index))
    t = p.times
    a((prefix + "-Profile-Created-Time", str(t.profile_created)))
    a((prefix + "-Channel-Created-Time", str(t.created)))
    a((prefix + "-Channel-Answered-Time", str(t.answered)))
    a((prefix + "-Channel-Progress-Time", str(t.progress)))
    a((prefix + "-Channel-Progress-Media-Time", str(t.progress_media)))
    a((prefix + "-Channel-Hangup-Time", str(t.hungup)))
    a((prefix + "-Channel-Transfer-Time", str(t.transferred)))
    a((prefix + "-Channel-Resurrect-Time", str(t.resurrected)))
    a((prefix + "-Channel-Bridged-Time", str(t.bridged)))
    a((prefix + "-Channel-Last-Hold", str(t.last_hold)))
    a((prefix + "-Channel-Hold-Accum", str(t.hold_accum)))
    a((prefix + "-Screen-Bit", "true" if p.screen_bit else "false"))
    a((prefix + "-Privacy-Hide-Name", "true" if p.privacy_hide_name else "false"))
    a((prefix + "-Privacy-Hide-Number", "true" if p.privacy_hide_number else "false"))


def add_channel_data(ch: Channel, out: list, event_type: int, verbose: bool = False) -> None:
    """Append the channel data headers to the header list ``out`` (an event's ``headers``)."""
    a = out.append
    v = ch.vars
    a(("Channel-State", state_name(ch.running_state)))
    a(("Channel-Call-State", callstate_name(ch.callstate)))
    a(("Channel-State-Number", str(int(ch.state))))
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
        for name, value in v.items():
            a(("variable_" + name, value))
