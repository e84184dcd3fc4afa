"""The applications and the inline dialplan on whole calls (in-process kernel, test endpoint)."""

from __future__ import annotations

import importlib.metadata

import pytest

from softswitch import Cause, ChannelState, EventType


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="softswitch.modules")}
    assert eps["mod_dptools"].value == "mod_dptools"


def test_registers_applications_inline_dialplan_and_error_endpoint(core):
    for app in ("answer", "pre_answer", "ring_ready", "hangup", "park", "sleep", "set", "unset",
                "export", "set_global", "multiset", "log", "info", "event", "echo", "playback",
                "bridge", "transfer", "execute_extension", "send_dtmf", "respond"):
        assert core.registry.get("application", app) is not None, app
    assert core.registry.get("dialplan", "inline") is not None
    assert core.registry.get("endpoint", "error") is not None
    assert core.registry.get("application", "socket") is None  # mod_event_socket's


def test_inline_set_then_park(core, call, wait_for, events):
    parked = events(EventType.CHANNEL_PARK)
    s = call("set:x=1,park")
    wait_for(lambda: parked)
    assert s.channel.get_variable("x") == "1"
    assert s.channel.state == ChannelState.CS_EXECUTE
    s.hangup(Cause.NORMAL_CLEARING)
    wait_for(lambda: core.sessions.count == 0)


def test_last_instruction_hangs_up_normal_clearing(core, call, wait_for, log_lines):
    s = call("set:a=1,log:INFO hello there")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.NORMAL_CLEARING
    msgs = [ln.message for ln in log_lines]
    assert "hello there\n" in msgs
    hello = next(ln for ln in log_lines if ln.message == "hello there\n")
    # a session log line: level INFO, Text-Channel 3 (SESSION), the call's uuid
    assert (hello.level, hello.channel, hello.user_data) == (6, 3, s.uuid)
    assert any("has executed the last dialplan instruction, hanging up." in m for m in msgs)


def test_unknown_application_hangs_up_destination_out_of_order(core, call, wait_for, log_lines):
    s = call("Event-Subclass=x")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.DESTINATION_OUT_OF_ORDER
    assert "Invalid Application Event-Subclass=x\n" in [ln.message for ln in log_lines]


def test_hangup_with_cause_name_number_or_nothing(core, call, wait_for):
    for arg, cause in (("hangup:USER_BUSY", Cause.USER_BUSY), ("hangup:17", Cause.USER_BUSY),
                       ("hangup", Cause.NORMAL_CLEARING), ("hangup:bogus", Cause.NORMAL_CLEARING)):
        s = call(arg)
        wait_for(lambda s=s: s.channel.state >= ChannelState.CS_HANGUP)
        assert s.channel.hangup_cause == cause, arg


def test_set_unset_multiset_export_log_lines(core, call, wait_for, log_lines):
    s = call("m:|:set:a=${channel_name}|set:b=|set:c,3|multiset:d=4 e=5|unset:d"
             "|export:f=6|export:nolocal:g=7|set_global:sg_test=8|park")
    wait_for(lambda: s.channel.get_variable("sg_test") == "8")
    ch = s.channel
    assert ch.get_variable("a") == ch.name
    assert ch.get_variable("b") is None
    assert ch.get_variable("c") == "3"
    assert ch.get_variable("d") is None and ch.get_variable("e") == "5"
    assert ch.get_variable("export_vars") == "f,nolocal:g"
    assert ch.get_variable("nolocal:g") == "7"
    assert core.vars.get("sg_test") == "8"
    msgs = [ln.message for ln in log_lines]
    name = ch.name
    for line in (f"SET {name} [a]=[{name}]\n", f"SET {name} [b]=[UNDEF]\n", "UNSET [d]\n",
                 "EXPORT (export_vars) [f]=[6]\n", "EXPORT (export_vars) (REMOTE ONLY) [g]=[7]\n",
                 "SET GLOBAL [sg_test]=[8]\n"):
        assert line in msgs, line
    s.hangup()


