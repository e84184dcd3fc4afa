"""The XML dialplan routing whole calls (in-process kernel, test endpoint and applications)."""

from __future__ import annotations

import importlib.metadata

from softswitch import Cause, ChannelState, EventType

# the pre-processor drops every line holding <include>: keep it on lines of its own
CTX = """<include>
<context name="default">{body}</context>
</include>"""


def messages(lines):
    return [ln.message.rstrip("\n") for ln in lines]


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="softswitch.modules")}
    assert eps["mod_dialplan_xml"].value == "mod_dialplan_xml"


def test_the_default_context_parks_1000(make_core, route, wait_for, log_lines):
    core = make_core()  # conf/dialplan/default.xml of this repository
    parked = []
    core.events.bind("t", EventType.CHANNEL_PARK, None, parked.append, None)
    s = route(core, "1000")
    wait_for(lambda: parked)
    msgs = messages(log_lines)
    name = s.channel.name
    # before the caller id flip: empty name (two spaces), default number [obs]
    assert "Processing  <0000000000>->1000 in context default" in msgs
    assert f"Dialplan: {name} parsing [default->park] continue=false" in msgs
    assert (f"Dialplan: {name} Regex (PASS) [park] destination_number(1000) =~ /^(park|1000)$/ "
            "break=on-false") in msgs
    assert f"Dialplan: {name} Action park() " in msgs
    assert f"EXECUTE [depth=0] {name} park()" in msgs
    clean = [ln for ln in log_lines if ln.message.startswith("Dialplan: ")]
    assert clean and all(ln.channel == 1 and ln.user_data == s.uuid for ln in clean)
    s.hangup()
    wait_for(lambda: core.sessions.count == 0)


def test_the_default_context_has_echo_tone_and_socket_extensions(make_core):
    from mod_dialplan_xml.engine import find_context
    core = make_core()
    ctx = find_context(core.xml.section("dialplan"), "default")
    apps = {x.get("name"): [a.get("application") for a in x.iter("action")] for x in ctx.findall("extension")}
    assert apps == {"park": ["park"], "echo": ["answer", "echo"], "tone": ["answer", "playback"],
                    "outbound_socket": ["socket"]}


def test_no_match_is_no_route_destination(make_core, route, wait_for, log_lines):
    core = make_core()
    s = route(core, "4242")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.NO_ROUTE_DESTINATION
    assert "No Route, Aborting" in messages(log_lines)


def test_unknown_context(make_core, route, wait_for, log_lines):
    core = make_core()
    s = route(core, "1000", context="nosuch")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.NO_ROUTE_DESTINATION
    msgs = messages(log_lines)
    assert "Context nosuch not found" in msgs and "No Route, Aborting" in msgs


def test_bad_regex_one_error_line_and_no_route_while_others_go_on(make_core, route, wait_for, log_lines):
    core = make_core(CTX.format(body="""
      <extension name="bad"><condition field="destination_number" expression="^(1"><action application="park"/></condition></extension>
      <extension name="ok"><condition field="destination_number" expression="^2000$"><action application="park"/></condition></extension>"""))
    parked = []
    core.events.bind("t", EventType.CHANNEL_PARK, None, parked.append, None)
    other = route(core, "2000")
    wait_for(lambda: parked)
    s = route(core, "1000")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.NO_ROUTE_DESTINATION
    errors = [m for m in messages(log_lines) if m.startswith("COMPILE ERROR")]
    assert errors and errors[-1] == "COMPILE ERROR: 1 [missing ), unterminated subpattern][^(1]"
    assert other.channel.state == ChannelState.CS_EXECUTE
    other.hangup()


def test_application_that_raises_ends_the_call(make_core, route, wait_for, log_lines):
    core = make_core(CTX.format(body="""<extension name="x"><condition>
        <action application="boom"/><action application="park"/></condition></extension>"""))
    s = route(core, "1")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.DESTINATION_OUT_OF_ORDER
    assert any("application boom of mod_testcalls raised RuntimeError: boom" in m for m in messages(log_lines))


def test_inline_actions_run_during_routing(make_core, route, wait_for, log_lines):
    core = make_core(CTX.format(body="""<extension name="x">
      <condition><action application="set" data="who=inline" inline="true"/>
                 <action application="noinline" inline="true"/></condition>
      <condition field="${who}" expression="^in(line)$"><action application="set" data="seen=$1"/>
        <action application="park"/></condition></extension>"""))
    parked = []
    core.events.bind("t", EventType.CHANNEL_PARK, None, parked.append, None)
    s = route(core, "1")
    wait_for(lambda: parked)
    assert s.channel.get_variable("seen") == "line"
    assert s.channel.get_variable("DP_MATCH") == "ARRAY::inline|:line"
    assert "This application cannot be executed inline" in messages(log_lines)
    s.hangup()


def test_inline_unknown_application_hangs_up(make_core, route, wait_for, log_lines):
    core = make_core(CTX.format(body="""<extension name="x"><condition>
      <action application="nosuchapp" inline="true"/><action application="park"/></condition></extension>"""))
    s = route(core, "1")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert s.channel.hangup_cause == Cause.DESTINATION_OUT_OF_ORDER
    assert "Invalid Application nosuchapp" in messages(log_lines)


def test_reloadxml_changes_the_next_routing(make_core, route, wait_for, tmp_path):
    core = make_core(CTX.format(body="""<extension name="a"><condition>
      <action application="set" data="v=1"/><action application="park"/></condition></extension>"""))
    parked = []
    core.events.bind("t", EventType.CHANNEL_PARK, None, parked.append, None)
    s1 = route(core, "1")
    wait_for(lambda: len(parked) == 1)
    path = core.dirs.conf_dir + "/dialplan/default.xml"
    with open(path, "w") as f:
        f.write(CTX.format(body="""<extension name="b"><condition>
          <action application="set" data="v=2"/><action application="park"/></condition></extension>"""))
    assert core.reloadxml()[0]
    s2 = route(core, "1")
    wait_for(lambda: len(parked) == 2)
    assert (s1.channel.get_variable("v"), s2.channel.get_variable("v")) == ("1", "2")
    core.sessions.hupall()


def test_alternate_file(make_core, route, wait_for, tmp_path, log_lines):
    core = make_core()
    alt = tmp_path / "alt.xml"
    alt.write_text('<document><section name="dialplan"><context name="default"><extension name="alt">'
                   '<condition><action application="set" data="alt=yes"/><action application="park"/>'
                   '</condition></extension></context></section></document>')
    parked = []
    core.events.bind("t", EventType.CHANNEL_PARK, None, parked.append, None)
    s = route(core, "77", dialplan=f"XML:{alt}")
    wait_for(lambda: parked)
    assert s.channel.get_variable("alt") == "yes"
    s.hangup()
    s = route(core, "77", dialplan=f"XML:{tmp_path}/missing.xml")
    wait_for(lambda: s.channel.state >= ChannelState.CS_HANGUP)
    assert f"Open of [{tmp_path}/missing.xml] failed" in messages(log_lines)
