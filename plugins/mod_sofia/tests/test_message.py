"""The SIP parser/serializer: a pure function of bytes, fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_sofia.message import (
    MAX_HEADERS,
    Message,
    ParseError,
    parse,
    parse_name_addr,
    parse_uri,
    parse_via,
    response_to,
    serialize,
    split_commas,
)

INVITE = (b"INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bK-1, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-0\r\n"
          b"f: \"Alice A\" <sip:alice@example.com>;tag=abc\r\n"
          b"t: <sip:1000@127.0.0.1>\r\n"
          b"i: call-1@10.0.0.1\r\n"
          b"CSeq: 7 INVITE\r\n"
          b"m: <sip:alice@10.0.0.1:5070;transport=udp>\r\n"
          b"Subject: folded\r\n  header\r\n"
          b"c: application/sdp\r\n"
          b"l: 4\r\n\r\nv=0\r\nEXTRA")


def test_parse_request_with_compact_forms_folding_and_body():
    m = parse(INVITE)
    assert m.method == "INVITE" and m.uri == "sip:1000@127.0.0.1:5060"
    assert m.call_id == "call-1@10.0.0.1"
    assert m.cseq == (7, "INVITE")
    assert m.branch == "z9hG4bK-1"
    assert m.get_all("Via")[1] == "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-0"
    assert m.from_tag() == "abc" and m.to_tag() == ""
    assert m.get("Subject") == "folded header"
    assert m.get("Content-Type") == "application/sdp"
    assert m.body == b"v=0\r"          # Content-Length wins over the extra bytes


def test_serialize_round_trip_and_content_length():
    m = parse(INVITE)
    again = parse(serialize(m))
    assert [h for h in again.headers if h[0] != "Content-Length"] == \
        [h for h in m.headers if h[0] != "Content-Length"]
    assert again.body == m.body
    assert serialize(m).count(b"Content-Length: 4\r\n") == 1


def test_response_to_copies_the_routing_headers_and_adds_the_tag():
    req = parse(INVITE)
    res = response_to(req, 180, "Ringing", to_tag="xyz")
    assert [h[0] for h in res.headers] == ["Via", "Via", "From", "To", "Call-ID", "CSeq"]
    assert res.to_tag() == "xyz"
    assert parse(serialize(res)).status == 180


@pytest.mark.parametrize("data,status,reason", [
    (INVITE.replace(b"l: 4", b"l: 400"), 400, "Bad Content-Length"),
    (INVITE.replace(b"l: 4", b"l: -1"), 400, "Bad Content-Length"),
    (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), 400, "Bad CSeq"),
    (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: x INVITE"), 400, "Bad CSeq"),
    (INVITE.replace(b"i: call-1@10.0.0.1\r\n", b""), None, None),
    (b"\x00\xff garbage", None, None),
    (INVITE[:60], None, None),  # truncated: no end of headers
    (b"INVITE sip:x SIP/2.0\r\n" + b"X-A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n", None, None),
    (b"INVITE sip:x SIP/2.0\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n", None, None),
    (b"x" * 70000, 513, "Message Too Large"),
])
def test_bad_messages(data, status, reason):
    with pytest.raises(ParseError) as e:
        parse(data)
    assert e.value.status == status
    if reason:
        assert e.value.reason == reason


def test_uri_and_name_addr():
    u = parse_uri("sip:bob:pw@[::1]:5062;transport=udp;lr?subject=x")
    assert (u.user, u.password, u.host, u.port) == ("bob", "pw", "[::1]", 5062)
    assert u.params == {"transport": "udp", "lr": ""}
    assert str(parse_uri("sip:alice@example.com:5070;transport=udp")) == "sip:alice@example.com:5070;transport=udp"
    with pytest.raises(ValueError):
        parse_uri("http://example.com")
    na = parse_name_addr('"Bob, B" <sip:bob@h>;tag=1;expires=30')
    assert (na.display, na.raw_uri, na.params) == ("Bob, B", "sip:bob@h", {"tag": "1", "expires": "30"})
    assert parse_name_addr("sip:bob@h;tag=2").params == {"tag": "2"}
    assert split_commas('"a, b" <sip:x>, <sip:y;p=1,2>, sip:z') == ['"a, b" <sip:x>', "<sip:y;p=1,2>", "sip:z"]
    assert parse_via("SIP/2.0/UDP 1.2.3.4:5;branch=z9;rport") == ("UDP", "1.2.3.4", 5, {"branch": "z9", "rport": ""})


# -- hypothesis ----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_bytes_never_crash(data):
    try:
        m = parse(data)
    except ParseError:
        return
    assert isinstance(m, Message)
    serialize(m)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, len(INVITE)))
def test_fuzz_mutated_invite(noise, at):
    data = INVITE[:at] + noise + INVITE[at:]
    try:
        m = parse(data)
    except ParseError as e:
        assert e.status in (None, 400, 513)
        return
    assert m.is_request or m.status


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
value = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=","),
                min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["INVITE", "BYE", "OPTIONS", "REGISTER", "FOO"]), token, st.lists(
    st.tuples(st.sampled_from(["X-A", "X-Bee", "Subject", "Accept"]), value), max_size=8),
    st.binary(max_size=300))
def test_fuzz_round_trip(method, user, extra, body):
    m = Message(method, f"sip:{user}@example.com")
    m.add("Via", f"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{user}")
    m.add("From", f"<sip:{user}@a>;tag=1")
    m.add("To", "<sip:b@c>")
    m.add("Call-ID", user)
    m.add("CSeq", f"1 {method}")
    for k, v in extra:
        m.add(k, v)
    m.body = body
    again = parse(serialize(m))
    assert again.method == method
    assert again.headers[:-1] == m.headers
    assert again.headers[-1] == ["Content-Length", str(len(body))]
    assert again.body == body
