"""The time-of-day attributes of a dialplan condition (``switch_xml_std_datetime_check``).

Attributes, all ANDed: ``year yday mon mday week mweek wday hour minute minute-of-day
time-of-day date-time tz-offset dst``. Numbers take ``N``, ``A-B`` (a reversed range wraps:
``18-8``) and comma lists; ``wday`` also takes ``sun``…``sat``; ``time-of-day`` is
``hh:mm[:ss]-hh:mm[:ss]``; ``date-time`` is ``Y-m-d H:M[:S]~Y-m-d H:M[:S]``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

__all__ = ["datetime_check", "number_cmp", "dow_cmp", "tod_cmp", "fulldate_cmp"]

_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ATTRS = ("date-time", "year", "yday", "mon", "mday", "week", "mweek", "wday", "hour", "minute",
          "minute-of-day", "time-of-day", "tz-offset", "dst")


def _strtol(s: str, i: int) -> tuple[int, int]:
    """C ``strtol(s + i, &end, 10)``: leading spaces, a sign, digits; 0 when there are none."""
    n = len(s)
    j = i
    while j < n and s[j] in " \t\n\r\f\v":
        j += 1
    k = j
    if k < n and s[k] in "+-":
        k += 1
    d = k
    while d < n and "0" <= s[d] <= "9":
        d += 1
    if d == k:
        return 0, i
    return int(s[j:d]), d


def number_cmp(exp: str, val: int) -> bool:
    """``switch_number_cmp``: a comma list of numbers and ranges."""
    i = 0
    n = len(exp)
    while True:
        a, i = _strtol(exp, i)
        if i >= n or exp[i] != "-":
            if a == val:
                return True
        else:
            b, i = _strtol(exp, i + 1)
            if (a <= val <= b) if a <= b else (val >= a or val <= b):
                return True
        if i >= n or exp[i] != ",":
            return False
        i += 1


def dow_cmp(exp: str, val: int) -> bool:
    """``switch_dow_cmp``: days 1 (Sunday)…7 or their names' first three letters, ranges, lists."""
    prev = None
    range_start = None
    i = 0
    n = len(exp)
    while i < n:
        ch = exp[i]
        if ch == "-":
            i += 1
            range_start = prev
            prev = None
            continue
        if ch == ",":
            i += 1
            prev = None
            continue
        if "1" <= ch <= "7":
            cur = int(ch)
            i += 1
        elif exp[i:i + 3].lower() in _DOW:
            cur = _DOW.index(exp[i:i + 3].lower()) + 1
            i += 3
        else:
            log.error("Parse error for [%s] at position %d (%.6s)", exp, i, exp[i:])
            return False
        if range_start is not None:
            if (range_start <= val <= cur) if range_start <= cur else (val >= range_start or val <= cur):
                return True
            range_start = None
        elif val == cur:
            return True
        prev = cur
    return False


def tod_cmp(exp: str, val: int) -> bool:
    """``switch_tod_cmp``: ``hh:mm[:ss]-hh:mm[:ss]`` ranges (seconds of the day), comma list."""
    for part in exp.split(","):
        lo, dash, hi = part.partition("-")
        if not dash or ":" not in lo or ":" not in hi:
            continue

        def secs(t: str) -> int:
            f = (t.split(":") + ["0", "0"])[:3]
            return _strtol(f[0], 0)[0] * 3600 + _strtol(f[1], 0)[0] * 60 + _strtol(f[2], 0)[0]

        start, end = secs(lo), secs(hi)
        if (start <= val <= end) if start <= end else (val >= start or val <= end):
            return True
    return False


def _str_time(text: str) -> float | None:
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text, fmt))
        except ValueError:
            continue
    return None


def fulldate_cmp(exp: str, now: float) -> bool:
    """``switch_fulldate_cmp``: ``start~end`` ranges (local time; end excluded), comma list."""
    for part in exp.split(","):
        start, tilde, end = part.partition("~")
        if not tilde:
            continue
        ts, te = _str_time(start), _str_time(end)
        if ts is None or te is None:
            log.error("Parse error for date time range (%s~%s)", start, end)
            return False
        if ts <= now < te:
            return True
    return False


def _local(now: float, offset_hours: int | None, tzname: str | None) -> dt.datetime:
    if offset_hours is not None:
        return dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=offset_hours)))
    if tzname:
        try:
            from zoneinfo import ZoneInfo

            return dt.datetime.fromtimestamp(now, ZoneInfo(tzname))
        except Exception:  # unknown zone name: FreeSWITCH falls back to local time too
            log.warning("Unknown time zone %s, using local time", tzname)
    return dt.datetime.fromtimestamp(now).astimezone()


def datetime_check(attrs: Mapping[str, str], now: float | None = None,
                   offset_hours: int | None = None, tzname: str | None = None) -> int:
    """Check an element's time attributes.

    :param attrs: the element's attributes.
    :param offset_hours: channel variable ``tod_tz_offset`` (hours), if numeric.
    :param tzname: channel variable ``timezone``.
    :returns: -1 when it has none of them, else 1 (all match) or 0.
    """
    if not any(a in attrs for a in _ATTRS):
        return -1
    if now is None:
        now = time.time()
    tm = _local(now, offset_hours, tzname)
    local_tm = time.localtime(now)
    eoffset = offset_hours if offset_hours is not None else int(tm.utcoffset().total_seconds() // 3600)
    tzoff = attrs.get("tz-offset")
    if tzoff is not None:
        loffset = eoffset
        t = tzoff.strip()
        if t and (t[1:] if t[0] in "+-" else t).isdigit():
            loffset = int(t)
        if loffset != eoffset:
            return 0
    dst = attrs.get("dst")
    if dst:
        want = dst.strip().lower() in ("yes", "on", "true", "t", "enabled", "active", "allow") or (
            dst.strip().isdigit() and int(dst) != 0)
        if not (local_tm.tm_isdst > 0 and want):
            return 0
    x = attrs.get("date-time")
    if x is not None and not fulldate_cmp(x, now):
        return 0
    yday = tm.timetuple().tm_yday - 1  # C tm_yday is 0-based
    wday = (tm.weekday() + 1) % 7  # C tm_wday: Sunday = 0
    checks = (
        ("year", tm.year),
        ("yday", yday + 1),
        ("mon", tm.month),
        ("mday", tm.day),
        ("week", yday // 7 + 1),
    )
    for name, value in checks:
        x = attrs.get(name)
        if x is not None and not number_cmp(x, value):
            return 0
    x = attrs.get("mweek")
    if x is not None:
        firstdow = (7 - (tm.day - (wday + 1)) % 7) % 7
        if not number_cmp(x, math.ceil((tm.day + firstdow) / 7.0)):
            return 0
    x = attrs.get("wday")
    if x is not None and not dow_cmp(x, wday + 1):
        return 0
    for name, value in (("hour", tm.hour), ("minute", tm.minute),
                        ("minute-of-day", tm.hour * 60 + tm.minute + 1)):
        x = attrs.get(name)
        if x is not None and not number_cmp(x, value):
            return 0
    x = attrs.get("time-of-day")
    if x is not None and not tod_cmp(x, tm.hour * 3600 + tm.minute * 60 + tm.second):
        return 0
    return 1
