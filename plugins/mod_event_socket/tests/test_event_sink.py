"""``event_sink``: FreeSWITCH's stateful listeners for web front ends (spec event-socket.md §11),
driven in-process the way a web module would: request parameters in the stream's param_event."""

from __future__ import annotations

import json
import re

import pytest

from softswitch import Event, EventType, Stream


def sink(core, **params) -> str:
    ev = Event(EventType.REQUEST_PARAMS, stamp=False)
    for k, v in params.items():
        ev.add_header(k.replace("_", "-"), v)
    stream = Stream(ev)
    result = core.api_execute("event_sink", "", None, stream)
    assert result.found
    return stream.getvalue()


@pytest.fixture
def core(inprocess_es):
    return inprocess_es()[0]


XML_HEAD = 'Content-Type: text/xml\n\n<?xml version="1.0"?>\n<root>\n'


def test_without_http_it_is_a_web_application(core):
    assert core.api("event_sink") == "This is a web application!\n"
    assert sink(core, command="create-listener") == "This is a web application!\n"


def test_missing_and_invalid_commands(core):
    assert sink(core, http_host="h") == (
        XML_HEAD + '<data><reply type="error">Missing command parameter!</reply></data>\n</root>\n\n')
    assert sink(core, http_host="h", command="nope") == (
        XML_HEAD + '<data><reply type="error">INVALID COMMAND!</reply></data\n</root>\n\n')
    assert sink(core, http_host="h", command="create-listener") == (
        XML_HEAD + '<data><reply type="error">Missing parameter!</reply></data>\n</root>\n\n')
    assert sink(core, http_host="h", command="check-listener", listen_id="99") == (
        XML_HEAD + '<data><reply type="error">Can\'t find listener</reply></data>\n</root>\n\n')
    assert sink(core, http_host="h", command="filter", listen_id="99") == (
        XML_HEAD + '<data><reply type="error">Invalid Listen-ID</reply></data>\n</root>\n\n')


def test_create_check_filter_destroy_plain(core, wait_for):
    out = sink(core, http_host="h", command="create-listener", events="CUSTOM sink::a", format="plain")
    m = re.fullmatch(XML_HEAD.replace("?", r"\?") + r'<data>\n <reply type="success">Listener (\d+) Created</reply>\n'
                     r' <listener>\n  <listen-id>\1</listen-id>\n  <format>plain</format>\n'
                     r'  <timeout>60</timeout>\n </listener>\n</data>\n</root>\n\n', out)
    assert m, out
    lid = m.group(1)
    assert sink(core, http_host="h", command="filter", listen_id=lid, action="add",
                header_name="N", header_val="2") == (
        XML_HEAD + '<data>\n <reply type="success">filter added.</reply>\n<api-command>\n</root>\n\n')
    for n in range(3):
        ev = Event(EventType.CUSTOM, "sink::a")
        ev.add_header("N", str(n))
        core.events.fire(ev)
    core.events.fire(Event(EventType.CUSTOM, "sink::other"))
    core.events.drain(5)
    out = sink(core, http_host="h", command="check-listener", listen_id=lid, format="plain")
    assert out.startswith(XML_HEAD + '<data>\n <reply type="success">Current Events Follow</reply>\n')
    events = re.findall(r'<event type="plain">\n(.*?)</event>', out, re.S)
    assert len(events) == 1 and "\nN: 2\n" in events[0]
    assert out.endswith(" </events>\n</data>\n</root>\n\n")
    again = sink(core, http_host="h", command="check-listener", listen_id=lid)
    assert "<event " not in again  # drained
    assert sink(core, http_host="h", command="destroy-listener", listen_id=lid).startswith(
        XML_HEAD + f'<data>\n <reply type="success">listener {lid} destroyed</reply>\n')
    assert "Can't find listener" in sink(core, http_host="h", command="check-listener", listen_id=lid)


def test_json_listener_and_logs(core):
    out = sink(core, http_host="h", command="create-listener", events="HEARTBEAT", loglevel="warning",
               format="json")
    assert out.startswith("Content-Type: application/json\n\n{\n\t\"listener\":\t{\n\t\t\"listen-id\":\t")
    lid = json.loads(out.split("\n\n", 1)[1])["listener"]["listen-id"]
    import logging
    logging.getLogger("test.sink").warning("sink log line")
    core.events.fire(Event(EventType.HEARTBEAT))
    core.events.drain(5)
    out = sink(core, http_host="h", command="check-listener", listen_id=str(lid), format="json")
    assert '<log log-level="4"' in out and "sink%20log%20line" in out
    body = json.loads(out.split("</log_data>\n", 1)[1])
    assert body["listener"]["format"] == "json"
    assert [e["Event-Name"] for e in body["events"]] == ["HEARTBEAT"]
    assert sink(core, http_host="h", command="stop-logging", listen_id=str(lid)).endswith(
        '<data><reply type="success">Not Logging</reply></data>\n</root>\n\n')
    assert sink(core, http_host="h", command="set-loglevel", listen_id=str(lid), loglevel="bogus").endswith(
        '<data><reply type="error">Invalid Level</reply></data>\n</root>\n\n')


def test_exec_fsapi(core):
    core.modules.modules["mod_event_socket"].add_api(
        "t_sink_echo", "d", "", lambda cmd, session, stream: stream.write(f"echo:{cmd}"))
    assert sink(core, http_host="h", command="exec-fsapi", fsapi_command="t_sink_echo", fsapi_args="x") == (
        XML_HEAD + '<data>\n <reply type="success">Execute API Command</reply>\n<api-command>\n'
        "echo:x </api-command>\n</data></root>\n\n")
    assert "INVALID API COMMAND!" in sink(core, http_host="h", command="exec-fsapi")
