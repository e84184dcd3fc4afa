"""The kernel's RTP stack (softswitch.rtp, FreeSWITCH's switch_rtp): real UDP sockets on
loopback, two sessions talking to each other or to a raw socket."""

from __future__ import annotations

import logging
import socket
import struct
import types

import pytest

import softswitch
from softswitch.rtp import RtpPortAllocator, build_rtp, parse_rtp


class FakeCore:
    """rtp_open reads only ``core.settings.rtp_start_port`` / ``rtp_end_port``."""

    def __init__(self, settings) -> None:
        self.settings = settings


def fake_core(start=0, end=0):
    if not start:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            start = s.getsockname()[1] & ~1
        end = start + 400
    return FakeCore(types.SimpleNamespace(rtp_start_port=start, rtp_end_port=end))


@pytest.fixture
def pair():
    core = fake_core()
    a = softswitch.rtp_open(core, "127.0.0.1", 0, 160, te_payload_type=101, name="a")
    b = softswitch.rtp_open(core, "127.0.0.1", 0, 160, te_payload_type=101, name="b")
    a.set_remote("127.0.0.1", b.local_port)
    b.set_remote("127.0.0.1", a.local_port)
    yield a, b
    a.close()
    b.close()


def drain(sess, n=50):
    out = []
    for _ in range(n):
        p = sess.read()
        if p is not None:
            out.append(p)
    return out


def test_public_api_exports_rtp():
    assert {"RtpSession", "RtpError", "rtp_open"} <= set(softswitch.__all__)
    assert softswitch.RtpSession is softswitch.rtp.RtpSession


def test_ports_are_even_from_the_configured_range(pair):
    a, b = pair
    assert a.local_port % 2 == 0 and b.local_port % 2 == 0
    assert a.local_port != b.local_port


def test_frames_arrive_in_order_with_sequence_and_timestamp(pair):
    a, b = pair
    seq0, ts0 = a.seq, a.ts
    for i in range(5):
        assert a.write(bytes([i]) * 160)
    assert drain(b) == [bytes([i]) * 160 for i in range(5)]
    assert a.seq == (seq0 + 5) & 0xFFFF
    assert a.ts == (ts0 + 5 * 160) & 0xFFFFFFFF
    assert b.packets_in == 5 and a.packets_out == 5


def raw_to(sess):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sess.set_remote("127.0.0.1", s.getsockname()[1])
    return s


def test_reordered_duplicate_and_late_packets(pair):
    _, b = pair
    s = raw_to(b)
    dest = ("127.0.0.1", b.local_port)
    send = lambda seq, byte: s.sendto(build_rtp(0, False, seq, seq * 160, 7, bytes([byte]) * 160), dest)  # noqa: E731
    send(10, 10)
    assert b.read() == bytes([10]) * 160
    send(12, 12)
    send(11, 11)        # reordered: 11 must come before 12
    send(11, 11)        # duplicate
    assert drain(b, 5) == [bytes([11]) * 160, bytes([12]) * 160]
    assert b.dropped_duplicate == 1
    send(9, 9)          # older than what was delivered: late, dropped
    assert drain(b, 3) == []
    assert b.dropped_late == 1
    s.close()


def test_a_gap_waits_one_tick_then_goes_on(pair):
    _, b = pair
    s = raw_to(b)
    dest = ("127.0.0.1", b.local_port)
    for seq in (1, 3):
        s.sendto(build_rtp(0, False, seq, seq * 160, 7, bytes([seq]) * 160), dest)
    assert b.read() == bytes([1]) * 160
    assert b.read() is None             # 2 is missing: one tick for it
    assert b.read() == bytes([3]) * 160  # then 3 plays
    s.close()


def test_sequence_wraps(pair):
    _, b = pair
    s = raw_to(b)
    dest = ("127.0.0.1", b.local_port)
    for seq in (65534, 65535, 0, 1):
        s.sendto(build_rtp(0, False, seq, 0, 9, struct.pack("!H", seq)), dest)
    assert drain(b, 6) == [struct.pack("!H", x) for x in (65534, 65535, 0, 1)]
    s.close()


def test_rtp_from_the_wrong_source_is_dropped(pair, caplog):
    a, b = pair
    a.write(b"w" * 160)
    assert drain(b, 2) == [b"w" * 160]     # the peer's first packet locks its address
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    for i in range(3):
        stranger.sendto(build_rtp(0, False, 100 + i, 0, 1, b"x" * 160), ("127.0.0.1", b.local_port))
    a.write(b"y" * 160)
    assert drain(b, 5) == [b"y" * 160]
    assert b.dropped_wrong_source == 3
    assert sum("dropping RTP from" in r.getMessage() for r in caplog.records) == 1  # one line
    stranger.close()


