"""playback (tone_stream://, silence_stream://) and execute_extension on whole calls."""

from __future__ import annotations

import pytest

from softswitch import ChannelState, EventType


def start(core, target):
    cause, s = core.sessions.originate("tnull/1000")
    assert s is not None, cause
    core.sessions.route_originated(s, target, "inline", "default")
    return s


def collect(core, *types):
    got = []
    for t in types:
        core.events.bind("test", t, None, got.append, None)
    return got


def test_tone_playback_frames_events_and_variables(tone_core, wait_for):
    evs = collect(tone_core, EventType.PLAYBACK_START, EventType.PLAYBACK_STOP, EventType.CHANNEL_PARK,
                  EventType.CHANNEL_EXECUTE_COMPLETE)
    s = start(tone_core, "playback:tone_stream://%(200\\,0\\,440),park")
    wait_for(lambda: any(e.name == "CHANNEL_PARK" for e in evs))
    ch = s.channel
    assert [ch.get_variable(v) for v in ("playback_samples", "playback_seconds", "playback_ms")] == [
        "1600", "0", "200"]
    assert s.private.written == 10  # ten 20 ms frames
    start_ev = next(e for e in evs if e.name == "PLAYBACK_START")
    stop_ev = next(e for e in evs if e.name == "PLAYBACK_STOP")
    assert start_ev["Playback-File-Type"] == "tone_stream"
    assert start_ev["Playback-File-Path"] == "tone_stream://%(200,0,440)"
    assert stop_ev["Playback-Status"] == "done"
    done = next(e for e in evs if e.name == "CHANNEL_EXECUTE_COMPLETE" and e["Application"] == "playback")
    assert done["Application-Response"] == "FILE PLAYED"
    s.hangup()


def test_silence_stream_and_file_not_found(tone_core, wait_for):
    evs = collect(tone_core, EventType.CHANNEL_EXECUTE_COMPLETE, EventType.CHANNEL_PARK)
    s = start(tone_core, "playback:silence_stream://100,playback:nosuch://x,park")
    wait_for(lambda: any(e.name == "CHANNEL_PARK" for e in evs))
    responses = [e["Application-Response"] for e in evs if e.name == "CHANNEL_EXECUTE_COMPLETE"]
    assert responses == ["FILE PLAYED", "FILE NOT FOUND"]
    assert s.private.written == 5
    s.hangup()


def test_endless_tone_stops_on_break_and_on_hangup(tone_core, wait_for):
    evs = collect(tone_core, EventType.PLAYBACK_STOP, EventType.CHANNEL_PARK)
    s = start(tone_core, "playback:tone_stream://%(1000\\,0\\,440);loops=-1,park")
    wait_for(lambda: s.private.written >= 60)  # past the first second: it loops
    s.break_media()
    wait_for(lambda: any(e.name == "CHANNEL_PARK" for e in evs))
    assert [e["Playback-Status"] for e in evs if e.name == "PLAYBACK_STOP"] == ["break"]
    s.hangup()
    s2 = start(tone_core, "playback:tone_stream://%(1000\\,0\\,440);loops=-1")
    wait_for(lambda: s2.private.written >= 3)
    s2.hangup()
    wait_for(lambda: s2.channel.state >= ChannelState.CS_HANGUP)
    wait_for(lambda: tone_core.sessions.count == 0)


def test_execute_extension_runs_nested_and_returns(tone_core, wait_for):
    evs = collect(tone_core, EventType.CHANNEL_PARK)
    lines = []
    tone_core.logbus.bind(lines.append, 7, owner="test")
    s = start(tone_core, "m:|:execute_extension:'set:y=2,set:z=3' inline|set:after=${y}|park")
    wait_for(lambda: evs)
    ch = s.channel
    assert (ch.get_variable("y"), ch.get_variable("z"), ch.get_variable("after")) == ("2", "3", "2")
    msgs = [ln.message for ln in lines]
    assert "Execute [depth=1] set(y=2)\n" in msgs
    assert "EXECUTE [depth=1] tnull/1000 set(y=2)\n" in msgs
    s.hangup()


