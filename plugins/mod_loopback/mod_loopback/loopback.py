"""The ``loopback`` endpoint: a pair of legs joined back to back, the B leg through the dialplan.

``loopback/<dest>[/<context>[/<dialplan>]]`` (defaults ``default`` and ``xml``) or
``loopback/app=<app>[:<arg>]`` (spec/sessions.md §5.3, FreeSWITCH's mod_loopback.c):

* the A leg ``loopback/<dest>-a`` is the outbound leg ``originate`` gets; its on_init creates
  the B leg ``loopback/<dest>-b`` (**inbound**, A's codec), copies the originate variables and
  the ``loopback_export`` list to B, sets ``other_loopback_leg_uuid`` on both and
  ``loopback_leg=A|B``, and starts B, which runs the dialplan (the "hop");
  ``loopback/app=<app>`` has B run ``pre_answer`` then the app instead;
* media: a write clones the frame into the other leg's queue (3 frames, FreeSWITCH's
  FRAME_QUEUE_LEN); a read waits for the leg's 20 ms tick and returns a queued frame or CNG;
* B's answer, early media and ringing mark A the same; hanging up either leg hangs up the
  other with the same cause.

A documented improvement over FreeSWITCH: when the B leg cannot be created (session limits,
pause), FreeSWITCH leaves A in CS_INIT and ``originate`` waits its whole timeout for
``-ERR NO_ANSWER``; here A is hung up at once with the refusal's cause
(``DESTINATION_OUT_OF_ORDER``), so ``originate`` answers ``-ERR DESTINATION_OUT_OF_ORDER``
immediately. Bowout (the direct re-bridge of loopback.conf) is not implemented.

DTMF sent to one leg is queued on the other (``session.queue_dtmf``).
"""

from __future__ import annotations

import logging
from collections import deque

import softswitch
from softswitch import Cause, ChannelFlag, ChannelState, Frame, FrameFlag, MessageId, Status

from .media import CodecOpener

log = logging.getLogger(__name__)

__all__ = ["LoopbackLeg", "ENDPOINT", "split_destination"]

ENDPOINT = "loopback"
#: FreeSWITCH's FRAME_QUEUE_LEN
FRAME_QUEUE_LEN = 3


class LoopbackLeg:
    """The endpoint's private data of one loopback leg."""

    __slots__ = ("session", "outbound", "bleg", "app", "other", "other_uuid", "queue", "cng",
                 "vars", "linked", "profile", "open_codec")

    def __init__(self, session, outbound: bool, open_codec=None) -> None:
        self.session = session
        self.open_codec = open_codec
        self.outbound = outbound
        self.bleg = False
        self.app = False            # TFLAG_APP: the B leg runs loopback_app instead of the dialplan
        self.other: LoopbackLeg | None = None
        self.other_uuid: str | None = None
        self.queue: deque = deque()
        self.cng = Frame()
        self.vars: dict | None = None
        self.linked = False
        self.profile = None


def split_destination(dest: str) -> tuple[str, str | None, str | None, str | None, str | None]:
    """``(destination, context, dialplan, app, app_arg)`` of a loopback destination.

    ``3000/default/XML`` → ``("3000", "default", "XML", None, None)``; ``app=echo:x`` →
    ``("echo", None, None, "echo", "x")``. Context and dialplan are None when not given.
    """
    app = arg = None
    if dest[:4].lower() == "app=":
        app, sep, a = dest[4:].partition(":")
        arg = a if sep else None
        dest = app
    context = dialplan = None
    if "/" in dest:
        dest, _, rest = dest.partition("/")
        context, sep, dp = rest.partition("/")
        dialplan = dp if sep and dp else None
        context = context or None
    return dest, context, dialplan, app, arg


