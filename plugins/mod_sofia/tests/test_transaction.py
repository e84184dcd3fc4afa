"""RFC 3261 §17 transactions over a recording transport: retransmissions and timers."""

from __future__ import annotations

import gevent
import pytest

from mod_sofia.message import Message, parse, response_to, serialize
from mod_sofia.transaction import T1, TimerHeap, TransactionLayer


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple]] = []

    def __call__(self, data, addr):
        self.sent.append((data, addr))

    def wait(self, n: int, timeout: float = 10.0) -> None:
        with gevent.Timeout(timeout):
            while len(self.sent) < n:
                gevent.sleep(0.01)


@pytest.fixture
def layer():
    wire = Wire()
    timers = TimerHeap()
    timers.start()
    lay = TransactionLayer(wire, timers)
    lay.wire = wire
    yield lay
    timers.stop()


def request(method="OPTIONS", branch="z9hG4bK-t1") -> Message:
    m = Message(method, "sip:x@127.0.0.1")
    m.add("Via", f"SIP/2.0/UDP 127.0.0.1:5999;branch={branch}")
    m.add("From", "<sip:a@b>;tag=1")
    m.add("To", "<sip:x@127.0.0.1>")
    m.add("Call-ID", "c1")
    m.add("CSeq", f"1 {method}")
    return parse(serialize(m))


def test_timer_heap_runs_in_deadline_order():
    timers = TimerHeap()
    timers.start()
    out = []
    timers.after(0.05, lambda: out.append(2))
    timers.after(0.01, lambda: out.append(1))
    t = timers.after(0.02, lambda: out.append("cancelled"))
    t.cancel()
    with gevent.Timeout(5):
        while len(out) < 2:
            gevent.sleep(0.01)
    assert out == [1, 2]
    timers.stop()


def test_client_non_invite_retransmits_until_a_final(layer):
    got = []
    req = request()
    layer.request(req, ("127.0.0.1", 5999), lambda tx, res: got.append(res.status))
    layer.wire.wait(3)      # the request, then Timer E retransmissions (T1, 2·T1)
    assert all(d == layer.wire.sent[0][0] for d, _ in layer.wire.sent[:3])
    tx = layer.match_response(response_to(req, 200, "OK"))
    tx.receive(response_to(req, 200, "OK"))
    assert got == [200]
    n = len(layer.wire.sent)
    gevent.sleep(T1 * 3)
    assert len(layer.wire.sent) == n   # completed: no more retransmissions
    tx.receive(response_to(req, 200, "OK"))
    assert got == [200]                # a retransmitted final is absorbed (Timer K)


def test_client_invite_acks_a_non_2xx_final_and_absorbs_its_retransmission(layer):
    got = []
    req = request("INVITE", "z9hG4bK-inv")
    tx = layer.request(req, ("127.0.0.1", 5999), lambda tx, res: got.append(res.status))
    tx.receive(response_to(req, 100, "Trying"))
    n = len(layer.wire.sent)
    gevent.sleep(T1 * 2.5)
    assert len(layer.wire.sent) == n   # proceeding: Timer A stopped
    busy = response_to(req, 486, "Busy Here", to_tag="b1")
    tx.receive(busy)
    ack = parse(layer.wire.sent[-1][0])
    assert ack.method == "ACK" and ack.branch == "z9hG4bK-inv" and ack.to_tag() == "b1"
    assert ack.cseq == (1, "ACK")
    tx.receive(busy)                   # the 486 again: ACK again, not reported twice
    assert parse(layer.wire.sent[-1][0]).method == "ACK"
    assert got == [100, 486]


def test_server_invite_retransmits_a_non_2xx_until_the_ack(layer):
    req = request("INVITE", "z9hG4bK-srv")
    tx = layer.server(req, ("127.0.0.1", 5999))
    tx.respond(response_to(req, 100, "Trying"))
    assert layer.match_request(req) is tx
    tx.retransmitted()                 # the INVITE again: the 100 again
    assert [parse(d).status for d, _ in layer.wire.sent] == [100, 100]
    tx.respond(response_to(req, 486, "Busy Here", to_tag="x"))
    layer.wire.wait(4)                 # Timer G: 486 again after T1
    assert parse(layer.wire.sent[3][0]).status == 486
    ack = request("ACK", "z9hG4bK-srv")
    assert layer.match_request(ack) is tx   # the ACK of a non-2xx matches the INVITE's transaction
    tx.ack()
    n = len(layer.wire.sent)
    gevent.sleep(T1 * 5)
    assert len(layer.wire.sent) == n


def test_server_non_invite_answers_retransmissions_with_the_last_response(layer):
    req = request("BYE", "z9hG4bK-bye")
    tx = layer.server(req, ("127.0.0.1", 5999))
    tx.respond(response_to(req, 200, "OK"))
    tx.retransmitted()
    assert [parse(d).status for d, _ in layer.wire.sent] == [200, 200]
    cancel = request("CANCEL", "z9hG4bK-bye")
    assert layer.match_request(cancel) is None   # CANCEL is a transaction of its own
