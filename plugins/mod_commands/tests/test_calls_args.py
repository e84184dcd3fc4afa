"""How the call commands read their arguments (mod_commands.c), without a call."""

from __future__ import annotations

import pytest

from mod_commands.calls import OriginateArgs, parse_app, parse_originate


@pytest.mark.parametrize("cmd", ["", "null/1000", "a b c d e f g h", "null/1 &park x x x x x x"])
def test_originate_wrong_number_of_fields_is_usage(cmd):
    assert parse_originate(cmd) is None


def test_originate_defaults():
    assert parse_originate("null/1000 &park") == OriginateArgs(
        dial="null/1000", exten="&park", dialplan="XML", context="default", cid_name=None,
        cid_num=None, timeout=60, app=("park", None))


def test_originate_all_fields_and_undef():
    args = parse_originate("null/1000 1234 UNDEF undef Alice 555 12")
    assert (args.exten, args.dialplan, args.context, args.cid_name, args.cid_num, args.timeout) == (
        "1234", "XML", "default", "Alice", "555", 12)
    assert args.app is None
    # a timeout that is not a number reads as C's atoi does
    assert parse_originate("null/1 &park XML default a b 7x").timeout == 7


def test_originate_single_quotes_group_an_app_argument():
    args = parse_originate("null/1000 &socket('127.0.0.1:8084 async full')")
    assert args.app == ("socket", "127.0.0.1:8084 async full")


def test_originate_exten_undef_is_usage_not_a_crash():
    # FreeSWITCH asserts (and aborts) here
    assert parse_originate("null/1000 undef") is None


@pytest.mark.parametrize("exten, expected", [
    ("&park", ("park", None)),
    ("&park()", ("park", "")),
    ("&playback(/tmp/a.wav)", ("playback", "/tmp/a.wav")),
    ("&echo(a)b)", ("echo", "a")),       # cut at the first ')'
    ("&bridge(a(b)", ("bridge", "a(b")),  # arguments start after the first '('
    ("&", None),                          # a lone '&' is an extension
    ("1000", None),
])
def test_parse_app(exten, expected):
    assert parse_app(exten) == expected
