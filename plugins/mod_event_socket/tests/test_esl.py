"""The Event Socket against a real softswitch process: every command and error reply, byte for
byte as spec/event-socket.md gives them."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid

import pytest

from softswitch_cli.client import AuthError, ESLClient, ESLError

GOODBYE = b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def reply(text: str) -> bytes:
    return b"Content-Type: command/reply\nReply-Text: " + text.encode() + b"\n\n"


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_exactly(sock: socket.socket, n: int, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def next_event(esl: ESLClient, name: str, timeout: float = 10.0, **match):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {name} event within {timeout} s")
        msg = esl.next_event(timeout=left)
        if not msg.content_type.startswith("text/event"):
            continue
        if msg.content_type == "text/event-json":
            fields = json.loads(msg.body)
        else:
            fields = msg.event_headers()
        if fields.get("Event-Name") == name and all(fields.get(k) == v for k, v in match.items()):
            return msg


# -- connection and authentication ---------------------------------------------------------------


def test_auth_request_then_accepted(server):
    s = server.raw()
    assert read_exactly(s, 28) == b"Content-Type: auth/request\n\n"
    s.sendall(b"auth ClueCon\n\n")
    assert read_exactly(s, len(reply("+OK accepted"))) == reply("+OK accepted")
    s.sendall(b"exit\n\n")
    assert read_until_closed(s) == reply("+OK bye") + GOODBYE


def test_wrong_password_gets_err_notice_and_close(server):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"auth nope\n\n")
    assert read_until_closed(s) == reply("-ERR invalid") + GOODBYE


@pytest.mark.parametrize("line,ok", [
    (b"auth ClueCon\0junk", True), (b"auth ClueCon\r", True), (b"auth ClueCon\t", False),
    (b"auth  ClueCon", False), (b"AUTH ClueCon", True),
])
def test_password_is_compared_as_a_c_string(server, line, ok):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(line + b"\n\n")
    expected = reply("+OK accepted") if ok else reply("-ERR invalid")
    assert read_exactly(s, len(expected)) == expected
    s.close()


def test_only_auth_and_exit_before_auth(server):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"api t_echo hi\n\nevent plain ALL\n\n")
    expected = reply("-ERR command not found") * 2
    assert read_exactly(s, len(expected)) == expected
    s.sendall(b"auth ClueCon\n\n")  # still open: the client may retry
    assert read_exactly(s, len(reply("+OK accepted"))) == reply("+OK accepted")
    s.close()
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"...\n\n")
    assert read_until_closed(s) == reply("+OK bye") + GOODBYE


def test_userauth_from_the_directory(server):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"userauth alice@example.com:alicepw\n\n")
    expected = (b"Content-Type: command/reply\nReply-Text: +OK accepted\n"
                b"Allowed-Events: HEARTBEAT CUSTOM allowed::sub\nAllowed-API: t_echo,bgapi\n"
                b"Allowed-LOG: false\n\n")
    assert read_exactly(s, len(expected)) == expected
    s.sendall(b"api t_echo ok\n\napi t_empty\n\nlog 7\n\nevent plain HEARTBEAT\n\nevent plain API\n\n"
              b"event CUSTOM allowed::sub\n\nevent CUSTOM other::sub\n\nbgapi t_echo x\nJob-UUID: j1\n\n"
              b"bgapi t_empty\n\n")
    expected = (b"Content-Type: api/response\nContent-Length: 2\n\nok" + reply("-ERR permission denied")
                + reply("-ERR permission denied") + reply("+OK event listener enabled plain")
                + reply("-ERR permission denied") + reply("+OK event listener enabled plain")
                + reply("-ERR permission denied")
                + b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: j1\nJob-UUID: j1\n\n"
                + reply("-ERR permission denied"))
    assert read_exactly(s, len(expected)) == expected
    s.close()


def test_userauth_user_password_at_domain_form_and_failures(server):
    for line, ok in ((b"userauth bob:bobpw@example.com", True), (b"userauth bob@example.com:nope", False),
                     (b"userauth nobody@example.com:x", False), (b"userauth bob", False)):
        s = server.raw()
        read_exactly(s, 28)
        s.sendall(line + b"\n\n")
        if ok:
            expected = (b"Content-Type: command/reply\nReply-Text: +OK accepted\nAllowed-Events: all\n"
                        b"Allowed-API: all\nAllowed-LOG: true\n\n")
            assert read_exactly(s, len(expected)) == expected
        else:
            assert read_until_closed(s) == reply("-ERR invalid") + GOODBYE
        s.close()


def test_brute_force_does_not_hurt(server):
    for _ in range(200):
        s = server.raw()
        read_exactly(s, 28)
        s.sendall(b"auth wrong\n\n")
        assert read_until_closed(s).startswith(reply("-ERR invalid"))
        s.close()
    with server.client() as esl:
        assert esl.api("t_echo still serving") == "still serving"


# -- commands ------------------------------------------------------------------------------------


def test_api_responses(esl):
    assert esl.command("api t_echo hello world").raw == (
        b"Content-Type: api/response\nContent-Length: 11\n\nhello world")
    assert esl.command("api t_empty").raw == b"Content-Type: api/response\nContent-Length: 14\n\n-ERR no reply\n"
    assert esl.api("nosuchapi arg") == "-ERR nosuchapi Command not found!\n"
    assert esl.api("t_fail") == "-ERR t_fail Command not found!\n"  # non-success reads as not found
    assert esl.api("T_ECHO   trimmed  ") == "trimmed"  # names case-insensitive, argument trimmed
    assert esl.api(" t_echo x") == "-ERR  Command not found!\n"  # (sic) the name is "" here
    raised = esl.api("t_raise")
    assert raised.startswith("-ERR t_raise failed: RuntimeError: t_raise was asked to fail")
    assert esl.api("t_echo " + "é" * 3) == "ééé"


def test_console_execute_runs_a_command_list(esl):
    msg = esl.command("api t_echo a;;t_echo b;;nosuch", {"console_execute": "true"})
    assert msg.text == "ab-ERR nosuch Command not found!\n"


def test_unknown_command_and_prefix_matching(esl):
    assert esl.command("hello").raw == reply("-ERR command not found")
    assert esl.command("api").raw == reply("-ERR command not found")  # "api " needs its space
    assert esl.command("events plain HEARTBEAT").reply_text == "+OK event listener enabled plain"
    assert esl.command("nixevents HEARTBEAT").reply_text == "+OK events nixed"
    assert esl.command("noeventsfoo").reply_text == "+OK no longer listening for events"
    assert esl.command("logfoo 5").reply_text == "-ERR invalid log level"
    assert esl.command("filter").reply_text == "-ERR command not found"


def test_event_subscriptions_and_formats(esl):
    assert esl.command("event").reply_text == "-ERR no keywords supplied"
    assert esl.command("event json").reply_text == "-ERR no keywords supplied"  # format still applied
    assert esl.command("event heartbeat CUSTOM").reply_text == "+OK event listener enabled json"
    assert esl.command("event plain SWITCH_EVENT_API").reply_text == "+OK event listener enabled plain"
    assert esl.command("event  json API").reply_text == "+OK event listener enabled plain"  # (sic)
    assert esl.command("event xml NOPE").reply_text == "-ERR no keywords supplied"
    assert esl.command("event plain API ").reply_text == "+OK event listener enabled plain"
    assert esl.command("noevents").reply_text == "+OK no longer listening for events"
    assert esl.command("noevents").reply_text == "-ERR not listening for events"
    assert esl.command("nixevent").reply_text == "-ERR no keywords supplied"
    assert esl.command("nixevent HEARTBEAT").reply_text == "+OK events nixed"


def test_plain_event_bytes(esl):
    esl.command("event plain CUSTOM t::plain")
    esl.api("t_fire 1 t::plain")
    msg = next_event(esl, "CUSTOM")
    head, body = msg.raw.split(b"\n\n", 1)
    assert head == b"Content-Length: %d\nContent-Type: text/event-plain" % len(body)
    assert body.startswith(b"Event-Name: CUSTOM\nCore-UUID: ")
    assert re.search(rb"\nEvent-Date-GMT: \w{3},%20\d\d%20\w{3}%20\d{4}%20\d\d%3A\d\d%3A\d\d%20GMT\n", body)
    assert body.endswith(b"\nEvent-Subclass: t%3A%3Aplain\nN: 0\n\n")


def test_json_and_xml_event_bytes(esl):
    esl.command("event json CUSTOM t::json")
    esl.api("t_fire 1 t::json")
    msg = next_event(esl, "CUSTOM")
    assert msg.raw.startswith(b"Content-Length: %d\nContent-Type: text/event-json\n\n{" % len(msg.body))
    data = json.loads(msg.body)
    assert data["Event-Subclass"] == "t::json" and data["N"] == "0"
    esl.command("noevents")
    esl.command("event xml CUSTOM t::xml")
    esl.api("t_fire 1 t::xml")
    while True:
        msg = esl.next_event(timeout=10)
        if msg.content_type == "text/event-xml":
            break
    assert msg.body.startswith(b"<event>\n  <headers>\n    <Event-Name>CUSTOM</Event-Name>\n")
    assert msg.body.endswith(b"    <Event-Subclass>t%3A%3Axml</Event-Subclass>\n    <N>0</N>\n  </headers>\n</event>\n")


def test_custom_subclass_delivery_rules(esl):
    esl.command("event plain CUSTOM a::one")
    esl.api("t_fire 1 b::two")
    esl.api("t_fire 1 a::one")
    esl.api("t_fire 1")
    got = []
    while len(got) < 2:
        msg = esl.next_event(timeout=10)
        if msg.content_type == "text/event-plain":
            got.append(msg.event_headers().get("Event-Subclass"))
    assert got == ["a::one", None]  # unsubscribed subclass skipped; no subclass passes
    assert esl.command("nixevent CUSTOM a::one").reply_text == "+OK events nixed"


def test_all_and_nix(esl):
    esl.command("event plain ALL")
    esl.command("nixevent API")  # ALL becomes "every type but API"
    esl.api("t_echo x")
    esl.api("t_fire 1 after::nix")  # CUSTOM with an unsubscribed subclass: no longer "ALL"
    esl.command("sendevent RELOADXML", {"Marker": "after-nix"})
    msg = next_event(esl, "RELOADXML", Marker="after-nix")
    assert msg
    assert not any(e.content_type == "text/event-plain" and e.event_headers()["Event-Name"] == "API"
                   for e in esl.events)


def test_filters(esl):
    esl.command("event plain CUSTOM")
    assert esl.command("filter N 3").reply_text == "+OK filter added. [N]=[3]"
    assert esl.command("filter add N /^1[0-9]$/").reply_text == "+OK filter added. [N]=[/^1[0-9]$/]"
    assert esl.command("filter add X-A").reply_text == "+OK filter added. [X-A]=[(null)]"
    assert esl.command("filter N").reply_text == "-ERR invalid syntax"
    assert esl.command("filter delete").reply_text == "-ERR invalid syntax"
    esl.api("t_fire 20")
    got = []
    while len(got) < 11:
        msg = esl.next_event(timeout=10)
        if msg.content_type == "text/event-plain":
            got.append(int(msg.event_headers()["N"]))
    assert got == [3] + list(range(10, 20))
    assert esl.command("filter delete N 3").reply_text == "+OK filter deleted. [N][3]"
    assert esl.command("filter delete all").reply_text == "+OK filter deleted. [all][]"
    assert esl.command("filter N -5").reply_text == "+OK filter added. [N]=[-5]"
    assert esl.command("filter N +6").reply_text == "+OK filter added. [N]=[+6]"
    esl.api("t_fire 8")
    got = []
    while len(got) < 1:
        msg = esl.next_event(timeout=10)
        if msg.content_type == "text/event-plain":
            got.append(int(msg.event_headers()["N"]))
    assert got == [6]  # a negative match drops, a positive one sends
    esl.command("filter delete all")


def test_log_lines(esl):
    assert esl.command("log").reply_text == "+OK log level  [7]"
    assert esl.command("log err").reply_text == "+OK log level err [3]"
    assert esl.command("log error").reply_text == "-ERR invalid log level"
    assert esl.command("log 99").reply_text == "+OK log level 99 [63]"
    assert esl.command("log console").reply_text == "+OK log level console [0]"
    esl.command("log 4")
    esl.api("t_log info too fine")
    esl.api("t_log warning hello log")
    while True:
        msg = esl.next_event(timeout=10)
        if msg.content_type == "log/data":
            break
    names = [k for k, _ in msg.headers]
    assert names == ["Content-Type", "Content-Length", "Log-Level", "Text-Channel", "Log-File",
                     "Log-Func", "Log-Line", "User-Data"]
    assert msg.get("Log-Level") == "4" and msg.get("Log-File") == "mod_esltest.py"
    assert msg.get("Log-Func") == "do_log" and msg.get("User-Data") == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \d+\.\d\d% \[WARNING\] mod_esltest\.py:\d+ hello log\n",
                        msg.text)
    assert esl.command("nolog").reply_text == "+OK no longer logging"
    assert esl.command("nolog").reply_text == "-ERR not loging"


def test_bgapi_and_background_job(esl):
    esl.command("event plain BACKGROUND_JOB")
    msg = esl.command("bgapi t_echo  spaced arg")
    job = msg.get("Job-UUID")
    assert uuid.UUID(job)
    assert msg.raw == (b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: %s\nJob-UUID: %s\n\n"
                       % (job.encode(), job.encode()))
    ev = next_event(esl, "BACKGROUND_JOB", **{"Job-UUID": job})
    fields = ev.event_headers()
    assert fields["Job-Command"] == "t_echo" and fields["Job-Command-Arg"] == " spaced arg"
    assert "Job-Owner-UUID" not in fields
    assert ev.event_body() == "spaced arg"
    mine = "client-chosen-" + "x" * 240
    assert esl.command("bgapi nosuch", {"Job-UUID": mine}).get("Job-UUID") == mine
    ev = next_event(esl, "BACKGROUND_JOB", **{"Job-UUID": mine})
    assert ev.event_body() == "-ERR nosuch Command not found!\n"
    assert "Job-Command-Arg" not in ev.event_headers()
    job = esl.bgapi("t_empty")
    ev = next_event(esl, "BACKGROUND_JOB", **{"Job-UUID": job})
    assert ev.event_body() is None and b"Content-Length: " not in ev.body


def test_reply_precedes_the_events_it_causes(esl):
    esl.command("event plain BACKGROUND_JOB")
    esl.send("bgapi t_echo first")
    msg = esl.recv()
    assert msg.content_type == "command/reply"


def test_sendevent_round_trip(server, esl):
    esl.command("event json CUSTOM my::app")
    value = "spaces, colons: 100% done; ünïcode ✓"
    msg = esl.command("sendevent CUSTOM", [("Event-Subclass", "my::app"), ("X-Value", value),
                                            (" Leading", "kept"), ("Trail", "kept  "), ("Tab", "\tkept"),
                                            ("Empty", "")], body="line one\nline two")
    ev_uuid = msg.reply_text[4:]
    assert msg.reply_text.startswith("+OK ") and uuid.UUID(ev_uuid)
    ev = next_event(esl, "CUSTOM")
    data = json.loads(ev.body)
    keys = list(data)
    assert keys[:8] == ["Command", "X-Value", " Leading", "Trail", "Tab", "Content-Length", "Event-UUID",
                        "Event-Subclass"]
    assert keys[8:10] == ["Event-Name", "Core-UUID"]
    assert data["Command"] == "sendevent CUSTOM" and data["X-Value"] == value
    assert data["Trail"] == "kept  " and data["Tab"] == "\tkept" and "Empty" not in data
    assert data["Event-UUID"] == ev_uuid and data["_body"] == "line one\nline two"
    with server.client() as plain:
        plain.command("event plain CUSTOM")
        esl.command("sendevent", [("X", "a b")])
        ev = next_event(plain, "CUSTOM")
        assert ev.body.startswith(b"Command: sendevent\nX: a%20b\nEvent-UUID: ")


def test_sendevent_crlf_block_header_name_with_a_cr_is_dropped_like_add_header_does(server, esl):
    esl.command("event plain CUSTOM crlf::test")
    raw = server.raw()
    read_exactly(raw, 28)
    raw.sendall(b"auth ClueCon\r\n\r\n"
                b"sendevent CUSTOM\r\nEvent-Subclass: crlf::test\r\nX-Good: 1\r\nBad\rName: 2\r\n\r\n")
    ev = next_event(esl, "CUSTOM", **{"Event-Subclass": "crlf::test"})
    headers = ev.event_headers()
    assert headers["X-Good"] == "1" and not any("\r" in k or k.startswith("Bad") for k in headers)
    assert b"\r" not in ev.body
    raw.close()


def test_sendevent_named_type(esl):
    esl.command("event plain HEARTBEAT")
    esl.command("sendevent heartbeat", {"Fake": "yes"})
    ev = next_event(esl, "HEARTBEAT", Fake="yes")
    assert ev.event_headers()["Command"] == "sendevent heartbeat"


def test_session_commands_without_a_session(esl):
    assert esl.command("myevents").reply_text == "-ERR command not found"
    assert esl.command("myevents abc json").reply_text == "-ERR invalid uuid"
    assert esl.command("divert_events on").reply_text == "-ERR not controlling a session."
    assert esl.command("linger 10").reply_text == "-ERR not controlling a session"
    assert esl.command("nolinger").reply_text == "-ERR not controlling a session"
    assert esl.command("resume").reply_text == "-ERR command not found"
    assert esl.command("getvar x").reply_text == "-ERR command not found"
    assert esl.command("connect").reply_text == "-ERR command not found"
    assert esl.command("sendmsg").reply_text == "-ERR invalid session id []"
    assert esl.command("sendmsg 1234").reply_text == "-ERR invalid session id [1234]"
    assert esl.command("sendmsg", {"session-id": "abcd"}).reply_text == "-ERR invalid session id [abcd]"
    assert esl.command("myevents some-uuid").reply_text == "+OK Events Enabled"
    assert esl.command("myevents some-uuid").reply_text == "-ERR aready enabled."


def test_myevents_without_session_passes_events_with_unique_id(esl):
    esl.command("myevents no-such-uuid")
    esl.command("event plain CUSTOM")
    esl.command("sendevent CUSTOM", {"N": "without"})
    esl.command("sendevent CUSTOM", {"N": "with", "Unique-ID": "u-1"})
    ev = next_event(esl, "CUSTOM")
    assert ev.event_headers()["N"] == "with"


def test_crlf_and_extra_blank_lines(server):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"auth ClueCon\r\n\r\n\r\n\r\napi t_echo crlf \r\n\r\n\n\nexit\r\n\r\n")
    data = read_until_closed(s)
    assert data == (reply("+OK accepted") + b"Content-Type: api/response\nContent-Length: 4\n\ncrlf"
                    + reply("+OK bye") + GOODBYE)


def test_long_reply_text_is_cut_at_511_bytes(esl):
    value = "v" * 600
    assert len(esl.command(f"filter X {value}").reply_text.encode()) == 511


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [b"-1", b"16777217", b"99999999999"])
def test_bad_content_length_drops_the_connection(server, length):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"auth ClueCon\n\nsendevent CUSTOM\nContent-Length: " + length + b"\n\n")
    assert read_until_closed(s) == reply("+OK accepted") + GOODBYE


def test_lying_content_length_then_close_leaves_server_serving(server):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"auth ClueCon\n\nsendevent CUSTOM\nContent-Length: 1000000\n\nonly a little")
    read_exactly(s, len(reply("+OK accepted")))
    s.close()
    with server.client() as esl:
        assert esl.api("t_echo fine") == "fine"


def test_binary_garbage_and_huge_headers(server):
    s = server.raw()
    read_exactly(s, 28)
    s.sendall(b"auth ClueCon\n\n" + bytes(range(256)) * 10 + b"\n\n")
    data = read_exactly(s, len(reply("+OK accepted")) + len(reply("-ERR command not found")))
    assert data == reply("+OK accepted") + reply("-ERR command not found")
    s.sendall(b"api t_echo big\nX-Big: " + b"h" * 2_000_000 + b"\n\n")
    expected = b"Content-Type: api/response\nContent-Length: 3\n\nbig"
    assert read_exactly(s, len(expected), timeout=30) == expected
    s.close()


def test_client_disappearing_mid_command(server):
    for data in (b"auth ClueCon\n\napi t_sle", b"auth ClueCon\n\napi t_sleep 200\n\n", b"au"):
        s = server.raw()
        s.sendall(data)
        s.close()
    with server.client() as esl:
        assert esl.api("t_echo alive") == "alive"


def test_slow_api_holds_events_until_its_reply(esl):
    esl.command("event plain CUSTOM")
    esl.send("api t_sleep 300")
    with esl.__class__(esl.host, esl.port, "ClueCon") as other:
        other.api("t_fire 3 during::api")
    first = esl.recv(timeout=10)
    assert first.content_type == "api/response" and first.text == "+OK slept\n"


# -- event path ------------------------------------------------------------------------------------


def test_ten_thousand_events_in_order(server):
    with server.client() as esl:
        esl.command("event plain CUSTOM order::test")
        assert esl.api("t_fire 10000 order::test", timeout=60) == "+OK fired\n"
        for n in range(10000):
            msg = esl.next_event(timeout=30)
            while msg.content_type != "text/event-plain":
                msg = esl.next_event(timeout=30)
            assert msg.event_headers()["N"] == str(n)


def slow_reader(server) -> socket.socket:
    """A raw connection with a 4 KiB receive window that has read the auth/request."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    sock.settimeout(10)
    sock.connect((server.host, server.port))
    assert read_exactly(sock, 28) == b"Content-Type: auth/request\n\n"
    return sock


