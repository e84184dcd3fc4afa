"""Strings, time and identifiers: ``md5``, ``create_uuid``, ``strftime``, ``strftime_tz``,
``strepoch``, ``url_encode``, ``url_decode``, ``toupper``, ``tolower``, ``escape``,
``sql_escape``, ``replace``, ``regex``, ``cond``, ``coalesce``.

``strftime`` and ``strepoch`` are FreeSWITCH's mod_dptools APIs; they live here because they
need no call. ``uuid`` is softswitch's short name for ``create_uuid``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import time
import uuid as uuidlib
import zoneinfo

from softswitch.event import url_encode as _url_encode

from ._api import CommandTable
from ._text import ascii_lower, ascii_upper, atof, atoi, is_number, separate_string

commands = CommandTable()


@commands("md5", "Return md5 hash", "<data>")
def md5(module, cmd, session, stream):
    stream.write(hashlib.md5(cmd.encode("utf-8", "surrogatepass")).hexdigest() if cmd else "!err!")


def new_uuid(core) -> str:
    """A uuid as the core makes them: v4, or v7 with switch.conf ``uuid-version`` 7."""
    if getattr(core.settings, "uuid_version", 4) != 7:
        return str(uuidlib.uuid4())
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 66) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuidlib.UUID(int=value))


def _create_uuid(module, cmd, session, stream):
    stream.write(new_uuid(module.core))


commands("create_uuid", "Create a uuid", "<uuid> <other_uuid>")(_create_uuid)
commands("uuid", "Create a uuid", "")(_create_uuid)  # softswitch's own short name


# ---------------------------------------------------------------------------------------------
# time
# ---------------------------------------------------------------------------------------------

DEFAULT_TIME_FORMAT = "%Y-%m-%d %T"
_STRFTIME_OK = set("CDrRTeaAbBcdHIjmMpSUwWxXyYzZ%")
_DATE_MAX = 80  # FreeSWITCH formats into char date[80]


def strftime_checked(fmt: str) -> bool:
    """``switch_strftime``'s check: only the conversions it knows, no trailing ``%``."""
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            i += 1
            if i >= len(fmt) or fmt[i] not in _STRFTIME_OK:
                return False
        i += 1
    return True


def _format_time(fmt: str, when: float, tz: datetime.tzinfo | None = None) -> str:
    fmt = fmt.split("\0", 1)[0]
    try:
        text = datetime.datetime.fromtimestamp(when, tz).strftime(fmt) if tz else \
            time.strftime(fmt, time.localtime(when))
    except (ValueError, OverflowError, OSError):
        return ""
    return text if len(text.encode()) < _DATE_MAX else ""


@commands("strftime", "strftime", "<format_string>")
def strftime(module, cmd, session, stream):
    when = time.time()
    fmt = cmd
    if cmd and "|" in cmd:
        when = float(atoi(cmd))
        fmt = cmd.split("|", 1)[1]
    if not fmt:
        stream.write(_format_time(DEFAULT_TIME_FORMAT, when))
    elif strftime_checked(fmt):
        stream.write(_format_time(fmt, when))


@commands("strftime_tz", "Display formatted time of timezone",
          "<timezone_name> [<epoch>|][format string]")
def strftime_tz(module, cmd, session, stream):
    tz_name, _, fmt = cmd.partition(" ")
    when = 0
    if "|" in fmt:
        epoch, _, fmt = fmt.partition("|")
        when = atoi(epoch)
    text = ""
    try:
        tz = zoneinfo.ZoneInfo(tz_name) if tz_name else datetime.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        tz = None
    if tz is not None:
        text = _format_time(fmt or DEFAULT_TIME_FORMAT, when or time.time(), tz)
    stream.write(text if text else "-ERR Invalid timezone/format\n")


_DATE = re.compile(r"^(\d+)-(\d+)-(\d+)\s*(\d*):?(\d*):?(\d*)", re.ASCII)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", re.ASCII)


