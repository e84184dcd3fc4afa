"""Routing and applications in a real softswitch process (mod_loopback's null legs,
mod_dialplan_xml, mod_dptools, mod_tone_stream, the default conf tree), driven over ESL."""

from __future__ import annotations

import time

import pytest

from mod_event_socket.client import ESLClient

TIMEOUT = 10.0


@pytest.fixture
def esl(routing_system):
    c = ESLClient(port=routing_system.port, timeout=TIMEOUT)
    c.command("event plain CHANNEL_PARK CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE PLAYBACK_START "
              "PLAYBACK_STOP CHANNEL_BRIDGE")
    yield c
    c.api("hupall")
    c.close()


def wait_event(c: ESLClient, name: str, uuid: str | None = None, timeout: float = TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {name} for {uuid} within {timeout} s")
        ev = c.next_event(timeout=left).event_headers()
        if ev.get("Event-Name") == name and (uuid is None or ev.get("Unique-ID") == uuid):
            return ev


def originate(c: ESLClient, args: str) -> str:
    reply = c.api(f"originate {args}")
    assert reply.startswith("+OK "), reply
    return reply[4:].strip()


def test_originate_routes_through_the_default_context(esl, routing_system):
    # `originate <url> <exten> [<dialplan>] [<context>]`: `originate null/1000 XML default`
    # would ask for extension "XML" of a dialplan named "default", in FreeSWITCH as here
    uuid = originate(esl, "null/1000 1000 XML default")
    park = wait_event(esl, "CHANNEL_PARK", uuid)
    assert park["Caller-Destination-Number"] == "1000"
    log = routing_system.log_text()
    assert "Dialplan: null/1000 parsing [default->park] continue=false" in log
    assert "Dialplan: null/1000 Action park() " in log
    assert esl.api(f"uuid_kill {uuid}") == "+OK\n"
    ev = wait_event(esl, "CHANNEL_HANGUP_COMPLETE", uuid)
    assert ev["Hangup-Cause"] == "NORMAL_CLEARING"


def test_originate_inline_set_then_park(esl):
    uuid = originate(esl, "null/1000 'set:x=1,park' inline")
    wait_event(esl, "CHANNEL_PARK", uuid)
    assert esl.api(f"uuid_getvar {uuid} x") == "1"


@pytest.mark.parametrize("args,cause,line", [
    ("null/4242 4242 XML default", "NO_ROUTE_DESTINATION", "No Route, Aborting"),
    ("null/1000 1000 XML nosuchcontext", "NO_ROUTE_DESTINATION", "Context nosuchcontext not found"),
    ("null/1000 nosuchapp inline", "DESTINATION_OUT_OF_ORDER", "Invalid Application nosuchapp"),
])
def test_failures_end_the_call_with_freeswitchs_cause(esl, routing_system, args, cause, line):
    keep = originate(esl, "null/1000 &park")
    wait_event(esl, "CHANNEL_PARK", keep)
    uuid = originate(esl, args)
    ev = wait_event(esl, "CHANNEL_HANGUP_COMPLETE", uuid)
    assert ev["Hangup-Cause"] == cause
    assert line in routing_system.log_text()
    assert esl.api(f"uuid_exists {keep}") == "true"  # the other call goes on


def test_playback_of_a_tone(esl):
    uuid = originate(esl, "null/1000 'playback:tone_stream://%(200\\,0\\,440),park' inline")
    start = wait_event(esl, "PLAYBACK_START", uuid)
    assert start["Playback-File-Type"] == "tone_stream"
    stop = wait_event(esl, "PLAYBACK_STOP", uuid)
    assert stop["Playback-Status"] == "done"
    wait_event(esl, "CHANNEL_PARK", uuid)
    # 200 ms tone → 1600/0/200/1600 [obs]
    assert [esl.api(f"uuid_getvar {uuid} {v}") for v in
            ("playback_samples", "playback_seconds", "playback_ms", "current_application_response")
            ] == ["1600", "0", "200", "_undef_"]


def test_loopback_to_the_echo_extension_bridges(esl):
    uuid = originate(esl, "loopback/9196 &park")
    wait_event(esl, "CHANNEL_PARK", uuid)
    legs = esl.api("show channels")
    assert "loopback/9196-a" in legs and "loopback/9196-b" in legs


def test_bridge_to_a_loopback_leg_running_the_echo_extension(esl):
    uuid = originate(esl, "null/1000 bridge:loopback/9196 inline")
    bridge = wait_event(esl, "CHANNEL_BRIDGE", uuid)
    assert bridge["Bridge-A-Unique-ID"] == uuid
    b = bridge["Bridge-B-Unique-ID"]
    legs = esl.api("show channels")
    assert "loopback/9196-a" in legs and "loopback/9196-b" in legs
    assert esl.api(f"uuid_kill {uuid}") == "+OK\n"
    wait_event(esl, "CHANNEL_HANGUP_COMPLETE", b)
