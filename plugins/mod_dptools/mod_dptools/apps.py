"""The applications, the ``inline`` dialplan and the ``error`` endpoint of mod_dptools.

Every application is ``fn(session, data)`` run by the kernel's envelope on the session's
greenlet; ``data`` is already ``${}``-expanded. Log lines are FreeSWITCH's, word for word.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from softswitch import (
    AppFlag,
    Cause,
    ChannelFlag,
    ChannelState,
    Event,
    EventType,
    FileError,
    Frame,
    Message,
    MessageId,
    Status,
    cause2str,
    name_event,
    parse_level,
    str2cause,
    to_python,
)

from .args import (
    atoi,
    export_display_name,
    inline_extension,
    parse_event,
    parse_export,
    parse_extension_target,
    parse_global,
    parse_log,
    parse_multiset,
    parse_park_timeout,
    parse_set,
    parse_transfer,
    separate_string,
)

log = logging.getLogger(__name__)

N = AppFlag.SAF_SUPPORT_NOMEDIA
R = AppFlag.SAF_ROUTING_EXEC
Z = AppFlag.SAF_ZOMBIE_EXEC
T = AppFlag.SAF_SUPPORT_TEXT_ONLY

#: ``SWITCH_MAX_STACKS``: nested execute_extension levels
MAX_STACKS = 32
_SUCCESS = Status.SUCCESS


#: ``SWITCH_CHANNEL_ID_SESSION``: the Text-Channel of a session's log lines
SESSION_CHANNEL = 3


def slog(session, level: int, message: str, *args: Any) -> None:
    """A session log line (``SWITCH_CHANNEL_SESSION_LOG``): Text-Channel 3, the call's uuid."""
    if log.isEnabledFor(level):
        log.log(level, message, *args, extra={"fs_channel": SESSION_CHANNEL, "fs_user_data": session.uuid})


def _str2level(text: str) -> int:
    """``switch_log_str2level``: a name or a number; 64 (invalid) otherwise."""
    return parse_level(text)


# ----------------------------------------------------------------------------------------------
# answer, pre_answer, ring_ready, hangup
# ----------------------------------------------------------------------------------------------
def answer(session, data: str) -> None:
    # answer_flags (is_conference, decode_video, debug_video) concern conferences and video,
    # which softswitch does not have; they are read and ignored
    session.answer()


def pre_answer(session, data: str) -> None:
    session.pre_answer()


def ring_ready(session, data: str) -> None:
    # "queued" rings with the queued flavour (SIP 182); a null/loopback leg shows no difference
    session.ring_ready()


def hangup(session, data: str) -> None:
    cause = str2cause(data) if data else Cause.NORMAL_CLEARING
    session.hangup(cause)


# ----------------------------------------------------------------------------------------------
# park, sleep, echo
# ----------------------------------------------------------------------------------------------
def park(session, data: str) -> None:
    ch = session.channel
    if ch.test_flag(ChannelFlag.CF_CONTROLLED):
        slog(session, logging.ERROR, "Cannot park channels that are under control already.")
        return
    timeout = None
    to = ch.get_variable("park_timeout")
    if to is not None:
        timeout = parse_park_timeout(to)
        ch.set_variable("park_timeout", None)
        ch.set_variable("park_after_bridge", None)
    timer = None
    if timeout is not None:
        secs, cause_text = timeout
        cause = str2cause(cause_text) if cause_text else Cause.NORMAL_CLEARING
        # FreeSWITCH compares whole epoch seconds each 20 ms turn; a monotonic timer is exact
        timer = gevent.spawn_later(secs, session.hangup, cause)
    try:
        session.park()
    finally:
        if timer is not None:
            timer.kill(block=False)


