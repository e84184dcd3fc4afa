"""The argument readers (``switch_separate_string``, ``atoi``, ``str2level``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_commands._text import _separate, atof, atoi, is_number, separate_string, str2level


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
        expected = _separate(buf[3:], buf[2], maxn)
    else:
        expected = _separate(buf, " ", maxn)
    assert separate_string(buf, " ", maxn) == expected


@given(st.lists(st.text(alphabet="abcxyz0189", min_size=1, max_size=5), min_size=1, max_size=6))
def test_separate_plain_words(words):
    assert separate_string(" ".join(words), " ", 10) == words


def test_numbers():
    assert atoi("12abc") == 12
    assert atoi("  -7") == -7
    assert atoi("x") == 0
    assert atoi(None) == 0
    assert atof("2.5x") == 2.5
    assert atof(".5") == 0.5
    assert atof("nope") == 0.0
    assert is_number("") and is_number("-1.5") and not is_number("1e5")


def test_str2level():
    assert str2level("err") == 3
    assert str2level("ERR") == 3
    assert str2level("7x") == 7
    assert str2level("DISABLE") == -1
    assert str2level("error") == 64  # FreeSWITCH has no "error"
    assert str2level("") == 64