def test_stalled_client_is_killed_and_fast_client_keeps_going(server):
    stalled = slow_reader(server)
    stalled.sendall(b"auth ClueCon\n\nevent plain CUSTOM stall::test\n\n")
    with server.client() as fast:
        fast.command("event plain CUSTOM stall::test")
        total = 100_000 + 15_000  # past the queue, what the socket buffers hold and MAX_MISSED
        fired = 0
        received = 0
        while fired < total:  # fire in chunks and keep reading on the fast connection
            fast.send("api t_fire 5000 stall::test")
            fired += 5000
            while True:
                msg = fast.recv(timeout=60)
                if msg.content_type == "api/response":
                    break
                received += 1
        while received < fired:
            fast.recv(timeout=60)
            received += 1
        assert received == fired  # the fast client lost nothing
    stalled.settimeout(30)
    server.wait_log("killing listener", timeout=30)
    # the stalled connection was closed: reading drains what was buffered, then EOF
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        chunk = stalled.recv(1 << 20)
        if not chunk:
            break
    else:
        raise AssertionError("stalled connection still open")
    with server.client() as esl:
        assert esl.api("t_echo ok") == "ok"


def test_reply_bigger_than_the_socket_buffer_waits_without_blocking_others(server):
    """An 8 MB api reply to a client that does not read yet: the server sends what fits and
    waits for room in the hub (other connections are served meanwhile); the client then gets
    every byte, in order, followed by its next reply."""
    body = "".join(f"{i:07d}," for i in range(1_000_000))  # 8 MB on one line: past the send buffer
    slow = slow_reader(server)
    slow.sendall(b"auth ClueCon\n\n")
    assert read_exactly(slow, len(reply("+OK accepted"))) == reply("+OK accepted")
    slow.sendall(b"api t_echo " + body.encode() + b"\n\napi t_echo after\n\n")
    with server.client() as other:  # served while the big reply waits for the slow reader
        for i in range(3):
            assert other.api(f"t_echo {i}") == str(i)
    head = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body)
    assert read_exactly(slow, len(head), timeout=30) == head
    assert read_exactly(slow, len(body), timeout=30) == body.encode()
    tail = b"Content-Type: api/response\nContent-Length: 5\n\nafter"
    assert read_exactly(slow, len(tail), timeout=30) == tail
    slow.close()


