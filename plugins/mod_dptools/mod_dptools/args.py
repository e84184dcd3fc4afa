"""Argument parsing of the dptools applications and the ``inline`` dialplan, as pure functions.

Each reads its text the way ``mod_dptools.c`` does (``switch_separate_string`` with its quotes
and escapes, which is the kernel's :func:`softswitch.separate_string`, re-exported here;
``strchr`` splits; C ``atoi``), so the applications themselves only act.
"""

from __future__ import annotations

import re

from softswitch import separate_string

__all__ = [
    "separate_string",
    "atoi",
    "inline_extension",
    "parse_set",
    "parse_export",
    "parse_global",
    "parse_multiset",
    "parse_log",
    "parse_transfer",
    "parse_extension_target",
    "parse_event",
    "parse_park_timeout",
    "MAX_INLINE_APPS",
]

#: ``argv[128]`` of ``inline_dialplan_hunt``
MAX_INLINE_APPS = 128

_INT = re.compile(r"\s*([+-]?\d+)")


def atoi(text: str | None) -> int:
    """C ``atoi``: the leading integer, 0 when there is none."""
    m = _INT.match(text or "")
    return int(m.group(1)) if m else 0


def inline_extension(target: str) -> list[tuple[str, str | None]]:
    """``inline_dialplan_hunt``: ``[m:X:]app[:data]<X>app2[:data2]…`` → ``[(app, data)]``.

    The data is None when an item has no ``:`` (an application called without arguments).
    """
    delim = ","
    if len(target) >= 4 and target[0] == "m" and target[1] == ":" and target[3] == ":":
        delim = target[2]
        target = target[4:]
    apps: list[tuple[str, str | None]] = []
    for item in separate_string(target, delim, MAX_INLINE_APPS):
        app, colon, data = item.partition(":")
        apps.append((app.lstrip(" "), data if colon else None))
    return apps


def parse_set(data: str | None) -> tuple[str, str | None] | None:
    """``set``: ``name=value`` (or ``name,value`` when there is no ``=``).

    :returns: ``(name, value or None)``; None when there is no name at all (the app logs
        ``No variable name specified.``).
    """
    if not data:
        return None
    eq = data.find("=")
    if eq < 0:
        eq = data.find(",")
    if eq < 0:
        return data, None
    return data[:eq], data[eq + 1:] or None


def parse_export(data: str | None) -> tuple[str, str | None, bool] | None:
    """``export``: ``[nolocal:]name=value`` → ``(name as written, value, local)``."""
    if not data:
        return None
    var, eq, val = data.partition("=")
    local = not (var[:8].lower() == "nolocal:" or var[:9].lower() == "_nolocal_")
    return var, (val or None) if eq else None, local


def export_display_name(var: str) -> str:
    """The name ``EXPORT`` shows: without its ``nolocal:`` / ``_nolocal_`` prefix."""
    if var[:8].lower() == "nolocal:":
        return var[8:]
    if var[:9].lower() == "_nolocal_":
        return var[9:]
    return var


def parse_global(data: str | None) -> tuple[str, str | None] | None:
    """``set_global``: ``name=value`` (only ``=``)."""
    if not data:
        return None
    var, eq, val = data.partition("=")
    return var, (val or None) if eq else None


def parse_multiset(data: str | None) -> list[str]:
    """``multiset``: space-separated ``name=value`` items; ``^^X`` picks delimiter ``X``."""
    if not data:
        return [""]
    delim = " "
    arg = data
    if arg.startswith("^^") and len(arg) >= 3:
        delim = arg[2]
        arg = arg[3:]
    return separate_string(arg, delim, 256)


def parse_log(data: str | None, str2level) -> tuple[int, str] | None:
    """``log``: ``[LEVEL ]text`` → ``(FreeSWITCH level, text)``; None without data.

    :param str2level: ``switch_log_str2level`` (a name or a number, 64 when invalid).
    """
    if data is None:
        return None
    head, space, rest = data.partition(" ")
    if not space:
        return 7, data
    level = str2level(head)
    if level >= 64:
        level = 7
    return level, rest


def parse_transfer(data: str | None) -> tuple[str, list[str]] | None:
    """``transfer``: ``[-bleg|-both] <ext> [<dp> [<ctx>]]`` → ``(mode, [ext, dp, ctx])`` with
    mode ``""``, ``"bleg"`` or ``"both"``; None when no extension is given."""
    if not data:
        return None
    argv = separate_string(data, " ", 4)
    if not argv:
        return None
    mode = ""
    if argv[0].lower() == "-bleg":
        mode = "bleg"
    elif argv[0].lower() == "-both":
        mode = "both"
    rest = argv[1:] if mode else argv[:3]
    rest = (rest + ["", "", ""])[:3]
    return mode, rest


def parse_extension_target(data: str | None) -> list[str] | None:
    """``execute_extension``: ``<ext> [<dp> [<ctx>]]`` → ``[ext, dp, ctx]`` (``""`` absent)."""
    if not data:
        return None
    argv = separate_string(data, " ", 3)
    if not argv or not argv[0]:
        return None
    return (argv + ["", "", ""])[:3]


def parse_event(data: str | None) -> list[tuple[str, str]]:
    """``event``: ``H=v,H2=v2`` (≤ 25 pairs, spaces around names and values trimmed); items
    without ``=`` are dropped."""
    pairs = []
    for item in separate_string(data, ",", 25) if data else []:
        var, eq, val = item.lstrip(" ").partition("=")
        if eq:
            pairs.append((var.rstrip(" "), val.lstrip(" ")))
    return pairs


def parse_park_timeout(value: str | None) -> tuple[int, str | None] | None:
    """``park_timeout=<s>[:<cause>]`` → ``(seconds, cause text or None)``; None when the
    seconds are negative (FreeSWITCH then parks without a timeout)."""
    if value is None:
        return None
    secs, colon, cause = value.partition(":")
    n = atoi(secs)
    if n < 0:
        return None
    return n, cause if colon else None
