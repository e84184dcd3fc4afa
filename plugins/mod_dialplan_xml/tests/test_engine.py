"""The XML dialplan hunt on its own, over a channel view made of dicts (no sessions)."""

from __future__ import annotations

import logging
import time
from xml.etree.ElementTree import fromstring

import pytest

from mod_dialplan_xml.engine import hunt
from mod_dialplan_xml.regex import ast2regex, regex_perform, substitute


class View:
    """A channel as the hunt sees it: variables, caller-profile fields, expansion, log."""

    def __init__(self, name="null/1", **fields):
        self.name = name
        self.vars: dict[str, str] = {}
        self.fields = {"context": "default", "destination_number": "1000",
                       "caller_id_name": "", "caller_id_number": "0000000000"}
        self.fields.update(fields)
        self.lines: list[tuple[int, str]] = []

    def get_variable(self, name):
        return self.vars.get(name)

    def set_variable(self, name, value):
        self.vars.pop(name, None)
        if value:
            self.vars[name] = value

    def push_variable(self, name, value):
        old = self.vars.get(name)
        if old is None:
            self.vars[name] = value
        elif old.startswith("ARRAY::"):
            self.vars[name] = old + "|:" + value
        else:
            self.vars[name] = "ARRAY::" + old + "|:" + value

    def del_variable_prefix(self, prefix):
        for k in [k for k in self.vars if k.startswith(prefix)]:
            del self.vars[k]

    def caller_field(self, name):
        return self.fields.get(name.lower())

    def expand(self, text):
        import re
        return re.sub(r"\$\{([^}]+)\}", lambda m: self.vars.get(m.group(1), self.fields.get(m.group(1), "")), text)

    def log(self, level, message):
        self.lines.append((level, message))

    def messages(self, level=None):
        return [m for lv, m in self.lines if level is None or lv == level]


def dialplan(body: str):
    return fromstring(f'<section name="dialplan">{body}</section>')


def run(view, body, inline=None, now=None):
    calls = []

    def exec_inline(app, data):
        calls.append((app, data))
        if inline:
            inline(app, data)
    ext = hunt(view, dialplan(body), exec_inline, now=now)
    return ext, calls


PARK = """<context name="default">
  <extension name="park_1000">
    <condition field="destination_number" expression="^1000$">
      <action application="park"/>
    </condition>
  </extension>
</context>"""


def test_live_log_lines_of_a_simple_match():
    view = View()
    ext, _ = run(view, PARK)
    assert ext.applications == [("park", "")]
    assert ext.name == "park_1000" and ext.number == "1000"
    # spec §1.8 [obs]: the lines FreeSWITCH wrote for this extension, the trailing space included
    assert view.messages() == [
        "Dialplan: null/1 parsing [default->park_1000] continue=false",
        "Dialplan: null/1 Regex (PASS) [park_1000] destination_number(1000) =~ /^1000$/ break=on-false",
        "Dialplan: null/1 Action park() ",
    ]


def test_no_match_returns_none():
    view = View(destination_number="2000")
    ext, _ = run(view, PARK)
    assert ext is None
    assert view.messages()[-1] == (
        "Dialplan: null/1 Regex (FAIL) [park_1000] destination_number(2000) =~ /^1000$/ break=on-false")


def test_context_not_found_warns_and_global_is_the_fallback():
    view = View(context="nosuch")
    assert run(view, PARK)[0] is None
    assert view.lines == [(logging.WARNING, "Context nosuch not found")]
    body = PARK.replace('name="default"', 'name="GLOBAL"')
    assert run(View(context="other"), body)[0].applications == [("park", "")]


def test_context_name_is_case_insensitive():
    assert run(View(context="DeFault"), PARK)[0] is not None


def test_continue_appends_and_one_list_is_shared():
    body = """<context name="default">
      <extension name="a" continue="true"><condition><action application="set" data="x=1"/></condition></extension>
      <extension name="b"><condition field="destination_number" expression="^9"/>
        <condition><action application="never"/></condition></extension>
      <extension name="c"><condition field="destination_number" expression="^1">
        <action application="log" data="c"/></condition></extension>
      <extension name="d"><condition><action application="never"/></condition></extension>
    </context>"""
    view = View()
    ext, _ = run(view, body)
    assert ext.applications == [("set", "x=1"), ("log", "c")]
    assert ext.name == "a"
    assert "Dialplan: null/1 parsing [default->a] continue=true" in view.messages()
    assert "Dialplan: null/1 Absolute Condition [a]" in view.messages()


