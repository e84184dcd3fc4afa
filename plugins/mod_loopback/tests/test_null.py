"""The ``null`` endpoint in an in-process kernel (spec/sessions.md §5.2)."""

from __future__ import annotations

import array

import pytest

from softswitch import Cause, ChannelState, Frame, Status


def originate(core, dial, timeout=10):
    return core.sessions.originate(dial, timeout=timeout)


def test_null_leg_answers_and_reads_paced_near_silence(core, reads, wait_for):
    cause, s = originate(core, "null/1000")
    assert cause == Cause.SUCCESS and s is not None
    assert s.channel.name == "null/1000" and s.channel.answered
    assert s.channel.caller_profile.source == "mod_loopback"
    assert (s.get_variable("read_codec"), s.get_variable("read_rate")) == ("L16", "8000")
    s.set_caller_extension([("t_read", "3")])
    for _ in range(3):
        st, data, samples, flags = reads(s.uuid)
        assert st == Status.SUCCESS and samples == 160 and len(data) == 320
        values = array.array("h", data)
        assert all(-3 <= v <= 3 for v in values) and any(values)
    s.hangup()
    assert core.sessions.wait_empty(5)


def test_rate_variable_multiple_of_8000(core, reads):
    cause, s = originate(core, "{rate=16000}null/1")
    assert s.get_variable("read_rate") == "16000"
    s.set_caller_extension([("t_read", "1")])
    st, data, samples, _ = reads(s.uuid)
    assert (samples, len(data)) == (320, 640)
    s.hangup()
    cause, s = originate(core, "{rate=11025}null/2")  # not a multiple of 8000: 8000
    assert s.get_variable("read_rate") == "8000"
    s.hangup()
    assert core.sessions.wait_empty(5)


@pytest.mark.parametrize("dial, cause", [
    ("null/cause-USER_BUSY", Cause.USER_BUSY),
    ("null/cause-17", Cause.USER_BUSY),
    ("{null_hangup_cause=CALL_REJECTED}null/1", Cause.CALL_REJECTED),
    ("{null_hangup_cause=nonsense}null/1", Cause.NORMAL_CLEARING),
])
def test_refusal_causes(core, dial, cause):
    got, s = originate(core, dial)
    assert (got, s) == (cause, None)
    assert core.session_count == 0


def test_no_auto_answer_times_out_and_pre_answer_wins(core):
    got, s = originate(core, "{null_enable_auto_answer=false,originate_timeout=1}null/1")
    assert (got, s) == (Cause.NO_ANSWER, None)
    got, s = originate(core, "{null_enable_auto_answer=false,null_pre_answer=true}null/1")
    assert got == Cause.SUCCESS and s.channel.early_media and not s.channel.answered
    s.hangup()
    got, s = originate(core, "{null_auto_answer_delay=60}null/1")
    assert got == Cause.SUCCESS and s.channel.answered
    s.hangup()
    assert core.sessions.wait_empty(5)


def test_dtmf_is_queued_in_a_variable_and_writes_are_discarded(core):
    got, s = originate(core, "null/1")
    assert s.send_dtmf("12") == Status.SUCCESS
    assert s.send_dtmf("#") == Status.SUCCESS
    assert s.get_variable("null_channel_dtmf_queued") == "12#"
    impl = s.write_codec.implementation
    assert s.write_frame(Frame(data=bytes(impl.decoded_bytes_per_packet), samples=160,
                               codec=s.write_codec)) == Status.SUCCESS
    s.hangup(Cause.USER_BUSY)
    assert core.sessions.wait_empty(5)


def test_limits_refuse_with_destination_out_of_order(core):
    core.sessions.pause("outbound", True)
    try:
        assert originate(core, "null/1") == (Cause.DESTINATION_OUT_OF_ORDER, None)
    finally:
        core.sessions.pause("outbound", False)


def test_kill_signal_hangs_up_normal_clearing(core, wait_for):
    got, s = originate(core, "null/1")
    s.set_caller_extension([("t_park", "")])
    wait_for(lambda: s.channel.running_state == ChannelState.CS_EXECUTE)
    from mod_loopback import null

    null.kill_channel(s, __import__("softswitch").Signal.KILL)
    wait_for(lambda: s.channel.hangup_cause == Cause.NORMAL_CLEARING)
    assert core.sessions.wait_empty(5)


def test_codec_lookup_once_per_codec_string(core, monkeypatch):
    from mod_loopback.media import CodecOpener

    opened = []
    real = core.codec_open
    monkeypatch.setattr(core, "codec_open", lambda spec, *a: opened.append(spec) or real(spec, *a))
    opener = CodecOpener()
    first = opener(core, "L16@8000h@20i")
    second = opener(core, "L16@8000h@20i")
    other = opener(core, "L16@16000h@20i")
    assert opened == ["L16@8000h@20i", "L16@16000h@20i"]
    assert first is not second and first.implementation is second.implementation
    assert other.implementation.samples_per_second == 16000
    assert second.encode(b"\x01\x00") == b"\x01\x00"  # a working codec, L16 passes through


def test_numeric_options_read_as_c_atoi(core):
    # FreeSWITCH reads these with atoi: the leading number counts, the rest is ignored
    got, s = originate(core, "{rate=16000hz,null_auto_answer_delay=20ms}null/1")
    assert got == Cause.SUCCESS and s.get_variable("read_rate") == "16000" and s.channel.answered
    s.hangup()
    got, s = originate(core, "{rate=-8000}null/1")
    assert s.get_variable("read_rate") == "8000"
    s.hangup()
    assert core.sessions.wait_empty(5)
