"""Calls: ``originate``, ``hupall`` and the ``uuid_*`` commands, with FreeSWITCH's replies.

Each command reads its arguments as FreeSWITCH's ``mod_commands.c`` does (the same
``switch_separate_string`` field counts, the same "empty argument" branches) and answers with
the same text byte for byte, odd ones included (spec/sessions.md §8, §11): ``uuid_hold`` on an
unknown uuid says ``+OK Success``, ``uuid_answer`` on an unknown one ``-ERROR``,
``uuid_setvar_multi`` with nothing after the uuid says nothing at all.

The calls themselves are the kernel's (docs/calls.md): ``core.sessions.locate``,
``core.sessions.originate`` / ``route_originated``, ``core.sessions.hupall``,
``core.sessions.uuid_bridge`` and the :class:`softswitch.Session` primitives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gevent

import softswitch
from softswitch import Event, EventType

from ._api import CommandTable
from ._text import atoi, separate_string

log = logging.getLogger(__name__)

commands = CommandTable()

ORIGINATE_SYNTAX = (
    "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] "
    "[<cid_num>] [<timeout_sec>]"
)
KILL_SYNTAX = "<uuid> [cause]"
OUTGOING_ANSWER_SYNTAX = "<uuid>"
PARK_SYNTAX = "<uuid>"
TRANSFER_SYNTAX = "<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]"
BROADCAST_SYNTAX = "<uuid> <path> [aleg|bleg|holdb|both]"
HOLD_SYNTAX = "[off|toggle] <uuid> [<display>]"
UUID_SYNTAX = "<uuid> <other_uuid>"
BREAK_SYNTAX = "<uuid> [all]"
SETVAR_SYNTAX = "<uuid> <var> [value]"
SETVAR_MULTI_SYNTAX = "<uuid> <var>=<value>;<var>=<value>..."
EXISTS_SYNTAX = "<uuid>"
GETVAR_SYNTAX = "<uuid> <var>"
DUMP_SYNTAX = "<uuid> [format]"
SEND_DTMF_SYNTAX = "<uuid> <dtmf_data>"
RECV_DTMF_SYNTAX = "<uuid> <dtmf_data>"
HUPALL_SYNTAX = "<cause> [<var> <value>] [<var2> <value2>]"

#: Where FreeSWITCH's commands find a leg's partner: ``uuid_transfer -bleg|-both`` reads
#: SWITCH_BRIDGE_VARIABLE; ``uuid_broadcast`` and ``uuid_break both`` use
#: ``switch_channel_get_partner_uuid`` (signal bond, then originate signal bond). The kernel's
#: bridge sets ``bridge_uuid`` on both legs, hence the last name of each list.
TRANSFER_PARTNER_VARS = ("bridge_to", "bridge_uuid")
PARTNER_VARS = ("signal_bond", "originate_signal_bond", "bridge_uuid")


def _partner(module, session, names=PARTNER_VARS):
    get = session.channel.get_variable
    for name in names:
        uuid = get(name)
        if uuid:
            return _locate(module, uuid)
    return None


def _locate(module, uuid: str | None):
    if not uuid:
        return None
    return module.core.sessions.locate(uuid)


def _ok(status) -> bool:
    if status is True or status is False:
        return status
    return status is None or status == softswitch.Status.SUCCESS


# ---------------------------------------------------------------------------------------------
# originate
# ---------------------------------------------------------------------------------------------


@dataclass
class OriginateArgs:
    """The arguments of ``originate`` as ``originate_function`` reads them."""

    dial: str
    exten: str
    dialplan: str = "XML"
    context: str = "default"
    cid_name: str | None = None
    cid_num: str | None = None
    timeout: int = 60
    #: ``(app, arg)`` when ``exten`` is ``&app(arg)``, else None (an extension to transfer to)
    app: tuple[str, str | None] | None = None


def parse_originate(cmd: str) -> OriginateArgs | None:
    """Read ``originate``'s arguments; None → the USAGE reply.

    Split on spaces with single quotes grouping (``&socket('127.0.0.1:8084 async full')``),
    2 to 7 fields, the word ``undef`` (any case) meaning "not given".
    """
    if not cmd:
        return None
    argv: list[str | None] = list(separate_string(cmd, " ", 10))
    if not 2 <= len(argv) <= 7:
        return None
    argv = [None if a is not None and a.lower() == "undef" else a for a in argv]
    argv += [None] * (7 - len(argv))
    dial, exten, dp, context, cid_name, cid_num, timeout = argv
    if exten is None:
        # FreeSWITCH asserts here (``originate x undef`` aborts the switch): answer USAGE
        return None
    out = OriginateArgs(dial=dial or "", exten=exten, dialplan=dp or "XML",
                        context=context or "default", cid_name=cid_name, cid_num=cid_num)
    if timeout is not None:
        out.timeout = atoi(timeout)
    out.app = parse_app(exten)
    return out


def parse_app(exten: str) -> tuple[str, str | None] | None:
    """``&app(args)`` → ``(app, args)`` (args None without a ``(``); else None.

    As FreeSWITCH: the text is cut at its first ``)``, the arguments start after the first
    ``(``; a lone ``&`` is an extension named ``&``.
    """
    if len(exten) < 2 or exten[0] != "&":
        return None
    name = exten[1:]
    e = name.find(")")
    if e >= 0:
        name = name[:e]
    name, paren, arg = name.partition("(")
    return name, (arg if paren else None)


@commands("originate", "Originate a call", ORIGINATE_SYNTAX)
def originate(module, cmd, session, stream):
    args = parse_originate(cmd)
    if args is None:
        stream.write(f"-USAGE: {ORIGINATE_SYNTAX}\n")
        return
    if session is not None:  # run from a call (an app, a dialplan ${originate …}): it waits
        log.log(softswitch.NOTICE, "Originate can take 60 seconds to complete, and blocks the "
                "existing session. Do not confuse with a lockup.")
    sessions = module.core.sessions
    cause, leg = sessions.originate(args.dial, originator=None, timeout=args.timeout,
                                    caller_id_name=args.cid_name, caller_id_number=args.cid_num)
    if leg is None:
        stream.write(f"-ERR {softswitch.cause2str(cause)}\n")
        return
    if args.app is not None:
        # a one-app extension (CALL_UPDATE, CS_EXECUTE), the app and its arguments read as
        # FreeSWITCH reads them (parse_app)
        leg.set_caller_extension([args.app])
    else:
        sessions.route_originated(leg, args.exten, args.dialplan, args.context)
    stream.write(f"+OK {leg.uuid}\n")


# ---------------------------------------------------------------------------------------------
# hanging up
# ---------------------------------------------------------------------------------------------


@commands("uuid_kill", "Kill channel", KILL_SYNTAX)
def uuid_kill(module, cmd, session, stream):
    if not cmd:
        stream.write(f"-USAGE: {KILL_SYNTAX}\n")
        return
    uuid, sp, kcause = cmd.partition(" ")
    cause = softswitch.str2cause(kcause) if sp and kcause else softswitch.Cause.NORMAL_CLEARING
    target = _locate(module, uuid)
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    target.hangup(cause)
    stream.write("+OK\n")


def parse_hupall(cmd: str) -> tuple[int, list[tuple[str, str]], list[str]]:
    """``(cause, [(var, value)…], argv)`` as ``hupall_api_function`` reads them."""
    Cause = softswitch.Cause
    if not cmd:
        return Cause.MANAGER_REQUEST, [], []
    argv = separate_string(cmd, " ", 11)
    cause = softswitch.str2cause(argv[0]) if argv else Cause.MANAGER_REQUEST
    if cause == Cause.NONE:
        cause = Cause.MANAGER_REQUEST
    pairs = []
    for i in range(1, len(argv) - 1, 2):
        var, val = argv[i], argv[i + 1]
        if var and val:
            pairs.append((var, val))
    return cause, pairs, argv


def hupall_reply(cause: int, pairs: list, argv: list[str]) -> str:
    name = softswitch.cause2str(cause)
    if not pairs:
        return f"+OK hangup all channels with cause {name}\n"
    # FreeSWITCH names argv[1] and argv[2], whichever pair was the one kept
    more = "..." if len(pairs) > 1 else ""
    return f"+OK hangup all channels matching [{argv[1]}]=[{argv[2]}]{more} with cause: {name}\n"


@commands("hupall", "hupall", HUPALL_SYNTAX)
def hupall(module, cmd, session, stream):
    cause, pairs, argv = parse_hupall(cmd)
    module.core.sessions.hupall(cause, dict(pairs) if pairs else None)
    stream.write(hupall_reply(cause, pairs, argv))


# ---------------------------------------------------------------------------------------------
# answering, parking, transferring
# ---------------------------------------------------------------------------------------------


@commands("uuid_answer", "answer", "<uuid>")
def uuid_answer(module, cmd, session, stream):
    target = _locate(module, cmd)
    stream.write("+OK\n" if target is not None and _ok(target.answer()) else "-ERROR\n")


@commands("uuid_pre_answer", "pre_answer", "<uuid>")
def uuid_pre_answer(module, cmd, session, stream):
    target = _locate(module, cmd)
    stream.write("+OK\n" if target is not None and _ok(target.pre_answer()) else "-ERROR\n")


@commands("uuid_outgoing_answer", "Answer outgoing channel", OUTGOING_ANSWER_SYNTAX)
def uuid_outgoing_answer(module, cmd, session, stream):
    if not cmd:
        stream.write(f"-USAGE: {OUTGOING_ANSWER_SYNTAX}\n")
        return
    target = _locate(module, cmd)
    if target is None:
        stream.write("-ERR No such channel!\n")
    elif target.channel.direction == "outbound":
        target.mark_answered()
        stream.write("+OK\n")
    else:
        stream.write("-ERR Not an outbound channel!\n")


def park_session(target) -> None:
    """``switch_ivr_park_session``: to CS_PARK, CF_TRANSFER so that the running app lets go."""
    target.channel.set_state(softswitch.ChannelState.CS_PARK)
    target.channel.set_flag(softswitch.ChannelFlag.CF_TRANSFER)


@commands("uuid_park", "Park channel", PARK_SYNTAX)
def uuid_park(module, cmd, session, stream):
    target = _locate(module, cmd)
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    park_session(target)
    stream.write("+OK\n")


@commands("uuid_transfer", "Transfer a session", TRANSFER_SYNTAX)
def uuid_transfer(module, cmd, session, stream):
    if not cmd:
        stream.write(f"-USAGE: {TRANSFER_SYNTAX}\n")
        return
    argv = separate_string(cmd, " ", 5)
    if not 2 <= len(argv) <= 5:
        stream.write(f"-USAGE: {TRANSFER_SYNTAX}\n")
        return
    argv += [None] * (5 - len(argv))
    target = _locate(module, argv[0])
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    dest, dp, context = argv[1], argv[2], argv[3]
    flag = None
    if dest.startswith("-"):
        flag = dest[1:].lower()
        dest, dp, context = argv[2], argv[3], argv[4]
    if flag is not None:
        other = _partner(module, target, TRANSFER_PARTNER_VARS)
        if other is not None and flag == "bleg":
            target = other
        elif other is not None and flag == "both":
            Flag = softswitch.ChannelFlag
            other.channel.set_flag(Flag.CF_REDIRECT)
            target.channel.set_flag(Flag.CF_REDIRECT)
            other.transfer(dest, dp, context)
    if dest is not None and _ok(target.transfer(dest, dp, context)):
        stream.write("+OK\n")
    else:
        stream.write("-ERR\n")


# ---------------------------------------------------------------------------------------------
# media: broadcast, bridge, hold, DTMF, break
# ---------------------------------------------------------------------------------------------


def broadcast(module, uuid: str, path: str, aleg: bool, bleg: bool) -> bool:
    """``switch_ivr_broadcast``: queue ``playback <path>`` (or ``app::args``) on the leg(s),
    then ``hangup <cause>`` when the app part ends in ``!cause``. False for an unknown uuid."""
    target = _locate(module, uuid)
    if target is None:
        return False
    app, sep, rest = path.partition("::")
    if sep:
        path = rest
    else:
        app = "playback"
    cause = None
    if "!" in app:
        app, _, cause = app.partition("!")
        cause = cause or "normal_clearing"
    if bleg:
        other = _partner(module, target)
        if other is not None:
            other.queue_command(app, path)
    if aleg:
        target.queue_command(app, path)
    if cause:
        target.queue_command("hangup", cause)
    return True


@commands("uuid_broadcast", "Execute dialplan application", BROADCAST_SYNTAX)
def uuid_broadcast(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 4) if cmd else []
    if not cmd or len(argv) < 2:
        stream.write(f"-USAGE: {BROADCAST_SYNTAX}\n")
        return
    aleg, bleg = True, False  # default SMF_ECHO_ALEG | SMF_HOLD_BLEG
    if len(argv) > 2:
        how = argv[2].lower()  # switch_stristr: each word anywhere, any case
        aleg = "both" in how or "aleg" in how
        bleg = ("both" in how or "bleg" in how) and "holdb" not in how
    if broadcast(module, argv[0], argv[1], aleg, bleg):
        stream.write("+OK Message sent\n")
    else:
        stream.write("-ERR invalid uuid\n")


@commands("uuid_bridge", "Bridge call legs", "")
def uuid_bridge(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 4) if cmd else []
    if not cmd or len(argv) < 2:
        stream.write(f"-USAGE: {UUID_SYNTAX}\n")
        return
    sessions = module.core.sessions
    who = None
    if _ok(sessions.uuid_bridge(argv[0], argv[1])):
        who = argv[1]
    elif len(argv) > 2 and _ok(sessions.uuid_bridge(argv[0], argv[2])):
        who = argv[2]
    stream.write(f"+OK {who}\n" if who is not None else "-ERR Invalid uuid\n")


def hold(target, message: str | None) -> bool:
    """``switch_ivr_hold`` (the kernel's ``session.hold``): refused when already HELD."""
    if target.channel.callstate == softswitch.CallState.HELD:
        log.warning("%s Call is already on hold. No need to hold again.", target.channel.name)
        return False
    return _ok(target.hold(message or ""))


def unhold(target) -> bool:
    """``switch_ivr_unhold`` (the kernel's ``session.unhold``): refused unless HELD."""
    if target.channel.callstate != softswitch.CallState.HELD:
        log.warning("%s Call is not on hold. No need to unhold.", target.channel.name)
        return False
    return _ok(target.unhold())


@commands("uuid_hold", "Place call on hold", HOLD_SYNTAX)
def uuid_hold(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 4) if cmd else []
    ok = False
    if not cmd or not argv or not argv[0]:
        stream.write(f"-USAGE: {HOLD_SYNTAX}\n")
    else:
        CallState = softswitch.CallState
        word = argv[0].lower()
        # an unknown uuid is a success, as in FreeSWITCH (switch_ivr_*_uuid start at SUCCESS)
        if word == "off":
            target = _locate(module, argv[1] if len(argv) > 1 else None)
            ok = target is None or unhold(target)
        elif word == "toggle":
            target = _locate(module, argv[1] if len(argv) > 1 else None)
            ok = True
            if target is not None:
                cs = target.channel.callstate
                if cs in (CallState.ACTIVE, CallState.UNHELD):
                    ok = hold(target, argv[2] if len(argv) > 2 else None)
                elif cs == CallState.HELD:
                    ok = unhold(target)
        else:
            target = _locate(module, argv[0])
            ok = target is None or hold(target, argv[1] if len(argv) > 1 else None)
    stream.write("+OK Success\n" if ok else "-ERR Operation failed\n")


_DTMF_DIGITS = frozenset("0123456789ABCDabcd*#wWFf")


def send_dtmf_string(module, target, text: str) -> bool:
    """``switch_core_session_send_dtmf_string``: ``[~]<digits>[@<ms>][+<digits>[@<ms>]]…``.

    At most 99 characters; the leg is pre-answered; each group's ``@ms`` sets its digits'
    duration (kept within fsctl's min/max DTMF durations); ``w``/``W`` pause 500 ms / 1 s
    (cooperatively: the command waits, as FreeSWITCH's does); other characters are skipped.
    The variable ``last_dtmf_duration`` gets the group's total in ms. True if a digit was sent.
    """
    if text.startswith("~"):
        text = text[1:]
    if not text or target.channel.down():
        return False
    if len(text) > 99:
        log.error("%s Attempt to send very large dtmf string ignored!", target.channel.name)
        return False
    groups = separate_string(text, "+", 256)
    if groups:
        target.pre_answer()
    durations = getattr(module.state, "dtmf", None) or {"min": 400, "max": 192000, "default": 2000}
    wc = target.write_codec
    rate = wc.implementation.samples_per_second if wc is not None else 8000
    mult = rate // 1000 if rate >= 1000 else 8
    sent = 0
    for group in groups:
        duration = durations["default"]
        digits, at, ms = group.partition("@")
        if at and atoi(ms) > durations["min"] // mult:
            duration = atoi(ms) * mult
        total = 0
        for d in digits:
            if d not in _DTMF_DIGITS:
                continue
            if d in "wW":
                gevent.sleep(0.5 if d == "w" else 1.0)
                sent += 1
                total += duration + 250 * mult
                continue
            duration = min(max(duration, durations["min"]), durations["max"])
            if _ok(target.send_dtmf(d, duration // mult)):
                sent += 1
                total += duration + 250 * mult  # FreeSWITCH counts a 250 ms pause per digit
        if total:
            target.channel.set_variable("last_dtmf_duration", str(total // mult))
    return sent > 0


@commands("uuid_send_dtmf", "Send dtmf digits", SEND_DTMF_SYNTAX)
def uuid_send_dtmf(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 2) if cmd else []
    if len(argv) < 2 or not argv[0] or not argv[1]:
        stream.write(f"-USAGE: {SEND_DTMF_SYNTAX}\n")
        return
    uuid, dtmf = argv
    target = _locate(module, uuid)
    if target is None:
        stream.write("-ERR Cannot locate session!\n")
    elif send_dtmf_string(module, target, dtmf):
        stream.write(f"+OK {uuid} sent DTMF {dtmf}.\n")
    else:
        stream.write("-ERR Operation failed\n")


def queue_dtmf_string(module, target, text: str) -> softswitch.Status:
    """``switch_channel_queue_dtmf_string``: the call *receives* ``[~]<digits>[@<ms>][+…]``
    (queued for its applications; a parked call fires the DTMF events). SUCCESS if a digit was
    queued, GENERR if there was none and something was not a digit, else FALSE."""
    if not text:
        return softswitch.Status.GENERR
    if text.startswith("~"):
        text = text[1:]
    durations = getattr(module.state, "dtmf", None) or {"min": 400, "max": 192000, "default": 2000}
    sent = bad = 0
    for group in separate_string(text, "+", 256):
        duration = durations["default"]
        digits, at, ms = group.partition("@")
        if at and atoi(ms) > durations["min"] // 8:
            duration = atoi(ms) * 8
        duration = min(max(duration, durations["min"]), durations["max"])
        for d in digits:
            if d in _DTMF_DIGITS:
                target.queue_dtmf(d, duration)
                sent += 1
            else:
                bad += 1
    if sent:
        return softswitch.Status.SUCCESS
    return softswitch.Status.GENERR if bad else softswitch.Status.FALSE


@commands("uuid_recv_dtmf", "Receive dtmf digits", RECV_DTMF_SYNTAX)
def uuid_recv_dtmf(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 2) if cmd else []
    if len(argv) < 2 or not argv[0] or not argv[1]:
        stream.write(f"-USAGE: {RECV_DTMF_SYNTAX}\n")
        return
    uuid, dtmf = argv
    target = _locate(module, uuid)
    if target is None:
        stream.write("-ERR Cannot locate session!\n")
    elif queue_dtmf_string(module, target, dtmf) == softswitch.Status.GENERR:
        stream.write(f"-USAGE: {RECV_DTMF_SYNTAX}\n")
    else:
        stream.write(f"+OK {uuid} received DTMF {dtmf}.\n")


def _break(module, cmd, session, stream):
    if not cmd:
        stream.write(f"-USAGE: {BREAK_SYNTAX}\n")
        return
    uuid, sp, flag = cmd.partition(" ")
    target = _locate(module, uuid)
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    targets = [target]
    if "both" in flag:
        other = _partner(module, target)
        if other is not None:
            targets.append(other)
    for t in targets:
        t.break_media()
    stream.write("+OK\n")


commands("uuid_break", "Break out of media sent to channel", BREAK_SYNTAX)(_break)
commands("break", "uuid_break", BREAK_SYNTAX)(_break)


# ---------------------------------------------------------------------------------------------
# variables and dumps
# ---------------------------------------------------------------------------------------------


@commands("uuid_exists", "Check if a uuid exists", EXISTS_SYNTAX)
def uuid_exists(module, cmd, session, stream):
    stream.write("true" if _locate(module, cmd) is not None else "false")


def _array_item(value: str | None, idx: int) -> str | None:
    if value is None or not value.startswith("ARRAY::"):
        return None
    items = value[7:].split("|:")
    return items[idx] if 0 <= idx < len(items) else None


@commands("uuid_getvar", "Get a variable from a channel", GETVAR_SYNTAX)
def uuid_getvar(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 4) if cmd else []
    if len(argv) < 2 or not argv[0]:
        stream.write(f"-USAGE: {GETVAR_SYNTAX}\n")
        return
    target = _locate(module, argv[0])
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    name = argv[1]
    if not name:
        stream.write("-ERR No variable name specified!\n")
        return
    value = None
    if "[" in name:
        vname, _, rest = name.partition("[")
        if "]" in rest:
            value = _array_item(target.channel.get_variable(vname), atoi(rest))
    if value is None:
        value = target.channel.get_variable(name)
    stream.write(value if value is not None else "_undef_")


@commands("uuid_setvar", "Set a variable", SETVAR_SYNTAX)
def uuid_setvar(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 3) if cmd else []
    if len(argv) not in (2, 3) or not argv[0]:
        stream.write(f"-USAGE: {SETVAR_SYNTAX}\n")
        return
    target = _locate(module, argv[0])
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    if not argv[1]:
        stream.write("-ERR No variable specified\n")
        return
    target.channel.set_variable(argv[1], argv[2] if len(argv) == 3 else None)
    stream.write("+OK\n")


@commands("uuid_setvar_multi", "Set multiple variables", SETVAR_MULTI_SYNTAX)
def uuid_setvar_multi(module, cmd, session, stream):
    if cmd:
        uuid, sp, rest = cmd.partition(" ")
        if not sp:
            return  # FreeSWITCH writes nothing at all (ESL then says "-ERR no reply")
        target = _locate(module, uuid)
        if target is None:
            stream.write("-ERR No such channel!\n")
        else:
            done = 0
            for item in separate_string(rest, ";", 64):
                name, eq, value = item.partition("=")
                if not name:
                    stream.write("-ERR No variable specified\n")
                else:
                    target.channel.set_variable(name, value if eq else None)
                    done += 1
            if done:
                stream.write("+OK\n")
                return
    stream.write(f"-USAGE: {SETVAR_MULTI_SYNTAX}\n")


def serialize_plain_raw(event: Event) -> str:
    """``switch_event_serialize(event, encode=FALSE)``: ``Name: [value]`` lines."""
    lines = []
    for name, value in event.items():
        lines.append(f"{name}: [{value}]\n")
    body = event.body
    lines.append(f"Content-Length: {len(body.encode())}\n\n{body}" if body else "\n")
    return "".join(lines)


@commands("uuid_dump", "Dump session vars", DUMP_SYNTAX)
def uuid_dump(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 2) if cmd else []
    if not argv or not argv[0]:
        stream.write(f"-USAGE: {DUMP_SYNTAX}\n")
        return
    target = _locate(module, argv[0])
    if target is None:
        stream.write("-ERR No such channel!\n")
        return
    fmt = argv[1].lower() if len(argv) > 1 else "txt"
    event = Event(EventType.CHANNEL_DATA)
    target.channel.event_set_data(event)
    if fmt == "xml":
        stream.write(event.serialize("xml"))
    elif fmt == "json":
        stream.write(event.serialize("json"))
    elif fmt == "plain":
        stream.write(serialize_plain_raw(event))
    else:
        stream.write(event.serialize("plain"))