def test_set_expands_its_value_a_second_time(core, call, wait_for):
    s = call("m:|:set:inner=${channel_name}|set:outer=\\${inner}|park")
    wait_for(lambda: s.channel.get_variable("outer") is not None)
    # the envelope turned \${inner} into ${inner}; set expanded that again
    assert s.channel.get_variable("outer") == s.channel.name
    s.hangup()


def test_missing_arguments_log_errors_and_the_call_goes_on(core, call, wait_for, log_lines, events):
    parked = events(EventType.CHANNEL_PARK)
    s = call("set,unset,sleep,park")
    wait_for(lambda: parked)
    msgs = [ln.message for ln in log_lines]
    assert msgs.count("No variable name specified.\n") == 2
    assert "No timeout specified.\n" in msgs
    s.hangup()


def test_event_fires_channel_application_or_custom(core, call, wait_for, events):
    apps = events(EventType.CHANNEL_APPLICATION)
    custom = events(EventType.CUSTOM)
    s = call("m:^:event:Foo=bar, Baz = q ^event:Event-Name=CUSTOM,Event-Subclass=dp::t,X=1^park")
    wait_for(lambda: apps and custom)
    ev = apps[0]
    assert ev["Foo"] == "bar" and ev["Baz"] == "q"
    assert ev["Unique-ID"] == s.uuid
    c = custom[0]
    names = [name for name, _ in c.items()]
    assert names[0] == "Event-Subclass" and c["Event-Subclass"] == "dp::t"
    # the renamed Event-Name comes after the standard headers, then the pairs, then the data
    assert names.index("Event-Name") == names.index("Event-Sequence") + 1
    assert names.index("X") == names.index("Event-Name") + 1
    assert c["Event-Name"] == "CUSTOM" and c["X"] == "1" and c["Unique-ID"] == s.uuid
    s.hangup()


def test_info_logs_channel_data(core, call, wait_for, log_lines, events):
    parked = events(EventType.CHANNEL_PARK)
    s = call("info,park")
    wait_for(lambda: parked)
    info = [ln for ln in log_lines if ln.message.startswith("CHANNEL_DATA:\n")]
    assert len(info) == 1 and info[0].level == 6
    assert info[0].message.startswith("CHANNEL_DATA:\nChannel-State: [CS_EXECUTE]\n")
    assert f"Unique-ID: [{s.uuid}]\n" in info[0].message
    # the serialization's blank line, then the format's own newline
    assert info[0].message.endswith("]\n\n\n")
    s.hangup()


def test_sleep_then_continue(core, call, wait_for):
    s = call("sleep:60,set:slept=yes,park")
    wait_for(lambda: s.channel.get_variable("slept") == "yes")
    s.hangup()


def test_park_timeout_hangs_up_with_its_cause(core, call, wait_for, events):
    unparked = events(EventType.CHANNEL_UNPARK)
    s = call("park", vars="{park_timeout=0:USER_BUSY}")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.USER_BUSY
    wait_for(lambda: unparked)
    assert s.channel.get_variable("park_timeout") is None


def test_answer_pre_answer_ring_ready_on_an_outbound_leg(core, call, wait_for, events):
    parked = events(EventType.CHANNEL_PARK)
    s = call("ring_ready,pre_answer,answer,park")
    wait_for(lambda: parked)
    assert s.channel.answered
    s.hangup()


def test_send_dtmf_and_respond_reach_the_endpoint(core, call, wait_for, events, log_lines):
    parked = events(EventType.CHANNEL_PARK)
    s = call("m:|:send_dtmf:12#@200+4|respond:486 Busy Here|send_dtmf:" + "1" * 100 + "|park")
    wait_for(lambda: parked)
    assert s.private.dtmf == ["1", "2", "#", "4"]
    assert [m.string_arg for m in s.private.messages if m.id.name == "INDICATE_RESPOND"] == [
        "486 Busy Here"]
    assert "Attempt to send very large dtmf string ignored!\n" in [ln.message for ln in log_lines]
    s.hangup()


