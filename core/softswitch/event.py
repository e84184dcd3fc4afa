"""Events: FreeSWITCH's event types, the :class:`Event` object and its wire serializations.

An event is a type (:class:`EventType`, FreeSWITCH's names in FreeSWITCH's order), an optional
subclass (CUSTOM only), an ordered list of headers (duplicates allowed, case-insensitive lookup,
array values) and an optional body. The standard headers (Event-Name, Core-UUID, …,
Event-Sequence) are stamped when the event is *created*, as FreeSWITCH does.

Once an event is fired it is frozen: every subscriber shares the same object, and each
serialization (plain, json, xml) is computed once and cached on it — never once per listener.
"""

from __future__ import annotations

import enum
import json
import os
import re
import sys
import time
from functools import lru_cache
from urllib.parse import quote, unquote

from .accel import load_extension

__all__ = [
    "EventType",
    "Priority",
    "Event",
    "EventError",
    "name_event",
    "event_name",
    "url_encode",
    "url_decode",
    "wire_bytes",
    "wire_text",
    "set_identity",
    "identity_headers",
    "new_uuid",
]


class EventType(enum.IntEnum):
    """FreeSWITCH's ``switch_event_types_t``; the name is the wire ``Event-Name``."""

    CUSTOM = 0
    CLONE = 1
    CHANNEL_CREATE = 2
    CHANNEL_DESTROY = 3
    CHANNEL_STATE = 4
    CHANNEL_CALLSTATE = 5
    CHANNEL_ANSWER = 6
    CHANNEL_HANGUP = 7
    CHANNEL_HANGUP_COMPLETE = 8
    CHANNEL_EXECUTE = 9
    CHANNEL_EXECUTE_COMPLETE = 10
    CHANNEL_HOLD = 11
    CHANNEL_UNHOLD = 12
    CHANNEL_BRIDGE = 13
    CHANNEL_UNBRIDGE = 14
    CHANNEL_PROGRESS = 15
    CHANNEL_PROGRESS_MEDIA = 16
    CHANNEL_OUTGOING = 17
    CHANNEL_PARK = 18
    CHANNEL_UNPARK = 19
    CHANNEL_APPLICATION = 20
    CHANNEL_ORIGINATE = 21
    CHANNEL_UUID = 22
    API = 23
    LOG = 24
    INBOUND_CHAN = 25
    OUTBOUND_CHAN = 26
    STARTUP = 27
    SHUTDOWN = 28
    PUBLISH = 29
    UNPUBLISH = 30
    TALK = 31
    NOTALK = 32
    SESSION_CRASH = 33
    MODULE_LOAD = 34
    MODULE_UNLOAD = 35
    DTMF = 36
    MESSAGE = 37
    PRESENCE_IN = 38
    NOTIFY_IN = 39
    PRESENCE_OUT = 40
    PRESENCE_PROBE = 41
    MESSAGE_WAITING = 42
    MESSAGE_QUERY = 43
    ROSTER = 44
    CODEC = 45
    BACKGROUND_JOB = 46
    DETECTED_SPEECH = 47
    DETECTED_TONE = 48
    PRIVATE_COMMAND = 49
    HEARTBEAT = 50
    TRAP = 51
    ADD_SCHEDULE = 52
    DEL_SCHEDULE = 53
    EXE_SCHEDULE = 54
    RE_SCHEDULE = 55
    RELOADXML = 56
    NOTIFY = 57
    PHONE_FEATURE = 58
    PHONE_FEATURE_SUBSCRIBE = 59
    SEND_MESSAGE = 60
    RECV_MESSAGE = 61
    REQUEST_PARAMS = 62
    CHANNEL_DATA = 63
    GENERAL = 64
    COMMAND = 65
    SESSION_HEARTBEAT = 66
    CLIENT_DISCONNECTED = 67
    SERVER_DISCONNECTED = 68
    SEND_INFO = 69
    RECV_INFO = 70
    RECV_RTCP_MESSAGE = 71
    SEND_RTCP_MESSAGE = 72
    CALL_SECURE = 73
    NAT = 74
    RECORD_START = 75
    RECORD_STOP = 76
    PLAYBACK_START = 77
    PLAYBACK_STOP = 78
    CALL_UPDATE = 79
    FAILURE = 80
    SOCKET_DATA = 81
    MEDIA_BUG_START = 82
    MEDIA_BUG_STOP = 83
    CONFERENCE_DATA_QUERY = 84
    CONFERENCE_DATA = 85
    CALL_SETUP_REQ = 86
    CALL_SETUP_RESULT = 87
    CALL_DETAIL = 88
    DEVICE_STATE = 89
    TEXT = 90
    SHUTDOWN_REQUESTED = 91
    CERT_RELOAD = 92
    ALL = 93


