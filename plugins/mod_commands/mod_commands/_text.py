"""FreeSWITCH's little string helpers, so that arguments are read the way FreeSWITCH reads them.

* :func:`separate_string` is ``switch_separate_string``: the kernel's
  (:func:`softswitch.separate_string`), which mod_dptools uses too.
* :func:`atoi` / :func:`atof` read a leading number as C does (``"12abc"`` is 12, ``"x"`` 0).
* :func:`str2level` reads a log level as the commands do (a leading digit means a number).
"""

from __future__ import annotations

import re

from softswitch import LogLevel, parse_level, separate_string

__all__ = [
    "separate_string",
    "atoi",
    "atof",
    "is_number",
    "str2level",
    "ascii_upper",
    "ascii_lower",
]

_INT = re.compile(r"\s*([+-]?\d+)")
_FLOAT = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def atoi(text: str | None) -> int:
    """C's ``atoi``/``atol``: the leading integer of ``text``, 0 when there is none."""
    m = _INT.match(text or "")
    return int(m.group(1)) if m else 0


def atof(text: str | None) -> float:
    """C's ``atof``: the leading number of ``text``, 0.0 when there is none."""
    m = _FLOAT.match(text or "")
    return float(m.group(1)) if m else 0.0


def is_number(text: str) -> bool:
    """``switch_is_number``: an optional sign, then only digits and dots (so "" is a number)."""
    if text[:1] in ("+", "-"):
        text = text[1:]
    return all(c == "." or "0" <= c <= "9" for c in text)


def str2level(text: str) -> int:
    """A log level as ``fsctl loglevel`` and ``console loglevel`` read it: a leading digit
    means ``atoi`` (``"7x"`` is 7), anything else a level name; ``LogLevel.INVALID`` if neither.
    """
    if text[:1].isdigit() and text[:1].isascii():
        return atoi(text)
    return parse_level(text)


_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_upper(text: str) -> str:
    """C ``toupper`` in the C locale: ASCII letters only."""
    return text.translate(_UPPER)


def ascii_lower(text: str) -> str:
    return text.translate(_LOWER)


INVALID_LEVEL = int(LogLevel.INVALID)
