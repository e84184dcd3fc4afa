"""A small blocking Event Socket client (stdlib sockets), as FreeSWITCH's libs/esl reads the wire.

Used by ``softswitch-cli``, the tests and the benchmarks; it works against FreeSWITCH too::

    with ESLClient("127.0.0.1", 8021, "ClueCon") as esl:
        print(esl.api("status"))
        esl.command("event plain HEARTBEAT")
        ev = esl.next_event(timeout=30)
        print(ev.event_headers()["Event-Name"])

Messages keep their raw bytes (``raw``); header values are available raw and URL-decoded.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from urllib.parse import unquote

__all__ = ["ESLClient", "ESLMessage", "ESLError", "AuthError"]


class ESLError(Exception):
    """The connection failed or was closed."""


class AuthError(ESLError):
    """The server refused the password (``-ERR invalid``) or the client (ACL)."""


class ESLMessage:
    """One server message: ordered headers, body bytes, and the raw bytes as received."""

    __slots__ = ("headers", "body", "raw")

    def __init__(self, headers: list[tuple[str, str]], body: bytes, raw: bytes) -> None:
        self.headers = headers
        self.body = body
        self.raw = raw

    def get(self, name: str, default: str | None = None, decode: bool = True) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return unquote(v) if decode else v
        return default

    @property
    def content_type(self) -> str:
        return self.get("Content-Type", "") or ""

    @property
    def reply_text(self) -> str:
        return self.get("Reply-Text", "") or ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def event_headers(self) -> dict[str, str]:
        """For ``text/event-plain``: the inner headers, URL-decoded (first of duplicates)."""
        head = self.body.split(b"\n\n", 1)[0].decode("utf-8", "replace")
        out: dict[str, str] = {}
        for line in head.split("\n"):
            name, sep, value = line.partition(": ")
            if sep and name not in out:
                out[name] = unquote(value)
        return out

    def event_body(self) -> str | None:
        """For ``text/event-plain``: the event's own body (after its inner Content-Length)."""
        parts = self.body.split(b"\n\n", 1)
        if len(parts) < 2 or b"Content-Length:" not in parts[0]:
            return None
        return parts[1].decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<ESLMessage {self.content_type} {self.reply_text or len(self.body)}>"


class ESLClient:
    """A blocking Event Socket client. Events arriving while a command waits for its reply are
    queued for :meth:`next_event`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8021, password: str | None = "ClueCon",
                 timeout: float = 10.0, connect: bool = True, sockmod=socket,
                 source: str | None = None) -> None:
        """:param sockmod: the socket module (``gevent.socket`` inside a gevent program).
        :param source: local address to connect from (e.g. ``127.0.0.2``)."""
        self.sockmod = sockmod
        self.source = source
        self.host = host
        self.port = port
        self.password = password
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.events: deque[ESLMessage] = deque()
        if connect:
            self.connect()

    def __enter__(self) -> ESLClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection -----------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self.sock = self.sockmod.create_connection(
                (self.host, self.port), timeout=self.timeout,
                source_address=(self.source, 0) if self.source else None)
        except OSError as e:
            raise ESLError(f"cannot connect to {self.host}:{self.port}: {e.strerror or e}") from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = self.recv()
        if first.content_type == "text/rude-rejection":
            raise AuthError(f"{self.host}:{self.port} refused this client: {first.text.strip()}")
        if first.content_type != "auth/request":
            raise ESLError(f"expected auth/request, got {first.content_type or first.raw[:60]!r}")
        if self.password is not None:
            reply = self.command(f"auth {self.password}")
            if not reply.reply_text.lower().startswith("+ok accepted"):
                raise AuthError(f"authentication failed: {reply.reply_text}")

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    # -- raw I/O --------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        if self.sock is None:
            raise ESLError("not connected")
        self.sock.sendall(data)

    def send(self, cmd: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
             body: str | bytes | None = None) -> None:
        """Send a command as ESL clients do: ``cmd\\n[headers]\\n[body]``."""
        lines = [cmd]
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        lines += [f"{k}: {v}" for k, v in items]
        data = body.encode() if isinstance(body, str) else body
        if data:
            lines.append(f"Content-Length: {len(data)}")
        self.send_raw(("\n".join(lines) + "\n\n").encode() + (data or b""))

    def _fill(self, timeout: float | None) -> None:
        if self.sock is None:
            raise ESLError("not connected")
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(262144)
        except TimeoutError:
            raise
        except OSError as e:
            raise ESLError(f"connection error: {e}") from e
        if not chunk:
            raise ESLError("connection closed by the server")
        self.buf += chunk

    def recv(self, timeout: float | None = -1.0) -> ESLMessage:
        """The next message of any kind (raises TimeoutError after ``timeout`` seconds)."""
        if timeout == -1.0:
            timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end, skip = -1, 0
            i = self.buf.find(b"\n\n")
            j = self.buf.find(b"\n\r\n")
            if i >= 0 and (j < 0 or i <= j):
                end, skip = i, 2
            elif j >= 0:
                end, skip = j, 3
            if end >= 0:
                head = bytes(self.buf[:end])
                headers = []
                for line in head.decode("utf-8", "replace").split("\n"):
                    name, sep, value = line.rstrip("\r").partition(":")
                    if sep:
                        headers.append((name, value.lstrip(" \t")))
                length = 0
                for k, v in headers:
                    if k.lower() == "content-length":
                        length = int(v.strip() or 0)
                total = end + skip + length
                if len(self.buf) >= total:
                    raw = bytes(self.buf[:total])
                    body = raw[end + skip:]
                    del self.buf[:total]
                    return ESLMessage(headers, body, raw)
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if left == 0.0:
                raise TimeoutError("no complete message from the server in time")
            self._fill(left)

    # -- commands -------------------------------------------------------------------------------
    def command(self, cmd: str, headers=None, body=None, timeout: float | None = -1.0) -> ESLMessage:
        """Send a command and return its reply (``command/reply`` or ``api/response``)."""
        self.send(cmd, headers, body)
        return self.reply(timeout)

    def reply(self, timeout: float | None = -1.0) -> ESLMessage:
        while True:
            msg = self.recv(timeout)
            if msg.content_type in ("command/reply", "api/response"):
                return msg
            if msg.content_type == "text/disconnect-notice" and msg.body:
                self.events.append(msg)
                raise ESLError(f"disconnected: {msg.text.strip()}")
            self.events.append(msg)

    def api(self, cmd: str, timeout: float | None = -1.0) -> str:
        return self.command(f"api {cmd}", timeout=timeout).text

    def bgapi(self, cmd: str, job_uuid: str | None = None) -> str:
        reply = self.command(f"bgapi {cmd}", {"Job-UUID": job_uuid} if job_uuid else None)
        return reply.get("Job-UUID") or ""

    def next_event(self, timeout: float | None = -1.0) -> ESLMessage:
        """The next event or log message (queued ones first)."""
        if self.events:
            return self.events.popleft()
        return self.recv(timeout)
