"""The dial-string grammar (spec sessions.md §6.1) and the cause table (§4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch import Cause, DialStringError, cause2str, cause_q850, parse_dialstring, str2cause
from softswitch.originate import _unparse, parse_app_target, parse_vars


def test_simple_leg():
    ds = parse_dialstring("null/1000")
    assert [[(leg.endpoint, leg.data) for leg in g] for g in ds.groups] == [[("null", "1000")]]
    assert ds.vars == {} and ds.global_vars == {} and ds.enterprise is None


def test_full_grammar():
    ds = parse_dialstring("<g=1>{a=1,b='x,y'}[c=3]null/1,[d=4]loopback/2/default|error/USER_BUSY")
    assert ds.global_vars == {"g": "1"}
    assert ds.vars == {"a": "1", "b": "x,y"}
    assert [[str(leg) for leg in g] for g in ds.groups] == [
        ["null/1", "loopback/2/default"], ["error/USER_BUSY"]]
    assert ds.groups[0][0].vars == {"c": "3"} and ds.groups[0][1].vars == {"d": "4"}


def test_escaped_comma_and_custom_separator():
    assert parse_vars(r"a=1\,2,b=3") == {"a": "1,2", "b": "3"}
    assert parse_vars("^^:a=1,2:b=3") == {"a": "1,2", "b": "3"}
    assert parse_vars("a=x=y") == {"a": "x=y"}
    assert parse_vars("noequals,a=1") == {"a": "1"}


def test_enterprise():
    ds = parse_dialstring("{a=1}null/1:_:{b=2}null/2,null/3")
    assert ds.enterprise is not None and len(ds.enterprise) == 2
    assert ds.enterprise[0].vars == {"a": "1"}
    assert [str(leg) for leg in ds.enterprise[1].groups[0]] == ["null/2", "null/3"]


def test_group_vars_after_pipe():
    ds = parse_dialstring("null/1|{x=2}null/2")
    assert ds.group_vars == [{}, {"x": "2"}]


@pytest.mark.parametrize("bad", ["{a=1", "[a=1null/1", "", "{a=1}"])
def test_bad_dial_strings_say_why(bad):
    with pytest.raises(DialStringError) as e:
        parse_dialstring(bad)
    assert "dial string" in str(e.value) or "unterminated" in str(e.value)


@pytest.mark.parametrize("target,expected", [
    ("&park", ("park", "")), ("&park()", ("park", "")), ("&echo(a b)", ("echo", "a b")),
    ("&socket('127.0.0.1:8084 async full')", ("socket", "'127.0.0.1:8084 async full'")),
    ("&playback /tmp/x.wav", ("playback", "/tmp/x.wav")),
])
def test_app_target(target, expected):
    assert parse_app_target(target) == expected


_name = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_value = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Nd"), whitelist_characters="._-@ "),
                 min_size=1, max_size=10)
_vars = st.dictionaries(_name, _value, max_size=3)
_leg = st.tuples(st.sampled_from(["null", "loopback", "error", "tnull"]),
                 st.from_regex(r"[a-z0-9]{1,6}(/[a-z0-9]{1,6})?", fullmatch=True), _vars)


@given(gvars=_vars, groups=st.lists(st.lists(_leg, min_size=1, max_size=3), min_size=1, max_size=3))
def test_round_trip(gvars, groups):
    """Whatever the nesting, vars and legs come back as written."""
    def vs(d):
        return ",".join(f"{k}={v}" for k, v in d.items())
    text = ("{" + vs(gvars) + "}" if gvars else "") + "|".join(
        ",".join((("[" + vs(v) + "]") if v else "") + f"{ep}/{data}" for ep, data, v in g)
        for g in groups)
    ds = parse_dialstring(text)
    assert ds.vars == gvars
    assert [[(leg.endpoint, leg.data, leg.vars) for leg in g] for g in ds.groups] == \
        [[(ep, data, v) for ep, data, v in g] for g in groups]
    assert parse_dialstring(_unparse(ds)).groups == ds.groups


# -- causes ---------------------------------------------------------------------------------------


def test_cause_table():
    assert len(Cause) == 82  # every entry of spec §4
    assert Cause.NORMAL_CLEARING == 16 and Cause.REJECT_ALL == 825 and Cause.LOSE_RACE == 702
    assert cause2str(17) == "USER_BUSY" and cause2str(4) == "UNKNOWN"


@pytest.mark.parametrize("text,cause", [
    ("", Cause.NORMAL_CLEARING), ("user_busy", Cause.USER_BUSY), ("USER_BUSY", Cause.USER_BUSY),
    ("17", Cause.USER_BUSY), ("17abc", Cause.USER_BUSY), ("foo", Cause.NORMAL_CLEARING),
    ("999", 999),
])
def test_str2cause(text, cause):
    assert str2cause(text) == cause


def test_q850():
    assert cause_q850(Cause.USER_BUSY) == 17
    assert cause_q850(Cause.LOSE_RACE) == 16 and cause_q850(127) == 127


@given(st.sampled_from(list(Cause)))
def test_name_number_round_trip(c):
    assert str2cause(cause2str(c)) == c