def test_echo_writes_back_what_it_reads(core, call, wait_for):
    s = call("echo")
    wait_for(lambda: s.private.written >= 3)
    s.hangup()
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)


def test_transfer_to_an_inline_target(core, call, wait_for, events, log_lines):
    parked = events(EventType.CHANNEL_PARK)
    s = call("m:|:set:before=1|transfer:'set:after=2,park' inline|set:never=1")
    wait_for(lambda: parked)
    ch = s.channel
    assert ch.get_variable("after") == "2" and ch.get_variable("never") is None
    assert ch.get_variable("max_forwards") == "69"
    src = ch.get_variable("transfer_source")
    assert src.endswith(":bl_xfer:set:after=2,park/default/inline")
    assert ch.get_variable("transfer_history") == src
    assert any(ln.message.startswith(f"Transfer {ch.name} to inline[set:after=2,park@default]")
               for ln in log_lines)
    s.hangup()


def test_transfer_loop_ends_with_exchange_routing_error(core, call, wait_for):
    s = call("transfer:anywhere", vars="{max_forwards=1}")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.EXCHANGE_ROUTING_ERROR


def test_error_endpoint(core):
    assert core.sessions.originate("error/USER_BUSY")[0] == Cause.USER_BUSY
    assert core.sessions.originate("error/17")[0] == Cause.USER_BUSY
    assert core.sessions.originate("error/foo")[0] == Cause.NORMAL_CLEARING


def test_bridge_to_an_error_leg_fails_with_its_cause(core, call, wait_for, log_lines):
    s = call("bridge:error/USER_BUSY")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.USER_BUSY
    assert "Originate Failed.  Cause: USER_BUSY\n" in [ln.message for ln in log_lines]
    assert s.channel.get_variable("originate_failed_cause") == "USER_BUSY"


def test_bridge_continue_on_fail(core, call, wait_for, events):
    parked = events(EventType.CHANNEL_PARK)
    s = call("m:|:set:continue_on_fail=USER_BUSY|bridge:error/USER_BUSY|park")
    wait_for(lambda: parked)
    s.hangup()


def test_bridge_two_legs(core, call, wait_for, events):
    bridged = events(EventType.CHANNEL_BRIDGE)
    s = call("m:|:export:shared=yes|export:nolocal:remote=1|bridge:tnull/2000")
    wait_for(lambda: bridged)
    # FreeSWITCH's inverted test: an answered peer reads EARLY
    assert (s.channel.get_variable("originate_disposition"), s.channel.get_variable("DIALSTATUS")) == (
        "call accepted", "EARLY")
    assert bridged[0]["Bridge-A-Unique-ID"] == s.uuid
    b = core.sessions.locate(bridged[0]["Bridge-B-Unique-ID"])
    # exported variables go to the originated leg, nolocal: ones without their prefix
    assert (b.channel.get_variable("shared"), b.channel.get_variable("remote")) == ("yes", "1")
    s.hangup()
    wait_for(lambda: core.sessions.count == 0)


def test_an_application_that_raises_ends_only_its_call(core, call, wait_for, events, log_lines):
    parked = events(EventType.CHANNEL_PARK)
    other = call("park")
    wait_for(lambda: parked)
    # playback of a path whose interface's open raises inside the application
    core.registry.get("application", "playback").function = lambda session, data: 1 / 0
    s = call("playback:x")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.DESTINATION_OUT_OF_ORDER
    assert any("application playback of mod_dptools raised ZeroDivisionError" in ln.message
               for ln in log_lines)
    assert other.channel.state == ChannelState.CS_EXECUTE
    other.hangup()


def test_transfer_bleg_without_a_partner_warns(core, call, wait_for, events, log_lines):
    parked = events(EventType.CHANNEL_PARK)
    s = call("m:|:transfer:-bleg 2000|park")
    wait_for(lambda: parked)
    assert "No B-leg present.\n" in [ln.message for ln in log_lines]
    assert s.channel.state == ChannelState.CS_EXECUTE  # -bleg alone leaves this leg where it was
    s.hangup()


