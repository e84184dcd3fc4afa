"""Argument parsing of the dptools applications and of the inline dialplan (no sessions)."""

from __future__ import annotations

import pytest

from mod_dptools.args import (
    export_display_name,
    inline_extension,
    parse_event,
    parse_export,
    parse_extension_target,
    parse_global,
    parse_log,
    parse_multiset,
    parse_park_timeout,
    parse_set,
    parse_transfer,
    separate_string,
)


def test_inline_extension():
    assert inline_extension("set:x=1,park") == [("set", "x=1"), ("park", None)]
    assert inline_extension(" answer, echo") == [("answer", None), ("echo", None)]
    # m:X: picks another delimiter, so arguments can hold commas
    assert inline_extension("m:^:event:Event-Name=CUSTOM,Event-Subclass=x^park") == [
        ("event", "Event-Name=CUSTOM,Event-Subclass=x"), ("park", None)]
    # without it the piece after a comma is an application of its own [obs]
    assert inline_extension("event:Event-Name=CUSTOM,Event-Subclass=x") == [
        ("event", "Event-Name=CUSTOM"), ("Event-Subclass=x", None)]
    assert inline_extension("playback:tone_stream://%(1000\\,0\\,440);loops=-1") == [
        ("playback", "tone_stream://%(1000,0,440);loops=-1")]
    assert inline_extension("log:a:b") == [("log", "a:b")]
    assert len(inline_extension(",".join(["park"] * 200))) == 128


def test_separate_string_quotes_escapes_and_limits():
    assert separate_string("a 'b c' d") == ["a", "b c", "d"]
    assert separate_string("a  b   c", " ", 2) == ["a", "b   c"]
    assert separate_string("^^;a;b c;d", ",") == ["a", "b c", "d"]
    assert separate_string("x\\,y,z", ",") == ["x,y", "z"]


@pytest.mark.parametrize("data,want", [
    ("x=1", ("x", "1")),
    ("x=", ("x", None)),
    ("x", ("x", None)),
    ("x,1", ("x", "1")),          # a comma stands in for '=' when there is none
    ("x=a,b=c", ("x", "a,b=c")),
    ("", None),
    (None, None),
])
def test_parse_set(data, want):
    assert parse_set(data) == want


def test_parse_export_and_global():
    assert parse_export("foo=bar") == ("foo", "bar", True)
    assert parse_export("nolocal:foo=bar") == ("nolocal:foo", "bar", False)
    assert parse_export("_NOLOCAL_foo=") == ("_NOLOCAL_foo", None, False)
    assert parse_export("foo") == ("foo", None, True)
    assert export_display_name("nolocal:foo") == "foo"
    assert parse_global("g=1") == ("g", "1")
    assert parse_global("g,1") == ("g,1", None)  # set_global has no comma form
    assert parse_global("") is None


def test_parse_multiset():
    assert parse_multiset("a=1 b=2") == ["a=1", "b=2"]
    assert parse_multiset("^^,a=1 x,b=2") == ["a=1 x", "b=2"]
    assert parse_multiset("a='x y' b=2") == ["a=x y", "b=2"]


def levels(text):
    return {"INFO": 6, "ERR": 3, "DEBUG": 7, "NOTICE": 5}.get(text.upper(), int(text) if text.isdigit() else 64)


def test_parse_log():
    assert parse_log("INFO hello world", levels) == (6, "hello world")
    assert parse_log("hello", levels) == (7, "hello")
    assert parse_log("bogus hello", levels) == (7, "hello")  # unknown level: DEBUG, word dropped
    assert parse_log("3 hi", levels) == (3, "hi")
    assert parse_log(None, levels) is None


def test_parse_transfer_and_extension_target():
    assert parse_transfer("1000") == ("", ["1000", "", ""])
    assert parse_transfer("1000 XML default") == ("", ["1000", "XML", "default"])
    assert parse_transfer("-bleg 2000 XML ctx") == ("bleg", ["2000", "XML", "ctx"])
    assert parse_transfer("-BOTH 2000") == ("both", ["2000", "", ""])
    assert parse_transfer("'answer,echo' inline") == ("", ["answer,echo", "inline", ""])
    assert parse_transfer("") is None
    assert parse_extension_target("9000 XML features") == ["9000", "XML", "features"]
    assert parse_extension_target("") is None


def test_parse_event():
    assert parse_event("Event-Name=CUSTOM, Event-Subclass = dp::t ,Foo=bar,junk") == [
        ("Event-Name", "CUSTOM"), ("Event-Subclass", "dp::t"), ("Foo", "bar")]
    assert parse_event("") == []


def test_parse_park_timeout():
    assert parse_park_timeout("10") == (10, None)
    assert parse_park_timeout("5:USER_BUSY") == (5, "USER_BUSY")
    assert parse_park_timeout("0") == (0, None)
    assert parse_park_timeout("-1") is None
    assert parse_park_timeout(None) is None


def test_parsers_take_any_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def check(text):
        apps = inline_extension(text)
        assert len(apps) <= 128
        assert all(isinstance(a, str) and (d is None or isinstance(d, str)) for a, d in apps)
        for fn in (parse_set, parse_export, parse_global, parse_transfer, parse_extension_target,
                   parse_park_timeout):
            fn(text)
        parse_multiset(text)
        parse_event(text)
        parse_log(text, levels)
    check()
