"""What every Event Socket consumer shares: subscriptions, filters and the delivery decision.

FreeSWITCH's ``event_handler`` decides per listener: the event's type is subscribed (or ALL),
CUSTOM subclasses must be in the listener's list, then the filters (``filter`` command), then
``myevents``. Socket listeners (:mod:`.listener`) and ``event_sink``'s stateful listeners
(:mod:`.sink`) both use it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from softswitch import Event, EventType, name_event

__all__ = ["Subscriber", "parse_event_list"]

_ALL = int(EventType.ALL)
_CUSTOM = int(EventType.CUSTOM)


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern | None:
    """FreeSWITCH's ``/re/flags`` filter syntax (PCRE: ``i``, ``s``, ``m``, ``x``)."""
    body, flags = pattern, 0
    if body.startswith("/"):
        end = body.rfind("/")
        if end > 0:
            for f in body[end + 1:]:
                flags |= {"i": re.I, "s": re.S, "m": re.M, "x": re.X}.get(f, 0)
            body = body[1:end]
        else:
            body = body[1:]
    try:
        return re.compile(body, flags)
    except re.error:
        return None


class Subscriber:
    """Subscriptions and filters of one consumer of events."""

    # slots: thousands of idle connections each hold one (a __dict__ would be ~1.5 KB more)
    __slots__ = ("format", "events_on", "event_list", "event_hash", "filters", "myevents",
                 "log_on", "log_level", "dead", "indexed", "indexed_log")

    def __init__(self) -> None:
        self.format = "plain"
        self.events_on = False
        self.event_list = bytearray(_ALL + 1)
        self.event_hash: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.myevents = False
        self.log_on = False
        self.log_level = 7
        self.dead = False
        #: what the module has indexed this subscriber under (EventSocket.reindex): a copy of
        #: event_list, shared by subscribers alike, and whether it is among the log listeners
        self.indexed = b""
        self.indexed_log = False

    def wants(self, ev: Event) -> bool:
        """Subscriptions, then filters, then ``myevents`` — FreeSWITCH's ``event_handler``.

        (Subscribing to ALL sets every type in ``event_list`` too, and ``nixevent`` of one
        type after ALL keeps the others: the module indexes subscribers by type alone.)"""
        el = self.event_list
        if el[_ALL]:
            send = True
        elif el[ev.event_id]:
            send = ev.event_id != _CUSTOM or ev.subclass is None or ev.subclass in self.event_hash
        else:
            return False
        if send and self.filters:
            send = self._filter(ev)
        if send and self.myevents and ev.get_header("unique-id") is None:
            send = False
        return send

    def _filter(self, ev: Event) -> bool:
        send = False
        for name, value in self.filters:
            hval = ev.get_header(name)
            if hval is None:
                continue
            i, pos = 0, True
            while i < len(value):
                c = value[i]
                if c == "+":
                    pos = True
                elif c == "-":
                    pos = False
                elif c != " ":
                    break
                i += 1
            if send and pos:
                continue
            comp = value[i:]
            if value.startswith("/"):
                rx = _regex(comp)
                cmp = bool(rx is not None and rx.search(hval))
            else:
                cmp = hval.lower() == comp.lower()
            if cmp:
                if pos:
                    send = True
                else:
                    return False
        return send



def parse_event_list(text: str, event_list: bytearray, hash_: set[str]) -> int:
    """Parse an ``events`` list as userauth and event_sink do (comma-separated, or
    space-separated when it contains a space; words after CUSTOM are subclasses) into
    ``event_list``/``hash_``. Returns how many event names were recognised."""
    key_count = 0
    custom = False
    for word in text.split(" " if " " in text else ","):
        if custom:
            hash_.add(word)
            continue
        t = name_event(word)
        if t is None:
            continue
        key_count += 1
        if t == EventType.ALL:
            for i in range(_ALL):
                event_list[i] = 1
        event_list[t] = 1
        if t == EventType.CUSTOM:
            custom = True
    return key_count