def sleep(session, data: str) -> None:
    if not data:
        slog(session, logging.ERROR, "No timeout specified.")
        return
    ms = atoi(data)
    ch = session.channel
    if ch.get_variable("sleep_eat_digits") not in ("true", "yes", "on", "1", "t", "enabled"):
        if ms > 0:
            session.sleep(ms)
        return
    # sleep_eat_digits: DTMF arriving meanwhile is consumed; a playback terminator ends the sleep
    ch.set_variable("playback_terminator_used", "")
    deadline = time.monotonic() + ms / 1000.0
    while True:
        if session.has_dtmf() and _terminated(session):
            return
        left = deadline - time.monotonic()
        if left <= 0 or session.sleep(min(20, max(1, int(left * 1000)))) != _SUCCESS:
            return


def echo(session, data: str) -> None:
    """Every frame read is written back, until the call ends or moves on."""
    read = session.read_frame
    write = session.write_frame
    ready = session.ready
    run_queued = session.run_queued
    while ready():
        # commands queued meanwhile (sendmsg, uuid_broadcast) run nested, as FreeSWITCH's
        # switch_ivr_parse_all_events in the echo loop
        if run_queued() and not ready():
            break
        st, frame = read()
        if st != _SUCCESS or frame is None:
            break
        if write(frame) != _SUCCESS:
            break


# ----------------------------------------------------------------------------------------------
# variables
# ----------------------------------------------------------------------------------------------
def _base_set(session, data: str | None) -> None:
    parsed = parse_set(data)
    if parsed is None:
        slog(session, logging.ERROR, "No variable name specified.")
        return
    ch = session.channel
    var, val = parsed
    expanded = ch.expand(val) if val is not None else None
    slog(session, logging.DEBUG, "SET %s [%s]=[%s]", ch.name, var,
         expanded if expanded is not None else "UNDEF")
    ch.set_variable(var, expanded)


def set_(session, data: str) -> None:
    _base_set(session, data)


def multiset(session, data: str) -> None:
    for item in parse_multiset(data):
        _base_set(session, item)


def unset(session, data: str) -> None:
    if not data:
        slog(session, logging.ERROR, "No variable name specified.")
        return
    slog(session, logging.DEBUG, "UNSET [%s]", data)
    session.channel.set_variable(data, None)


def export(session, data: str) -> None:
    parsed = parse_export(data)
    if parsed is None:
        slog(session, logging.ERROR, "No variable name specified.")
        return
    var, val, local = parsed
    ch = session.channel
    slog(session, logging.DEBUG, "EXPORT (export_vars) %s[%s]=[%s]", "" if local else "(REMOTE ONLY) ",
         export_display_name(var), val if val is not None else "UNDEF")
    ch.set_variable(var, val)
    if val is not None:
        exports = ch.get_variable("export_vars")
        ch.set_variable("export_vars", f"{exports},{var}" if exports else var)


def make_set_global(core):
    def set_global(session, data: str) -> None:
        parsed = parse_global(data)
        if parsed is None:
            slog(session, logging.ERROR, "No variable name specified.")
            return
        var, val = parsed
        slog(session, logging.DEBUG, "SET GLOBAL [%s]=[%s]", var, val if val is not None else "UNDEF")
        core.vars.set(var, val)
    return set_global


# ----------------------------------------------------------------------------------------------
# log, info, event
# ----------------------------------------------------------------------------------------------
def log_app(session, data: str) -> None:
    parsed = parse_log(data, _str2level)
    if parsed is None:
        return
    level, text = parsed
    log.log(to_python(level), "%s", text,
            extra={"fs_channel": SESSION_CHANNEL, "fs_user_data": session.uuid, "fs_level": level})


def info(session, data: str) -> None:
    level = _str2level(data) if data else 6
    if level >= 64:
        return  # an invalid level logs nothing, as switch_log_printf drops it
    ev = Event(EventType.CHANNEL_DATA, stamp=False)  # switch_event_create_plain
    session.channel.event_set_data(ev)
    # switch_event_serialize(event, &buf, SWITCH_FALSE): "Name: [value]" lines, then a blank line
    body = "".join(f"{name}: [{value}]\n" for name, value in ev.items()) + "\n"
    log.log(to_python(level), "CHANNEL_DATA:\n%s\n", body,
            extra={"fs_channel": SESSION_CHANNEL, "fs_user_data": session.uuid, "fs_level": level})


