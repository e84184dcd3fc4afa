"""The Event Socket wire format, client → server: a pure function of bytes (no sockets).

FreeSWITCH's ``read_packet`` reads a message as:

* CR/LF bytes before a message are skipped (blank lines between commands do nothing);
* the header block ends at the second LF, where CR bytes do not reset the count but any other
  byte does (``\\n\\n``, ``\\r\\n\\r\\n``, ``\\n\\r\\n`` all end it); a block over 10 MiB is cut;
* the first line is the command; each further ``name: value`` line is a header (name not
  trimmed, value with leading *spaces* skipped, cut at CR); lines without ``:`` are ignored;
  C-string semantics: a NUL ends the line;
* ``Content-Length`` (any case) gives a body of exactly N bytes (truncated at a NUL);
  negative or over 16 MiB is an error that drops the connection; 0 or garbage means no body.

:class:`FrameParser` is incremental: ``feed()`` bytes as they arrive, ``next()`` returns each
complete :class:`Message` (or None), raising :class:`FrameError` for a fatal framing error.

:func:`parse_head` is the C version from the optional extension ``mod_event_socket._speedups``
when it was built (:data:`IMPLEMENTATION` ``"C"``), else :func:`py_parse_head`, the reference
the C one is tested against; ``SOFTSWITCH_PURE_PYTHON=1`` in the environment forces the
Python code (here as in the kernel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from softswitch import pure_python

__all__ = ["Message", "FrameParser", "FrameError", "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "c_atoi",
           "SPECIAL", "EVENT_SUBCLASS", "CONTENT_LENGTH", "header_marks", "parse_head", "py_parse_head",
           "IMPLEMENTATION"]

MAX_HEADER_BYTES = 10 * 1024 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

_END = re.compile(rb"\n\r*\n")
_BLANK = (10, 13)  # LF, CR
_ATOI = re.compile(r"\s*([+-]?\d+)")


def c_atoi(text: str) -> int:
    """C's ``atoi``: leading blanks, optional sign, digits; anything else gives 0."""
    m = _ATOI.match(text)
    return int(m.group(1)) if m else 0


class FrameError(ValueError):
    """A message that cannot be framed (bad Content-Length); the connection must end."""


@dataclass(slots=True)
class Message:
    """One client message: the command line, the headers in order, the body (or None)."""

    command: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None
    #: SPECIAL | EVENT_SUBCLASS | CONTENT_LENGTH: which kinds of header lines are present
    marks: int = 0

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return default


def _text(raw: bytes) -> str:
    # Bytes that are not UTF-8 become lone surrogates (U+DC80..U+DCFF), which encode back to
    # the same bytes: nothing a client sends is changed on its way through (FreeSWITCH keeps
    # bytes, it never decodes them).
    return raw.decode("utf-8", "surrogateescape")


# name = everything before the first ":" (not trimmed); value = after it, leading spaces (not
# tabs) skipped, cut at the first CR. Lines without ":" do not match.
_HEADER = re.compile(r"^([^:\n]*): *([^\r\n]*)", re.M)


# What a header line is, beyond its name and value: bits of Message.marks, worked out once per
# distinct line (see _LINE_HEADERS), so the hot paths need not look at every header.
#: An empty name or value (a delete), a ``name[n]`` index, an ``ARRAY::`` value, ``_body``, or
#: a name with a CR in it (CR LF blocks only; ``add_header`` refuses it): the event header rules
#: treat it specially (``sendevent`` must go through ``add_header``).
SPECIAL = 1
EVENT_SUBCLASS = 2  #: named Event-Subclass, in any case
CONTENT_LENGTH = 4  #: named Content-Length, in any case


def header_marks(name: str, value: str) -> int:
    marks = SPECIAL if (not name or not value or name[-1] == "]" or name == "_body"
                        or value.startswith("ARRAY::") or "\r" in name) else 0
    if len(name) == 14:
        low = name.lower()
        if low == "event-subclass":
            marks |= EVENT_SUBCLASS
        elif low == "content-length":
            marks |= CONTENT_LENGTH
    return marks


# A header line seen before -> the (name, value) tuple made for it then, and its marks. Clients
# repeat most lines (the same headers on every sendevent), so most lines cost one dict lookup
# instead of a split, and events built from them share the tuples, whose serialized lines are
# memoised (softswitch.event) by that same tuple: a hit there compares by identity.
_LINE_HEADERS: dict[str, tuple[tuple[str, str], int]] = {}
_LINE_CACHE_MAX = 4096  # cleared when full: lines with unique values (ids, times) only churn


