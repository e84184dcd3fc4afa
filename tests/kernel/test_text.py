"""``softswitch.separate_string``: FreeSWITCH's ``switch_separate_string``, shared by the
modules that read arguments (mod_commands, mod_dptools)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import softswitch
from softswitch.text import separate_string, separate_string_walk


def test_exported():
    assert softswitch.separate_string is separate_string
    assert "separate_string" in softswitch.__all__


@pytest.mark.parametrize(("buf", "delim", "maxn", "expected"), [
    ("a b  c", " ", 10, ["a", "b", "c"]),
    ("  a b ", " ", 10, ["a", "b"]),
    ("a b c", " ", 2, ["a", "b c"]),
    ("'a b' c", " ", 10, ["a b", "c"]),
    ("a\\sb c", " ", 10, ["a b", "c"]),
    ("x=y=z", "=", 3, ["x", "y", "z"]),
    ("x=y=z=w", "=", 3, ["x", "y", "z=w"]),
    (" a = b ", "=", 3, ["a", "b"]),
    ("a\\=b=c", "=", 3, ["a=b", "c"]),
    ("'a=b'=c", "=", 3, ["a=b", "c"]),
    ("it's=x", "=", 3, ["it's", "x"]),
    ("^^;a;b", ",", 5, ["a", "b"]),
    ("a||b", "|", 5, ["a", "", "b"]),
    ("", " ", 5, []),
    (None, " ", 5, []),
    ("a b", " ", 0, []),
])
def test_separate_string(buf, delim, maxn, expected):
    assert separate_string(buf, delim, maxn) == expected


@given(st.text(alphabet=" ab'\\=|^;\"\n", max_size=40), st.sampled_from([" ", "=", "|"]),
       st.integers(min_value=1, max_value=6))
def test_separate_string_never_fails(buf, delim, maxn):
    argv = separate_string(buf, delim, maxn)
    assert len(argv) <= maxn
    assert all(isinstance(a, str) for a in argv)


@settings(max_examples=2000)
@given(st.text(alphabet=" ab\t\n\"=|^;", max_size=30), st.integers(min_value=1, max_value=8))
def test_blank_fast_path_same_as_the_character_walk(buf, maxn):
    # no quote, escape or NUL: separate_string takes its fast path; the walk is the reference
    if not buf:
        expected = []
    elif buf.startswith("^^") and len(buf) >= 4:
        expected = separate_string_walk(buf[3:], buf[2], maxn)
    else:
        expected = separate_string_walk(buf, " ", maxn)
    assert separate_string(buf, " ", maxn) == expected


@given(st.lists(st.text(alphabet="abcxyz0189", min_size=1, max_size=5), min_size=1, max_size=6))
def test_separate_plain_words(words):
    assert separate_string(" ".join(words), " ", 10) == words


def test_quotes_escapes_delimiters_and_limits():
    assert separate_string("a 'b c' d") == ["a", "b c", "d"]
    assert separate_string("a  b   c", " ", 2) == ["a", "b   c"]
    assert separate_string("^^;a;b c;d", ",") == ["a", "b c", "d"]
    assert separate_string("x\\,y,z", ",") == ["x,y", "z"]
    assert separate_string("a\\tb c") == ["a\tb", "c"]
    assert separate_string("   ") == [""]
