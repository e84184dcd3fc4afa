"""SIP messages (RFC 3261 §7, §20, §25): parse and serialize, pure functions of bytes.

:func:`parse` turns one datagram into a :class:`Message` or raises :class:`ParseError` (which
carries the SIP status to answer with, when an answer is possible). :func:`serialize` is its
inverse and always writes a correct ``Content-Length``. Nothing here touches a socket, so the
parser is fuzzed with hypothesis (tests/test_message.py).

Also here: name-addr and URI parsing (``"Bob" <sip:bob@host:5060;transport=udp>;tag=x``), and
the header helpers the transaction and dialog layers use (top Via branch, CSeq, tags).
"""

from __future__ import annotations

import re

__all__ = [
    "Message", "ParseError", "Uri", "NameAddr", "parse", "serialize", "parse_uri",
    "parse_name_addr", "parse_via", "split_commas", "COMPACT", "MAX_MESSAGE", "MAX_HEADERS",
]

#: the largest message accepted (a UDP datagram)
MAX_MESSAGE = 65535
#: more header lines than this is an attack or a bug (sofia-sip refuses them too)
MAX_HEADERS = 256
#: one header line longer than this is refused
MAX_HEADER_LINE = 8192

#: RFC 3261 §7.3.3 compact forms (and RFC 3515/3841/4028 ones sipp and phones use)
COMPACT = {
    "v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding",
    "o": "Event", "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires", "u": "Allow-Events",
}
_CANON = {name.lower(): name for name in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type",
    "Max-Forwards", "Route", "Record-Route", "Authorization", "Proxy-Authorization",
    "WWW-Authenticate", "Proxy-Authenticate", "Expires", "User-Agent", "Server", "Allow",
    "Supported", "Require", "Unsupported", "Date", "Retry-After", "Subject", "Event",
    "Accept", "Content-Encoding", "Content-Disposition", "Reason", "Min-Expires",
    "Allow-Events", "Session-Expires", "Refer-To", "Referred-By", "Remote-Party-ID",
    "P-Asserted-Identity", "Warning", "Organization", "Timestamp", "Call-Info", "Alert-Info",
    "Privacy", "Diversion")}
# headers whose values may be comma-joined lists (RFC 3261 §7.3.1)
_LIST_HEADERS = frozenset(("via", "route", "record-route", "contact", "allow", "supported",
                           "require", "unsupported", "accept"))
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9]) ?(.*)$")
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP/2\.0$")


class ParseError(ValueError):
    """A message we cannot accept. ``status``/``reason``: the answer when one can be sent
    (the message had enough headers to route a response), else None."""

    def __init__(self, text: str, status: int | None = 400, reason: str = "Bad Request",
                 partial: Message | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.reason = reason
        self.partial = partial


def canonical(name: str) -> str:
    """The canonical spelling of a header name (compact forms expanded)."""
    low = name.lower()
    if len(low) == 1 and low in COMPACT:
        return COMPACT[low]
    return _CANON.get(low, name)


class Message:
    """One SIP request or response. Headers keep their order; names are canonical."""

    __slots__ = ("method", "uri", "status", "reason", "headers", "body")

    def __init__(self, method: str | None = None, uri: str | None = None, status: int = 0,
                 reason: str = "", headers: list[list[str]] | None = None, body: bytes = b"") -> None:
        self.method = method
        self.uri = uri
        self.status = status
        self.reason = reason
        self.headers: list[list[str]] = headers if headers is not None else []
        self.body = body

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str, default: str | None = None) -> str | None:
        low = canonical(name).lower()
        for h in self.headers:
            if h[0].lower() == low:
                return h[1]
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, comma-joined list headers split."""
        low = canonical(name).lower()
        out: list[str] = []
        for h in self.headers:
            if h[0].lower() == low:
                if low in _LIST_HEADERS:
                    out.extend(split_commas(h[1]))
                else:
                    out.append(h[1])
        return out

    def add(self, name: str, value: str) -> None:
        self.headers.append([canonical(name), value])

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header by one (appended where the first one was)."""
        name = canonical(name)
        low = name.lower()
        for i, h in enumerate(self.headers):
            if h[0].lower() == low:
                self.headers[i] = [name, value]
                self.headers[i + 1:] = [x for x in self.headers[i + 1:] if x[0].lower() != low]
                return
        self.headers.append([name, value])

    def remove(self, name: str) -> None:
        low = canonical(name).lower()
        self.headers = [h for h in self.headers if h[0].lower() != low]

    # -- the fields every layer needs --------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        num, _, method = (self.get("CSeq") or "").strip().partition(" ")
        return int(num), method.strip()

    @property
    def branch(self) -> str:
        via = self.get_all("Via")
        return parse_via(via[0])[3].get("branch", "") if via else ""

    def from_tag(self) -> str:
        return parse_name_addr(self.get("From") or "").params.get("tag", "")

    def to_tag(self) -> str:
        return parse_name_addr(self.get("To") or "").params.get("tag", "")

    def __repr__(self) -> str:
        first = f"{self.method} {self.uri}" if self.is_request else f"{self.status} {self.reason}"
        return f"<SIP {first} Call-ID={self.call_id!r}>"


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    out, cur, quote, angle, i = [], [], False, False, 0
    while i < len(value):
        ch = value[i]
        if quote:
            if ch == "\\" and i + 1 < len(value):
                cur.append(value[i:i + 2])
                i += 2
                continue
            if ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            item = "".join(cur).strip()
            if item:
                out.append(item)
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    item = "".join(cur).strip()
    if item:
        out.append(item)
    return out


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        out[name.strip().lower()] = value.strip().strip('"')
    return out