class Priority(enum.IntEnum):
    NORMAL = 0
    LOW = 1
    HIGH = 2


_NAMES: tuple[str, ...] = tuple(t.name for t in EventType)
_BY_NAME: dict[str, EventType] = {t.name: t for t in EventType}
# Events whose headers are unique: adding one first deletes any of the same name.
_UNIQUE = frozenset({EventType.REQUEST_PARAMS, EventType.CHANNEL_DATA, EventType.MESSAGE})


def name_event(name: str) -> EventType | None:
    """Event type for ``name`` as FreeSWITCH resolves it: case-insensitive, and past its first
    13 characters when longer (so ``SWITCH_EVENT_CHANNEL_CREATE`` works). None when unknown."""
    up = name.upper()
    t = _BY_NAME.get(up)
    if t is None and len(up) > 13:
        t = _BY_NAME.get(up[13:])
    return t


def event_name(event_type: int) -> str:
    return _NAMES[event_type]


class EventError(ValueError):
    """Bad use of an event: a subclass on a non-CUSTOM type, a header name with a newline, …"""


# --------------------------------------------------------------------------------------------
# URL encoding as FreeSWITCH's switch_url_encode does it
# --------------------------------------------------------------------------------------------

_KEEP = "surrogateescape"  # see wire_bytes()
_RAW_SAFE = "!$'()*,/"  # plus alnum and _.-~, which quote() always keeps
_ALL_SAFE = re.compile(r"[A-Za-z0-9!$'()*,\-./_~]*\Z").match
_PCT_HEX = re.compile(r"(%[0-9A-F]{2})")


def url_encode(value: str) -> str:
    """Encode a header value for the wire exactly as FreeSWITCH does.

    Control bytes, bytes ≥ 0x7F and `` \\r\\n#%&+:;<=>?@[\\]^`{|}"`` become ``%XX``. Text is
    encoded as UTF-8 with ``surrogateescape``: a byte that came in as no UTF-8 (kept as a lone
    surrogate, see :func:`wire_bytes`) goes out as itself, ``%E9`` for a Latin-1 ``é``.
    Quirk kept on purpose (clients can see it): ``%`` followed by two *uppercase* hex digits is
    copied as it is, so ``50%41`` reaches clients as ``50A`` after they decode it.
    """
    # Values with nothing to encode (uuids, numbers, names: most of them, and most of those
    # seen once) stay out of the cache: an entry per call, living until 4,096 more values had
    # come, was an object born among the calls' ones that outlived them.
    return value if _ALL_SAFE(value) else _url_encode(value)


# (4096: hot values repeat; a client sending endless distinct values, a fuzzer say, made a
# bigger cache the largest part of the server's memory growth)
@lru_cache(maxsize=4096)
def _url_encode(value: str) -> str:
    if "%" in value:
        parts = _PCT_HEX.split(value)
        return "".join(p if i % 2 else quote(p, safe=_RAW_SAFE, errors=_KEEP)
                       for i, p in enumerate(parts))
    return quote(value, safe=_RAW_SAFE, errors=_KEEP)


def url_decode(value: str) -> str:
    """Decode ``%XX`` sequences (as UTF-8, other bytes kept as lone surrogates); ``+`` stays a
    plus, as in FreeSWITCH's decoder."""
    return unquote(value, errors=_KEEP) if "%" in value else value


def wire_bytes(text: str) -> bytes:
    """The bytes of header values, bodies and commands as they go out on a wire.

    softswitch keeps arbitrary bytes in ``str`` as Python does for file names: what is not
    UTF-8 is decoded to lone surrogates (``bytes.decode("utf-8", "surrogateescape")``), and
    this encodes them back, so a Latin-1 ``é`` (0xE9) that a client sent leaves as 0xE9.
    """
    return text.encode("utf-8", _KEEP)