def py_parse_head(head: bytes | bytearray) -> tuple[str, list[tuple[str, str]], int]:
    """Split a header block into the command line, its headers and their marks (OR-ed)."""
    if b"\0" in head:  # C strings: a NUL ends its line
        head = b"\n".join(line.split(b"\0", 1)[0] for line in head.split(b"\n"))
    text = head.decode("utf-8", "surrogateescape")
    first, nl, rest = text.partition("\n")
    cut = first.find("\r")
    if cut >= 0:
        first = first[:cut]
    if not nl:
        return first, [], 0
    marks = 0
    if "\r" in rest:  # CR LF line ends (or a stray CR): the regex cuts each value at its CR
        headers = _HEADER.findall(rest)
        for name, value in headers:
            marks |= header_marks(name, value)
        return first, headers, marks
    cache = _LINE_HEADERS
    headers = []
    for line in rest.split("\n"):
        hit = cache.get(line)
        if hit is None:
            name, colon, value = line.partition(":")
            if not colon:
                continue
            value = value.lstrip(" ")
            hit = (name, value), header_marks(name, value)
            if len(cache) >= _LINE_CACHE_MAX:
                cache.clear()
            cache[line] = hit
        headers.append(hit[0])
        marks |= hit[1]
    return first, headers, marks


def _load_speedups():
    """The C extension, unless it was not built or SOFTSWITCH_PURE_PYTHON=1 says not to."""
    if pure_python():
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    return _speedups


_speedups = _load_speedups()
#: ``"C"`` when parse_head runs in ``_speedups``, else ``"Python"``
IMPLEMENTATION = "C" if _speedups is not None else "Python"
#: The C parse_head returns what py_parse_head does for any bytes or bytearray. It has no line
#: memo, it builds each (name, value) tuple anew, and is still ~3x faster than py_parse_head
#: with every line a memo hit (0.8 vs 2.5 us for bench/esl.py's 10-header block), 4-6x on new
#: lines.
parse_head = _speedups.parse_head if _speedups is not None else py_parse_head


class FrameParser:
    """Incremental framing of the client's byte stream."""

    __slots__ = ("buf", "_pending", "_need")

    def __init__(self) -> None:
        self.buf = bytearray()
        self._pending: Message | None = None
        self._need = 0

    def feed(self, data: bytes) -> None:
        self.buf += data

    @property
    def partial(self) -> bool:
        """True while part of a message is buffered."""
        return bool(self._pending is not None or self.buf.strip(b"\r\n"))

    def next(self) -> Message | None:
        """The next complete message, or None until more bytes arrive.

        :raises FrameError: a negative or oversized Content-Length.
        """
        buf = self.buf
        if self._pending is not None:
            if len(buf) < self._need:
                return None
            msg = self._pending
            body = bytes(buf[: self._need])
            del buf[: self._need]
            self._pending = None
            nul = body.find(b"\0")
            msg.body = _text(body if nul < 0 else body[:nul])
            return msg
        if not buf:
            return None
        if buf[0] in _BLANK:  # skip blank lines between messages
            del buf[:len(buf) - len(buf.lstrip(b"\r\n"))]
            if not buf:
                return None
        # The block ends at "\n\n", or "\n\r…\n": two C-level finds for LF-only clients,
        # the regex only when a "\n\r" comes first (CR LF clients) or no "\n\n" is buffered.
        end = buf.find(b"\n\n")
        if end >= 0 and buf.find(b"\n\r", 0, end) < 0:
            head = buf[:end]  # a bytearray copy; parse_head reads it as it is
            del buf[:end + 2]
        else:
            m = _END.search(buf)
            if m is None:
                if len(buf) < MAX_HEADER_BYTES:
                    return None
                head = buf[:MAX_HEADER_BYTES]  # FreeSWITCH forces the end of a huge block
                del buf[:MAX_HEADER_BYTES]
            else:
                head = buf[: m.start()]
                del buf[: m.end()]
        command, headers, marks = parse_head(head)
        msg = Message(command, headers, None, marks)
        length = None
        if marks & CONTENT_LENGTH:
            for k, v in headers:
                if len(k) == 14 and k.lower() == "content-length":
                    length = c_atoi(v)
                    break
        if length is None or length == 0:
            return msg
        if length < 0 or length > MAX_BODY_BYTES:
            raise FrameError(f"Content-Length {length} is outside 0..{MAX_BODY_BYTES}")
        self._pending = msg
        self._need = length
        return self.next()


def parse_all(data: bytes) -> list[Message]:
    """Every complete message in ``data`` (for tests and fuzzing)."""
    p = FrameParser()
    p.feed(data)
    out = []
    while True:
        msg = p.next()
        if msg is None:
            return out
        out.append(msg)
