"""Issue 18 against a real softswitch process: bytes kept end to end, FreeSWITCH's replies of
the log family, teardown, many listeners, the connection limit."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch_cli.client import ESLClient

GOODBYE = (b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
           b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")


def reply(text: bytes) -> bytes:
    return b"Content-Type: command/reply\nReply-Text: " + text + b"\n\n"


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def authed(server) -> socket.socket:
    s = server.raw()
    s.sendall(b"auth ClueCon\n\n")
    want = b"Content-Type: auth/request\n\n" + reply(b"+OK accepted")
    got = b""
    while len(got) < len(want):
        got += s.recv(len(want) - len(got))
    assert got == want
    return s


def next_of(esl: ESLClient, content_type: str, timeout: float = 10.0):
    while True:
        msg = esl.next_event(timeout=timeout)
        if msg.content_type == content_type:
            return msg


# -- bytes end to end ------------------------------------------------------------------------


def test_latin1_header_values_come_back_as_their_bytes(server):
    """FreeSWITCH passes bytes through: %E9t%E9%20%FF%FE in plain, raw bytes in json (cJSON
    copies them), URL-encoded in xml headers; the body keeps its bytes in plain and json."""
    subs = {}
    for fmt in ("plain", "json", "xml"):
        subs[fmt] = server.client()
        subs[fmt].command(f"event {fmt} CUSTOM bytes::test")
    sender = server.raw()
    sender.sendall(b"auth ClueCon\n\nsendevent CUSTOM\nEvent-Subclass: bytes::test\n"
                   b"X-Word: \xe9t\xe9 \xff\xfe\nContent-Length: 5\n\n\xe9t\xe9\xff\xfe")
    try:
        plain = next_of(subs["plain"], "text/event-plain").body
        assert b"\nX-Word: %E9t%E9%20%FF%FE\n" in plain
        assert plain.endswith(b"Content-Length: 5\n\n\xe9t\xe9\xff\xfe")
        raw_json = next_of(subs["json"], "text/event-json").body
        assert b'"X-Word":"\xe9t\xe9 \xff\xfe"' in raw_json
        assert raw_json.endswith(b'"_body":"\xe9t\xe9\xff\xfe"}')
        assert json.loads(raw_json.decode("latin-1"))["X-Word"] == "été ÿþ"
        xml = next_of(subs["xml"], "text/event-xml").body
        assert b"<X-Word>%E9t%E9%20%FF%FE</X-Word>" in xml
        assert b"<Content-Length>5</Content-Length>" in xml
    finally:
        sender.close()
        for c in subs.values():
            c.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.binary(min_size=1, max_size=40).filter(lambda b: not set(b) & set(b"\0\r\n %")
                                                      and b == b.strip(_STRIPPED)),
       body=st.binary(min_size=1, max_size=80).filter(lambda b: b"\0" not in b))
def test_any_bytes_survive_sendevent_and_api(server, value, body):
    """(The API's argument is stripped of white space at both ends, as switch_api_execute
    does: values here have none there.)"""
    with server.client() as esl:
        esl.command("event plain CUSTOM fuzz::bytes")
        esl.send_raw(b"sendevent CUSTOM\nEvent-Subclass: fuzz::bytes\nX: " + value
                     + b"\nContent-Length: %d\n\n" % len(body) + body)
        assert esl.reply().reply_text.startswith("+OK ")
        ev = next_of(esl, "text/event-plain").body
        line = next(x for x in ev.split(b"\n") if x.startswith(b"X: "))
        decoded = bytearray()
        enc, i = line[3:], 0
        while i < len(enc):
            if enc[i] == 0x25:
                decoded.append(int(enc[i + 1:i + 3], 16))
                i += 3
            else:
                decoded.append(enc[i])
                i += 1
        assert bytes(decoded) == value
        assert ev.endswith(b"Content-Length: %d\n\n" % len(body) + body)
        esl.send_raw(b"api t_echo " + value + b"\n\n")
        assert esl.reply().body == value


#: what api_execute strips (str.strip: FreeSWITCH strips only the first six)
_STRIPPED = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


# -- the log family ----------------------------------------------------------------------------


@pytest.mark.parametrize("line, text", [
    (b"log 3", b"+OK log level 3 [3]"),
    (b"log 7 ", b"+OK log level 7 [7]"),
    (b"log   info   extra words", b"+OK log level info [6]"),
    (b"log", b"+OK log level  [7]"),
    (b"log ", b"+OK log level  [7]"),
    (b"log -3", b"+OK log level -3 [0]"),
    (b"log 64", b"-ERR invalid log level"),
    (b"log 1.5", b"+OK log level 1.5 [1]"),
    (b"LOG Err", b"+OK log level Err [3]"),
    (b"logerr", b"+OK log level err [3]"),  # FreeSWITCH reads the level right after "log"
    (b"log error", b"-ERR invalid log level"),
])
def test_log_replies_as_freeswitch(server, line, text):
    s = authed(server)
    try:
        s.sendall(line + b"\n\n")
        want = reply(text)
        got = b""
        while len(got) < len(want):
            got += s.recv(len(want) - len(got))
        assert got == want
    finally:
        s.close()


def test_nolog_and_log_again(esl):
    assert esl.command("nolog").reply_text == "-ERR not loging"
    assert esl.command("log 4").reply_text == "+OK log level 4 [4]"
    assert esl.command("nolog").reply_text == "+OK no longer logging"
    esl.api("t_log warning not for us")
    assert esl.command("log 4 ").reply_text == "+OK log level 4 [4]"
    esl.api("t_log warning for us")
    msg = next_of(esl, "log/data")
    assert msg.text.endswith("for us\n") and "not for us" not in msg.text


def test_text_channel_is_where_the_line_was_logged(esl):
    esl.command("log 4")
    esl.api("t_logch 3 on the session channel")
    msg = next_of(esl, "log/data")
    assert msg.get("Text-Channel") == "3" and msg.text.endswith("on the session channel\n")
    esl.api("t_log warning default channel")
    msg = next_of(esl, "log/data")
    assert msg.get("Text-Channel") == "0" and msg.text.endswith("default channel\n")


# -- teardown ----------------------------------------------------------------------------------


def test_half_close_gets_the_disconnect_notice_first(server):
    s = authed(server)
    s.sendall(b"api t_echo last\n\n")
    s.shutdown(socket.SHUT_WR)
    assert read_until_closed(s) == b"Content-Type: api/response\nContent-Length: 4\n\nlast" + GOODBYE
    s.close()


def test_half_close_before_auth_gets_the_notice_too(server):
    s = server.raw()
    s.shutdown(socket.SHUT_WR)
    assert read_until_closed(s) == b"Content-Type: auth/request\n\n" + GOODBYE
    s.close()


# -- many listeners --------------------------------------------------------------------------


def test_many_listeners_each_get_what_they_subscribed(server):
    clients = []
    try:
        for i in range(60):
            c = server.client()
            c.command(f"event plain CUSTOM many::{i % 3}" if i % 2 else "event plain ALL")
            clients.append(c)
        with server.client() as sender:
            for k in range(3):
                sender.command("sendevent CUSTOM", [("Event-Subclass", f"many::{k}"), ("K", str(k))])
        for i, c in enumerate(clients):
            if i % 2:
                ev = next_of(c, "text/event-plain").event_headers()
                assert ev["Event-Subclass"] == f"many::{i % 3}"
            else:
                got = []
                while len(got) < 3:
                    ev = next_of(c, "text/event-plain").event_headers()
                    if ev.get("Event-Subclass", "").startswith("many::"):
                        got.append(ev["K"])
                assert got == ["0", "1", "2"]
        # unsubscribing and closing half of them leaves the others served
        for c in clients[:30]:
            c.command("noevents")
            c.close()
        with server.client() as sender:
            sender.command("sendevent CUSTOM", [("Event-Subclass", "many::0"), ("K", "again")])
        for i, c in enumerate(clients[30:], 30):
            if i % 2 == 0 or i % 3 == 0:
                while True:
                    ev = next_of(c, "text/event-plain").event_headers()
                    if ev.get("K") == "again":
                        break
    finally:
        for c in clients:
            c.close()


# -- the connection limit ----------------------------------------------------------------------


def test_max_connections_refuses_with_a_notice_and_a_log_line(server_factory):
    server = server_factory({"max-connections": "3"})
    held = [authed(server) for _ in range(3)]
    try:
        extra = server.raw()
        text = b"Too many connections (max-connections 3); try again later.\n"
        assert read_until_closed(extra) == (b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n"
                                            % len(text) + text)
        extra.close()
        server.wait_log("max-connections (3) reached: refused 1 connection(s)")
        # the connections it holds are served, and one that ends makes room for another
        held[0].sendall(b"api t_echo still here\n\n")
        assert held[0].recv(100) == b"Content-Type: api/response\nContent-Length: 10\n\nstill here"
        held.pop().close()
        again = None
        for _ in range(50):  # the server notices the close when it reads the EOF
            again = server.raw()
            first = again.recv(100)
            if first == b"Content-Type: auth/request\n\n":
                break
            again.close()
            again = None
            server.wait_log("refused", timeout=1)
        assert again is not None
        held.append(again)
    finally:
        for s in held:
            s.close()


def test_bad_max_connections_is_reported_and_the_default_used(server_factory):
    server = server_factory({"max-connections": "lots"})
    server.wait_log("max-connections 'lots' is not a positive number; using 16384")
    with server.client() as esl:
        assert esl.api("t_echo ok") == "ok"


def test_a_real_server_reads_sockets_on_the_path_it_says(server):
    """The kernel logs once at DEBUG which socket path runs; in a monkey-patched server
    process the fast path must still be found (it once was not: socket.SocketType is patched)."""
    want = ("public gevent" if os.environ.get("SOFTSWITCH_PURE_PYTHON") == "1"
            else "gevent internals")
    text = server.wait_log("socket reads: ")
    assert f"socket reads: {want}" in text


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_PURE_PYTHON") == "1",
                    reason="parking needs the gevent-internals socket path (public gevent waits "
                           "cannot be interrupted): idle connections keep their greenlets")
def test_idle_connections_park_and_are_served_after(inprocess_es, wait_for):
    """Idle connections give up their greenlets (the socket parked: a watcher, no greenlet);
    each still answers, gets its events, and a parked one that closes ends cleanly."""
    from gevent import socket as gsocket

    core, es, port = inprocess_es()
    clients = []
    for _ in range(10):
        c = gsocket.create_connection(("127.0.0.1", port))
        c.sendall(b"auth ClueCon\n\nevent plain CUSTOM park::test\n\n")
        clients.append(c)
    wait_for(lambda: len(es.listeners) == 10 and all(x.io.parked for x in es.listeners),
             timeout=10)
    for c in clients:
        c.sendall(b"api t_nothing\n\n")
    want_tail = b"-ERR t_nothing Command not found!\n"
    for c in clients:
        c.settimeout(10)
        data = b""
        while not data.endswith(want_tail):
            data += c.recv(4096)
    ev = core.events
    from softswitch import Event, EventType

    e = Event(EventType.CUSTOM, "park::test")
    ev.fire(e)
    for c in clients:
        data = b""
        while b"Event-Subclass: park%3A%3Atest" not in data:
            data += c.recv(65536)
    clients[0].close()
    wait_for(lambda: len(es.listeners) == 9, timeout=10)
    for c in clients[1:]:
        c.close()
    wait_for(lambda: not es.listeners, timeout=10)


def test_a_cpu_loop_in_an_api_is_reported_while_it_holds_the_hub(server):
    """The kernel's hub watchdog, in a real (monkey-patched) server: the report, naming the
    module and its stack, is in the log while the API still runs; the API's reply comes after."""
    with server.client() as esl:
        esl.send_raw(b"api t_spin 3\n\n")
        text = server.wait_log("by module mod_esltest", timeout=10)
        report = text[text.index("The hub has been held"):]
        assert "in spin" in report and "api_execute" in report
        # the reply is not there yet: the report came while the hub was held (3 s of it)
        assert not select.select([esl.sock], [], [], 0)[0] and not esl.buf
        assert esl.reply(timeout=20).text == "+OK spun\n"
        server.wait_log("The hub was held for")


