"""The argument readers (``atoi``, ``str2level``; ``switch_separate_string`` is the kernel's)."""

from __future__ import annotations

import softswitch
from mod_commands._text import atof, atoi, is_number, separate_string, str2level


def test_separate_string_is_the_kernels():
    # one switch_separate_string for every module (its tests: tests/kernel/test_text.py)
    assert separate_string is softswitch.separate_string
    assert separate_string("x=y=z=w", "=", 3) == ["x", "y", "z=w"]


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