def test_execute_extension_without_argument(tone_core, wait_for):
    lines = []
    tone_core.logbus.bind(lines.append, 7, owner="test")
    evs = collect(tone_core, EventType.CHANNEL_PARK)
    s = start(tone_core, "execute_extension,park")
    wait_for(lambda: evs)
    assert "Usage: <extension> <dialplan> <context>\n" in [ln.message for ln in lines]
    s.hangup()


@pytest.mark.parametrize("terms,digits,stops,used", [
    (None, "1*", True, "*"),        # default terminator *
    ("none", "*#", False, None),
    ("any", "5", True, "5"),
    ("#", "1*#", True, "#"),
])
def test_dtmf_terminators_stop_playback(tone_core, wait_for, terms, digits, stops, used):
    evs = collect(tone_core, EventType.PLAYBACK_STOP, EventType.CHANNEL_EXECUTE_COMPLETE,
                  EventType.DTMF)
    pre = f"set:playback_terminators={terms}," if terms else ""
    s = start(tone_core, pre + "playback:tone_stream://%(1000\\,0\\,440);loops=-1,park")
    wait_for(lambda: s.private.written >= 3)
    s.queue_dtmf(digits)
    if stops:
        wait_for(lambda: any(e.name == "PLAYBACK_STOP" for e in evs))
        assert [e["Playback-Status"] for e in evs if e.name == "PLAYBACK_STOP"] == ["break"]
        done = next(e for e in evs if e.name == "CHANNEL_EXECUTE_COMPLETE" and e["Application"] == "playback")
        assert done["Application-Response"] == "FILE PLAYED"
        assert s.channel.get_variable("playback_terminator_used") == used
    else:
        wait_for(lambda: len([e for e in evs if e.name == "DTMF"]) == len(digits))
        assert not any(e.name == "PLAYBACK_STOP" for e in evs)
    s.hangup()


def test_file_string_plays_its_parts_in_turn(tone_core, wait_for):
    from softswitch import EventType as ET
    evs = collect(tone_core, ET.CHANNEL_PARK, ET.CUSTOM)
    s = start(tone_core, "playback:file_string://tone_stream://%(100\\,0\\,440)!nosuch://x!silence_stream://60,park")
    wait_for(lambda: any(e.name == "CHANNEL_PARK" for e in evs))
    # 250 ms lead-in + 100 ms tone + 60 ms silence
    assert s.channel.get_variable("playback_samples") == str(2000 + 800 + 480)
    custom = [(e["Event-Subclass"], e["File"]) for e in evs if e.name == "CUSTOM"]
    assert custom == [("filestring::open", "tone_stream://%(100,0,440)"),
                      ("filestring::close", "tone_stream://%(100,0,440)"),
                      ("filestring::fail", "nosuch://x"),
                      ("filestring::open", "silence_stream://60"),
                      ("filestring::close", "silence_stream://60")]
    s.hangup()


def test_sleep_eat_digits_ends_on_a_terminator(tone_core, wait_for):
    evs = collect(tone_core, EventType.CHANNEL_PARK, EventType.CHANNEL_EXECUTE)
    s = start(tone_core, "set:sleep_eat_digits=true,sleep:60000,park")
    wait_for(lambda: any(e.name == "CHANNEL_EXECUTE" and e["Application"] == "sleep" for e in evs))
    s.queue_dtmf("1")
    wait_for(lambda: not s.has_dtmf())  # eaten, the sleep goes on
    assert not any(e.name == "CHANNEL_PARK" for e in evs)
    s.queue_dtmf("*")
    wait_for(lambda: any(e.name == "CHANNEL_PARK" for e in evs))
    assert s.channel.get_variable("playback_terminator_used") == "*"
    s.hangup()
