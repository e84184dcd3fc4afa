"""Third-party ESL client libraries from PyPI, unchanged, against softswitch."""

from __future__ import annotations

import gevent
import gevent.event
import greenswitch
import pytest


@pytest.fixture
def green(system):
    client = greenswitch.InboundESL(host="127.0.0.1", port=system.port, password="ClueCon")
    client.connect()
    yield client
    client.stop()


def test_greenswitch_api(green):
    response = green.send("api status")
    assert response.headers["Content-Type"] == "api/response"
    assert response.data.startswith("UP ")
    assert green.send("api version short").data == "1.10.12\n"


def test_greenswitch_events_and_bgapi(green):
    got = gevent.event.AsyncResult()
    green.register_handle("BACKGROUND_JOB", got.set)
    reply = green.send("events plain BACKGROUND_JOB")
    assert reply.headers["Reply-Text"] == "+OK event listener enabled plain"
    reply = green.send("bgapi version short")
    job = reply.headers["Job-UUID"]
    ev = got.get(timeout=20)
    assert ev.headers["Job-UUID"] == job
    assert ev.headers["Job-Command"] == "version" and ev.headers["Job-Command-Arg"] == "short"
    # greenswitch folds an event body into the header before it (its parser's habit)
    assert ev.headers["Content-Length"].endswith("1.10.12")


def test_greenswitch_custom_event_round_trip(green, system):
    got = gevent.event.AsyncResult()
    green.register_handle("my::subclass", got.set)
    green.send("event plain CUSTOM my::subclass")
    other = greenswitch.InboundESL(host="127.0.0.1", port=system.port, password="ClueCon")
    other.connect()
    try:
        reply = other.send("sendevent CUSTOM\nEvent-Subclass: my::subclass\nX-Data: a b: 100% ✓")
        assert reply.headers["Reply-Text"].startswith("+OK ")
    finally:
        other.stop()
    ev = got.get(timeout=20)
    assert ev.headers["X-Data"] == "a b: 100% ✓"
    assert ev.headers["Event-Subclass"] == "my::subclass"


def test_greenswitch_wrong_password(system):
    client = greenswitch.InboundESL(host="127.0.0.1", port=system.port, password="wrong")
    with pytest.raises(Exception, match="(?i)auth|invalid|denied"):
        client.connect()
