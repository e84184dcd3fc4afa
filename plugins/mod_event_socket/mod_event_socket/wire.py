"""Server → client messages, byte for byte as FreeSWITCH writes them.

Text goes out through :func:`softswitch.wire_bytes`: bytes a client sent that are not UTF-8
(kept as lone surrogates) go back exactly as they came, in replies as in events.
"""

from __future__ import annotations

from softswitch import Event, LogLine, wire_bytes

AUTH_REQUEST = b"Content-Type: auth/request\n\n"
RUDE_REJECTION = (b"Content-Type: text/rude-rejection\nContent-Length: 24\n\n"
                  b"Access Denied, go away.\n")

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTTING_DOWN = "The system is being shut down.\n"
LOST_EVENTS = "killed listener because of lost events\n"
LOST_LOGS = "killed listener because of lost log lines\n"
#: softswitch's (FreeSWITCH has no limit): the refusal when max-connections are open
TOO_MANY = "Too many connections (max-connections %d); try again later.\n"

#: FreeSWITCH formats replies into a 512-byte buffer: longer Reply-Text is cut to 511 bytes.
REPLY_MAX = 511


def command_reply(reply: str) -> bytes:
    """A ``command/reply``; a reply starting with ``~`` is sent raw after the Content-Type."""
    if reply.startswith("~"):
        return b"Content-Type: command/reply\n" + wire_bytes(reply[1:])
    data = wire_bytes(reply)[:REPLY_MAX]
    return b"Content-Type: command/reply\nReply-Text: " + data + b"\n\n"


def api_response(body: str) -> bytes:
    data = wire_bytes(body)
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(data), data)


def disconnect_notice(text: str = GOODBYE, session_uuid: str | None = None) -> bytes:
    data = wire_bytes(text)
    if session_uuid:
        return (b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\n"
                b"Content-Disposition: disconnect\nContent-Length: %d\n\n%s"
                % (session_uuid.encode(), len(data), data))
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n%s" % (len(data), data)


def event_message(event: Event, fmt: str) -> bytes:
    """``Content-Length`` first, then ``Content-Type``, then the serialized event: the kernel's
    :meth:`Event.encode` (cached on the frozen event, shared by every listener of ``fmt``)."""
    return event.encode(fmt, True)


#: The start of every log line's message (events start with their Content-Length).
LOG_DATA = b"Content-Type: log/data\n"


def log_message(line: LogLine) -> bytes:
    body = wire_bytes(line.text)
    return (LOG_DATA + b"Content-Length: %d\nLog-Level: %d\nText-Channel: %d\n"
            b"Log-File: %s\nLog-Func: %s\nLog-Line: %d\nUser-Data: %s\n\n%s"
            % (len(body), line.level, line.channel, wire_bytes(line.file),
               wire_bytes(line.func), line.line, wire_bytes(line.user_data), body))