def test_actions_of_a_passed_condition_stay_when_a_later_one_fails():
    body = """<context name="default"><extension name="x">
      <condition field="destination_number" expression="^1000$"><action application="first"/></condition>
      <condition field="caller_id_number" expression="^5$"><action application="second"/></condition>
    </extension></context>"""
    ext, _ = run(View(), body)
    # the extension did not match, but the list it started is the hunt's result [src]
    assert ext.applications == [("first", "")]


def test_anti_action_makes_the_extension_match():
    body = """<context name="default">
      <extension name="x"><condition field="destination_number" expression="^9$">
        <action application="yes"/><anti-action application="no" data="$1"/></condition></extension>
      <extension name="y"><condition><action application="later"/></condition></extension>
    </context>"""
    view = View()
    ext, _ = run(view, body)
    assert ext.applications == [("no", "$1")]  # anti-actions are never substituted
    assert "Dialplan: null/1 ANTI-Action no($1) " in view.messages()


def test_captures_substitute_and_set_dp_match():
    body = """<context name="default"><extension name="x">
      <condition field="destination_number" expression="^(1)(0+)(7)?$">
        <action application="log" data="$1-${2}-$3-$x-${var}-$"/>
      </condition></extension></context>"""
    view = View()
    ext, _ = run(view, body)
    assert ext.applications == [("log", "1-000--$x-${var}-$")]
    assert view.vars["DP_MATCH"] == "ARRAY::1000|:1|:000"


def test_element_text_wins_over_data_and_loop_repeats():
    body = """<context name="default"><extension name="x"><condition>
      <action application="a" data="attr">text</action>
      <action application="b" data="d" loop="3"/>
      <action application="c" loop="0"/>
    </condition></extension></context>"""
    ext, _ = run(View(), body)
    assert ext.applications == [("a", "text"), ("b", "d"), ("b", "d"), ("b", "d")]


def test_expression_child_wins_and_field_with_dollar_is_expanded():
    body = """<context name="default"><extension name="x">
      <condition field="${who}" expression="nomatch"><expression>^bob$</expression>
      <action application="hi"/></condition></extension></context>"""
    view = View()
    view.vars["who"] = "bob"
    assert run(view, body)[0].applications == [("hi", "")]
    assert "Dialplan: null/1 Regex (PASS) [x] ${who}(bob) =~ /^bob$/ break=on-false" in view.messages()


def test_inline_action_runs_during_the_hunt_and_later_conditions_see_it():
    body = """<context name="default"><extension name="x">
      <condition><action application="set" data="flag=on" inline="true"/></condition>
      <condition field="${flag}" expression="^on$"><action application="ok"/></condition>
    </extension></context>"""
    view = View()

    def do(app, data):
        name, _, value = data.partition("=")
        view.vars[name] = value
    ext, calls = run(view, body, inline=do)
    assert calls == [("set", "flag=on")]
    assert ext.applications == [("ok", "")]
    assert "Dialplan: null/1 Action set(flag=on) INLINE" in view.messages()


@pytest.mark.parametrize("brk,expect", [
    ("on-true", [("a", "")]),          # stops after the first (passing) condition
    ("always", [("a", "")]),
    ("on-false", [("a", ""), ("b", "")]),
    ("never", [("a", ""), ("b", "")]),
    ("bogus", [("a", ""), ("b", "")]),  # unknown value: on-false, and the log says so
])
def test_break(brk, expect):
    body = f"""<context name="default"><extension name="x">
      <condition field="destination_number" expression="1" break="{brk}"><action application="a"/></condition>
      <condition><action application="b"/></condition></extension></context>"""
    view = View()
    assert run(view, body)[0].applications == expect
    shown = "on-false" if brk == "bogus" else brk
    assert f"Dialplan: null/1 Regex (PASS) [x] destination_number(1000) =~ /1/ break={shown}" in view.messages()


def test_break_never_goes_on_after_a_failure():
    body = """<context name="default"><extension name="x">
      <condition field="destination_number" expression="^9" break="never"><action application="a"/></condition>
      <condition><action application="b"/></condition></extension></context>"""
    assert run(View(), body)[0].applications == [("b", "")]


