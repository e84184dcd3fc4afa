"""The pre-auth timeout (25 s in FreeSWITCH's and our listener): driven in-process with the
constant shortened, since a real process would make the test wait 25 s."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket as gsocket

GOODBYE = (b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
           b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")
AUTH_REQUEST = b"Content-Type: auth/request\n\n"


@pytest.fixture
def port(inprocess_es, monkeypatch):
    import mod_event_socket.listener as listener

    monkeypatch.setattr(listener, "AUTH_TIMEOUT", 0.3)
    return inprocess_es()[2]


def read_until_closed(s) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("sent", [b"", b"auth Clue", b"\n\n\r\n"])  # nothing, part, blank lines
def test_no_complete_command_within_the_timeout_gets_goodbye_and_close(port, sent):
    s = gsocket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    if sent:
        s.sendall(sent)
    assert read_until_closed(s) == AUTH_REQUEST + GOODBYE
    s.close()


def test_after_the_first_complete_command_reads_have_no_timeout(port):
    s = gsocket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    assert s.recv(len(AUTH_REQUEST)) == AUTH_REQUEST
    s.sendall(b"auth ClueCon\n\n")
    ok = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
    got = b""
    while len(got) < len(ok):
        got += s.recv(len(ok) - len(got))
    assert got == ok
    gevent.sleep(0.9)  # three times the (shortened) auth timeout: what is tested is its absence
    s.sendall(b"exit\n\n")
    assert read_until_closed(s) == b"Content-Type: command/reply\nReply-Text: +OK bye\n\n" + GOODBYE
    s.close()