def wire_text(data: bytes) -> str:
    """The text form of bytes read from a wire, reversible by :func:`wire_bytes`."""
    return data.decode("utf-8", _KEEP)


# --------------------------------------------------------------------------------------------
# Identity stamped on every event (set by the running core)
# --------------------------------------------------------------------------------------------


class _Identity:
    __slots__ = ("ident", "seq", "_sec", "_dates", "_files")

    def __init__(self) -> None:
        self.ident: tuple[tuple[str, str], ...] = ()
        self.seq = 0
        self._sec = -1
        self._dates = ("", "")
        self._files: dict[str, str] = {}

    def dates(self, now: float) -> tuple[str, str]:
        sec = int(now)
        if sec != self._sec:
            self._sec = sec
            self._dates = (
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec)),
                time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(sec)),
            )
        return self._dates

    def basename(self, path: str) -> str:
        b = self._files.get(path)
        if b is None:
            b = self._files[path] = os.path.basename(path)
        return b


_ID = _Identity()
#: (id of the code object, bytecode offset) of an event's creator -> (code, line number text).
_CALL_LINES: dict[tuple[int, int], tuple[object, str]] = {}


def identity_headers(
    core_uuid: str | None, hostname: str, switchname: str, ipv4: str, ipv6: str
) -> tuple[tuple[str, str], ...]:
    """The identity headers of a kernel (Core-UUID … FreeSWITCH-IPv6), in FreeSWITCH's order.

    Empty values are left out, as FreeSWITCH drops empty headers (no IPv6 → no header).
    """
    pairs = (
        ("Core-UUID", core_uuid),
        ("FreeSWITCH-Hostname", hostname),
        ("FreeSWITCH-Switchname", switchname),
        ("FreeSWITCH-IPv4", ipv4),
        ("FreeSWITCH-IPv6", ipv6),
    )
    return tuple((k, v) for k, v in pairs if v)


def set_identity(
    core_uuid: str | None, hostname: str, switchname: str, ipv4: str, ipv6: str
) -> None:
    """Set the process-wide default identity stamped on new events.

    Each kernel keeps its own (``EventSystem.set_identity``) and corrects, when it fires an
    event, the identity of one created with another kernel's default.
    """
    _ID.ident = identity_headers(core_uuid, hostname, switchname, ipv4, ipv6)


def default_identity() -> tuple[tuple[str, str], ...]:
    return _ID.ident


def use_identity(ident: tuple[tuple[str, str], ...]) -> None:
    """Make ``ident`` (a tuple from :func:`identity_headers`) the process default."""
    _ID.ident = ident


def _check_name(name: str) -> None:
    if not name or "\n" in name or "\r" in name or ":" in name or "\0" in name:
        raise EventError(f"invalid header name {name!r}: it must be non-empty, without ':' or line breaks")


def _check_value(name: str, value: str) -> None:
    if "\0" in value:
        raise EventError(f"header {name!r}: a value cannot contain a NUL byte")


# --------------------------------------------------------------------------------------------
# The event
# --------------------------------------------------------------------------------------------


