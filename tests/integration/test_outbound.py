"""Outbound Event Socket (issue #17) against a real ``softswitch`` process.

Calls are originated over an inbound connection (``originate null/1000 'socket:…' inline``);
the ``socket`` application connects them to outbound ESL servers run here: greenswitch's
(gevent) and genesis's (asyncio) from PyPI, unchanged, and raw sockets for the byte-level
facts and the misbehaving clients (spec dialplan-apps §4–5).
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import socket
import sys
import threading
import time
import urllib.parse

import gevent
import gevent.event
import greenswitch
import pytest

# (--import-mode=importlib: the sibling module with the raw inbound client is found by path)
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from test_calls import ESL, parse_plain  # noqa: E402

TIMEOUT = 20.0
TONE = "tone_stream://%(200,0,440)"


def _listen() -> socket.socket:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(TIMEOUT)
    return srv


def _originate(esl: ESL, port: int, flags: str = "async full", vars_: str = "") -> str:
    prefix = "{" + vars_ + "}" if vars_ else ""
    out = esl.api(f"originate {prefix}null/1000 'socket:127.0.0.1:{port} {flags}' inline")
    assert out.startswith("+OK "), out
    return out[4:].strip()


def _wait_gone(esl: ESL, uuid: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while esl.api(f"uuid_exists {uuid}").strip() == "true":
        assert time.monotonic() < deadline, f"call {uuid} still exists after {timeout} s"
        time.sleep(0.02)  # polling a condition, bounded by the deadline


class Raw:
    """One outbound connection seen from the ESL server side, byte for byte."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.backlog: list = []

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n\n")

    def message(self) -> tuple[dict, bytes, bytes]:
        """(headers, body, the raw bytes of the whole message); events :meth:`reply` skipped
        come first."""
        if self.backlog:
            return self.backlog.pop(0)
        return self._read()

    def _read(self) -> tuple[dict, bytes, bytes]:
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        raw, _, rest = self.buf.partition(b"\n\n")
        head = dict(line.split(": ", 1) for line in raw.decode().split("\n") if ": " in line)
        n = int(head.get("Content-Length", 0))
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        self.buf = rest[n:]
        return head, rest[:n], raw + b"\n\n" + rest[:n]

    def reply(self) -> dict:
        """The next reply; the events before it are kept for :meth:`message`."""
        while True:
            msg = self._read()
            if msg[0].get("Content-Type") in ("command/reply", "api/response"):
                return msg[0]
            self.backlog.append(msg)

    def until(self, pred, seen: list | None = None):
        while True:
            head, body, raw = self.message()
            if seen is not None:
                seen.append((head, body, raw))
            if pred(head, body):
                return head, body, raw


def _event_name(head: dict, body: bytes) -> str | None:
    if head.get("Content-Type") != "text/event-plain":
        return None
    return dict(parse_plain(body.decode())).get("Event-Name")


@pytest.fixture(scope="module")
def esl(routing_system):
    client = ESL(routing_system.port)
    yield client
    client.close()