def _media(core, session, leg: LoopbackLeg, open_codec, codec_of=None) -> None:
    """``tech_init``: read/write codecs like ``codec_of`` (else ``loopback_initial_codec``, else
    L16@8000h@20i), a soft timer of the codec's packet time, the CNG frame."""
    spec = None
    if codec_of is not None:
        impl = codec_of.implementation
        spec = f"{impl.iananame}@{impl.samples_per_second}h@{impl.microseconds_per_packet // 1000}i"
    else:
        spec = session.channel.get_variable("loopback_initial_codec") or "L16@8000h@20i"
    read = open_codec(core, spec)
    write = open_codec(core, spec)
    session.set_read_codec(read)
    session.set_write_codec(write)
    impl = read.implementation
    if session.timer is not None:
        session.timer.destroy()
    session.timer = core.timer_open("soft", impl.microseconds_per_packet // 1000, impl.samples_per_packet)
    leg.cng = Frame(data=bytes(impl.decoded_bytes_per_packet), samples=impl.samples_per_packet,
                    rate=impl.samples_per_second, codec=read, flags=FrameFlag.CNG)


def loopback_outgoing(endpoint, open_codec, core, originator, var_event, profile, flags):
    """Create the A leg: ``(Cause.SUCCESS, session)`` or ``(cause, None)``."""
    if originator is not None:
        if not softswitch.switch_true(originator.channel.get_variable("loopback_no_pre_answer")):
            originator.pre_answer()
    try:
        session = core.sessions.request(endpoint, "outbound", originator=originator)
    except softswitch.SessionRefused as e:
        return e.cause, None
    leg = LoopbackLeg(session, outbound=True, open_codec=open_codec)
    session.private = leg
    channel = session.channel
    channel.set_name(f"loopback/{profile.destination_number}-a")
    try:
        _media(core, session, leg, open_codec, originator.read_codec if originator is not None else None)
    except (softswitch.CodecError, softswitch.TimerError) as e:
        log.error("%s: cannot set up the leg's media (%s)", channel.name, e)
        _drop(session)
        return Cause.DESTINATION_OUT_OF_ORDER, None
    leg.vars = dict(var_event)
    if originator is not None:
        channel.set_variable("loopback_from_uuid", originator.uuid)
    dest, context, dialplan, app, arg = split_destination(profile.destination_number or "")
    if app is not None:
        channel.set_variable("loopback_app", app)
        leg.vars["loopback_app"] = app
        if arg is not None:
            channel.set_variable("loopback_app_arg", arg)
            leg.vars["loopback_app_arg"] = arg
        leg.app = True
    profile.destination_number = dest
    if context:
        profile.context = context
    if dialplan:
        profile.dialplan = dialplan
    if not profile.context:
        profile.context = "default"
    if not profile.dialplan:
        profile.dialplan = "xml"
    profile.source = "mod_loopback"
    channel.set_name(f"loopback/{dest}-a")
    channel.set_caller_profile(profile)
    leg.profile = profile
    channel.set_state(ChannelState.CS_INIT)
    return Cause.SUCCESS, session


def _drop(session) -> None:
    if session.timer is not None:
        session.timer.destroy()
    session.destroy()


def on_init(session):
    leg: LoopbackLeg = session.private
    channel = session.channel
    core = session.core
    if leg.outbound and not leg.bleg:
        try:
            b = core.sessions.request(session.endpoint, "inbound")
        except softswitch.SessionRefused as e:
            # FreeSWITCH leaves A in CS_INIT until originate times out: fail at once instead
            log.error("%s: cannot create the B leg (%s: %s): hanging up the call now",
                      channel.name, softswitch.cause2str(e.cause), e)
            session.hangup(e.cause)
            return Status.FALSE
        bleg = LoopbackLeg(b, outbound=False, open_codec=leg.open_codec)
        bleg.bleg = True
        b.private = bleg
        bch = b.channel
        bch.set_name(f"loopback/{leg.profile.destination_number}-b")
        try:
            _media(core, b, bleg, leg.open_codec, session.read_codec)
        except (softswitch.CodecError, softswitch.TimerError) as e:
            log.error("%s: cannot set up the B leg's media (%s)", channel.name, e)
            session.hangup(Cause.DESTINATION_OUT_OF_ORDER)
            _drop(b)
            return Status.FALSE
        bprofile = leg.profile.clone()
        bprofile.source = "mod_loopback"
        bch.set_caller_profile(bprofile)
        bleg.profile = bprofile
        bch.set_state(ChannelState.CS_INIT)
        leg.other = bleg
        bleg.other = leg
        bleg.other_uuid = session.uuid
        leg.linked = bleg.linked = True
        channel.set_flag(ChannelFlag.CF_ACCEPT_CNG)
        if leg.vars:
            for name, value in leg.vars.items():
                bch.set_variable(name, value)
            for name, _ in channel.variables():
                if name.startswith("group_confirm_"):
                    channel.del_variable(name)
            leg.vars = None
        export = channel.get_variable("loopback_export")
        if export:
            for name in export.split(","):
                if name:
                    value = channel.get_variable(name)
                    if value:
                        bch.set_variable(name, value)
        if leg.app:
            bleg.app = True
            leg.app = False
        channel.set_variable("other_loopback_leg_uuid", b.uuid)
        bch.set_variable("other_loopback_leg_uuid", session.uuid)
        bch.set_variable("other_loopback_from_uuid", channel.get_variable("loopback_from_uuid"))
        b.launch()
    elif leg.other is None or leg.other.session.channel.down():
        leg.linked = False
        session.hangup(Cause.DESTINATION_OUT_OF_ORDER)
        return Status.FALSE
    channel.set_variable("loopback_leg", "B" if leg.bleg else "A")
    channel.set_state(ChannelState.CS_ROUTING)
    return Status.SUCCESS


def on_routing(session):
    leg: LoopbackLeg = session.private
    channel = session.channel
    if leg.app and not leg.outbound:
        app = channel.get_variable("loopback_app")
        if app:
            leg.app = False
            session.set_caller_extension([("pre_answer", ""),
                                          (app, channel.get_variable("loopback_app_arg") or "")])
            channel.set_state(ChannelState.CS_EXECUTE)
            return Status.FALSE
    return Status.SUCCESS


def on_hangup(session):
    leg: LoopbackLeg = session.private
    session.channel.set_variable("is_loopback", "1")
    leg.linked = False
    other = leg.other
    if other is not None:
        other.linked = False
        leg.other = None
        other.session.hangup(session.channel.hangup_cause)
    return Status.SUCCESS


def on_destroy(session):
    leg: LoopbackLeg = session.private
    if session.timer is not None:
        session.timer.destroy()
    if leg is not None:
        leg.queue.clear()
        leg.other = None


def read_frame(session, flags):
    leg: LoopbackLeg = session.private
    if not leg.linked or not session.channel.ready():
        return Status.FALSE, None
    session.timer.next()
    if leg.queue:
        frame = leg.queue.popleft()
        frame.codec = session.read_codec
        frame.flags &= ~FrameFlag.CNG
        return Status.SUCCESS, frame
    return Status.SUCCESS, leg.cng


def write_frame(session, frame, flags):
    leg: LoopbackLeg = session.private
    other = leg.other
    if frame.flags & FrameFlag.CNG:
        session.timer.sync()
        if other is not None and other.session.timer is not None:
            other.session.timer.sync()
        return Status.SUCCESS
    if leg.linked and other is not None:
        clone = Frame(data=bytes(frame.data), samples=frame.samples, rate=frame.rate,
                      codec=frame.codec, channels=frame.channels, flags=frame.flags)
        q = other.queue
        if len(q) >= FRAME_QUEUE_LEN:
            q.clear()  # FreeSWITCH empties a full queue and pushes again
        q.append(clone)
    return Status.SUCCESS


def send_dtmf(session, digit, duration_ms):
    """A digit sent to one leg is received on the other (``switch_channel_queue_dtmf``)."""
    leg: LoopbackLeg = session.private
    other = leg.other
    if other is not None:
        rate = session.write_codec.implementation.samples_per_second if session.write_codec else 8000
        other.session.queue_dtmf(digit, duration_ms * (rate // 1000) if duration_ms else 2000)
    return Status.SUCCESS


def kill_channel(session, sig):
    if sig == softswitch.Signal.KILL:
        leg: LoopbackLeg = session.private
        session.hangup(Cause.NORMAL_CLEARING)
        leg.linked = False
        if leg.other is not None:
            leg.other.linked = False
    return Status.SUCCESS


def receive_message(session, msg):
    leg: LoopbackLeg = session.private
    other = leg.other
    mid = msg.id
    if other is not None and not leg.outbound:
        if mid == MessageId.INDICATE_ANSWER:
            other.session.mark_answered()
        elif mid == MessageId.INDICATE_PROGRESS:
            other.session.mark_pre_answered()
        elif mid == MessageId.INDICATE_RINGING:
            other.session.mark_ring_ready()
    if mid in (MessageId.INDICATE_BRIDGE, MessageId.INDICATE_UNBRIDGE, MessageId.INDICATE_AUDIO_SYNC):
        leg.queue.clear()
        session.timer.sync()
        if other is not None:
            other.queue.clear()
            if other.session.timer is not None:
                other.session.timer.sync()
    return Status.SUCCESS


def add_to(module) -> None:
    """Add the ``loopback`` endpoint to ``module``."""
    holder: list = []
    open_codec = CodecOpener()

    def outgoing(core, originator, var_event, profile, flags):
        return loopback_outgoing(holder[0], open_codec, core, originator, var_event, profile, flags)

    holder.append(module.add_endpoint(
        ENDPOINT,
        outgoing_channel=outgoing,
        read_frame=read_frame,
        write_frame=write_frame,
        kill_channel=kill_channel,
        receive_message=receive_message,
        send_dtmf=send_dtmf,
        state_handlers=softswitch.StateHandlers(on_init=on_init, on_routing=on_routing,
                                                on_hangup=on_hangup, on_destroy=on_destroy),
    ))