def test_a_pipelining_flood_does_not_starve_other_connections(server):
    """One connection pipelines api commands as fast as it can (nothing in them ever waits);
    api round trips on another connection are answered while the flood is still being
    served, not after it."""
    import threading

    n = 200_000
    frame = b"api t_echo x\n\n"
    one = len(b"Content-Type: api/response\nContent-Length: 1\n\nx")
    flood = socket.create_connection((server.host, server.port), timeout=30)
    read_exactly(flood, 28)
    flood.sendall(b"auth ClueCon\n\n")
    assert read_exactly(flood, len(reply("+OK accepted"))) == reply("+OK accepted")
    replies = {"bytes": 0}

    def read_replies():
        while replies["bytes"] < n * one:
            chunk = flood.recv(1 << 20)
            if not chunk:
                return
            replies["bytes"] += len(chunk)

    reader = threading.Thread(target=read_replies, daemon=True)
    reader.start()
    sender = threading.Thread(target=lambda: flood.sendall(frame * n), daemon=True)
    sender.start()
    try:
        with server.client() as esl:
            deadline = time.monotonic() + 30
            while replies["bytes"] < 100 * one:  # the flood is being served
                assert time.monotonic() < deadline, "the flood was not served"
                time.sleep(0.005)
            t0 = time.monotonic()
            for i in range(5):
                assert esl.api(f"t_echo {i}") == str(i)
            took = time.monotonic() - t0
            assert replies["bytes"] < n * one, "api answered only after the whole flood"
            # each waited for a batch of the flood's commands at most, not for the hub to get
            # round to polling sockets (gevent.sleep(0) put that off for up to seconds)
            assert took < 2.5
    finally:
        reader.join(timeout=120)
        sender.join(timeout=60)
        flood.close()
    assert replies["bytes"] == n * one  # and the flood lost nothing