# ---------------------------------------------------------------------------------------------
# byte-level facts with a raw server
# ---------------------------------------------------------------------------------------------
def test_connect_reply_myevents_execute_and_hangup_notice(esl, routing_system):
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        head, body, raw = r.message()
        result["connect"] = (head, raw)
        r.send("myevents")
        result["myevents"] = r.reply()
        r.send("getvar caller_id_number")  # a caller profile field
        result["getvar"] = r.reply()
        r.send("getvar no_such_variable")
        result["getvar_unset"] = r.reply()
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: set\nexecute-app-arg: foo=bar\n"
               "Event-UUID: my-app-uuid")
        result["sendmsg"] = r.reply()
        seen: list = []
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE", seen)
        result["execute_events"] = [dict(parse_plain(b.decode())) for h, b, _ in seen
                                    if h.get("Content-Type") == "text/event-plain"]
        r.send("getvar foo")
        result["foo"] = r.reply()
        r.send("api version short")
        result["api"] = r.message()[1]
        r.send("sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY")
        result["hangup"] = r.reply()
        seen = []
        try:
            r.until(lambda h, b: h.get("Content-Type") == "text/disconnect-notice", seen)
        except ConnectionError:
            pass
        result["end"] = seen
        result["eof"] = conn.recv(10) == b""
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    assert not t.is_alive()
    head, raw = result["connect"]
    assert head["Content-Type"] == "command/reply"
    assert head["Reply-Text"] == "%2BOK%0A"
    assert head["Socket-Mode"] == "async" and head["Control"] == "full"
    assert head["Event-Name"] == "CHANNEL_DATA"
    assert head["Event-Calling-Function"] == "parse_command"
    assert head["Unique-ID"] == uuid and head["Channel-Unique-ID"] == uuid
    assert head["variable_current_application"] == "socket"
    # order: the Channel- profile block, the channel data, then the reply headers last
    keys = [line.split(": ", 1)[0] for line in raw.decode().split("\n") if ": " in line]
    assert keys[-4:] == ["Content-Type", "Reply-Text", "Socket-Mode", "Control"]
    assert keys.index("Channel-Direction") < keys.index("Channel-State") < keys.index("Unique-ID")
    assert raw.endswith(b"Control: full\n\n")
    assert result["myevents"]["Reply-Text"] == "+OK Events Enabled"
    assert result["getvar"]["Reply-Text"] == "1000"
    assert result["getvar_unset"]["Reply-Text"] == "-ERR command not found"
    assert result["sendmsg"]["Reply-Text"] == "+OK"
    names = [e["Event-Name"] for e in result["execute_events"]]
    assert names[-2:] == ["CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"]
    done = result["execute_events"][-1]
    assert done["Application"] == "set" and done["Application-UUID"] == "my-app-uuid"
    assert result["execute_events"][-2]["Application-UUID"] == "my-app-uuid"
    assert all(e["Unique-ID"] == uuid for e in result["execute_events"])
    assert result["foo"]["Reply-Text"] == "bar"
    assert result["api"] == b"1.10.12\n"
    assert result["hangup"]["Reply-Text"] == "+OK"
    end = result["end"]
    events = [_event_name(h, b) for h, b, _ in end if h.get("Content-Type") == "text/event-plain"]
    assert "CHANNEL_HANGUP" in events and events[-1] == "CHANNEL_HANGUP_COMPLETE"
    assert "CHANNEL_DESTROY" not in events  # the listener holds the session until it closes
    hangup = next(dict(parse_plain(b.decode())) for h, b, _ in end
                  if _event_name(h, b) == "CHANNEL_HANGUP")
    assert hangup["Hangup-Cause"] == "USER_BUSY"
    assert end[-1][2] == (
        b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: " + uuid.encode() +
        b"\nContent-Disposition: disconnect\nContent-Length: 67\n\n"
        b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
    assert result["eof"]
    _wait_gone(esl, uuid)


def test_single_channel_refuses_the_rest_and_linger_notice(esl):
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        head, _, _ = r.message()
        result["mode"] = (head["Socket-Mode"], head["Control"])
        for cmd in ("api status", "event plain ALL", "linger", "sendevent CUSTOM"):
            r.send(cmd)
            result[cmd] = r.reply()["Reply-Text"]
        r.send("divert_events")
        result["divert_missing"] = r.reply()["Reply-Text"]
        r.send("divert_events on")
        result["divert_on"] = r.reply()["Reply-Text"]
        r.send("divert_events off")
        result["divert_off"] = r.reply()["Reply-Text"]
        r.send("resume")
        result["resume"] = r.reply()["Reply-Text"]
        r.send("myevents")
        r.reply()
        r.send("myevents")
        result["again"] = r.reply()["Reply-Text"]
        r.send("sendmsg 00000000-0000-0000-0000-000000000000\ncall-command: hangup")
        result["other"] = r.reply()["Reply-Text"]
        r.send("exit")
        result["exit"] = r.reply()["Reply-Text"]
        _, _, raw = r.message()
        result["notice"] = raw
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port, flags="async")
    t.join(TIMEOUT)
    srv.close()
    assert result["mode"] == ("async", "single-channel")
    for cmd in ("api status", "event plain ALL", "linger", "sendevent CUSTOM"):
        assert result[cmd] == "-ERR command not found", cmd
    assert result["divert_missing"] == "-ERR missing value."
    assert result["divert_on"] == "+OK events diverted"
    assert result["divert_off"] == "+OK events not diverted"
    assert result["resume"] == "+OK"
    assert result["again"] == "-ERR aready enabled."
    assert result["other"] == "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"
    assert result["exit"] == "+OK bye"
    assert result["notice"].startswith(b"Content-Type: text/disconnect-notice\n"
                                       b"Controlled-Session-UUID: " + uuid.encode())
    # the listener ended: the park returns, the inline dialplan's last action is done: hangup
    _wait_gone(esl, uuid)


def test_linger_keeps_the_socket_then_closes(esl):
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("linger 1")
        result["linger"] = r.reply()["Reply-Text"]
        r.send("sendmsg\ncall-command: hangup")
        r.reply()
        head, _, raw = r.until(lambda h, b: h.get("Content-Type") == "text/disconnect-notice")
        result["linger_notice"] = raw
        t0 = time.monotonic()
        r.send("api version short")  # the socket stays usable while lingering
        result["api"] = r.message()[1]
        _, _, raw = r.until(lambda h, b: h.get("Content-Type") == "text/disconnect-notice")
        result["closed_after"] = time.monotonic() - t0
        result["final"] = raw
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    assert result["linger"] == "+OK will linger 1 seconds"
    assert result["linger_notice"] == (
        b"Content-Type: text/disconnect-notice\nControlled-Session-UUID: " + uuid.encode() +
        b"\nContent-Disposition: linger\nChannel-Name: null/1000\nLinger-Time: 1\n"
        b"Content-Length: 0\n\n")
    assert result["api"] == b"1.10.12\n"
    assert b"Content-Disposition: disconnect\n" in result["final"]
    _wait_gone(esl, uuid)


