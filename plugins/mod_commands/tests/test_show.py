"""``show`` and ``help``: golden output, byte for byte (spec modules.md §5, mod_commands.c)."""

from __future__ import annotations

import json

import pytest

from mod_commands.show import SHOW_SYNTAX, render_json, render_xml, xml_text

TIMERS_CSV = "type,name,ikey\ntimer,fake,mod_fixture\ntimer,fake_fail,mod_fixture\n\n2 total.\n"
TIMERS_JSON = ('{"row_count":2,"rows":[{"type":"timer","name":"fake","ikey":"mod_fixture"},'
               '{"type":"timer","name":"fake_fail","ikey":"mod_fixture"}]}')
TIMERS_XML = (
    '<result row_count="2">\n'
    '  <row row_id="1">\n'
    "    <type>timer</type>\n"
    "    <name>fake</name>\n"
    "    <ikey>mod_fixture</ikey>\n"
    "  </row>\n"
    '  <row row_id="2">\n'
    "    <type>timer</type>\n"
    "    <name>fake_fail</name>\n"
    "    <ikey>mod_fixture</ikey>\n"
    "  </row>\n"
    "</result>\n"
)


def test_show_timer_csv(api):
    assert api("show timer") == TIMERS_CSV
    assert api("show timers") == TIMERS_CSV  # a trailing "s" is dropped
    assert api("show timer as csv") == TIMERS_CSV
    assert api("show timer as delim") == TIMERS_CSV


def test_show_timer_json(api):
    out = api("show timer as json")
    assert out == TIMERS_JSON
    assert json.loads(out)["row_count"] == 2


def test_show_timer_xml(api):
    assert api("show timer as xml") == TIMERS_XML
    assert api("show timer AS XML") == TIMERS_XML


def test_show_timer_as_delim(api):
    assert api("show timer as delim |") == (
        "type|name|ikey\ntimer|fake|mod_fixture\ntimer|fake_fail|mod_fixture\n\n2 total.\n")


@pytest.mark.parametrize("kind", ["dialplan", "file", "chat", "say", "management", "limit", "endpoint"])
def test_show_each_kind(api, kind):
    assert api(f"show {kind}") == f"type,name,ikey\n{kind},fix_{kind},mod_fixture\n\n1 total.\n"


def test_show_limits_and_codecs(api):
    assert api("show limits") == "type,name,ikey\nlimit,fix_limit,mod_fixture\n\n1 total.\n"
    assert api("show codec") == "\n0 total.\n"
    assert api("show codecs as json") == '{"row_count": 0}\n'
    assert api("show codec as xml") == '<result row_count="0"/>\n'


def test_show_api_excludes_rows_without_description(api):
    assert api("show api fix_api") == (
        "name,description,syntax,ikey\nfix_api,Fixture API <&>,<a>|[b],mod_fixture\n\n1 total.\n")
    assert api("show api fix_nodesc") == "\n0 total.\n"
    assert "fix_nodesc" not in api("show api")
    assert "fix_nodesc" in api("show interfaces")
    names = [line.split(",")[0] for line in api("show api").splitlines()[1:-2]]
    assert names == sorted(names)
    assert "status" in names and "show" in names


def test_show_application_golden(api):
    assert api("show application") == (
        "name,description,syntax,ikey\n"
        "fix_app,Fixture app,<x>,mod_fixture\n"
        "fix_app2,Caf\u00e9 & <tea>,[\"q\"]\r,mod_fixture\n"
        "\n2 total.\n"
    )
    assert api("show application as json") == (
        '{"row_count":2,"rows":['
        '{"name":"fix_app","description":"Fixture app","syntax":"<x>","ikey":"mod_fixture"},'
        '{"name":"fix_app2","description":"Caf\u00e9 & <tea>","syntax":"[\\"q\\"]\\r","ikey":"mod_fixture"}]}'
    )
    assert api("show application as xml") == (
        '<result row_count="2">\n'
        '  <row row_id="1">\n'
        "    <name>fix_app</name>\n"
        "    <description>Fixture app</description>\n"
        "    <syntax>&lt;x&gt;</syntax>\n"
        "    <ikey>mod_fixture</ikey>\n"
        "  </row>\n"
        '  <row row_id="2">\n'
        "    <name>fix_app2</name>\n"
        "    <description>Caf&#xE9; &amp; &lt;tea&gt;</description>\n"
        '    <syntax>["q"]&#xD;</syntax>\n'
        "    <ikey>mod_fixture</ikey>\n"
        "  </row>\n"
        "</result>\n"
    )


def test_show_modules(api):
    expected_rows = sorted(
        [("api", "fix_api"), ("api", "fix_fail"), ("api", "fix_nodesc"), ("application", "fix_app"),
         ("application", "fix_app2"), ("timer", "fake"), ("timer", "fake_fail")]
        + [(k, f"fix_{k}") for k in ("dialplan", "file", "chat", "say", "management", "limit",
                                      "endpoint")])
    body = "".join(f"{t},{n},mod_fixture,<mod_fixture>\n" for t, n in expected_rows)
    assert api("show modules mod_fixture") == (
        f"type,name,ikey,filename\n{body}\n{len(expected_rows)} total.\n")
    everything = api("show modules")
    assert everything.startswith("type,name,ikey,filename\n")
    assert "api,status,mod_commands," in everything
    # FreeSWITCH reads "as" only right after the report name: a module filter wins
    assert api("show modules mod_fixture as json") == api("show modules mod_fixture")


