"""FreeSWITCH's dialplan regular expressions (``switch_regex.c``), on Python's :mod:`re`.

* ``/re/flags`` delimiters with the ``i`` (caseless) and ``s`` (dotall) flags; a missing closing
  ``/`` is an error that matches nothing.
* A leading ``_`` is an Asterisk pattern (``N`` = ``[2-9]``, ``X`` = ``[0-9]``, ``Z`` =
  ``[1-9]``, ``.`` = ``.*``, anchored both ends).
* A search (not a full match), case-sensitive, as ``pcre2_match`` at offset 0.
* The match count is PCRE's: one more than the highest group that took part, so ``DP_MATCH``
  and ``$N`` see the same groups FreeSWITCH does.

PCRE and :mod:`re` agree on what dialplans use (classes, groups, anchors, alternation,
quantifiers, lookarounds); a PCRE-only construct is reported as a compile error.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

log = logging.getLogger(__name__)

__all__ = ["regex_perform", "ast2regex", "substitute", "match_groups"]


def ast2regex(pattern: str) -> str:
    """``switch_ast2regex``: an Asterisk extension pattern (without its ``_``) as a regex."""
    out = ["^"]
    for ch in pattern:
        if ch == "N":
            out.append("[2-9]")
        elif ch == "X":
            out.append("[0-9]")
        elif ch == "Z":
            out.append("[1-9]")
        elif ch == ".":
            out.append(".*")
        else:
            out.append(ch)
    out.append("$")
    return "".join(out)


@lru_cache(maxsize=1024)
def _compile(expression: str) -> re.Pattern[str] | str:
    """The compiled pattern for a dialplan expression, or the error line to log (the same
    expression is compiled once however many calls route through it)."""
    text = expression
    if text.startswith("_"):
        converted = ast2regex(text[1:])
        if converted != text:
            text = converted
    flags = 0
    if text.startswith("/"):
        body, slash, opts = text[1:].rpartition("/")
        if not slash:
            return f"Regular Expression Error expression[{text}] missing ending '/' delimeter"
        text = body
        if "i" in opts:
            flags |= re.IGNORECASE
        if "s" in opts:
            flags |= re.DOTALL
    try:
        return re.compile(text, flags)
    except re.error as e:
        return f"COMPILE ERROR: {e.pos or 0} [{e.msg}][{text}]"


def regex_perform(field: str | None, expression: str | None) -> tuple[int, re.Match[str] | None]:
    """``switch_regex_perform``: search ``field`` with ``expression``.

    :returns: ``(match_count, match)``; ``(0, None)`` when it does not match or the expression
        is bad (which is logged at ERROR, as FreeSWITCH does, each time it is used).
    """
    if field is None or expression is None:
        return 0, None
    compiled = _compile(expression)
    if isinstance(compiled, str):
        log.error("%s", compiled)
        return 0, None
    m = compiled.search(field)
    if m is None:
        return 0, None
    return match_count(m), m


def match_count(m: re.Match[str]) -> int:
    """PCRE's return value: highest group number that took part, plus one."""
    for i in range(m.re.groups, 0, -1):
        if m.start(i) != -1:
            return i + 1
    return 1


def match_groups(m: re.Match[str] | None, count: int) -> list[str]:
    """Groups ``0..count-1`` as ``switch_capture_regex`` hands them out (unset groups are
    skipped, as ``pcre2_substring_get_bynumber`` fails for them)."""
    if m is None:
        return []
    return [g for g in (m.group(i) for i in range(count)) if g is not None]


def substitute(m: re.Match[str] | None, data: str) -> str:
    """``switch_perform_substitution``: ``$N`` and ``${N}`` (N ≤ 256) become group N (empty when
    unset or absent); any other ``$`` stays, so ``${var}`` is left for execution time.

    FreeSWITCH writes into a buffer of ``len(data) + len(field) + 10`` bytes and silently
    truncates longer results; that is a foot-gun nobody depends on, so the result is whole.
    """
    if "$" not in data:
        return data
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        ch = data[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        brace = j < n and data[j] == "{"
        if brace:
            j += 1
        k = j
        while k < n and k - j < 9 and data[k].isdigit() and data[k].isascii():
            k += 1
        if k == j or (brace and (k >= n or data[k] != "}")):
            out.append("$")
            i += 1
            continue
        num = int(data[j:k])
        i = k + 1 if brace else k
        if m is not None and 0 <= num <= 256 and num <= m.re.groups:
            g = m.group(num)
            if g is not None:
                out.append(g)
    return "".join(out)
