"""softswitch.socket_io: the same behaviour on gevent's internals and on public gevent calls
(SOFTSWITCH_PURE_PYTHON=1, or a socket object that is not a gevent socket)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import gevent
import pytest
from gevent import socket as gsocket

import softswitch
from softswitch import sockio


class PlainSocket:
    """A socket object with public methods only (no gevent internals)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def echo_once(io) -> bytes:
    io.wait_readable()
    while True:
        try:
            data = io.recv(65536)
            break
        except BlockingIOError:
            io.wait_readable()
    io.send(data.upper())
    return data


@pytest.mark.parametrize("wrap", [lambda s: s, PlainSocket], ids=["gevent socket", "public only"])
def test_round_trip_and_eof(wrap):
    a, b = gsocket.socketpair()
    io = softswitch.socket_io(wrap(a))
    g = gevent.spawn(echo_once, io)
    b.sendall(b"hello")
    assert g.get(timeout=5) == b"hello"
    b.settimeout(5)
    assert b.recv(10) == b"HELLO"
    b.close()
    io.wait_readable()
    assert io.recv(10) == b""  # EOF
    a.close()


def test_a_big_send_waits_for_room_without_blocking_the_hub():
    a, b = gsocket.socketpair()
    io = softswitch.socket_io(a)
    data = os.urandom(4 * 1024 * 1024)
    sender = gevent.spawn(io.send, data)
    got = bytearray()
    b.settimeout(10)
    while len(got) < len(data):
        got += b.recv(1 << 20)
    sender.get(timeout=10)
    assert bytes(got) == data


def test_close_from_another_greenlet_ends_the_wait():
    """A reader waiting for data (wait, then recv) ends with an OSError when another greenlet
    closes the socket, and never touches a descriptor number reused since."""
    a, b = gsocket.socketpair()
    io = softswitch.socket_io(a)
    reader = gevent.spawn(echo_once, io)
    gevent.sleep(0)  # the reader waits in the hub now
    a.close()
    with pytest.raises(OSError):
        reader.get(timeout=5)
    with pytest.raises(OSError):
        echo_once(io)  # a later read fails at once
    b.close()


def test_which_path_runs_is_logged_once_at_debug_and_pure_python_forces_public_gevent():
    code = ("import logging; logging.basicConfig(level=logging.DEBUG, format='%(message)s'); "
            "from softswitch import sockio; print(sockio.IMPLEMENTATION)")
    # (this gevent has what the internals path needs: the first case shows it)
    for env, want in (({}, "gevent internals"), ({"SOFTSWITCH_PURE_PYTHON": "1"}, "public gevent")):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env=dict(os.environ, **env) if env else
                              {k: v for k, v in os.environ.items() if k != "SOFTSWITCH_PURE_PYTHON"})
        assert proc.stdout.strip() == want
        assert proc.stderr.count(f"socket reads: {want}") == 1


def test_implementations_are_listed():
    logging.getLogger("softswitch.accel").debug("")
    assert softswitch.accel.implementations()["socket reads"] == sockio.IMPLEMENTATION