class Event:
    """One event. Create it with :meth:`Event.create` (stamps the standard headers) or
    ``Event(type, subclass, stamp=False)`` for a bare one.

    Headers keep their order; a value is a ``str`` or, for array headers, a ``list[str]``.
    """

    __slots__ = ("event_id", "subclass", "headers", "_body", "priority", "cache", "_frozen",
                 "key", "flags", "ident")

    def __init__(
        self,
        event_type: int = EventType.CUSTOM,
        subclass: str | None = None,
        *,
        stamp: bool = True,
        body: str | None = None,
        _depth: int = 1,
    ) -> None:
        if event_type.__class__ is not EventType:
            event_type = EventType(event_type)
        if subclass and event_type not in (EventType.CUSTOM, EventType.CLONE):
            raise EventError(
                f"a subclass ({subclass!r}) is only allowed on CUSTOM events, not {event_type.name}"
            )
        if event_type is EventType.ALL:
            raise EventError("ALL is for binding, an event cannot have type ALL")
        self.event_id = event_type
        self.subclass = subclass or None
        self.priority = Priority.NORMAL
        self.cache: dict = {}
        self._frozen = False
        self.key = 0
        self.flags = 0
        self.ident: tuple | None = None  # the identity headers it was stamped with
        self._body = None
        self.headers: list[tuple] = []
        if stamp and event_type is not EventType.CLONE:
            self.headers = self._standard(sys._getframe(_depth))
            if self.subclass:
                self.headers.append(("Event-Subclass", self.subclass))
        if self.event_id is EventType.CLONE:
            self.event_id = EventType.CUSTOM  # CLONE is a "no type yet" marker with id 0
        if body is not None:
            self.body = body

    def _standard(self, frame) -> list[tuple]:
        ident = _ID
        self.ident = ident.ident
        ident.seq += 1
        now = time.time()
        local, gmt = ident.dates(now)
        code = frame.f_code
        # f_lineno decodes the code's line table on every read; an offset's line never changes.
        # Keyed by id (hashing a code object hashes its bytecode), checked by identity (the
        # entry holds the code, so its id cannot be reused while the entry lives).
        where = (id(code), frame.f_lasti)
        hit = _CALL_LINES.get(where)
        if hit is None or hit[0] is not code:
            if len(_CALL_LINES) > 10_000:
                _CALL_LINES.clear()
            hit = _CALL_LINES[where] = (code, str(frame.f_lineno))
        line = hit[1]
        return [
            ("Event-Name", _NAMES[self.event_id]),
            *ident.ident,
            ("Event-Date-Local", local),
            ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(int(now * 1_000_000))),
            ("Event-Calling-File", ident.basename(code.co_filename)),
            ("Event-Calling-Function", code.co_name),
            ("Event-Calling-Line-Number", line),
            ("Event-Sequence", str(ident.seq)),
        ]

    def stamp(self, _depth: int = 1) -> None:
        """Append the standard headers now (FreeSWITCH's ``switch_event_prep_for_delivery``),
        for events built from parts, such as ESL's ``sendevent``."""
        self._mutate()
        self.headers.extend(self._standard(sys._getframe(_depth)))

    @classmethod
    def create(cls, event_type: int, subclass: str | None = None, **headers: str) -> Event:
        """A new event with the standard headers stamped now, plus ``headers`` in order.

        Keyword names use ``_`` for ``-``: ``Event.create(EventType.CUSTOM, "x::y", Foo_Bar="1")``.
        """
        ev = cls(event_type, subclass, _depth=2)
        for k, v in headers.items():
            ev.add_header(k.replace("_", "-"), v)
        return ev

    # -- state ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The ``Event-Name`` of this type."""
        return _NAMES[self.event_id]

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        """Make the event read-only (done by ``fire``): listeners share it and its serializations."""
        self._frozen = True

    def _mutate(self) -> None:
        if self._frozen:
            raise EventError("this event was fired and is shared by its listeners; dup() it to change it")
        if self.cache:
            self.cache.clear()

    @property
    def body(self) -> str | None:
        return self._body

    @body.setter
    def body(self, value: str | None) -> None:
        self._mutate()
        if value is not None:
            value = str(value)
            if "\0" in value:
                raise EventError("an event body cannot contain a NUL byte")
        self._body = value

    # -- headers --------------------------------------------------------------------------------
    def get_header(self, name: str, default: str | None = None) -> str | None:
        """First header called ``name`` (case-insensitive); arrays give their joined form."""
        low = name.lower()
        for h in self.headers:
            n = h[0]
            if n == name or n.lower() == low:
                v = h[1]
                return v if v.__class__ is str else _join(v)
        return default

    __getitem__ = get_header

    def get_array(self, name: str) -> list[str] | None:
        """Elements of header ``name`` (a plain value is a one-element list)."""
        low = name.lower()
        for h in self.headers:
            if h[0].lower() == low:
                return list(h[1]) if isinstance(h[1], list) else [h[1]]
        return None

    def __contains__(self, name: str) -> bool:
        return self.get_header(name) is not None

    def add_header(self, name: str, value: object, *, top: bool = False) -> None:
        """Append (or, with ``top``, prepend) a header; duplicates are allowed.

        As in FreeSWITCH: an empty or None value deletes the header instead; a value starting
        with ``ARRAY::`` becomes an array; ``name[n]`` sets element ``n`` of an array; the name
        ``_body`` also sets the body.
        """
        _check_name(name)
        self._mutate()
        if value is None or value == "":
            self._delete(name, None)
            return
        value = str(value)
        _check_value(name, value)
        if name.endswith("]") and "[" in name:
            base, _, idx = name[:-1].partition("[")
            if idx.isdigit():
                self._set_index(base, int(idx), value)
                return
        if self.event_id in _UNIQUE:
            self._delete(name, None)
        item = (name, value[7:].split("|:") if value.startswith("ARRAY::") else value)
        if top:
            self.headers.insert(0, item)
        else:
            self.headers.append(item)
        if name == "_body":
            self._body = value

    def set_header(self, name: str, value: object) -> None:
        """Replace every header ``name`` by one with ``value`` (at the bottom)."""
        _check_name(name)
        self._mutate()
        self._delete(name, None)
        self.add_header(name, value)

    def del_header(self, name: str, value: str | None = None) -> None:
        """Delete every header ``name`` (only those equal to ``value`` when given)."""
        self._mutate()
        self._delete(name, value)

    def _delete(self, name: str, value: str | None) -> None:
        low = name.lower()
        self.headers = [
            h for h in self.headers
            if not (h[0].lower() == low and (value is None or _value_str(h[1]) == value))
        ]

    def push_header(self, name: str, value: str, *, front: bool = False) -> None:
        """Append (``front``: prepend) ``value`` to array header ``name``, creating it."""
        _check_name(name)
        self._mutate()
        value = str(value)
        _check_value(name, value)
        low = name.lower()
        headers = self.headers
        for i, h in enumerate(headers):
            if h[0].lower() == low:
                arr = list(h[1]) if isinstance(h[1], list) else [h[1]]
                if front:
                    arr.insert(0, value)
                else:
                    arr.append(value)
                headers[i] = (h[0], arr)
                return
        headers.append((name, [value]))

    def unshift_header(self, name: str, value: str) -> None:
        self.push_header(name, value, front=True)

    def _set_index(self, name: str, index: int, value: str) -> None:
        if index > 4000:
            raise EventError(f"array index {index} of header {name!r} is over 4000")
        low = name.lower()
        headers = self.headers
        i = next((n for n, h in enumerate(headers) if h[0].lower() == low), -1)
        if i >= 0:
            arr = list(headers[i][1]) if isinstance(headers[i][1], list) else [headers[i][1]]
        else:
            i, arr = len(headers), []
            headers.append((name, arr))
        while len(arr) <= index:
            arr.append("")
        arr[index] = value
        headers[i] = (headers[i][0], arr)

    def items(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs in order; arrays in their joined ``ARRAY::`` form."""
        return [(h[0], _value_str(h[1])) for h in self.headers]

    def set_subclass(self, subclass: str) -> None:
        """Give a CUSTOM event its subclass; the ``Event-Subclass`` header moves to the bottom."""
        if self.event_id is not EventType.CUSTOM:
            raise EventError(f"a subclass ({subclass!r}) is only allowed on CUSTOM events, not {self.name}")
        self._mutate()
        self.subclass = subclass or None
        self._delete("Event-Subclass", None)
        if subclass:
            self.headers.append(("Event-Subclass", subclass))

    def set_priority(self, priority: Priority) -> None:
        """Set the priority; like FreeSWITCH this adds a ``priority`` header at the top."""
        self.priority = Priority(priority)
        self.add_header("priority", self.priority.name, top=True)

    def dup(self) -> Event:
        """An unfrozen copy (headers, arrays, body, subclass, type); not re-stamped."""
        ev = Event(self.event_id, self.subclass, stamp=False)
        ev.headers = [(h[0], list(h[1]) if isinstance(h[1], list) else h[1]) for h in self.headers]
        ev._body = self._body
        ev.priority = self.priority
        ev.ident = self.ident
        return ev

    def reidentify(self, ident: tuple[tuple[str, str], ...]) -> None:
        """Replace the identity headers it was stamped with by ``ident`` (another kernel's,
        or the same kernel's after its address changed). Before it is fired."""
        old = self.ident
        if old is None or old is ident:
            return
        self._mutate()
        h = self.headers
        n = len(old)
        if n:
            try:
                i = h.index(old[0])
            except ValueError:
                i = -1
            if i < 0 or tuple(h[i:i + n]) != old:
                self.ident = ident
                return  # its identity headers were edited: leave them alone
            h[i:i + n] = ident
        else:
            h[1:1] = ident  # right after Event-Name, where _standard puts them
        self.ident = ident

    def __repr__(self) -> str:
        sub = f" {self.subclass}" if self.subclass else ""
        return f"<Event {self.name}{sub} seq={self.get_header('Event-Sequence')}>"

    # -- serialization (cached once per event per format) ---------------------------------------
    def serialize(self, fmt: str = "plain") -> str:
        """The event as FreeSWITCH writes it: ``plain``, ``json`` or ``xml``. Cached once frozen.

        Bytes that came from a wire as no UTF-8 (lone surrogates, see :func:`wire_bytes`) are
        kept as FreeSWITCH keeps them: URL-encoded (``%E9``) in plain and in xml headers; as
        they are in json (cJSON escapes only ``"``, ``\\`` and controls, so the json is not
        valid UTF-8 then, exactly as FreeSWITCH's); in an xml body FreeSWITCH's
        ``switch_xml_ampencode`` decodes UTF-8 itself and drops what is broken (and the byte
        after it): so does this. The text returned holds the surrogates; :meth:`encode` gives
        the bytes."""
        cache = self.cache
        s = cache.get(fmt)
        if s is None:
            if fmt == "plain":
                s = self._plain()
            elif fmt == "json":
                s = self._json()
            elif fmt == "xml":
                s = self._xml()
            else:
                raise EventError(f"unknown serialization format {fmt!r} (plain, json or xml)")
            if self._frozen:
                cache[fmt] = s
        return s

    def encode(self, fmt: str = "plain", framed: bool = False) -> bytes:
        """The bytes of :meth:`serialize` as they go on a wire (see :func:`wire_bytes`: bytes
        that came in as no UTF-8 go out as they came). Cached once frozen.

        ``framed``: preceded by ``Content-Length: N`` and ``Content-Type: text/event-<fmt>``
        and a blank line, the whole message the Event Socket sends for the event. Plain
        events are written by the C extension ``softswitch._wire`` when it is built.
        """
        key = (fmt, framed)
        cache = self.cache
        data = cache.get(key)
        if data is None:
            if fmt == "plain" and _c_plain is not None:
                try:  # the whole message, framing lines included, in one allocation
                    data = _c_plain(self.headers, self._body, framed)
                except (TypeError, ValueError):  # lone surrogates, odd header types: Python's
                    pass
            if data is None:
                data = wire_bytes(self.serialize(fmt))
                if framed:
                    data = b"Content-Length: %d\nContent-Type: %s\n\n%s" % (
                        len(data), _CONTENT_TYPES[fmt], data)
            if self._frozen:
                cache[key] = data
        return data

    def _plain(self) -> str:
        # Header tuples repeat across events (identity headers, the date of this second, event
        # names...): their encoded lines are memoised, keyed by the (name, value) tuple itself.
        lines = _PLAIN_LINES
        try:
            parts = [lines.get(h) or _plain_line(h) for h in self.headers]
        except TypeError:  # an array header: its list value cannot be a key
            parts = [_plain_line(h) for h in self.headers]
        body = self._body
        if body:
            parts.append(f"Content-Length: {len(wire_bytes(body))}\n\n{body}")
        else:
            parts.append("\n")
        return "".join(parts)

    def _json(self) -> str:
        enc = _json_str
        parts = []
        for h in self.headers:
            v = h[1]
            if v.__class__ is str:
                parts.append(f"{enc(h[0])}:{enc(v)}")
            else:
                parts.append(f"{enc(h[0])}:[{','.join(enc(x) for x in v)}]")
        body = self._body
        if body is not None:
            parts.append(f'"Content-Length":"{len(wire_bytes(body))}"')
            parts.append(f'"_body":{enc(body)}')
        return "{" + ",".join(parts) + "}"

    def _xml(self) -> str:
        out = ["<event>\n  <headers>\n"]
        for h in self.headers:
            name, v = h[0], h[1]
            for item in (v,) if v.__class__ is str else v:
                out.append(f"    <{name}>{url_encode(item)}</{name}>\n")
        out.append("  </headers>\n")
        body = self._body
        if body:
            out.append(f"  <Content-Length>{len(wire_bytes(body))}</Content-Length>\n")
            tail = "  " if body.endswith("\n") else ""
            out.append(f"  <body>{_xml_escape(body)}{tail}</body>\n")
        out.append("</event>\n")
        return "".join(out)

    # -- parsing --------------------------------------------------------------------------------
    @classmethod
    def from_plain(cls, text: str) -> Event:
        """Parse a ``text/event-plain`` body (URL-decoded values) back into an event."""
        head, sep, rest = text.partition("\n\n")
        ev = cls(EventType.CUSTOM, stamp=False)
        length = None
        for line in head.split("\n"):
            line = line.rstrip("\r")
            name, colon, value = line.partition(":")
            if not colon or not name:
                continue
            value = url_decode(value.lstrip(" "))
            if name.lower() == "content-length" and value.isdigit():
                length = int(value)
                continue
            ev._load_header(name, value)
        if length is not None:
            ev._body = wire_text(wire_bytes(rest)[:length])
        return ev

    @classmethod
    def from_json(cls, text: str) -> Event:
        """Parse a ``text/event-json`` body back into an event."""
        try:
            data = json.loads(text, object_pairs_hook=list)
        except ValueError as e:
            raise EventError(f"not a JSON event: {e}") from None
        if not isinstance(data, list):
            raise EventError("a JSON event must be an object")
        ev = cls(EventType.CUSTOM, stamp=False)
        for name, value in data:
            if name == "_body":
                ev._body = str(value)
            elif name.lower() == "content-length":
                continue
            elif isinstance(value, list):
                _check_name(name)
                ev.headers.append((name, [str(x) for x in value]))
            else:
                ev._load_header(name, "" if value is None else str(value))
        ev._retype()
        return ev

    def _load_header(self, name: str, value: str) -> None:
        if value == "":
            return
        low = name.lower()
        if low == "event-name":
            t = name_event(value)
            if t is not None and t is not EventType.ALL:
                self.event_id = t
        elif low == "event-subclass":
            self.subclass = value
        self.headers.append((name, value[7:].split("|:") if value.startswith("ARRAY::") else value))

    def _retype(self) -> None:
        name = self.get_header("Event-Name")
        if name:
            t = name_event(name)
            if t is not None and t is not EventType.ALL:
                self.event_id = t
        sub = self.get_header("Event-Subclass")
        if sub:
            self.subclass = sub


_CONTENT_TYPES = {"plain": b"text/event-plain", "json": b"text/event-json", "xml": b"text/event-xml"}

#: ``softswitch._wire.plain(headers, body, framed)``: Event.encode("plain") in C, or None
_wire = load_extension("softswitch._wire", "event serialization", ("plain",))
_c_plain = _wire.plain if _wire is not None else None

_PLAIN_LINES: dict[tuple[str, str], str] = {}


# Standard headers whose value is new on every event: memoising their lines would only churn.
_FRESH_EVERY_EVENT = frozenset({"Event-UUID", "Event-Date-Timestamp", "Event-Sequence"})


def _plain_line(h: tuple) -> str:
    v = h[1]
    if v.__class__ is str:
        if h[0] in _FRESH_EVERY_EVENT:  # digits (timestamp, sequence) need no regex
            return f"{h[0]}: {v if (v.isascii() and v.isalnum()) or _ALL_SAFE(v) else url_encode(v)}\n"
        if len(_PLAIN_LINES) > 8192:  # (each line ~300 B: 50,000 was ~15 MB under fuzzing)
            _PLAIN_LINES.clear()
        # values seen once (uuids, sequence numbers, timestamps) are mostly plain text: skip
        # url_encode's LRU for them, it would only churn
        line = _PLAIN_LINES[h] = f"{h[0]}: {v if _ALL_SAFE(v) else url_encode(v)}\n"
        return line
    return f"{h[0]}: {url_encode(_join(v))}\n"


def _join(arr: list[str]) -> str:
    return arr[0] if len(arr) == 1 else "ARRAY::" + "|:".join(arr)


def _value_str(v: str | list[str]) -> str:
    return v if v.__class__ is str else _join(v)


try:  # the C accelerator: escapes ", \\, \b \f \n \r \t and other controls as \u00xx
    from json.encoder import c_encode_basestring as _json_str  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    from json.encoder import py_encode_basestring as _json_str  # type: ignore[attr-defined]
if _json_str is None:  # pragma: no cover
    from json.encoder import py_encode_basestring as _json_str  # type: ignore[attr-defined]


def _xml_escape(body: str) -> str:
    """Escape a body as FreeSWITCH's XML writer does (``&amp; &lt; &gt;``, CR as ``&#xD;``,
    non-ASCII as ``&#xHEX;``; after ``<!`` the rest is copied verbatim)."""
    bang = body.find("<!")
    head, tail = (body, "") if bang < 0 else (body[:bang], body[bang:])
    if _SURROGATE(head):
        return _xml_escape_bytes(wire_bytes(head)) + tail
    out = []
    for c in head:
        o = ord(c)
        if c == "&":
            out.append("&amp;")
        elif c == "<":
            out.append("&lt;")
        elif c == ">":
            out.append("&gt;")
        elif c == "\r":
            out.append("&#xD;")
        elif o >= 0x80:
            out.append(f"&#x{o:X};")
        else:
            out.append(c)
    return "".join(out) + tail


_SURROGATE = re.compile("[\udc80-\udcff]").search
_XML_ASCII = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\r"): "&#xD;"}
_XML_CASES = frozenset(b"&<>\"\n\t\r")


def _xml_escape_bytes(data: bytes) -> str:
    """``switch_xml_ampencode`` byte for byte, for a body that is not valid UTF-8.

    FreeSWITCH decodes UTF-8 itself: a lead byte (its count of high 1 bits, capped at 4,
    gives the length) starts a character written as ``&#xHEX;`` once its continuation bytes
    are in. It drops (with a warning) a byte that cannot start a character, and a byte that
    should continue one but does not: so Latin-1 ``été`` gives nothing at all (``é`` takes
    ``t`` as its broken continuation, both dropped). A character cut by the end is dropped.
    ``& < > " CR LF TAB`` are written whatever state the decoder is in.
    """
    out = []
    expecting = 0
    code = 0
    for b in data:
        if b in _XML_CASES:  # its own case in FreeSWITCH's switch: never part of a character
            out.append(_XML_ASCII.get(b) or chr(b))
        elif expecting == 0 and b & 0x80:
            num = 1
            while num < 4 and (b >> (7 - num)) & 1:
                num += 1
            code = b & (0x1F if num == 2 else 0x0F if num == 3 else 0x07)
            expecting = num - 1 if num > 1 else 0
        elif expecting > 0:
            if b >> 6 == 2:
                code = (code << 6) | (b & 0x3F)
                expecting -= 1
                if expecting == 0:
                    out.append(f"&#x{code:X};")
            else:
                expecting = 0  # the byte is dropped with the broken character
        else:
            out.append(_XML_ASCII.get(b) or chr(b))
    return "".join(out)


# new_uuid()'s pool: the hex digits of 4 KiB of os.urandom, 128 UUIDs per system call.
_uuid_hex = ""
_uuid_pos = 0  # the next unused hex digit
# The variant nibble keeps its two random low bits under the RFC 4122 variant bits "10".
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _forget_uuid_pool() -> None:
    """A forked child must not hand out the UUIDs its parent will hand out too."""
    global _uuid_hex, _uuid_pos
    _uuid_hex, _uuid_pos = "", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_uuid_pool)


def new_uuid() -> str:
    """A random (version 4) UUID string, cut from a pool of ``os.urandom`` hex digits: one
    system call per 128 UUIDs instead of one each, for hot paths (ESL ``sendevent``, ``bgapi``).

    (No ``os.getpid()`` check per call: glibc does not cache the pid, so that was a system call
    each time; a fork empties the pool instead.)"""
    global _uuid_hex, _uuid_pos
    p = _uuid_pos
    h = _uuid_hex
    if p + 32 > len(h):
        h = _uuid_hex = os.urandom(4096).hex()
        p = 0
    _uuid_pos = p + 32
    return (f"{h[p:p + 8]}-{h[p + 8:p + 12]}-4{h[p + 13:p + 16]}-"
            f"{_VARIANT[h[p + 16]]}{h[p + 17:p + 20]}-{h[p + 20:p + 32]}")