class Uri:
    """``scheme:user:password@host:port;params?headers`` (RFC 3261 §19.1)."""

    __slots__ = ("scheme", "user", "password", "host", "port", "params", "headers")

    def __init__(self, scheme: str = "sip", user: str = "", host: str = "", port: int = 0,
                 params: dict[str, str] | None = None, password: str = "", headers: str = "") -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else {}
        self.headers = headers

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    def __str__(self) -> str:
        userinfo = ""
        if self.user:
            userinfo = self.user + (f":{self.password}" if self.password else "") + "@"
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{self.scheme}:{userinfo}{self.hostport}{params}" + (f"?{self.headers}" if self.headers else "")


def parse_uri(text: str) -> Uri:
    """:raises ValueError: not a sip/sips/tel URI with a host."""
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        raise ValueError(f"not a SIP URI: {text!r}")
    rest, _, headers = rest.partition("?")
    main, _, params = rest.partition(";")
    user = password = ""
    if "@" in main:
        userinfo, _, main = main.rpartition("@")
        user, _, password = userinfo.partition(":")
    host, port = main, 0
    if main.startswith("["):
        end = main.find("]")
        if end < 0:
            raise ValueError(f"bad IPv6 host in {text!r}")
        host, tail = main[:end + 1], main[end + 1:]
        if tail.startswith(":"):
            port = int(tail[1:])
    elif ":" in main:
        host, _, p = main.partition(":")
        port = int(p)
    if not host and scheme.lower() != "tel":
        raise ValueError(f"SIP URI without a host: {text!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return Uri(scheme.lower(), user, host, port, _params(params), password, headers)


class NameAddr:
    """``"display" <uri>;params`` or ``uri;params`` (From, To, Contact, Route)."""

    __slots__ = ("display", "uri", "params", "raw_uri")

    def __init__(self, display: str, raw_uri: str, params: dict[str, str]) -> None:
        self.display = display
        self.raw_uri = raw_uri
        self.params = params
        try:
            self.uri: Uri | None = parse_uri(raw_uri) if raw_uri != "*" else None
        except ValueError:
            self.uri = None

    def __str__(self) -> str:
        disp = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{disp}<{self.raw_uri}>{params}"


def parse_name_addr(text: str) -> NameAddr:
    text = text.strip()
    lt = text.find("<")
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            gt = len(text)
        display = text[:lt].strip().strip('"').strip()
        return NameAddr(display, text[lt + 1:gt].strip(), _params(text[gt + 1:]))
    # addr-spec without brackets: its params are header params (RFC 3261 §20.10)
    uri, _, params = text.partition(";")
    return NameAddr("", uri.strip(), _params(params))


def parse_via(value: str) -> tuple[str, str, int, dict[str, str]]:
    """``SIP/2.0/UDP host:port;branch=…`` → ``(transport, host, port, params)``."""
    proto, _, rest = value.strip().partition(" ")
    transport = proto.rpartition("/")[2].upper()
    sent_by, _, params = rest.strip().partition(";")
    sent_by = sent_by.strip()
    host, port = sent_by, 0
    if sent_by.startswith("["):
        end = sent_by.find("]")
        host = sent_by[:end + 1]
        if sent_by[end + 1:end + 2] == ":":
            port = int(sent_by[end + 2:] or 0)
    elif ":" in sent_by:
        host, _, p = sent_by.partition(":")
        port = int(p or 0)
    return transport, host, port, _params(params)


def parse(data: bytes) -> Message:
    """Parse one SIP message (a whole UDP datagram).

    :raises ParseError: not SIP, or SIP we must refuse; ``status`` says which answer fits.
    """
    if len(data) > MAX_MESSAGE:
        raise ParseError(f"message of {len(data)} bytes is larger than {MAX_MESSAGE}", 513,
                         "Message Too Large")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise ParseError("no blank line after the headers (truncated message?)", None)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError as e:  # pragma: no cover - latin-1 decodes any byte
            raise ParseError(f"undecodable headers: {e}", None) from e
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # RFC 3261 §7.5: ignore leading CRLFs (keep-alives)
    if not lines:
        raise ParseError("empty message", None)
    first = lines[0].strip()
    msg = Message()
    m = _STATUS_LINE.match(first)
    if m:
        msg.status = int(m.group(1))
        msg.reason = m.group(2)
    else:
        m = _REQUEST_LINE.match(first)
        if not m:
            raise ParseError(f"not a SIP request or status line: {first[:80]!r}", None)
        msg.method = m.group(1).upper()
        msg.uri = m.group(2)
    if len(lines) - 1 > MAX_HEADERS:
        raise ParseError(f"{len(lines) - 1} header lines (at most {MAX_HEADERS})", None)
    headers = msg.headers
    for line in lines[1:]:
        if len(line) > MAX_HEADER_LINE:
            raise ParseError(f"a header line of {len(line)} characters (at most {MAX_HEADER_LINE})",
                             None)
        if line[:1] in (" ", "\t"):
            if not headers:
                raise ParseError("a continuation line before any header", None)
            headers[-1][1] += " " + line.strip()  # RFC 3261 §7.3.1 folding
            continue
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise ParseError(f"malformed header line {line[:80]!r}", None)
        headers.append([canonical(name), value.strip()])
    # the headers a response is routed with: without them nobody can be answered
    for need in ("Via", "Call-ID", "CSeq", "From", "To"):
        if msg.get(need) is None:
            raise ParseError(f"no {need} header", None)
    try:
        num, method = msg.cseq
    except ValueError:
        raise ParseError(f"bad CSeq {msg.get('CSeq')!r}", 400, "Bad CSeq", msg) from None
    if not method or not 0 <= num < 2 ** 31 or (msg.method and method.upper() != msg.method
                                                and msg.method not in ("ACK", "CANCEL")):
        raise ParseError(f"CSeq {msg.get('CSeq')!r} does not match the request", 400, "Bad CSeq",
                         msg)
    if msg.method in ("ACK", "CANCEL") and method.upper() not in (msg.method, "INVITE"):
        raise ParseError(f"CSeq {msg.get('CSeq')!r} does not match {msg.method}", 400, "Bad CSeq",
                         msg)
    try:
        parse_via(msg.get_all("Via")[0])
    except (ValueError, IndexError):
        raise ParseError(f"bad Via {msg.get('Via')!r}", None) from None
    clen = msg.get("Content-Length")
    if clen is not None:
        try:
            n = int(clen)
            if n < 0:
                raise ValueError
        except ValueError:
            raise ParseError(f"bad Content-Length {clen!r}", 400, "Bad Content-Length", msg) from None
        if n > len(body):
            # RFC 3261 §18.3: over UDP a short body is an error answered with 400
            raise ParseError(f"Content-Length {n} but {len(body)} body bytes", 400,
                             "Bad Content-Length", msg)
        body = body[:n]
    msg.body = body
    return msg


def serialize(msg: Message) -> bytes:
    """The wire form; ``Content-Length`` is set from the body (and put last)."""
    if msg.is_request:
        first = f"{msg.method} {msg.uri} SIP/2.0"
    else:
        first = f"SIP/2.0 {msg.status} {msg.reason}"
    parts = [first]
    for name, value in msg.headers:
        if name == "Content-Length":
            continue
        parts.append(f"{name}: {value}")
    parts.append(f"Content-Length: {len(msg.body)}")
    return ("\r\n".join(parts) + "\r\n\r\n").encode("utf-8") + msg.body


def response_to(req: Message, status: int, reason: str, to_tag: str | None = None) -> Message:
    """A response to ``req`` (RFC 3261 §8.2.6): Via, From, To (+ tag), Call-ID, CSeq copied."""
    res = Message(status=status, reason=reason)
    for h in req.headers:
        low = h[0].lower()
        if low == "via":
            res.headers.extend([["Via", v] for v in split_commas(h[1])])
        elif low in ("from", "call-id", "cseq", "record-route"):
            res.headers.append([h[0], h[1]])
        elif low == "to":
            value = h[1]
            if to_tag and "tag=" not in value.lower():
                value = f"{value};tag={to_tag}"
            res.headers.append(["To", value])
    return res


__all__.append("response_to")
