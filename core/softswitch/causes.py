"""Hangup causes: FreeSWITCH's ``switch_call_cause_t`` (Q.850 plus its own 4xx/7xx/8xx codes).

``str2cause`` / ``cause2str`` behave as FreeSWITCH's ``switch_channel_str2cause`` /
``switch_channel_cause2str``: an unknown name is NORMAL_CLEARING, an unlisted number is
``UNKNOWN``; a leading digit is taken as a number, whatever follows (C's ``atoi``).
"""

from __future__ import annotations

import enum

__all__ = ["Cause", "str2cause", "cause2str", "cause_q850"]


class Cause(enum.IntEnum):
    NONE = 0
    UNALLOCATED_NUMBER = 1
    NO_ROUTE_TRANSIT_NET = 2
    NO_ROUTE_DESTINATION = 3
    CHANNEL_UNACCEPTABLE = 6
    CALL_AWARDED_DELIVERED = 7
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONSE = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    NUMBER_CHANGED = 22
    REDIRECTION_TO_NEW_DESTINATION = 23
    EXCHANGE_ROUTING_ERROR = 25
    DESTINATION_OUT_OF_ORDER = 27
    INVALID_NUMBER_FORMAT = 28
    FACILITY_REJECTED = 29
    RESPONSE_TO_STATUS_ENQUIRY = 30
    NORMAL_UNSPECIFIED = 31
    NORMAL_CIRCUIT_CONGESTION = 34
    NETWORK_OUT_OF_ORDER = 38
    NORMAL_TEMPORARY_FAILURE = 41
    SWITCH_CONGESTION = 42
    ACCESS_INFO_DISCARDED = 43
    REQUESTED_CHAN_UNAVAIL = 44
    PRE_EMPTED = 45
    FACILITY_NOT_SUBSCRIBED = 50
    OUTGOING_CALL_BARRED = 52
    INCOMING_CALL_BARRED = 54
    BEARERCAPABILITY_NOTAUTH = 57
    BEARERCAPABILITY_NOTAVAIL = 58
    SERVICE_UNAVAILABLE = 63
    BEARERCAPABILITY_NOTIMPL = 65
    CHAN_NOT_IMPLEMENTED = 66
    FACILITY_NOT_IMPLEMENTED = 69
    SERVICE_NOT_IMPLEMENTED = 79
    INVALID_CALL_REFERENCE = 81
    INCOMPATIBLE_DESTINATION = 88
    INVALID_MSG_UNSPECIFIED = 95
    MANDATORY_IE_MISSING = 96
    MESSAGE_TYPE_NONEXIST = 97
    WRONG_MESSAGE = 98
    IE_NONEXIST = 99
    INVALID_IE_CONTENTS = 100
    WRONG_CALL_STATE = 101
    RECOVERY_ON_TIMER_EXPIRE = 102
    MANDATORY_IE_LENGTH_ERROR = 103
    PROTOCOL_ERROR = 111
    INTERWORKING = 127
    SUCCESS = 142
    ORIGINATOR_CANCEL = 487
    CRASH = 700
    SYSTEM_SHUTDOWN = 701
    LOSE_RACE = 702
    MANAGER_REQUEST = 703
    BLIND_TRANSFER = 800
    ATTENDED_TRANSFER = 801
    ALLOTTED_TIMEOUT = 802
    USER_CHALLENGE = 803
    MEDIA_TIMEOUT = 804
    PICKED_OFF = 805
    USER_NOT_REGISTERED = 806
    PROGRESS_TIMEOUT = 807
    INVALID_GATEWAY = 808
    GATEWAY_DOWN = 809
    INVALID_URL = 810
    INVALID_PROFILE = 811
    NO_PICKUP = 812
    SRTP_READ_ERROR = 813
    BOWOUT = 814
    BUSY_EVERYWHERE = 815
    DECLINE = 816
    DOES_NOT_EXIST_ANYWHERE = 817
    NOT_ACCEPTABLE = 818
    UNWANTED = 819
    NO_IDENTITY = 820
    BAD_IDENTITY_INFO = 821
    UNSUPPORTED_CERTIFICATE = 822
    INVALID_IDENTITY = 823
    STALE_DATE = 824
    REJECT_ALL = 825


_BY_NAME = {c.name: c for c in Cause}
_BY_NUMBER = {int(c): c.name for c in Cause}


def str2cause(text: str | None) -> int:
    """A cause from its name (case-insensitive) or number text.

    Returns a :class:`Cause` for a listed value, else the plain int (FreeSWITCH takes any
    number). Empty or unknown name → NORMAL_CLEARING.
    """
    if not text:
        return Cause.NORMAL_CLEARING
    text = text.strip()
    if text[:1].isdigit():
        end = 0
        while end < len(text) and text[end].isdigit():
            end += 1
        n = int(text[:end])
        return Cause(n) if n in _BY_NUMBER else n
    return _BY_NAME.get(text.upper(), Cause.NORMAL_CLEARING)


def cause2str(cause: int) -> str:
    """The name of a cause; ``UNKNOWN`` for an unlisted number."""
    return _BY_NUMBER.get(int(cause), "UNKNOWN")


def cause_q850(cause: int) -> int:
    """The Q.850 code sent on the wire: the cause itself up to 127, else 16 (NORMAL_CLEARING)."""
    return int(cause) if int(cause) <= 127 else 16