NESTED = """<context name="default"><extension name="n">
  <condition field="destination_number" expression="^1000$" {attrs}>
    <action application="outer"/>
    <condition field="caller_id_number" expression="^{cid}$">
      <action application="inner"/>
    </condition>
  </condition>
  <condition><action application="after"/></condition>
</extension>
<extension name="next"><condition><action application="next"/></condition></extension>
</context>"""


def test_nested_conditions_run_after_the_parent_with_their_own_log_lines():
    view = View()
    ext, _ = run(view, NESTED.format(attrs="", cid="0000000000"))
    assert ext.applications == [("outer", ""), ("inner", ""), ("after", "")]
    assert ("|--- Dialplan: Processing recursive conditions level:1 [n_recur_1] require-nested=TRUE"
            in view.messages())
    assert ("|--- Dialplan: null/1 Regex (PASS) [n_recur_1] caller_id_number(0000000000) =~ "
            "/^0000000000$/ break=on-false" in view.messages())
    assert "|--- Dialplan: null/1 Action inner() " in view.messages()


def test_nested_failure_fails_the_extension_unless_told_otherwise():
    ext, _ = run(View(), NESTED.format(attrs="", cid="5"))
    assert ext.applications == [("outer", ""), ("next", "")]
    ext, _ = run(View(), NESTED.format(attrs='break="never"', cid="5"))
    assert ext.applications == [("outer", ""), ("after", "")]
    ext, _ = run(View(), NESTED.format(attrs='require-nested="false"', cid="5"))
    # the nested level reports a match anyway, so the parent goes on to its next condition
    assert ext.applications == [("outer", ""), ("after", "")]


def test_recursion_limit():
    inner = "<condition>" * 102 + "<action application='deep'/>" + "</condition>" * 102
    view = View()
    run(view, f'<context name="default"><extension name="r">{inner}</extension></context>')
    assert (logging.ERROR, "Recursion LIMIT!") in view.lines
    deepest = [m for m in view.messages() if "level:100 " in m]
    assert deepest and deepest[0].startswith("|" + "-" * 399 + " Dialplan")


@pytest.mark.parametrize("mode,cids,expect,shown", [
    ("any", ("9", "0000000000"), True, "any"),
    ("any", ("9", "8"), False, "any"),
    ("all", ("0000000000", "0000000000"), True, "all"),
    ("all", ("0000000000", "8"), False, "all"),
    ("xor", ("0000000000", "8"), True, "any"),
    ("xor", ("0000000000", "0000000000"), False, "any"),
])
def test_regex_modes(mode, cids, expect, shown):
    body = f"""<context name="default"><extension name="x"><condition regex="{mode}">
      <regex field="caller_id_number" expression="^({cids[0]})$"/>
      <regex field="caller_id_number" expression="^{cids[1]}$"/>
      <action application="yes" data="$1"/><anti-action application="no"/>
    </condition></extension></context>"""
    view = View()
    ext, _ = run(view, body)
    assert ext.applications[0][0] == ("yes" if expect else "no")
    assert all(m.endswith(f"match={shown}") for m in view.messages() if "Regex (" in m)


def test_regex_mode_captures_from_the_last_child_with_a_group():
    body = """<context name="default"><extension name="x"><condition regex="all">
      <regex field="destination_number" expression="^(1)(0)"/>
      <regex field="caller_id_number" expression="^(0)0"/>
      <regex field="destination_number" expression="00$"/>
      <action application="a" data="[$1][$2]"/>
    </condition></extension></context>"""
    view = View()
    view.vars["DP_REGEX_MATCH_9"] = "stale"
    ext, _ = run(view, body)
    assert ext.applications == [("a", "[0][]")]
    assert view.vars["DP_REGEX_MATCH_1"] == "ARRAY::10|:1|:0"
    assert view.vars["DP_REGEX_MATCH_2"] == "ARRAY::00|:0"
    assert "DP_REGEX_MATCH_9" not in view.vars


def test_regex_any_keeps_the_groups_of_the_child_that_ended_the_loop():
    body = """<context name="default"><extension name="x"><condition regex="any">
      <regex field="destination_number" expression="^(10)"/>
      <action application="a" data="$1"/>
    </condition></extension></context>"""
    assert run(View(), body)[0].applications == [("a", "10")]


