"""The ``loopback`` endpoint in an in-process kernel (spec/sessions.md §5.3)."""

from __future__ import annotations

import time

import pytest

from mod_loopback.loopback import split_destination
from softswitch import Cause, ChannelState, Status


@pytest.mark.parametrize("dest, expected", [
    ("3000", ("3000", None, None, None, None)),
    ("3000/ctx", ("3000", "ctx", None, None, None)),
    ("3000/ctx/XML", ("3000", "ctx", "XML", None, None)),
    ("3000//inline", ("3000", None, "inline", None, None)),
    ("app=echo", ("echo", None, None, "echo", None)),
    ("APP=playback:/tmp/a.wav", ("playback", None, None, "playback", "/tmp/a.wav")),
])
def test_split_destination(dest, expected):
    assert split_destination(dest) == expected


def legs(core, a):
    b = core.sessions.locate(a.get_variable("other_loopback_leg_uuid"))
    assert b is not None
    return a, b


def test_dialplan_hop_extension_context_dialplan(core, wait_for):
    cause, a = core.sessions.originate("{foo=bar}loopback/9999/ctx/t_dp", timeout=10)
    assert cause == Cause.SUCCESS
    uuid, dest, context, dialplan = core.lbfixture["hunts"].get(timeout=5)
    a, b = legs(core, a)
    assert uuid == b.uuid and (dest, context, dialplan) == ("9999", "ctx", "t_dp")
    assert (a.channel.name, b.channel.name) == ("loopback/9999-a", "loopback/9999-b")
    assert (a.direction, b.direction) == ("outbound", "inbound")
    assert (a.get_variable("loopback_leg"), b.get_variable("loopback_leg")) == ("A", "B")
    assert b.get_variable("other_loopback_leg_uuid") == a.uuid
    assert b.get_variable("foo") == "bar"  # the originate variables are copied to B
    # B's answer (t_park answer) answers A: that is what originate waited for
    wait_for(lambda: a.channel.answered and b.channel.answered)
    assert b.channel.caller_profile.source == "mod_loopback"
    b.hangup(Cause.USER_BUSY)
    wait_for(lambda: a.channel.hangup_cause == Cause.USER_BUSY)
    assert core.sessions.wait_empty(5)


def test_defaults_context_default_dialplan_xml(core):
    cause, a = core.sessions.originate("{originate_timeout=1}loopback/1234", timeout=10)
    # no XML dialplan here: B finds no route, and A goes with it
    assert a is None and cause != Cause.SUCCESS
    assert core.sessions.wait_empty(5)


def test_app_destination_media_crosses(core, reads, wait_for):
    cause, a = core.sessions.originate("loopback/app=t_collect:4", timeout=10)
    assert cause == Cause.SUCCESS  # B's pre_answer is early media on A: originate wins
    a, b = legs(core, a)
    assert (a.channel.name, b.channel.name) == ("loopback/t_collect-a", "loopback/t_collect-b")
    assert a.channel.early_media
    assert (b.get_variable("loopback_app"), b.get_variable("loopback_app_arg")) == ("t_collect", "4")
    a.set_caller_extension([("t_send", "4")])
    got = reads(b.uuid, timeout=10)
    assert got == [bytes([i]) * 320 for i in (1, 2, 3, 4)]
    a.hangup()
    wait_for(lambda: b.channel.running_state >= ChannelState.CS_HANGUP)
    assert b.channel.hangup_cause == Cause.NORMAL_CLEARING
    assert core.sessions.wait_empty(5)


def test_b_leg_refused_fails_at_once(core):
    core.settings.max_sessions = 1
    try:
        t0 = time.monotonic()
        cause, a = core.sessions.originate("loopback/app=t_park", timeout=30)
        assert (cause, a) == (Cause.DESTINATION_OUT_OF_ORDER, None)
        # FreeSWITCH waits the originate timeout (NO_ANSWER); a correctness bound, not a timing one
        assert time.monotonic() - t0 < 25
    finally:
        core.settings.max_sessions = 1000
    assert core.sessions.wait_empty(5)


def test_dtmf_sent_to_one_leg_is_received_on_the_other(core, wait_for):
    cause, a = core.sessions.originate("loopback/app=t_park", timeout=10)
    a, b = legs(core, a)
    assert a.send_dtmf("1#", 100) == Status.SUCCESS
    wait_for(lambda: b.has_dtmf())
    assert b.dequeue_dtmf() == ("1", 800) and b.dequeue_dtmf() == ("#", 800)
    assert b.dequeue_dtmf() is None
    a.hangup()
    assert core.sessions.wait_empty(5)