def test_auto_adjust_follows_the_first_packet_from_elsewhere(pair, caplog):
    """The SDP said one address, RTP comes from another (NAT, a multi-homed peer such as
    baresip announcing its LAN address): the first packet moves the remote, once."""
    caplog.set_level(logging.INFO, logger="softswitch.rtp")
    a, b = pair
    b.set_remote("127.0.0.1", 9)               # what the SDP said
    a.write(b"z" * 160)
    assert drain(b, 2) == [b"z" * 160]
    assert b.remote == ("127.0.0.1", a.local_port) and b.auto_adjusted
    assert any("Auto Changing audio port" in r.getMessage() for r in caplog.records)
    b.write(b"q" * 160)                        # and our media now goes there
    assert drain(a, 2) == [b"q" * 160]


def test_rfc2833_both_ways(pair):
    a, b = pair
    assert a.send_dtmf("5", 100)
    assert a.send_dtmf("#", 60)
    assert not a.send_dtmf("x")
    for _ in range(20):           # the events go out in place of audio, one packet per frame
        a.write(b"\xff" * 160)
    drain(b, 40)
    assert b.take_dtmf() == [("5", 100), ("#", 60)]
    assert b.take_dtmf() == []
    assert a.dtmf_out == 2
    # after the events, audio flows again
    a.write(b"\x01" * 160)
    assert drain(b, 3) == [b"\x01" * 160]


def test_rfc2833_goes_out_on_the_read_clock_when_nothing_is_written(pair):
    a, b = pair
    assert a.send_dtmf("7", 60)
    for _ in range(10):
        a.read()                  # a leg that only reads (no audio written)
    drain(b, 10)
    assert b.take_dtmf() == [("7", 60)]


def test_a_dtmf_without_end_packet_is_reported_when_the_next_begins(pair):
    _, b = pair
    s = raw_to(b)
    dest = ("127.0.0.1", b.local_port)
    ev = lambda code, end, dur: struct.pack("!BBH", code, (0x80 if end else 0) | 10, dur)  # noqa: E731
    s.sendto(build_rtp(101, True, 1, 1000, 5, ev(3, False, 160)), dest)
    s.sendto(build_rtp(101, True, 2, 5000, 5, ev(4, False, 160)), dest)
    for seq in (3, 4, 5):  # the end packet three times
        s.sendto(build_rtp(101, False, seq, 5000, 5, ev(4, True, 800)), dest)
    drain(b, 3)
    assert b.take_dtmf() == [("3", 20), ("4", 100)]
    s.close()


def test_parse_rtp_rejects_non_rtp_and_handles_padding_and_extensions():
    assert parse_rtp(b"short") is None
    assert parse_rtp(b"\x00" * 20) is None          # version 0
    pkt = build_rtp(8, True, 1, 2, 3, b"abc")
    assert parse_rtp(pkt) == (8, True, 1, 2, 3, b"abc")
    padded = bytes([pkt[0] | 0x20]) + pkt[1:] + b"\x00\x02"
    assert parse_rtp(padded)[5] == b"abc"
    ext = bytes([pkt[0] | 0x10]) + pkt[1:12] + b"\xbe\xde\x00\x01" + b"1234" + b"abc"
    assert parse_rtp(ext)[5] == b"abc"


def test_port_range_exhausted_is_a_clear_error():
    core = fake_core()
    core.settings.rtp_end_port = core.settings.rtp_start_port + 4
    a = softswitch.rtp_open(core, "127.0.0.1", 0, 160)
    b = softswitch.rtp_open(core, "127.0.0.1", 0, 160)
    with pytest.raises(softswitch.RtpError, match="rtp-start-port"):
        softswitch.rtp_open(core, "127.0.0.1", 0, 160)
    a.close()
    c = softswitch.rtp_open(core, "127.0.0.1", 0, 160)   # a closed session gives its port back
    assert c.local_port == a.local_port
    b.close()
    c.close()


def test_allocator_round_robin_and_bad_range():
    alloc = RtpPortAllocator(1001, 1010)
    ports = [alloc.take() for _ in range(4)]
    assert ports == [1002, 1004, 1006, 1008]
    alloc.release(1004)
    assert alloc.take() == 1004
    with pytest.raises(softswitch.RtpError):
        RtpPortAllocator(2000, 2001)