def test_bad_regex_logs_and_does_not_match(caplog):
    body = """<context name="default"><extension name="x">
      <condition field="destination_number" expression="^(10"><action application="a"/></condition>
    </extension></context>"""
    with caplog.at_level(logging.ERROR, logger="mod_dialplan_xml.regex"):
        assert run(View(), body)[0] is None
    assert [r.getMessage() for r in caplog.records] == [
        "COMPILE ERROR: 1 [missing ), unterminated subpattern][^(10]"]


def test_regex_delimiters_flags_and_asterisk_patterns(caplog):
    assert regex_perform("ABC", "/abc/i")[0] == 1
    assert regex_perform("a\nb", "/a.b/s")[0] == 1
    assert regex_perform("a\nb", "/a.b/")[0] == 0
    with caplog.at_level(logging.ERROR):
        assert regex_perform("abc", "/abc") == (0, None)
    assert "missing ending '/' delimeter" in caplog.text
    assert ast2regex("1NXXZ.") == "^1[2-9][0-9][0-9][1-9].*$"
    assert regex_perform("12345", "_1NXX.")[0] == 1
    assert regex_perform("11345", "_1NXX.")[0] == 0
    assert regex_perform("abc", "Abc")[0] == 0  # case-sensitive by default


def test_match_count_is_pcres():
    n, m = regex_perform("ab", "(a)(x)?(b)")
    assert n == 4
    n, m = regex_perform("a", "(a)(x)?")
    assert n == 2  # the highest group that took part, plus one
    assert substitute(m, "$1$2$999${1") == "a${1"


def test_time_conditions_with_an_injected_clock():
    now = time.mktime((2026, 12, 6, 14, 30, 0, 0, 0, -1))  # a Sunday, local time
    body = """<context name="default"><extension name="t">
      <condition wday="1" hour="14" time-of-day="14:00-15:00"><action application="open"/>
      <anti-action application="closed"/></condition></extension></context>"""
    view = View()
    ext, _ = run(view, body, now=now)
    assert ext.applications == [("open", "")]
    assert "Dialplan: null/1 Date/Time Match (PASS) [t] break=on-false" in view.messages()
    view = View()
    ext, _ = run(view, body.replace('wday="1"', 'wday="mon-sat"'), now=now)
    assert ext.applications == [("closed", "")]
    assert "Dialplan: null/1 Date/TimeMatch (FAIL) [t] break=on-false" in view.messages()


def test_a_passing_field_overrides_a_failed_time_check():
    now = time.mktime((2026, 12, 6, 14, 30, 0, 0, 0, -1))
    body = """<context name="default"><extension name="t">
      <condition hour="3" field="destination_number" expression="^1000$"><action application="x"/></condition>
    </extension></context>"""
    assert run(View(), body, now=now)[0].applications == [("x", "")]  # FreeSWITCH's bug, kept


def test_auto_hunt_starts_at_the_extension_named_like_the_destination():
    body = """<context name="default">
      <extension name="first"><condition><action application="first"/></condition></extension>
      <extension name="1000"><condition><action application="named"/></condition></extension>
    </context>"""
    view = View()
    view.vars["auto_hunt"] = "true"
    assert run(view, body)[0].applications == [("named", "")]
    assert run(View(), body)[0].applications == [("first", "")]


def test_unnamed_extension_is_unknown_in_the_parsing_line():
    view = View()
    run(view, '<context name="default"><extension><condition><action application="a"/></condition>'
              '</extension></context>')
    assert view.messages()[0] == "Dialplan: null/1 parsing [default->UNKNOWN] continue=false"


def test_any_expression_or_data_never_raises():
    from xml.sax.saxutils import quoteattr

    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=20), st.text(max_size=20), st.text(max_size=20))
    def check(expression, data, dest):
        dest = "".join(c for c in dest if c.isprintable())
        body = (f'<context name="default"><extension name="x"><condition field="destination_number" '
                f'expression={quoteattr(expression)}><action application="a" data={quoteattr(data)}/>'
                f'</condition></extension></context>')
        try:
            xml = dialplan(body)
        except Exception:
            return  # not XML at all (control characters): nothing to hunt
        ext = hunt(View(destination_number=dest), xml, lambda a, d: None)
        assert ext is None or ext.applications[0][0] == "a"
    check()
