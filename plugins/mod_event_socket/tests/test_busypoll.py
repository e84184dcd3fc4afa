"""Adaptive busy polling (busypoll.py), in-process: which clients start it, that it ends by
itself, and its configuration."""

from __future__ import annotations

import time

import gevent
import pytest
from gevent import socket as gsocket

from mod_event_socket.busypoll import DEFAULT_USEC, BusyPoll
from softswitch import ApiInterface

AUTH_REQUEST = b"Content-Type: auth/request\n\n"
API_REPLY = b"Content-Type: api/response\nContent-Length: %d\n\n%s"


def start(inprocess_es, params=""):
    core, es, port = inprocess_es(params)
    # an API to call (this module's tox env has no mod_commands)
    core.registry.add(ApiInterface(name="echo", function=lambda cmd, session, stream: stream.write(cmd)))
    return es, port


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def connect(port):
    s = gsocket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    assert recv_exactly(s, len(AUTH_REQUEST)) == AUTH_REQUEST
    s.sendall(b"auth ClueCon\n\n")
    recv_exactly(s, len(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"))
    return s


def api(s, text=b"hello"):
    s.sendall(b"api echo " + text + b"\n\n")
    want = API_REPLY % (len(text), text)
    assert recv_exactly(s, len(want)) == want


def test_a_tight_request_reply_loop_starts_it_and_it_ends_by_itself(inprocess_es, wait_for):
    es, port = start(inprocess_es)
    assert es.busy is not None and es.busy.window == DEFAULT_USEC / 1e6
    s = connect(port)
    for _ in range(50):
        api(s)  # the next command goes out as soon as the reply is in
    assert es.busy.spins > 0
    idle = es.busy._idle
    wait_for(lambda: not idle.active, timeout=5)  # the window closes once the client is quiet
    s.close()


def test_a_client_that_pauses_between_commands_never_starts_it(inprocess_es):
    es, port = start(inprocess_es)
    s = connect(port)
    for _ in range(5):
        gevent.sleep(0.01)  # 10 ms after each reply (auth's too): 50 times the window
        api(s)
    assert es.busy.spins == 0
    s.close()


@pytest.mark.parametrize("value, window", [("0", None), ("500", 500e-6), ("junk", DEFAULT_USEC / 1e6)])
def test_busy_poll_usec_setting(inprocess_es, value, window):
    es, port = start(inprocess_es, f'<param name="busy-poll-usec" value="{value}"/>')
    assert (es.busy.window if es.busy else None) == window
    s = connect(port)
    for _ in range(20):
        api(s)  # serves the same with it off
    s.close()


def test_busy_poll_window_and_close():
    bp = BusyPoll(1000)

    def run():
        bp.after_reply(time.monotonic())
        assert bp._idle.active and bp.spins == 1
        bp.after_reply(time.monotonic())  # still open: extended, not restarted
        assert bp.spins == 1
        deadline = time.monotonic() + 5
        while bp._idle.active:
            assert time.monotonic() < deadline
            gevent.sleep(0.001)
        bp.close()
        assert bp._idle is None

    gevent.spawn(run).get(timeout=10)
