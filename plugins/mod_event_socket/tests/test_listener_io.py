"""The listener's socket I/O (the kernel's softswitch.socket_io): on a gevent socket, and on a
socket object without gevent's internals (served through its public methods)."""

from __future__ import annotations

import gevent
from gevent import socket as gsocket

from mod_event_socket.listener import Listener
from softswitch import ApiInterface

AUTH_REQUEST = b"Content-Type: auth/request\n\n"
ACCEPTED = b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
BYE = b"Content-Type: command/reply\nReply-Text: +OK bye\n\n"


class PlainSocket:
    """A socket object with the public methods only (no ``_sock``, no ``_read_event``)."""

    def __init__(self, inner: gsocket.socket) -> None:
        self.inner = inner

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.inner, name)


def read_until_closed(s) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def serve_one(es, server_side):
    return gevent.spawn(es.handle, server_side, ("127.0.0.1", 40000))


def exchange(client) -> bytes:
    client.settimeout(10)
    assert client.recv(len(AUTH_REQUEST)) == AUTH_REQUEST
    client.sendall(b"auth ClueCon\n\napi echo one\n\napi echo two\n\nexit\n\n")
    return read_until_closed(client)


def expected() -> bytes:
    return (ACCEPTED + b"Content-Type: api/response\nContent-Length: 3\n\none"
            + b"Content-Type: api/response\nContent-Length: 3\n\ntwo" + BYE
            + b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
            + b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n")


def start(inprocess_es):
    core, es, _port = inprocess_es()
    core.registry.add(ApiInterface(name="echo", function=lambda cmd, session, stream: stream.write(cmd)))
    return es


def test_gevent_socket_uses_its_inner_socket(inprocess_es):
    es = start(inprocess_es)
    a, b = gsocket.socketpair()
    handler = serve_one(es, a)
    assert exchange(b) == expected()
    assert handler.join(timeout=10) is None and handler.dead


def test_socket_without_gevent_internals_is_served_through_its_public_methods(inprocess_es):
    es = start(inprocess_es)
    a, b = gsocket.socketpair()
    plain = PlainSocket(a)
    handler = serve_one(es, plain)
    assert exchange(b) == expected()
    handler.join(timeout=10)
    assert handler.dead and handler.successful()


def test_closing_the_socket_from_another_greenlet_ends_the_wait(inprocess_es, wait_for):
    es = start(inprocess_es)
    a, b = gsocket.socketpair()
    handler = serve_one(es, a)
    b.settimeout(10)
    assert b.recv(len(AUTH_REQUEST)) == AUTH_REQUEST
    wait_for(lambda: len(es.listeners) == 1)
    listener: Listener = next(iter(es.listeners))
    a.close()  # the reader waits on gevent's read watcher: close() cancels that wait
    handler.join(timeout=10)
    assert handler.dead and listener.dead and listener not in es.listeners