def test_sync_mode_runs_sendmsg_inline(esl):
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        head, _, _ = r.message()
        result["mode"] = head["Socket-Mode"]
        r.send("linger")
        result["linger"] = r.reply()["Reply-Text"]
        r.send("nolinger")
        result["nolinger"] = r.reply()["Reply-Text"]
        r.send("myevents")
        r.reply()
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: sleep\nexecute-app-arg: 300")
        t0 = time.monotonic()
        # sync: the reply comes when the app is done, and its events after the reply
        seen: list = []
        r.until(lambda h, b: h.get("Content-Type") == "command/reply", seen)
        result["took"] = time.monotonic() - t0
        result["before_reply"] = [_event_name(h, b) for h, b, _ in seen[:-1]]
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE")
        r.send("exit")
        result["exit"] = r.reply()["Reply-Text"]
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port, flags="full")
    t.join(TIMEOUT)
    srv.close()
    assert result["mode"] == "static"
    assert result["linger"] == "+OK will linger"
    assert result["nolinger"] == "+OK will not linger"
    assert result["took"] >= 0.29
    assert "CHANNEL_EXECUTE_COMPLETE" not in result["before_reply"]
    assert result["exit"] == "+OK bye"
    _wait_gone(esl, uuid)


def test_inbound_session_commands(esl, routing_system):
    out = esl.api("originate null/1000 &park()")
    uuid = out[4:].strip()
    other = ESL(routing_system.port)
    try:
        # no bound session
        assert other.command("getvar x")[0]["Reply-Text"] == "-ERR command not found"
        assert other.command("resume")[0]["Reply-Text"] == "-ERR command not found"
        assert other.command("connect")[0]["Reply-Text"] == "-ERR command not found"
        assert other.command("divert_events on")[0]["Reply-Text"] == \
            "-ERR not controlling a session."
        assert other.command("linger 10")[0]["Reply-Text"] == "-ERR not controlling a session"
        assert other.command("nolinger")[0]["Reply-Text"] == "-ERR not controlling a session"
        assert other.command("sendmsg")[0]["Reply-Text"] == "-ERR invalid session id []"
        assert other.command("myevents nosuch json")[0]["Reply-Text"] == "-ERR invalid uuid"
        # bind to the live call
        assert other.command(f"myevents {uuid}")[0]["Reply-Text"] == "+OK Events Enabled"
        assert other.command("getvar caller_id_number")[0]["Reply-Text"] == "1000"
        head, _ = other.command("connect")
        assert head["Socket-Mode"] == "async" and head["Control"] == "single-channel"
        assert other.command("divert_events on")[0]["Reply-Text"] == "+OK events diverted"
        reply = other.command(f"sendmsg {uuid}\ncall-command: execute\nexecute-app-name: set\n"
                              "execute-app-arg: x=1\nEvent-UUID: inbound-1")[0]
        assert reply["Reply-Text"] == "+OK"
        ev = other.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE")
        assert dict(ev)["Application-UUID"] == "inbound-1"
        assert esl.api(f"uuid_getvar {uuid} x").strip() == "1"
        esl.api(f"uuid_kill {uuid}")
        other.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_HANGUP")
        # the bound listener is closed when the call hangs up (no linger)
        assert other.closed.wait(TIMEOUT)
    finally:
        other.sock.close()
    _wait_gone(esl, uuid)


# ---------------------------------------------------------------------------------------------
# clients that misbehave: nothing is left parked, the server keeps serving
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "flags"), [
    ("disconnect", "async full"), ("silent", "async full"), ("garbage", "async full"),
    ("binary", "async full"),
    # sync: no connect is needed (a client sending commands is in control), but a client that
    # goes away, says nothing or breaks the framing ends the socket application too
    ("disconnect", "full"), ("silent", "full"), ("binary", "full")])
def test_bad_clients_leave_nothing_parked(esl, routing_system, kind, flags):
    srv = _listen()
    port = srv.getsockname()[1]
    held: list = []

    def server():
        conn, _ = srv.accept()
        if kind == "disconnect":
            conn.close()
            return
        if kind == "garbage":
            conn.sendall(b"hello there\n\nwho are you\n\n")
        elif kind == "binary":
            conn.sendall(b"\xff\xfe\x00garbage\nContent-Length: -7\n\n")
        held.append(conn)  # keep it open: only the server side may end it

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port, flags=flags, vars_="socket_handshake_timeout=1")
    t.join(TIMEOUT)
    _wait_gone(esl, uuid)
    srv.close()
    log = routing_system.log_text()
    assert re.search(r"outbound socket 127\.0\.0\.1:%d (ended before any command was read|"
                     r"sent no (command|connect) within 1 s)" % port, log), log[-3000:]
    for conn in held:
        conn.close()
    assert esl.api("status").startswith("UP ")
    assert esl.api("show channels count").strip().startswith("0 total")


def test_unreachable_host_logs_and_continues(esl, routing_system):
    port = _listen()
    p = port.getsockname()[1]
    port.close()  # nothing listens there now
    uuid = _originate(esl, p)
    _wait_gone(esl, uuid)
    assert "Socket Error: Connection refused" in routing_system.log_text()


