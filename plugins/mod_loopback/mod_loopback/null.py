"""The ``null`` endpoint: an outbound leg that answers by itself and reads near-silence.

``null/<dest>`` (spec/sessions.md §5.2, FreeSWITCH's ``null_channel_*`` in mod_loopback.c):
L16 at the originate variable ``rate`` (a multiple of 8000, else 8000) in 20 ms frames, paced by
a ``soft`` timer. Options read from the originate variables:

* ``null_enable_auto_answer`` (default true) and ``null_auto_answer_delay`` (ms, 0..60000):
  answer in CS_CONSUME_MEDIA, after the delay;
* ``null_pre_answer``: mark early media first;
* ``null_hangup_cause=<cause>`` or the destination ``cause-<CAUSE>``: refuse the leg with that
  cause (``originate null/cause-USER_BUSY &park`` → ``-ERR USER_BUSY``);
* with an A leg, pre-answer it unless its ``null_no_pre_answer`` is true.

Reads wait for the leg's next timer tick and return 160 samples (per 8 kHz) of FreeSWITCH's low
noise (:mod:`mod_loopback.noise`); writes are discarded (the timer is re-synced, as FreeSWITCH
does); a DTMF digit sent to the leg is appended to its variable ``null_channel_dtmf_queued``.
"""

from __future__ import annotations

import logging
import re

import softswitch
from softswitch import Cause, ChannelFlag, ChannelState, Frame, MessageId, Status, switch_true

from . import noise
from .media import CodecOpener

log = logging.getLogger(__name__)

__all__ = ["NullLeg", "null_outgoing", "ENDPOINT"]

ENDPOINT = "null"


class NullLeg:
    """The endpoint's private data of one null leg."""

    __slots__ = ("rate", "pre_answer", "auto_answer", "answer_delay", "frame", "offset", "nbytes")

    def __init__(self, rate: int, pre_answer: bool, auto_answer: bool, answer_delay: int) -> None:
        self.rate = rate
        self.pre_answer = pre_answer
        self.auto_answer = auto_answer
        self.answer_delay = answer_delay
        samples = rate // 50
        self.nbytes = samples * 2
        self.frame = Frame(samples=samples, rate=rate)
        # each leg starts somewhere else in the shared noise, as FreeSWITCH's seed (the clock
        # and the buffer's address) differs per leg
        self.offset = (id(self) >> 4) % noise.shared().size & ~1


_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def _atoi(value: str | None) -> int:
    """C's ``atoi``, as FreeSWITCH reads these options: ``"100ms"`` is 100, ``"x"`` 0."""
    m = _LEADING_INT.match(value or "")
    return int(m.group(1)) if m else 0


def _rate(value: str | None) -> int:
    rate = _atoi(value)
    return rate if rate > 0 and rate % 8000 == 0 else 8000


def _delay(value: str | None) -> int:
    return min(max(_atoi(value), 0), 60000)


def null_outgoing(endpoint, open_codec, core, originator, var_event, profile, flags):
    """Create the leg: ``(Cause.SUCCESS, session)`` or ``(cause, None)``."""
    get = var_event.get
    if originator is not None:
        och = originator.channel
        if not switch_true(och.get_variable("null_no_pre_answer")):
            originator.pre_answer()
    try:
        session = core.sessions.request(endpoint, "outbound", originator=originator)
    except softswitch.SessionRefused as e:
        return e.cause, None
    rate = _rate(get("rate"))
    leg = NullLeg(rate, switch_true(get("null_pre_answer")),
                  True if get("null_enable_auto_answer") is None else switch_true(get("null_enable_auto_answer")),
                  _delay(get("null_auto_answer_delay")))
    session.private = leg
    channel = session.channel
    channel.set_name(f"null/{profile.destination_number}")
    try:
        spec = f"L16@{rate}h@20i"
        session.set_read_codec(open_codec(core, spec))
        session.set_write_codec(open_codec(core, spec))
        session.timer = core.timer_open("soft", 20, rate // 50)
    except (softswitch.CodecError, softswitch.TimerError) as e:
        log.error("%s: cannot set up L16@%dh@20i media (%s): is mod_pcm / mod_softtimer loaded?",
                  channel.name, rate, e)
        _drop(session)
        return Cause.DESTINATION_OUT_OF_ORDER, None
    leg.frame.codec = session.read_codec
    profile.source = "mod_loopback"
    channel.set_name(f"null/{profile.destination_number}")
    channel.set_caller_profile(profile)
    hangup_cause = get("null_hangup_cause")
    dest = profile.destination_number or ""
    if hangup_cause or dest.startswith("cause-"):
        _drop(session)
        return softswitch.str2cause(hangup_cause or dest[6:]), None
    channel.set_state(ChannelState.CS_INIT)
    return Cause.SUCCESS, session


def _drop(session) -> None:
    """Refuse a requested leg: its timer closed, the session destroyed before it ran."""
    if session.timer is not None:
        session.timer.destroy()
    session.destroy()


def on_init(session):
    session.channel.set_flag(ChannelFlag.CF_ACCEPT_CNG)
    session.channel.set_state(ChannelState.CS_ROUTING)


def on_consume_media(session):
    leg: NullLeg = session.private
    channel = session.channel
    if leg.pre_answer:
        session.mark_pre_answered()
    if leg.auto_answer:
        if leg.answer_delay > 0:
            # FreeSWITCH waits in 20 ms steps while the channel is ready
            deadline = softswitch.mono_micro_time_now() + leg.answer_delay * 1000
            while channel.ready() and softswitch.mono_micro_time_now() < deadline:
                session.sleep(20)
        session.mark_answered()


def on_destroy(session):
    timer = session.timer
    if timer is not None:
        timer.destroy()


def read_frame(session, flags):
    if not session.channel.ready():
        return Status.FALSE, None
    session.timer.next()
    leg: NullLeg = session.private
    frame = leg.frame
    frame.data, leg.offset = noise.shared().frame(leg.offset, leg.nbytes)
    return Status.SUCCESS, frame


def write_frame(session, frame, flags):
    session.timer.sync()
    return Status.SUCCESS


def kill_channel(session, sig):
    if sig == softswitch.Signal.KILL:
        session.hangup(Cause.NORMAL_CLEARING)
    return Status.SUCCESS


def receive_message(session, msg):
    mid = msg.id
    if mid == MessageId.INDICATE_ANSWER:
        session.mark_answered()
    elif mid in (MessageId.INDICATE_BRIDGE, MessageId.INDICATE_UNBRIDGE, MessageId.INDICATE_AUDIO_SYNC):
        if session.timer is not None:
            session.timer.sync()
    return Status.SUCCESS


def send_dtmf(session, digit, duration_ms):
    queued = session.channel.get_variable("null_channel_dtmf_queued") or ""
    session.channel.set_variable("null_channel_dtmf_queued", queued + digit)
    return Status.SUCCESS


def add_to(module) -> None:
    """Add the ``null`` endpoint to ``module``."""
    holder: list = []
    open_codec = CodecOpener()

    def outgoing(core, originator, var_event, profile, flags):
        return null_outgoing(holder[0], open_codec, core, originator, var_event, profile, flags)

    holder.append(module.add_endpoint(
        ENDPOINT,
        outgoing_channel=outgoing,
        read_frame=read_frame,
        write_frame=write_frame,
        kill_channel=kill_channel,
        receive_message=receive_message,
        send_dtmf=send_dtmf,
        state_handlers=softswitch.StateHandlers(on_init=on_init, on_consume_media=on_consume_media,
                                                on_destroy=on_destroy),
    ))