def str_time(text: str) -> int:
    """``switch_str_time``: ``YYYY-MM-DD[ HH[:MM[:SS]]]`` or ``YYYYMMDDHHMMSS``, local time,
    to epoch seconds; 0 when the text is neither."""
    m = _DATE.match(text) or _COMPACT.match(text)
    if not m:
        return 0
    y, mon, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        return int(time.mktime((y, mon, d, h, mi, s, 0, 0, -1)))
    except (OverflowError, ValueError):
        return 0


def _int32(n: int) -> int:
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


@commands("strepoch", "Convert a date string into epoch time", "<string>")
def strepoch(module, cmd, session, stream):
    stream.write(str(_int32(int(time.time()) if not cmd else str_time(cmd))))


# ---------------------------------------------------------------------------------------------
# plain string helpers
# ---------------------------------------------------------------------------------------------


@commands("url_encode", "Url encode a string", "<string>")
def url_encode(module, cmd, session, stream):
    stream.write(_url_encode(cmd) if cmd else "")


def url_decode_text(text: str) -> str:
    """``switch_url_decode``: ``%`` and up to two hex digits become that byte (with two more
    characters after the ``%``); anything else is kept."""
    data = text.encode()
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        m = re.match(rb"[0-9A-Fa-f]{1,2}", data[i + 1:i + 3]) if data[i] == 0x25 and n - i > 2 else None
        if m:
            out.append(int(m.group(), 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out.decode("utf-8", "replace").split("\0", 1)[0]


@commands("url_decode", "Url decode a string", "<string>")
def url_decode(module, cmd, session, stream):
    stream.write(url_decode_text(cmd) if cmd else "")


@commands("toupper", "Upper Case a string", "<string>")
def toupper(module, cmd, session, stream):
    stream.write(ascii_upper(cmd))


@commands("tolower", "Lower Case a string", "<string>")
def tolower(module, cmd, session, stream):
    stream.write(ascii_lower(cmd))


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", " ": "\\s", "$": "\\$"}


@commands("escape", "Escape a string", "<data>")
def escape(module, cmd, session, stream):
    stream.write("".join(_ESCAPES.get(c, c) for c in cmd))


@commands("sql_escape", "Escape a string to prevent sql injection", "<string>")
def sql_escape(module, cmd, session, stream):
    if not cmd:
        stream.write("-USAGE: <string>\n")
    else:
        stream.write(cmd.replace("'", "''"))


def _choose_delim(cmd: str) -> tuple[str, str]:
    """``m:<c>`` at the start picks ``|``, ``~`` or ``/`` as the field delimiter."""
    if len(cmd) > 2 and cmd.startswith("m:") and cmd[2] in "|~/":
        return cmd[2], cmd[3:]
    return "|", cmd


@commands("replace", "Replace a string", "<data>|<string1>|<string2>")
def replace(module, cmd, session, stream):
    delim, data = _choose_delim(cmd)
    argv = separate_string(data, delim, 3) if cmd else []
    if len(argv) < 3:
        stream.write("-ERR")
        return
    stream.write(argv[0].replace(argv[1], argv[2]) if argv[1] else argv[0])


def compile_regex(pattern: str) -> re.Pattern | None:
    """PCRE as FreeSWITCH compiles it: ``/pattern/flags`` (``i``, ``s``, ``m``, ``x``) or plain."""
    flags = 0
    if pattern.startswith("/"):
        body = pattern[1:]
        slash = body.rfind("/")
        if slash >= 0:
            for f in body[slash + 1:]:
                flags |= {"i": re.I, "s": re.S, "m": re.M, "x": re.X}.get(f, 0)
            body = body[:slash]
        pattern = body
    try:
        return re.compile(pattern, flags)
    except (re.error, OverflowError, RecursionError):
        return None


def substitute(match: re.Match, template: str) -> str:
    """``switch_perform_substitution``: ``$N`` / ``${N}`` become capture group N."""
    out = []
    i = 0
    n = len(template)
    while i < n:
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        j = i + 1
        brace = j < n and template[j] == "{"
        if brace:
            j += 1
        k = j
        while k < n and template[k].isdigit() and template[k].isascii() and k - j < 9:
            k += 1
        if k == j or (brace and (k >= n or template[k] != "}")):
            out.append("$")
            i += 1
            continue
        num = int(template[j:k])
        i = k + 1 if brace else k
        if num <= match.re.groups:
            out.append(match.group(num) or "")
    return "".join(out)


@commands("regex", "Evaluate a regex", "<data>|<pattern>[|<subst string>][n|b]")
def regex(module, cmd, session, stream):
    delim, data = _choose_delim(cmd)
    argv = separate_string(data, delim, 4) if cmd else []
    if len(argv) < 2:
        stream.write("-ERR")
        return
    rx = compile_regex(argv[1])
    match = rx.search(argv[0]) if rx is not None else None
    if len(argv) > 2:
        flags = argv[3] if len(argv) > 3 else ""
        if match:
            stream.write(substitute(match, argv[2].replace("%", "$")))
        elif "n" in flags:
            stream.write("")
        elif "b" in flags:
            stream.write("false")
        else:
            stream.write(argv[0])
    else:
        stream.write("true" if match else "false")


def _take_operand(text: str, i: int) -> tuple[str, bool, int] | None:
    """One operand of ``cond``: ``'quoted'`` (with ``\\'`` and ``\\\\``) or up to a blank.
    Returns (value, quoted, index after it and the blank) or None on a syntax error."""
    if text[i:i + 1] == "'":
        j = i + 1
        value = []
        while j < len(text):
            c = text[j]
            if c == "\\" and text[j + 1:j + 2] in ("\\", "'"):
                value.append(c)  # FreeSWITCH keeps the backslash: it only skips the next char
                value.append(text[j + 1])
                j += 2
                continue
            if c == "'":
                break
            value.append(c)
            j += 1
        if j >= len(text) or not text[j + 1:j + 2].isspace():
            return None
        return "".join(value), True, j + 2
    blank = text.find(" ", i)
    if blank < 0:
        return None
    return text[i:blank], False, blank + 1


@commands("cond", "Evaluate a conditional", "<expr> ? <true val> : <false val>")
def cond(module, cmd, session, stream):
    result = _cond(cmd) if cmd else None
    stream.write("-ERR" if result is None else result)


def _cond(text: str) -> str | None:
    first = _take_operand(text, 0)
    if first is None:
        return None
    a, a_quoted, i = first
    while i < len(text) and text[i].isspace():
        i += 1
    op = text[i:i + 2]
    if op in ("!=", ">=", "<=", "=="):
        i += 2
    elif op[:1] in (">", "<"):
        op = op[:1]
        i += 1
    else:
        return None
    # FreeSWITCH skips one more character after the operator, then blanks
    i += 1
    while i < len(text) and text[i].isspace():
        i += 1
    second = _take_operand(text, i)
    if second is None:
        return None
    b, b_quoted, i = second
    while i < len(text) and text[i].isspace():
        i += 1
    if text[i:i + 1] != "?":
        return None
    argv = separate_string(":" + text[i + 1:], ":", 3)
    if not 2 <= len(argv) <= 3:
        return None
    a_num = is_number(a) and not a_quoted
    b_num = is_number(b) and not b_quoted
    af = atof(a) if a_num else float(len(a))
    bf = atof(b) if b_num else float(len(b))
    if op == "==":
        truth = a == b if not a_num and not b_num else af == bf
    elif op == "!=":
        truth = a != b if not a_num and not b_num else af != bf
    elif op == ">":
        truth = af > bf
    elif op == ">=":
        truth = af >= bf
    elif op == "<":
        truth = af < bf
    else:
        truth = af <= bf
    if len(argv) == 2 and not truth:
        return ""
    return argv[1] if truth else (argv[2] if len(argv) > 2 else "")


COALESCE_SYNTAX = "[^^<delim>]<value1>,<value2>,..."


@commands("coalesce", "Return first nonempty parameter", COALESCE_SYNTAX)
def coalesce(module, cmd, session, stream):
    arg, delim = cmd, ","
    if arg.startswith("^^") and len(arg) > 2:
        delim, arg = arg[2], arg[3:]
    argv = separate_string(arg, delim, 256) if arg else []
    if not argv:
        stream.write(f"-USAGE: {COALESCE_SYNTAX}\n")
        return
    for value in argv:
        if value:
            stream.write(value)
            break