# ---------------------------------------------------------------------------------------------
# ESL client libraries from PyPI
# ---------------------------------------------------------------------------------------------
def test_greenswitch_outbound_server(esl):
    result = gevent.event.AsyncResult()

    class App:
        def __init__(self, session):
            self.session = session

        def run(self):
            s = self.session
            try:
                s.myevents()
                s.answer()
                done = s.playback(TONE)  # waits for CHANNEL_EXECUTE_COMPLETE
                dest = s.send("getvar test_var").headers["Reply-Text"]
                s.hangup()
                result.set((s.uuid, done.headers["Application-Response"], dest))
            except Exception as e:  # noqa: BLE001 - handed to the test
                result.set_exception(e)

    with socket.socket() as probe:  # greenswitch binds the port it is given (0 is refused)
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    server = greenswitch.OutboundESLServer(bind_address="127.0.0.1", bind_port=free,
                                           application=App, max_connections=5)
    g = gevent.spawn(server.listen)
    try:
        while server.server is None or not server._running:
            gevent.sleep(0.01)  # waiting for the library's server to be listening
        port = server.server.getsockname()[1]
        uuid_box: list = []
        originator = gevent.get_hub().threadpool.spawn(
            lambda: uuid_box.append(_originate(esl, port, vars_="test_var=green")))
        uuid, response, dest = result.get(timeout=TIMEOUT)
        originator.get(timeout=TIMEOUT)
        assert uuid == uuid_box[0]
        assert response == "FILE PLAYED"  # (greenswitch decodes header values)
        assert dest == "green"
    finally:
        server.stop()
        g.kill()
    _wait_gone(esl, uuid)


def test_genesis_outbound_server(esl):
    genesis = pytest.importorskip("genesis")
    result: dict = {}
    ready = threading.Event()
    finished = threading.Event()
    box: dict = {}

    async def handler(session):
        try:
            answer = await session.sendmsg("execute", "answer", block=True, timeout=TIMEOUT)
            result["answer"] = answer.get("Application")
            done = await session.sendmsg("execute", "playback", TONE, block=True, timeout=TIMEOUT)
            result["playback"] = done.get("Application-Response")
            reply = await session.send("getvar test_var")
            result["dest"] = reply.get("Reply-Text")
            result["uuid"] = session.uuid
            await session.sendmsg("hangup", "", "NORMAL_CLEARING")
        except Exception as e:  # noqa: BLE001 - handed to the test
            result["error"] = repr(e)
        finally:
            finished.set()

    def run():
        async def main():
            app = genesis.Outbound(handler, host="127.0.0.1", port=0, events=True, linger=True)
            # genesis binds the port it is given; ask the OS for a free one first
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                app.port = s.getsockname()[1]
            await app.start(block=False)
            box["port"] = app.port
            box["loop"] = asyncio.get_running_loop()
            box["app"] = app
            ready.set()
            while not finished.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # let the session task finish its stop()
            await app.stop()

        asyncio.run(main())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(TIMEOUT)
    uuid = _originate(esl, box["port"], vars_="test_var=genesis")
    assert finished.wait(TIMEOUT)
    t.join(TIMEOUT)
    assert "error" not in result, result
    assert result["uuid"] == uuid
    assert result["answer"] == "answer"
    assert urllib.parse.unquote(result["playback"]) == "FILE PLAYED"
    assert result["dest"] == "genesis"
    _wait_gone(esl, uuid)


def test_sendmsg_details_and_correlation(esl):
    """text/plain body as the argument, loops, call-command compared on 7 bytes, event-lock
    ordering, bgapi's Job-Owner-UUID passing myevents, myevents json."""
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("myevents json")
        result["myevents"] = r.reply()["Reply-Text"]
        r.send("event json BACKGROUND_JOB")
        r.reply()
        # a body as the argument
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: set\nEvent-UUID: body-1\n"
               "content-type: text/plain\ncontent-length: 9\n\nfrom=body")
        r.reply()
        head, body, _ = r.until(lambda h, b: b'"Application-UUID":"body-1"' in b.replace(b" ", b"")
                                and b"CHANNEL_EXECUTE_COMPLETE" in b)
        result["json_type"] = head["Content-Type"]
        # loops: an iteration under 0.5 s ends the loop (FreeSWITCH's guard)
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: set\nexecute-app-arg: l=1\n"
               "loops: 3\nEvent-UUID: loop-1")
        r.reply()
        # "hangupX" is not hangup (7 bytes with the NUL), "executeX" is execute
        r.send("sendmsg\ncall-command: hangupX")
        result["hangupX"] = r.reply()["Reply-Text"]
        r.send("sendmsg\ncall-command: executeX\nexecute-app-name: set\nexecute-app-arg: x7=1\n"
               "Event-UUID: x7")
        r.reply()
        # event-lock: queued executes complete in send order
        for i in range(3):
            r.send(f"sendmsg\ncall-command: execute\nexecute-app-name: sleep\nexecute-app-arg: 20"
                   f"\nevent-lock: true\nEvent-UUID: lock-{i}")
            r.reply()
        seen: list = []
        r.until(lambda h, b: b"CHANNEL_EXECUTE_COMPLETE" in b and b"lock-2" in b, seen)
        result["completes"] = [
            m.group(1).decode() for h, b, _ in seen
            if b"CHANNEL_EXECUTE_COMPLETE" in b
            for m in [re.search(rb'"Application-UUID":\s*"([^"]+)"', b)] if m]
        r.send("bgapi version short")
        result["bgapi"] = r.reply()["Reply-Text"]
        _, body, _ = r.until(lambda h, b: b"BACKGROUND_JOB" in b)
        result["job"] = body
        r.send("getvar from")
        result["from"] = r.reply()["Reply-Text"]
        r.send("getvar x7")
        result["x7"] = r.reply()["Reply-Text"]
        r.send("exit")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    assert result["myevents"] == "+OK Events Enabled"
    assert result["json_type"] == "text/event-json"
    assert result["from"] == "body"
    assert result["hangupX"] == "+OK"
    assert result["x7"] == "1"
    assert result["completes"] == ["loop-1", "x7", "lock-0", "lock-1", "lock-2"]
    assert uuid.encode() in result["job"]  # Job-Owner-UUID: the session's own bgapi
    assert result["bgapi"].startswith("+OK Job-UUID: ")
    _wait_gone(esl, uuid)