# -- configuration, ACL, shutdown ---------------------------------------------------------------


def test_custom_password_and_default_acl(server_factory):
    srv = server_factory({"password": "s3cret"})
    with pytest.raises(AuthError):
        srv.client(password="ClueCon")
    with srv.client(password="s3cret") as esl:
        assert esl.api("t_echo ok") == "ok"


def test_acl_denies_with_rude_rejection(server_factory):
    srv = server_factory([("apply-inbound-acl", "loopback.auto"), ("apply-inbound-acl", "127.0.0.1/32")])
    with srv.client() as esl:  # from 127.0.0.1: passes both
        assert esl.api("t_echo allowed") == "allowed"
    s = socket.create_connection((srv.host, srv.port), source_address=("127.0.0.2", 0), timeout=10)
    assert read_until_closed(s) == (b"Content-Type: text/rude-rejection\nContent-Length: 24\n\n"
                                    b"Access Denied, go away.\n" + GOODBYE)
    srv.wait_log('IP 127.0.0.2 Rejected by acl "127.0.0.1/32"')


def test_unknown_acl_name_rejects_and_says_so(server_factory):
    srv = server_factory({"apply-inbound-acl": "no_such_list"})
    with pytest.raises(AuthError, match="refused"):
        srv.client()
    srv.wait_log("no_such_list")


