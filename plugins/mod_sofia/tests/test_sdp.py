"""SDP offer/answer for one audio stream."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_sofia.sdp import SdpError, build_sdp, negotiate, parse_sdp

OFFER = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
         b"a=fmtp:101 0-16\r\na=ptime:30\r\na=sendrecv\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\n")


def test_parse_and_negotiate():
    o = parse_sdp(OFFER)
    assert (o.ip, o.port, o.te_pt, o.ptime) == ("10.0.0.1", 4000, 101, 30)
    assert [c[1] for c in o.codecs] == ["G729", "PCMA", "PCMU"]   # static types without rtpmap
    assert negotiate(o, ["PCMU", "PCMA"]) == (0, "PCMU")           # our preference order
    assert negotiate(o, ["PCMA"]) == (8, "PCMA")
    assert negotiate(parse_sdp(OFFER.replace(b" 8 0 101", b" 101")), ["PCMU", "PCMA"]) is None


def test_build_round_trip():
    sdp = build_sdp("127.0.0.1", 16384, [(8, "PCMA")], 101, session_id=7, version=2)
    o = parse_sdp(sdp)
    assert (o.ip, o.port, o.te_pt, [c[:2] for c in o.codecs]) == ("127.0.0.1", 16384, 101, [(8, "PCMA")])
    assert b"o=FreeSWITCH 7 9 IN IP4 127.0.0.1\r\n" in sdp


@pytest.mark.parametrize("body", [b"", b"v=0\r\nm=video 1 RTP/AVP 96\r\n", b"v=0\r\nm=audio 1 RTP/AVP 0\r\n",
                                  b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", b"\xff\xfe"])
def test_bad_sdp(body):
    with pytest.raises(SdpError):
        parse_sdp(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, len(OFFER)))
def test_fuzz_sdp_raises_only_sdp_error(noise, at):
    try:
        parse_sdp(OFFER[:at] + noise + OFFER[at:])
    except SdpError:
        pass
