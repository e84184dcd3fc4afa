"""FreeSWITCH's little string helpers, so that arguments are read the way FreeSWITCH reads them.

* :func:`separate_string` is ``switch_separate_string``: ``'`` quotes, ``\\`` escapes, leading
  and trailing blanks stripped, a ``^^<c>`` prefix choosing another delimiter, and the last
  field keeping the rest of the line when there are more fields than room.
* :func:`atoi` / :func:`atof` read a leading number as C does (``"12abc"`` is 12, ``"x"`` 0).
* :func:`str2level` reads a log level as the commands do (a leading digit means a number).
"""

from __future__ import annotations

import re

from softswitch.log import LogLevel, parse_level

__all__ = [
    "separate_string",
    "atoi",
    "atof",
    "is_number",
    "str2level",
    "ascii_upper",
    "ascii_lower",
]

ESCAPE_META = "\\"
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def _cleanup(token: str, delim: str) -> str:
    """``cleanup_separated_string``: strip quotes, escapes, leading/trailing blanks."""
    i = 0
    n = len(token)
    while i < n and token[i] == " ":
        i += 1
    dest: list[str] = []
    end: int | None = None
    inside = False
    while i < n:
        c = token[i]
        esc = False
        if c == ESCAPE_META:
            e = token[i + 1] if i + 1 < n else ""
            if e and (e in "'\"" or (delim and e == delim) or e == ESCAPE_META or e in _UNESCAPE):
                i += 1
                dest.append(_UNESCAPE.get(e, e) if e not in "'\"\\" and e != delim else e)
                end = len(dest)
                esc = True
        if not esc:
            if c == "'" and (inside or "'" in token[i + 1:]):
                inside = not inside
                if inside:
                    end = len(dest)
            else:
                dest.append(c)
                if c != " " or inside:
                    end = len(dest)
        i += 1
    if end is not None:
        del dest[end:]
    return "".join(dest)


def separate_string(buf: str | None, delim: str = " ", maxn: int = 64) -> list[str]:
    """Split ``buf`` into at most ``maxn`` fields as ``switch_separate_string`` does."""
    if not buf or maxn <= 0:
        return []
    if buf.startswith("^^") and len(buf) >= 4:
        delim, buf = buf[2], buf[3:]
    if delim == " " and "'" not in buf and ESCAPE_META not in buf and "\0" not in buf:
        return _split_blank(buf, maxn)
    return _separate(buf, delim, maxn)


def _split_blank(buf: str, maxn: int) -> list[str]:
    """The common case of :func:`separate_string` (space-delimited, no quote, escape or NUL;
    every API argument line goes through here) without the character walk: runs of spaces
    separate fields, the last field keeps the rest of the line, outer spaces are dropped."""
    rest = buf.lstrip(" ")
    if not rest:
        return [""]
    out: list[str] = []
    while len(out) < maxn - 1:
        j = rest.find(" ")
        if j < 0:
            break
        out.append(rest[:j])
        rest = rest[j:].lstrip(" ")
        if not rest:
            return out
    out.append(rest.rstrip(" "))
    return out


def _separate(buf: str, delim: str, maxn: int) -> list[str]:
    """``switch_separate_string`` character by character (quotes, escapes, any delimiter)."""
    chars = list(buf)
    n = len(chars)
    starts: list[int] = []
    i = 0
    inside = False
    if delim == " ":
        state = "start"
        while i < n and len(starts) < maxn:
            c = chars[i]
            if state == "start":
                starts.append(i)
                state = "skip_initial"
            elif state == "skip_initial":
                if c == " ":
                    i += 1
                else:
                    state = "find"
            elif state == "find":
                if c == ESCAPE_META:
                    i += 1
                elif c == "'":
                    inside = not inside
                elif c == " " and not inside:
                    chars[i] = "\0"
                    state = "skip_end"
                i += 1
            else:  # skip_end
                if c == " ":
                    i += 1
                else:
                    state = "start"
    else:
        find = False
        while i < n and len(starts) < maxn:
            if not find:
                starts.append(i)
                find = True
                continue
            c = chars[i]
            if c == ESCAPE_META:
                i += 1
            elif c == "'" and (inside or "'" in buf[i + 1:]):
                inside = not inside
            elif c == delim and not inside:
                chars[i] = "\0"
                find = False
            i += 1
    text = "".join(chars)
    out = []
    for s in starts:
        stop = text.find("\0", s)
        token = text[s:] if stop < 0 else text[s:stop]
        out.append(_cleanup(token, "" if delim == " " else delim))
    return out


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