def make_event(core):
    def event(session, data: str) -> None:
        """CHANNEL_APPLICATION with the pairs; ``Event-Name=X`` retypes it (that header then
        comes after the standard ones), ``Event-Subclass=Y`` sets the subclass (its header
        first), as FreeSWITCH's wire order shows [obs]."""
        pairs = parse_event(data)
        etype = EventType.CHANNEL_APPLICATION
        subclass = None
        renamed = False
        for var, val in pairs:
            low = var.lower()
            if low == "event-name":
                t = name_event(val)
                if t is not None:
                    etype = t
                renamed = True
            elif low == "event-subclass":
                subclass = val
        ev = Event(etype, subclass if etype == EventType.CUSTOM else None, stamp=False)
        if subclass is not None:
            ev.add_header("Event-Subclass", subclass)
        ev.stamp()
        if renamed:
            ev.del_header("Event-Name")
        for var, val in pairs:
            if var.lower() != "event-subclass":
                ev.add_header(var, val)
        session.channel.event_set_data(ev)
        core.events.fire(ev)
    return event


# ----------------------------------------------------------------------------------------------
# playback
# ----------------------------------------------------------------------------------------------
def make_playback(core):
    l16_cache: dict[int, Any] = {}

    def l16(rate: int):
        c = l16_cache.get(rate)
        if c is None:
            c = l16_cache[rate] = core.codec_open(f"L16@{rate}h@20i")
        return c

    def playback(session, data: str) -> None:
        ch = session.channel
        ch.set_variable("playback_terminator_used", "")
        path = data or ""
        if "@@" in path:
            path, _, _offset = path.partition("@@")  # sample offsets: files only, not streams
        wc = session.write_codec
        impl = wc.implementation if wc is not None else None
        rate = impl.actual_samples_per_second or impl.samples_per_second if impl else 8000
        samples = impl.samples_per_packet if impl else 160
        if not path or not session.ready():
            ch.set_variable("current_application_response", "PLAYBACK ERROR")
            return
        try:
            fh = core.file_open(path, rate=rate)
        except FileError as e:
            slog(session, logging.ERROR, "%s", e)
            ch.set_variable("current_application_response", "FILE NOT FOUND")
            return
        ftype = "tone_stream" if path[:12].lower() == "tone_stream:" else None
        _playback_event(session, EventType.PLAYBACK_START, path, ftype, None)
        status = _play(session, fh, l16(fh.samplerate), samples * fh.samplerate // rate or samples)
        slog(session, logging.DEBUG, "done playing file %s", path)
        total = getattr(fh, "samples_read", 0)
        ch.set_variable("playback_last_offset_pos", "0")
        ch.set_variable("playback_seconds", str(total // fh.samplerate))
        ch.set_variable("playback_ms", str(total // (fh.samplerate // 1000)))
        ch.set_variable("playback_samples", str(total))
        _playback_event(session, EventType.PLAYBACK_STOP, path, ftype,
                        "break" if status == Status.BREAK else "done")
        try:
            fh.close()
        except Exception:
            log.debug("closing %s failed", path, exc_info=True)
        ch.set_variable("current_application_response", "FILE PLAYED")

    return playback


def _playback_event(session, etype, path: str, ftype: str | None, status: str | None) -> None:
    after = []
    if ftype:
        after.append(("Playback-File-Type", ftype))
    after.append(("Playback-File-Path", path))
    if status:
        after.append(("Playback-Status", status))
    session.fire_event(etype, after=after)


#: ``int.__and__`` on a flag set: channel flags are an IntFlag, whose own ``&`` builds enum
#: members (~1.5 µs); the int operation on the same value is ~50 ns
_and = int.__and__
_STOP_FLAGS = int(ChannelFlag.CF_BREAK | ChannelFlag.CF_TRANSFER | ChannelFlag.CF_REDIRECT)
_BREAK = int(ChannelFlag.CF_BREAK)


def _play(session, fh, codec, samples: int) -> Status:
    """The media loop: a file frame, the session's read (its timer paces it), the write.

    The hot path of a playing call, 50 turns a second per call: everything it touches is
    bound to locals first, the one :class:`Frame` is reused, a tone frame is a ready ``bytes``
    object from the tone cache, and readiness is two integer tests instead of
    ``session.ready()`` (a hangup, a transfer or a park changes the state; ``uuid_break`` and
    transfers set a flag; a read on a channel going down fails).
    """
    if not session.ready():
        return Status.FALSE
    ch = session.channel
    state = ch.state
    read_file = fh.read
    read = session.read_frame
    write = session.write_frame
    has_dtmf = session.has_dtmf
    run_queued = session.run_queued
    frame = Frame(b"", samples, fh.samplerate, codec)
    full = samples * 2
    while True:
        # switch_ivr_play_file parses the call's queued commands each turn: one sent meanwhile
        # (sendmsg without event-lock, uuid_broadcast) runs nested inside the playback
        run_queued()
        if ch.state is not state:
            return Status.FALSE
        flags = _and(ch.flags, _STOP_FLAGS)
        if flags:
            if flags & _BREAK:
                ch.clear_flag(ChannelFlag.CF_BREAK)
                return Status.BREAK
            return Status.FALSE
        if has_dtmf() and _terminated(session):
            return Status.BREAK
        data = read_file(samples)
        if data is None:
            return _SUCCESS
        if len(data) < full:
            # FreeSWITCH pads a short last read (with 0xFF bytes, a units mix-up); silence here
            data = data + bytes(full - len(data))
        st, _rf = read()
        if st != _SUCCESS:
            return st
        frame.data = data
        if write(frame) != _SUCCESS:
            return Status.FALSE


def _terminated(session) -> bool:
    """The DTMF queued for the call, read as ``on_dtmf`` of mod_dptools' playback does: a digit
    in ``playback_terminators`` (default ``*``; ``any``; ``none``) ends the playback and is kept
    in ``playback_terminator_used``; other digits are consumed."""
    ch = session.channel
    while True:
        got = session.dequeue_dtmf()
        if got is None:
            return False
        digit = got[0]
        terms = ch.get_variable("playback_terminators")
        if terms is None:
            terms = "*"
        low = terms.lower()
        if low == "none":
            continue
        if low == "any":
            terms = "1234567890*#"
        if digit in terms:
            ch.set_variable("playback_terminator_used", digit)
            return True


# ----------------------------------------------------------------------------------------------
# transfer, execute_extension, bridge
# ----------------------------------------------------------------------------------------------
def make_transfer(core):
    def transfer(session, data: str) -> None:
        parsed = parse_transfer(data)
        if parsed is None:
            if data:
                slog(session, logging.ERROR, "No extension specified.")
            return
        mode, (ext, dp, ctx) = parsed
        if mode:
            partner = _partner(core, session)
            if partner is not None:
                session_transfer(partner, ext, dp, ctx)
            else:
                slog(session, logging.WARNING, "No B-leg present.")
            if mode == "both":
                session_transfer(session, ext, dp, ctx)
        else:
            session_transfer(session, ext, dp, ctx)
    return transfer


def _partner(core, session):
    """``switch_channel_get_partner_uuid``: the leg this one is bridged to (``bridge_uuid``) or
    was originated with (``signal_bond``), if it still exists."""
    ch = session.channel
    uuid = ch.get_variable("bridge_uuid") or ch.get_variable("signal_bond")
    return core.sessions.locate(uuid) if uuid else None


def session_transfer(session, ext: str, dp: str | None, ctx: str | None) -> Status:
    """``switch_ivr_session_transfer``: the ``max_forwards`` guard, the dialplan and context
    defaults, the NOTICE line, then the kernel's transfer (new profile, CS_ROUTING)."""
    ch = session.channel
    p = ch.caller_profile
    if p is None:
        return Status.FALSE
    fwd_var = "max_session_transfers" if ch.get_variable("max_session_transfers") else "max_forwards"
    fwd = ch.get_variable(fwd_var)
    forwards = atoi(fwd) if fwd else 70
    forwards -= 1
    if forwards <= 0:
        session.hangup(Cause.EXCHANGE_ROUTING_ERROR)
        return Status.FALSE
    ch.set_variable(fwd_var, str(forwards))
    if not dp:
        dp = ch.get_variable("force_transfer_dialplan") or p.dialplan or ""
        if dp.lower() == "inline" or not dp:
            dp = "XML"
    if not ctx:
        ctx = ch.get_variable("force_transfer_context") or p.context or "default"
    slog(session, 25, "Transfer %s to %s[%s@%s]", ch.name, dp, ext, ctx)
    st = session.transfer(ext, dp, ctx)
    source = ch.get_variable("transfer_source")
    if st == _SUCCESS and source:
        # transfer_history: every transfer_source, pushed as an array (ARRAY::a|:b)
        old = ch.get_variable("transfer_history")
        if not old:
            ch.set_variable("transfer_history", source)
        elif old.startswith("ARRAY::"):
            ch.set_variable("transfer_history", f"{old}|:{source}")
        else:
            ch.set_variable("transfer_history", f"ARRAY::{old}|:{source}")
    return st


def make_execute_extension(core):
    stacks: dict[str, int] = {}  # nesting depth per session uuid (FreeSWITCH's stack_count)

    def execute_extension(session, data: str) -> None:
        target = parse_extension_target(data)
        if target is None:
            slog(session, logging.ERROR, "Usage: <extension> <dialplan> <context>")
            return
        ext, dp, ctx = target
        execute_exten(core, session, ext, dp, ctx, stacks)
    return execute_extension


def execute_exten(core, session, exten: str, dialplan: str, context: str,
                  stacks: dict[str, int]) -> Status:
    """``switch_core_session_execute_exten``: hunt ``exten`` with a cloned caller profile and
    run what it finds nested, here, then return to the caller's list."""
    ch = session.channel
    profile = ch.caller_profile
    if profile is None:
        return Status.FALSE
    depth = stacks.get(session.uuid, 0)
    if depth > MAX_STACKS:
        slog(session, logging.ERROR, "Error %s too many stacked extensions [depth=%d]", ch.name, depth)
        return Status.FALSE
    new = profile.clone()
    new.destination_number = exten
    if dialplan:
        new.dialplan = dialplan
    if context:
        new.context = context
    apps = None
    for entry in separate_string(new.dialplan or "XML", ",", 25):
        name, _, arg = entry.partition(":")
        iface = core.interface("dialplan", name)
        if iface is None or getattr(iface, "hunt", None) is None:
            continue
        apps = _hunt_with_profile(iface, session, arg, new)
        if apps:
            break
    if not apps:
        return Status.FALSE
    stacks[session.uuid] = depth + 1
    try:
        for app, arg in apps:
            if not session.ready():
                break
            slog(session, 25, "Execute [depth=%d] %s(%s)", depth + 1, app, arg or "")
            session.execute_application(app, arg or "")
    finally:
        if depth:
            stacks[session.uuid] = depth
        else:
            stacks.pop(session.uuid, None)
    return _SUCCESS


def _hunt_with_profile(iface, session, arg: str, profile):
    """Hunt with a caller profile other than the channel's: mod_dptools' and mod_dialplan_xml's
    hunts take it as a keyword; another module's dialplan sees the channel's own profile."""
    if getattr(iface.hunt, "accepts_profile", False):
        return iface.hunt(session, arg, profile=profile)
    return iface.hunt(session, arg)


def make_bridge(core):
    def bridge(session, data: str) -> None:
        ch = session.channel
        if not data:
            slog(session, logging.ERROR, "No dial string specified.")
            return
        cause, peer = core.sessions.originate(data, originator=session, variables=_exports(ch))
        _dial_status(ch, cause, peer)
        if peer is None:
            name = cause2str(cause)
            slog(session, logging.INFO, "Originate Failed.  Cause: %s", name)
            ch.set_variable("originate_failed_cause", name)
            handle_cause(session, cause)
            return
        core.sessions.bridge(session, peer)
        after_bridge(session, peer)
    return bridge


def after_bridge(session, peer) -> None:
    """What the A leg does once its bridge ended (the end of switch_ivr_multi_threaded_bridge):
    nothing special by default (the dialplan goes on); ``hangup_after_bridge=true`` hangs up
    with the B leg's cause (``explicit``: even if B never answered); ``park_after_bridge``
    parks; ``transfer_after_bridge=<ext>[:<dp>[:<ctx>]]`` transfers (the ``early`` variants
    also after early media only). A B leg that never answered goes through
    :func:`handle_cause`."""
    ch = session.channel
    if _and(ch.flags, _TRANSFER_OR_REDIRECT):
        return
    pch = peer.channel
    cause = pch.hangup_cause or Cause.NORMAL_CLEARING
    hup = ch.get_variable("hangup_after_bridge")
    answered = pch.answered
    if not answered:
        handle_cause(session, cause)
    if hup and hup.lower() == "explicit":
        session.hangup(cause)
    early = pch.early_media
    state = ch.state
    if state not in _BRIDGE_DONE_STATES or ((answered or early) and state < ChannelState.CS_HANGUP):
        if ch.test_flag(ChannelFlag.CF_TRANSFER):
            return
        if (answered and _true(ch.get_variable("park_after_bridge") or "")) or \
                _true(ch.get_variable("park_after_early_bridge") or ""):
            ch.set_state(ChannelState.CS_PARK)
            return
        where = (ch.get_variable("transfer_after_bridge") if answered else None) or \
            ch.get_variable("transfer_after_early_bridge")
        if where:
            ch.set_variable("transfer_after_bridge", None)
            argv = separate_string(where, ":", 4) + ["", "", ""]
            if argv[0]:
                session_transfer(session, argv[0], argv[1], argv[2])
            else:
                slog(session, logging.ERROR, "No extension specified.")
            return
        if answered and hup and _true(hup):
            session.hangup(cause)


_TRANSFER_OR_REDIRECT = int(ChannelFlag.CF_TRANSFER | ChannelFlag.CF_REDIRECT)
_BRIDGE_DONE_STATES = (ChannelState.CS_EXECUTE, ChannelState.CS_SOFT_EXECUTE, ChannelState.CS_PARK,
                       ChannelState.CS_ROUTING)


_DIALSTATUS = {Cause.ORIGINATOR_CANCEL: "CANCEL", Cause.USER_BUSY: "BUSY", Cause.NO_ANSWER: "NOANSWER",
               Cause.DESTINATION_OUT_OF_ORDER: "INVALIDARGS", Cause.INVALID_PROFILE: "INVALIDARGS",
               Cause.CALL_REJECTED: "DONTCALL"}


def _dial_status(ch, cause, peer) -> None:
    """``originate_disposition`` and ``DIALSTATUS`` on the caller, as switch_ivr_originate
    sets them (an answered peer gives ``EARLY`` and an unanswered one ``ANSWER``: FreeSWITCH's
    test is the wrong way round, and scripts see exactly that)."""
    if peer is not None:
        ch.set_variable("originate_disposition", "call accepted")
        ch.set_variable("DIALSTATUS", "EARLY" if peer.channel.answered else "ANSWER")
        return
    name = cause2str(cause)
    ch.set_variable("originate_disposition", name)
    ch.set_variable("DIALSTATUS", _DIALSTATUS.get(cause, name))


def _exports(ch) -> dict[str, str]:
    """The variables named in ``export_vars`` (set by ``export``), for the legs this call
    originates; a ``nolocal:`` name goes across without its prefix."""
    names = ch.get_variable("export_vars")
    out: dict[str, str] = {}
    if names:
        for name in names.split(","):
            name = name.strip()
            value = ch.get_variable(name) if name else None
            if value is not None:
                out[export_display_name(name)] = value
    return out


_TRUE = ("yes", "on", "true", "t", "enabled", "active", "allow")


def _true(value: str) -> bool:
    v = value.strip().lower()
    return v in _TRUE or (v.isdigit() and int(v) != 0)


def _in_causes(text: str, cause_str: str, cause_num: str) -> bool:
    low = cause_str.lower()
    return any(a.lower() == low or a == cause_num for a in separate_string(text, ",", 256))


def handle_cause(session, cause) -> None:
    """``switch_channel_handle_cause``: after a failed bridge, go on with the dialplan, transfer,
    or hang up with the cause.

    * ``continue_on_fail``: ``true``, or a list of causes (names or numbers) to go on after;
    * ``failure_causes``: the opposite, only these causes count as failures;
    * neither: NO_ANSWER, NO_USER_RESPONSE and ORIGINATOR_CANCEL go on, the rest hang up;
    * ``transfer_on_fail="<causes> [<ext>|auto_cause [<dp> [<ctx>]]]"``: transfer on those.
    """
    ch = session.channel
    if not ch.up():
        return
    tof = separate_string(ch.get_variable("transfer_on_fail") or "", " ", 4)
    tof += [""] * (4 - len(tof))
    transfer_on_fail = tof[0] or None
    cause_str = cause2str(cause)
    cause_num = str(int(cause))
    if cause != Cause.ATTENDED_TRANSFER:
        cof = ch.get_variable("continue_on_fail")
        failure_causes = ch.get_variable("failure_causes")
        if cof is not None or failure_causes is not None:
            if failure_causes is not None and not _in_causes(failure_causes, cause_str, cause_num):
                slog(session, logging.DEBUG, "Failure causes [%s]:  Cause: %s", failure_causes, cause_str)
                return
            if cof is not None:
                if _true(cof):
                    return
                if _in_causes(cof, cause_str, cause_num):
                    slog(session, logging.DEBUG, "Continue on fail [%s]:  Cause: %s", cof, cause_str)
                    return
        elif cause in (Cause.NO_ANSWER, Cause.NO_USER_RESPONSE, Cause.ORIGINATOR_CANCEL):
            return  # no answer is always a reason to go on
        if transfer_on_fail:
            if _true(transfer_on_fail):
                return
            if _in_causes(transfer_on_fail, cause_str, cause_num):
                ext = tof[1] if tof[1] and tof[1].lower() != "auto_cause" else cause_str
                slog(session, logging.DEBUG, "Transfer on fail [%s]:  Cause: %s", transfer_on_fail, cause_str)
                session_transfer(session, ext, tof[2], tof[3])
    if not ch.test_flag(ChannelFlag.CF_TRANSFER) and ch.state != ChannelState.CS_ROUTING:
        session.hangup(cause)


# ----------------------------------------------------------------------------------------------
# send_dtmf, respond
# ----------------------------------------------------------------------------------------------
def send_dtmf(session, data: str) -> None:
    if not data:
        return
    if len(data.lstrip("~")) > 99:
        slog(session, logging.ERROR, "Attempt to send very large dtmf string ignored!")
        return
    session.pre_answer()
    for part in data.lstrip("~").split("+"):
        digits, at, dur = part.partition("@")
        session.send_dtmf(digits, atoi(dur) if at else 0)


def respond(session, data: str) -> None:
    session.receive_message(Message(MessageId.INDICATE_RESPOND, string_arg=data or "",
                                    numeric_arg=-1, from_="mod_dptools"))


# ----------------------------------------------------------------------------------------------
# the inline dialplan and the error endpoint
# ----------------------------------------------------------------------------------------------
def inline_hunt(session, arg: str, profile=None):
    """``inline``: ``app[:data],app2[:data2]`` from the argument or the destination."""
    if profile is None:
        profile = session.channel.caller_profile
    if profile is None:
        return None
    target = arg or profile.destination_number
    if not target:
        return None
    apps = inline_extension(target)
    profile.destination_number = profile.rdnis or ""
    profile.rdnis = ""
    return [(app, data or "") for app, data in apps]


inline_hunt.accepts_profile = True


def error_outgoing(core, originator, var_event, profile, flags):
    """``error/<cause>``: no session, the cause named (``error/USER_BUSY``, ``error/17``)."""
    dest = (profile.destination_number if profile is not None else "") or ""
    return str2cause(dest), None


APPS = (
    # name, short description, syntax, function or factory, flags, needs core
    ("answer", "Answer the call", "", answer, N, False),
    ("pre_answer", "Pre-Answer the call", "", pre_answer, N, False),
    ("ring_ready", "Indicate Ring_Ready", "[queued]", ring_ready, N, False),
    ("hangup", "Hangup the call", "[<cause>]", hangup, N, False),
    ("park", "Park", "", park, N, False),
    ("sleep", "Pause a channel", "<pausemilliseconds>", sleep, N, False),
    ("set", "Set a channel variable", "<varname>=<value>", set_, N | R | Z, False),
    ("unset", "Unset a channel variable", "<varname>", unset, N | R | Z, False),
    ("multiset", "Set many channel variables", "[^^]<varname>=<value> <var2>=<val2>", multiset,
     N | R | Z, False),
    ("export", "Export a channel variable across a bridge", "<varname>=<value>", export,
     N | R | Z, False),
    ("set_global", "Set a global variable", "<varname>=<value>", make_set_global, N | R | Z, True),
    ("log", "Logs to the logger", "<log_level> <log_string>", log_app, N | R | Z, False),
    ("info", "Display Call Info", "", info, N | R | Z, False),
    ("event", "Fire an event", "", make_event, N | R | Z, True),
    ("echo", "Echo", "", echo, T, False),
    ("playback", "Playback File", "<path>", make_playback, AppFlag.SAF_NONE, True),
    ("bridge", "Bridge Audio", "<channel_url>", make_bridge, N | T, True),
    ("transfer", "Transfer a channel", "<exten> [<dialplan> <context>]", make_transfer, N, True),
    ("execute_extension", "Execute an extension", "<extension> <dialplan> <context>",
     make_execute_extension, N, True),
    ("send_dtmf", "Send dtmf to be sent", "<dtmf_data>", send_dtmf, N, False),
    ("respond", "Send session respond", "<respond_data>", respond, N, False),
)


def register(module, core) -> None:
    from .filestring import SUBCLASSES, FileString

    for name, short, syntax, fn, flags, factory in APPS:
        function = fn(core) if factory else fn
        module.add_application(name, short, short, syntax, function, int(flags))
    module.add_dialplan("inline")(inline_hunt)
    module.add_endpoint("error", outgoing_channel=error_outgoing)
    module.add_file("file_string", lambda path, rate=8000, channels=1: FileString(core, path, rate, channels),
                    (), "several files played as one")
    for sub in SUBCLASSES:
        module.reserve_subclass(sub)


__all__ = ["register", "inline_hunt", "session_transfer", "execute_exten", "error_outgoing", "APPS"]