@pytest.mark.parametrize("flags", ["async full", "full"])
def test_exit_right_after_connect_and_resume(esl, routing_system, flags):
    """FreeSWITCH's races: exit right after connect (async: the call stayed parked) and resume
    on a sync socket (the call idled in CS_RESET): here the dialplan goes on at once."""
    srv = _listen()
    port = srv.getsockname()[1]

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        conn.sendall(b"connect\n\nresume\n\nexit\n\n")
        r.message()
        try:
            while True:
                r.message()
        except (ConnectionError, OSError):
            pass
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    out = esl.api(f"originate null/1000 'socket:127.0.0.1:{port} {flags},log:INFO after-socket-"
                  f"{port}' inline")
    uuid = out[4:].strip()
    t.join(TIMEOUT)
    srv.close()
    _wait_gone(esl, uuid)
    routing_system.wait_log(f"after-socket-{port}")


def test_hangup_while_waiting_for_connect(esl, routing_system):
    srv = _listen()
    port = srv.getsockname()[1]
    got: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        got["accepted"] = True
        try:
            _, _, raw = r.message()  # nothing until the call hangs up: then the notice
            got["notice"] = raw
        except (ConnectionError, OSError):
            pass
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    deadline = time.monotonic() + TIMEOUT
    while "accepted" not in got:
        assert time.monotonic() < deadline
        time.sleep(0.01)  # polling a condition, bounded by the deadline
    assert esl.api(f"uuid_kill {uuid}").startswith("+OK")
    _wait_gone(esl, uuid, timeout=5.0)  # well within the 25 s handshake timeout
    t.join(TIMEOUT)
    srv.close()
    assert got["notice"].startswith(b"Content-Type: text/disconnect-notice\n"
                                    b"Controlled-Session-UUID: " + uuid.encode())


@pytest.mark.parametrize("flags", ["full", "async full"])
def test_an_idle_socket_is_parked_and_still_served(esl, flags):
    """An idle connection gives up its reader (mod_event_socket parks it after 1 s); a sync
    socket's reader is the call's own greenlet, which must read on when the client talks."""
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        time.sleep(2.5)  # the behaviour under test: idle for longer than the park delay
        r.send("getvar caller_id_number")
        result["getvar"] = r.reply()["Reply-Text"]
        time.sleep(2.5)
        r.send("sendmsg\ncall-command: hangup")
        result["hangup"] = r.reply()["Reply-Text"]
        try:
            r.until(lambda h, b: h.get("Content-Type") == "text/disconnect-notice")
            result["notice"] = True
        except ConnectionError:
            pass
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port, flags=flags)
    t.join(TIMEOUT)
    srv.close()
    assert result == {"getvar": "1000", "hangup": "+OK", "notice": True}
    _wait_gone(esl, uuid)


def test_xferext_transfers_the_call_to_the_given_extension(esl, routing_system):
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("myevents")
        r.reply()
        r.send(f"sendmsg\ncall-command: xferext\napplication: set xfer=yes\n"
               f"application: log INFO xferext-{port}-${{xfer}}")
        result["reply"] = r.reply()["Reply-Text"]
        seen: list = []
        try:  # the socket app ended; the listener still gets the call's events to the end
            r.until(lambda h, b: h.get("Content-Type") == "text/disconnect-notice", seen)
        except ConnectionError:
            pass
        result["apps"] = [dict(parse_plain(b.decode())).get("Application") for h, b, _ in seen
                          if _event_name(h, b) == "CHANNEL_EXECUTE"]
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    _wait_gone(esl, uuid)
    routing_system.wait_log(f"xferext-{port}-yes")
    assert result["reply"] == "+OK"
    assert result["apps"] == ["set", "log"]