def test_show_interface_types(core, api):
    n_api = len(core.registry.all("api"))
    assert api("show interface_types") == (
        f"type,total\napi,{n_api}\napplication,2\nchat,1\ndialplan,1\nendpoint,1\nfile,1\n"
        "limit,1\nmanagement,1\nsay,1\ntimer,2\n\n10 total.\n")
    assert api("show interface_types as json").startswith(
        f'{{"row_count":10,"rows":[{{"type":"api","total":"{n_api}"}},')


@pytest.mark.parametrize("report", ["calls", "channels", "detailed_calls", "bridged_calls",
                                    "detailed_bridged_calls", "aliases", "complete", "nat_map",
                                    "registrations", "channels like foo"])
def test_empty_reports(api, report):
    assert api(f"show {report}") == "\n0 total.\n"
    if report != "channels like foo":  # "as" only read at its own place there
        assert api(f"show {report} as json") == '{"row_count": 0}\n'
        assert api(f"show {report} as xml") == '<result row_count="0"/>\n'
    assert api("show channels like foo as json") == '{"row_count": 0}\n'


@pytest.mark.parametrize("report", ["calls", "channels", "registrations"])
def test_count_reports(api, report):
    assert api(f"show {report} count") == "\n0 total.\n"
    assert api(f"show {report} count as json") == '{"row_count":0,"rows":[]}'
    assert api(f"show {report} count as xml") == '<result row_count="0"></result>\n'


def test_show_tasks_reads_the_scheduler(core, api):
    out = api("show tasks")
    lines = out.splitlines()
    assert lines[0] == "task_id,task_desc,task_group,task_runtime,task_sql_manager,hostname"
    descs = [line.split(",")[1] for line in lines[1:-2]]
    assert "heartbeat" in descs and "check_ip" in descs
    assert out.endswith(f"\n{len(core.scheduler.tasks)} total.\n")
    rows = json.loads(api("show tasks as json"))["rows"]
    assert {r["task_desc"] for r in rows} >= {"heartbeat", "check_ip"}
    assert all(r["hostname"] == core.hostname for r in rows)


def test_show_status_is_status(api):
    assert api("show status").startswith("UP ")
    assert "is ready" in api("show status")
    assert api("show statusx") == "INVALID COMMAND!\n"


def test_show_usage_and_formats(api):
    assert api("show") == f"-USAGE: {SHOW_SYNTAX}\n"
    assert api("show nothing") == f"-USAGE: {SHOW_SYNTAX}\n"
    assert api("show timer as yaml") == "-ERR Cannot find format yaml\n"


def test_show_interface_types_with_a_switchname(kernel_factory):
    core = kernel_factory(modules=["mod_commands"], settings={"switchname": "fsbox"})
    assert core.switchname == "fsbox"
    out = core.api("show interface_types")
    assert out.startswith("type,total\napi,")
    assert core.api("switchname") == "fsbox"


def test_show_without_sql(kernel_factory):
    core = kernel_factory(modules=["mod_commands"], start=False)
    core.nosql = True
    core.start()
    assert core.db is None
    for line in ("show api", "show status", "show calls as json"):
        assert core.api(line) == "-ERR SQL disabled, no data available!\n"
    assert core.api("help") == "\nValid Commands:\n\n-ERR SQL disabled, no data available!\n"


def test_help(core, api):
    out = api("help")
    assert out.startswith("\nValid Commands:\n\n")
    rows = out[len("\nValid Commands:\n\n"):].splitlines()
    assert "status,,Show current status,mod_commands" in rows
    assert "fix_api,<a>|[b],Fixture API <&>,mod_fixture" in rows
    assert "fix_nodesc,,,mod_fixture" in rows  # help lists every API
    assert [r.split(",")[0] for r in rows] == sorted(r.split(",")[0] for r in rows)
    assert not out.endswith("total.\n")
    # as in FreeSWITCH, "help <name>" lists every API too, without the heading
    assert api("help status") == out[len("\nValid Commands:\n\n"):]
    assert api("show help") == api("help status")


def test_writers_directly():
    assert render_json(["a", "b"], [("1", None)]) == '{"row_count":1,"rows":[{"a":"1","b":""}]}'
    assert render_json(["a"], [("x\ny\t\"\\/\x01",)]) == (
        '{"row_count":1,"rows":[{"a":"x\\ny\\t\\"\\\\/\\u0001"}]}')
    assert render_xml(["a"], [], count=3) == '<result row_count="3"></result>\n'
    assert render_xml([""], [(None,)]) == (
        '<result row_count="1">\n  <row row_id="1">\n    <undefined></undefined>\n  </row>\n</result>\n')
    assert xml_text('a&b<c>"d"\n\t\r\u20ac') == 'a&amp;b&lt;c&gt;"d"\n\t&#xD;&#x20AC;'
    assert xml_text("x<![CDATA[<&>]]>") == "x<![CDATA[<&>]]>"