@pytest.mark.skipif(not shutil.which("prlimit"), reason="needs util-linux prlimit")
def test_accept_pauses_when_descriptors_run_out_and_resumes(server_factory):
    server = server_factory()
    pid = server.proc.pid
    used = len(os.listdir(f"/proc/{pid}/fd"))
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={used + 2}:"], check=True)
    held = []
    try:
        for _ in range(2):  # the last two descriptors
            s = server.raw()
            assert s.recv(100) == b"Content-Type: auth/request\n\n"
            held.append(s)
        waiting = server.raw()  # in the listen backlog: accept() fails with EMFILE
        server.wait_log("out of file descriptors (Too many open files): accepting paused")
        held.pop(0).close()
        waiting.settimeout(10)  # accepting resumes after its back-off (at most 1 s)
        assert waiting.recv(100) == b"Content-Type: auth/request\n\n"
        held.append(waiting)
        held[0].sendall(b"auth ClueCon\n\napi t_echo ok\n\n")  # the others are still served
        want = reply(b"+OK accepted") + b"Content-Type: api/response\nContent-Length: 2\n\nok"
        got = b""
        while len(got) < len(want):
            got += held[0].recv(4096)
        assert got == want
    finally:
        for s in held:
            s.close()
        subprocess.run(["prlimit", f"--pid={pid}", "--nofile=4096:"], check=False)