def test_each_socket_gets_only_its_own_calls_events(esl):
    srv = _listen()
    port = srv.getsockname()[1]
    results: list = []
    lock = threading.Lock()
    both = threading.Barrier(2, timeout=TIMEOUT)

    def one(conn):
        r = Raw(conn)
        r.send("connect")
        head, _, _ = r.message()
        mine = head["Unique-ID"]
        r.send("myevents")
        r.reply()
        r.send("event plain BACKGROUND_JOB")
        r.reply()
        both.wait()  # both subscribed before either makes events
        r.send(f"sendmsg\ncall-command: execute\nexecute-app-name: set\nexecute-app-arg: a=1\n"
               f"Event-UUID: own-{mine}")
        r.reply()
        r.send("bgapi version short")
        r.reply()
        seen: list = []
        want = {"job": False, "done": False}

        def both_in(h, b):
            want["job"] |= b"BACKGROUND_JOB" in b
            want["done"] |= b"own-" + mine.encode() in b and b"EXECUTE_COMPLETE" in b
            return want["job"] and want["done"]
        r.until(both_in, seen)
        both.wait()  # the other's events are out too by now (or would have come before)
        r.send("exit")
        r.reply()
        events = [dict(parse_plain(b.decode())) for h, b, _ in seen + r.backlog
                  if h.get("Content-Type") == "text/event-plain"]
        with lock:
            results.append((mine, events))
        conn.close()

    def server():
        threads = []
        for _ in range(2):
            conn, _ = srv.accept()
            th = threading.Thread(target=one, args=(conn,), daemon=True)
            th.start()
            threads.append(th)
        for th in threads:
            th.join(TIMEOUT)

    t = threading.Thread(target=server, daemon=True)
    t.start()
    a = _originate(esl, port)
    b = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    assert {r[0] for r in results} == {a, b}
    for mine, events in results:
        assert events
        for e in events:
            if e["Event-Name"] == "BACKGROUND_JOB":
                assert e["Job-Owner-UUID"] == mine
            else:
                assert e["Unique-ID"] == mine
    _wait_gone(esl, a)
    _wait_gone(esl, b)


def test_sendevent_to_the_call_fired_by_it_or_diverted(esl):
    """spec §4.5: sendevent with the call's Unique-ID is queued to the call, which fires it
    with its channel data and no standard headers; with divert_events on it comes to the
    controlling socket raw."""
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        head, _, _ = r.message()
        mine = head["Unique-ID"]
        r.send("event plain CUSTOM test::queued")
        r.reply()
        r.send(f"sendevent CUSTOM\nEvent-Subclass: test::queued\nUnique-ID: {mine}\nX-A: fired")
        r.reply()
        _, body, _ = r.until(lambda h, b: b"X-A: fired" in b)
        result["fired"] = parse_plain(body.decode())
        r.send("divert_events on")
        r.reply()
        r.send(f"sendevent CUSTOM\nEvent-Subclass: test::queued\nUnique-ID: {mine}\nX-A: raw")
        r.reply()
        _, body, _ = r.until(lambda h, b: b"X-A: raw" in b)
        result["diverted"] = parse_plain(body.decode())
        result["uuid"] = mine
        r.send("exit")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    assert result["uuid"] == uuid
    fired = [k for k, _ in result["fired"]]
    assert fired[:5] == ["Event-Subclass", "Command", "Unique-ID", "X-A", "Event-UUID"]
    assert "Event-Name" not in fired and "Channel-State" in fired
    diverted = [k for k, _ in result["diverted"]]
    assert diverted == ["Command", "Unique-ID", "X-A", "Event-UUID", "Event-Subclass"]
    _wait_gone(esl, uuid)


def test_shutdown_with_a_live_outbound_call(tmp_path):
    """softswitch stopping with a call held by an outbound socket: the socket gets the
    shutdown notice for its call and the process exits cleanly."""
    import conftest as _c  # (the integration conftest, found by path like test_calls)

    system = _c.make_system(tmp_path)
    _c.add_loads(system.conf, ("mod_loopback", "mod_dptools"))
    system.start()
    srv = _listen()
    port = srv.getsockname()[1]
    got: dict = {}
    ready = threading.Event()

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        got["uuid"] = r.message()[0]["Unique-ID"]
        ready.set()
        try:
            _, body, raw = r.until(lambda h, b: h.get("Content-Type") == "text/disconnect-notice")
            got["notice"] = raw
        except (ConnectionError, OSError):
            pass
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    client = ESL(system.port)
    try:
        _originate(client, port)
        assert ready.wait(TIMEOUT)
    finally:
        client.sock.close()
    code = system.stop()
    t.join(TIMEOUT)
    srv.close()
    assert code == 0, system.out.read_text()[-3000:]
    assert got["notice"].startswith(b"Content-Type: text/disconnect-notice\n"
                                    b"Controlled-Session-UUID: " + got["uuid"].encode())


