"""Server → client messages, byte for byte as FreeSWITCH writes them."""

from __future__ import annotations

from softswitch import Event, LogLine

from .framing import _speedups

#: ``_speedups.plain(headers, body, framed)``: the UTF-8 bytes of ``Event._plain()`` (framed:
#: after the Content-Length and Content-Type lines of event_message), or None (no C)
_c_plain = _speedups.plain if _speedups is not None else None

AUTH_REQUEST = b"Content-Type: auth/request\n\n"
RUDE_REJECTION = (b"Content-Type: text/rude-rejection\nContent-Length: 24\n\n"
                  b"Access Denied, go away.\n")

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTTING_DOWN = "The system is being shut down.\n"
LOST_EVENTS = "killed listener because of lost events\n"
LOST_LOGS = "killed listener because of lost log lines\n"

#: FreeSWITCH formats replies into a 512-byte buffer: longer Reply-Text is cut to 511 bytes.
REPLY_MAX = 511


def command_reply(reply: str) -> bytes:
    """A ``command/reply``; a reply starting with ``~`` is sent raw after the Content-Type."""
    if reply.startswith("~"):
        return b"Content-Type: command/reply\n" + reply[1:].encode()
    data = reply.encode()[:REPLY_MAX]
    return b"Content-Type: command/reply\nReply-Text: " + data + b"\n\n"


def api_response(body: str) -> bytes:
    data = body.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(data), data)


def disconnect_notice(text: str = GOODBYE, session_uuid: str | None = None) -> bytes:
    data = text.encode()
    if session_uuid:
        return (b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\n"
                b"Content-Disposition: disconnect\nContent-Length: %d\n\n%s"
                % (session_uuid.encode(), len(data), data))
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s" % (len(data), data)


_CONTENT_TYPES = {"plain": b"text/event-plain", "json": b"text/event-json", "xml": b"text/event-xml"}


def event_message(event: Event, fmt: str) -> bytes:
    """``Content-Length`` first, then ``Content-Type``, then the serialized event.

    Cached on the (frozen) event: every listener that wants this format shares these bytes.
    Plain events are serialized by the C extension when it is built; ``event.serialize`` does
    it otherwise, and for what the C code refuses (a header that is not a (str, str | list of
    str) tuple, lone surrogates), which then raises the same error or gives the same text.
    """
    key = ("esl", fmt)
    cache = event.cache
    data = cache.get(key)
    if data is None:
        if fmt == "plain" and _c_plain is not None:
            try:  # the whole message, framing lines included, in one allocation
                data = _c_plain(event.headers, event.body, True)
            except (TypeError, ValueError):
                pass
        if data is None:
            body = event.serialize(fmt).encode()
            data = b"Content-Length: %d\nContent-Type: %s\n\n%s" % (len(body), _CONTENT_TYPES[fmt], body)
        if event.frozen:
            cache[key] = data
    return data


def log_message(line: LogLine) -> bytes:
    body = line.text.encode()
    return (b"Content-Type: log/data\nContent-Length: %d\nLog-Level: %d\nText-Channel: %d\n"
            b"Log-File: %s\nLog-Func: %s\nLog-Line: %d\nUser-Data: %s\n\n%s"
            % (len(body), line.level, line.channel, line.file.encode(), line.func.encode(),
               line.line, line.user_data.encode(), body))
