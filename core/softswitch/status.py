"""FreeSWITCH's ``switch_status_t``: what hooks, APIs and timers return."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    SUCCESS = 0
    FALSE = 1
    TIMEOUT = 2
    RESTART = 3
    INTR = 4
    NOTIMPL = 5
    MEMERR = 6
    NOOP = 7
    RESAMPLE = 8
    GENERR = 9
    INUSE = 10
    BREAK = 11
    SOCKERR = 12
    MORE_DATA = 13
    NOTFOUND = 14
    UNLOAD = 15
    NOUNLOAD = 16
    IGNORE = 17
    TOO_SMALL = 18
    FOUND = 19
    CONTINUE = 20
    TERM = 21
    NOT_INITALIZED = 22  # (sic) FreeSWITCH's spelling
    TOO_LATE = 23
    XBREAK = 35
    WINBREAK = 36


def as_status(value: object) -> Status:
    """What a hook, API or timer function returned, as a Status (GENERR when it is none)."""
    try:
        return Status(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return Status.GENERR