def test_outbound_connections_keep_max_connections_counted(tmp_path):
    """Outbound connections end through the same bookkeeping as inbound ones: after calls
    through the socket application, event_socket.conf's max-connections still holds."""
    import conftest as _c

    system = _c.make_system(tmp_path)
    _c.add_loads(system.conf, ("mod_loopback", "mod_dptools"))
    es_conf = system.conf / "autoload_configs" / "event_socket.conf.xml"
    es_conf.write_text(es_conf.read_text().replace(
        "</settings>", '  <param name="max-connections" value="3"/>\n  </settings>', 1))
    system.start()
    try:
        client = ESL(system.port)
        for _ in range(3):
            srv = _listen()
            port = srv.getsockname()[1]

            def server(srv=srv):
                conn, _ = srv.accept()
                conn.sendall(b"connect\n\nexit\n\n")
                while conn.recv(65536):
                    pass
                conn.close()

            t = threading.Thread(target=server, daemon=True)
            t.start()
            uuid = _originate(client, port)
            t.join(TIMEOUT)
            srv.close()
            _wait_gone(client, uuid)
        held = [ESL(system.port) for _ in range(2)]  # with `client`: 3 connections
        extra = socket.create_connection(("127.0.0.1", system.port), timeout=TIMEOUT)
        data = b""
        while True:
            chunk = extra.recv(4096)
            if not chunk:
                break
            data += chunk
        extra.close()
        assert b"Too many connections (max-connections 3)" in data
        for h in held:
            h.sock.close()
        client.sock.close()
    finally:
        system.stop()


def test_hosts_tried_in_turn_and_a_host_name(esl, routing_system):
    dead = _listen()
    dead_port = dead.getsockname()[1]
    dead.close()  # refused
    srv = _listen()
    port = srv.getsockname()[1]
    got: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("getvar socket_host")
        got["host"] = r.reply()["Reply-Text"]
        r.send("exit")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    out = esl.api(f"originate null/1000 'socket:127.0.0.1:{dead_port}|localhost:{port} async "
                  f"full' inline")
    assert out.startswith("+OK "), out
    t.join(TIMEOUT)
    srv.close()
    assert got["host"] == "localhost"
    _wait_gone(esl, out[4:].strip())
    assert f"Trying host: 127.0.0.1:{dead_port}" in routing_system.log_text()


# ---------------------------------------------------------------------------------------------
# queued commands nested inside the running application (sendmsg without event-lock)
# ---------------------------------------------------------------------------------------------
def _completes(seen: list) -> list[tuple[str, str, str]]:
    """(Application-UUID, Application, variable_current_application) of each
    CHANNEL_EXECUTE[_COMPLETE] seen, prefixed E/C."""
    out = []
    for h, b, _ in seen:
        name = _event_name(h, b)
        if name in ("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"):
            ev = dict(parse_plain(b.decode()))
            out.append(("E" if name == "CHANNEL_EXECUTE" else "C") + " "
                       + ev.get("Application-UUID", ""))
            out.append(ev.get("variable_current_application", ""))
    return out


@pytest.mark.parametrize("lock", ["", "event-lock: true\n", "event-lock-pri: true\n"])
def test_command_queued_during_an_app_runs_nested_unless_event_lock(esl, lock):
    """FreeSWITCH [obs]: a `log` sent while a 600 ms playback runs completes before the
    playback; with `event-lock: true` after it. `event-lock-pri` holds only the priority queue
    (sendmsg never fills it): the log still runs nested."""
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("myevents")
        r.reply()
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
               f"execute-app-arg: tone_stream://%(600,0,440)\n{lock}Event-UUID: pb")
        r.reply()
        seen: list = []
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE" and b"Application-UUID: pb"
                in b, seen)
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: log\n"
               "execute-app-arg: INFO nested\nEvent-UUID: lg")
        r.reply()
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE"
                and (b"Application-UUID: pb" in b if lock == "event-lock: true\n"
                     else b"Application-UUID: lg" in b), seen)
        if lock == "event-lock: true\n":
            r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE"
                    and b"Application-UUID: lg" in b, seen)
        else:
            r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE"
                    and b"Application-UUID: pb" in b, seen)
        result["seq"] = _completes(seen)
        r.send("sendmsg\ncall-command: hangup")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    t.join(TIMEOUT)
    srv.close()
    assert not t.is_alive()
    seq = result["seq"]
    marks = seq[0::2]
    marks = [m for m in marks if m.endswith((" pb", " lg"))]
    if lock == "event-lock: true\n":
        assert marks == ["E pb", "C pb", "E lg", "C lg"]
    else:
        assert marks == ["E pb", "E lg", "C lg", "C pb"]
        # FreeSWITCH does not restore current_application after a nested app: the
        # playback's COMPLETE carries the log's name
        assert seq[seq.index("C pb") + 1] == "log"
    _wait_gone(esl, uuid)