@pytest.mark.parametrize("setvars,dial,goes_on", [
    ("", "error/USER_BUSY", False),
    ("", "error/NO_ANSWER", True),                      # no answer always goes on
    ("set:continue_on_fail=true|", "error/USER_BUSY", True),
    ("set:continue_on_fail=17,CALL_REJECTED|", "error/USER_BUSY", True),  # a number matches
    ("set:continue_on_fail=CALL_REJECTED|", "error/USER_BUSY", False),
    ("set:failure_causes=CALL_REJECTED|", "error/USER_BUSY", True),       # not a failure cause
    ("set:failure_causes=USER_BUSY|", "error/USER_BUSY", False),
])
def test_bridge_failure_causes(core, call, wait_for, events, setvars, dial, goes_on):
    parked = events(EventType.CHANNEL_PARK)
    s = call(f"m:|:{setvars}bridge:{dial}|park")
    if goes_on:
        wait_for(lambda: parked)
        s.hangup()
    else:
        wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
        assert not parked
        assert s.channel.hangup_cause == Cause[dial.split("/")[1]]


def test_bridge_transfer_on_fail(core, call, wait_for, events):
    parked = events(EventType.CHANNEL_PARK)
    s = call("m:|:set:transfer_on_fail=USER_BUSY 'set:xfer=yes,park' inline|bridge:error/USER_BUSY|set:never=1")
    wait_for(lambda: parked)
    assert s.channel.get_variable("xfer") == "yes" and s.channel.get_variable("never") is None
    s.hangup()


@pytest.mark.parametrize("dial,disposition,status", [
    ("error/USER_BUSY", "USER_BUSY", "BUSY"),
    ("error/CALL_REJECTED", "CALL_REJECTED", "DONTCALL"),
    ("error/NORMAL_TEMPORARY_FAILURE", "NORMAL_TEMPORARY_FAILURE", "NORMAL_TEMPORARY_FAILURE"),
])
def test_bridge_sets_originate_disposition_and_dialstatus(core, call, wait_for, dial, disposition, status):
    s = call(f"m:|:set:continue_on_fail=true|bridge:{dial}|park")
    wait_for(lambda: s.channel.get_variable("DIALSTATUS") is not None)
    assert (s.channel.get_variable("originate_disposition"), s.channel.get_variable("DIALSTATUS")) == (
        disposition, status)
    s.hangup()


@pytest.mark.parametrize("setvars,outcome", [
    ("", "goes_on"),
    ("set:hangup_after_bridge=true|", "hangs_up"),
    ("set:park_after_bridge=true|", "parks"),
    ("set:transfer_after_bridge=set:inline|", "transfers"),
])
def test_after_the_bridge(core, call, wait_for, events, setvars, outcome):
    bridged = events(EventType.CHANNEL_BRIDGE)
    parked = events(EventType.CHANNEL_PARK)
    s = call(f"m:|:{setvars}bridge:tnull/2000|set:after=1|park")
    wait_for(lambda: bridged)
    b = core.sessions.locate(bridged[0]["Bridge-B-Unique-ID"])
    b.hangup(Cause.USER_BUSY)
    ch = s.channel
    if outcome == "hangs_up":
        wait_for(lambda: ch.state >= ChannelState.CS_HANGUP)
        assert ch.hangup_cause == Cause.USER_BUSY
        return
    wait_for(lambda: parked or ch.state >= ChannelState.CS_HANGUP)
    if outcome == "goes_on":
        assert ch.get_variable("after") == "1" and ch.state == ChannelState.CS_EXECUTE
    elif outcome == "parks":
        assert ch.get_variable("after") is None
        wait_for(lambda: ch.state == ChannelState.CS_PARK)
    else:  # transfer to the inline extension "set": runs `set` with no argument, then hangs up
        wait_for(lambda: ch.state >= ChannelState.CS_HANGUP)
        assert ch.get_variable("after") is None
        assert ch.get_variable("transfer_source").endswith(":bl_xfer:set/default/inline")
    s.hangup()