def test_ipv6_listen(server_factory):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")
    srv = server_factory(host="::1")
    with ESLClient("::1", srv.port, "ClueCon") as esl:
        assert esl.api("t_echo v6") == "v6"


def test_bind_error_retries_then_listens(server_factory):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    srv = server_factory({"listen-port": port}, wait=False)
    srv.wait_log(f"Socket Error! Could not listen on 127.0.0.1:{port}", timeout=30)
    blocker.close()
    srv.wait_log("Event Socket listening", timeout=30)
    with srv.client() as esl:
        assert esl.api("t_echo bound") == "bound"


def test_stop_on_bind_error(server_factory):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        srv = server_factory({"listen-port": port, "stop-on-bind-error": "true"}, wait=False)
        srv.wait_log("stop-on-bind-error is set", timeout=30)
        assert srv.proc.poll() is None  # the switch keeps running
    finally:
        blocker.close()


def test_shutdown_notice(server_factory):
    srv = server_factory()
    esl = srv.client()
    esl.command("event plain SHUTDOWN")
    code, _ = srv.stop()
    assert code == 0
    msgs = []
    while True:
        try:
            msgs.append(esl.recv(timeout=10))
        except (ESLError, OSError):
            break
    assert any(m.content_type == "text/event-plain" and m.event_headers()["Event-Name"] == "SHUTDOWN"
               for m in msgs)
    assert msgs[-1].raw == (b"Content-Type: text/disconnect-notice\nContent-Length: 31\n\n"
                            b"The system is being shut down.\n")