def test_async_sendmsg_on_a_sync_socket_runs_inside_an_inline_app(esl):
    """Sync socket: `async: true` queues the command; an application run inline by a later
    sendmsg parses the queue each turn, so the queued `log` runs nested inside it."""
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("myevents")
        r.reply()
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: log\n"
               "execute-app-arg: INFO queued\nasync: true\nEvent-UUID: lg")
        result["queued"] = r.reply()["Reply-Text"]
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
               "execute-app-arg: tone_stream://%(200,0,440)\nEvent-UUID: pb")
        seen: list = []
        r.until(lambda h, b: h.get("Content-Type") == "command/reply", seen)
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE"
                and b"Application-UUID: pb" in b, seen)
        result["seq"] = _completes(seen)
        r.send("exit")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port, flags="full")
    t.join(TIMEOUT)
    srv.close()
    assert not t.is_alive()
    assert result["queued"] == "+OK"
    marks = [m for m in result["seq"][0::2] if m.endswith((" pb", " lg"))]
    assert marks == ["E pb", "E lg", "C lg", "C pb"]
    _wait_gone(esl, uuid)


def test_hold_bleg_plays_the_hold_music_to_the_partner_meanwhile(esl, routing_system):
    """`hold-bleg: true` on a bridged call: the partner plays `hold_music` in a loop while the
    command runs (FreeSWITCH's broadcast to the b-leg), and stops when it ends."""
    music = "tone_stream://%(600,0,350)"
    watch = ESL(routing_system.port)
    watch.command("event plain CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_BRIDGE")
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("myevents")
        r.reply()
        r.send(f"sendmsg\ncall-command: execute\nexecute-app-name: set\n"
               f"execute-app-arg: hold_music={music}\nevent-lock: true")
        r.reply()
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: bridge\n"
               "execute-app-arg: null/2000")
        r.reply()
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_BRIDGE")
        r.send("sendmsg\ncall-command: execute\nexecute-app-name: sleep\nexecute-app-arg: 1500\n"
               "hold-bleg: true\nEvent-UUID: held")
        r.reply()
        r.until(lambda h, b: _event_name(h, b) == "CHANNEL_EXECUTE_COMPLETE"
                and b"Application-UUID: held" in b)
        result["done"] = True
        r.send("sendmsg\ncall-command: hangup")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    bridge = dict(watch.wait_event(lambda e: e["Event-Name"] == "CHANNEL_BRIDGE"))
    b_uuid = bridge["Other-Leg-Unique-ID"]
    seen: list = []
    watch.wait_event(lambda e: e["Event-Name"] == "CHANNEL_EXECUTE_COMPLETE"
                     and e.get("Application-UUID") == "held", seen=seen)
    # the partner's playback was started before, and ends once the command is done
    b_exec = [e for e in map(dict, seen) if e.get("Unique-ID") == b_uuid
              and e["Event-Name"] == "CHANNEL_EXECUTE"]
    assert b_exec and all(e["Application"] == "playback" for e in b_exec), [(e.get("Unique-ID"), e["Event-Name"], e.get("Application")) for e in map(dict, seen)]
    assert b_exec[0]["Application-Data"] == music
    watch.wait_event(lambda e: e["Event-Name"] == "CHANNEL_EXECUTE_COMPLETE"
                     and e.get("Unique-ID") == b_uuid and e["Application"] == "playback")
    t.join(TIMEOUT)
    srv.close()
    assert result.get("done")
    _wait_gone(esl, uuid)
    _wait_gone(esl, b_uuid)
    watch.close()


def test_dtmf_received_by_a_parked_call_reaches_the_socket_and_is_diverted(esl):
    """switch_ivr_park dequeues the DTMF the call receives (uuid_recv_dtmf): its DTMF event
    reaches the controlling socket (myevents), and with divert_events on comes through the
    call's event queue instead."""
    srv = _listen()
    port = srv.getsockname()[1]
    result: dict = {}
    ready = [threading.Event(), threading.Event()]

    def server():
        conn, _ = srv.accept()
        r = Raw(conn)
        r.send("connect")
        r.message()
        r.send("myevents")
        r.reply()
        ready[0].set()
        _, body, _ = r.until(lambda h, b: _event_name(h, b) == "DTMF")
        result["fired"] = dict(parse_plain(body.decode()))
        r.send("divert_events on")
        result["divert"] = r.reply()["Reply-Text"]
        ready[1].set()
        _, body, _ = r.until(lambda h, b: _event_name(h, b) == "DTMF")
        result["diverted"] = dict(parse_plain(body.decode()))
        r.send("exit")
        r.reply()
        conn.close()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    uuid = _originate(esl, port)
    assert ready[0].wait(TIMEOUT)
    assert esl.api(f"uuid_recv_dtmf {uuid} 4") == f"+OK {uuid} received DTMF 4.\n"
    assert ready[1].wait(TIMEOUT)
    assert esl.api(f"uuid_recv_dtmf {uuid} 5@200") == f"+OK {uuid} received DTMF 5@200.\n"
    t.join(TIMEOUT)
    srv.close()
    assert not t.is_alive()
    assert result["fired"]["DTMF-Digit"] == "4" and result["fired"]["Unique-ID"] == uuid
    assert result["fired"]["DTMF-Source"] == "APP"
    assert result["divert"] == "+OK events diverted"
    assert result["diverted"]["DTMF-Digit"] == "5" and result["diverted"]["DTMF-Duration"] == "1600"
    _wait_gone(esl, uuid)
