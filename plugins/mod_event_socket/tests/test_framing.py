"""The client → server framing parser, a pure function of bytes (spec event-socket.md §2)."""

from __future__ import annotations

import importlib_metadata
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_event_socket.framing import (
    MAX_BODY_BYTES,
    FrameError,
    FrameParser,
    Message,
    c_atoi,
    parse_all,
)
from softswitch import wire_bytes


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="softswitch.modules")}
    assert eps["mod_event_socket"].value == "mod_event_socket"
    assert eps["mod_event_socket"].dist.name == "softswitch-mod-event-socket"


def test_simple_and_pipelined():
    msgs = parse_all(b"auth ClueCon\n\napi status\n\nevent plain ALL\n\n")
    assert [m.command for m in msgs] == ["auth ClueCon", "api status", "event plain ALL"]


@pytest.mark.parametrize("end", [b"\n\n", b"\r\n\r\n", b"\n\r\n", b"\n\r\r\n"])
def test_terminators(end):
    assert [m.command for m in parse_all(b"api status" + end + b"exit" + end)] == ["api status", "exit"]


def test_blank_lines_between_messages_are_skipped():
    assert [m.command for m in parse_all(b"\r\n\n\n\r\napi x\n\n\n\n\r\nexit\n\n")] == ["api x", "exit"]


def test_any_other_byte_resets_the_lf_count():
    assert parse_all(b"api x\n \n") == []  # "\n \n" is not an end


def test_headers_and_values():
    msg = parse_all(b"sendevent CUSTOM\nA: 1\nB:no space\n C:  two spaces\nD:\ttab\nE: trail  \n"
                    b"no colon line\nF: x\r\n\n")[0]
    assert msg.command == "sendevent CUSTOM"
    assert msg.headers == [("A", "1"), ("B", "no space"), (" C", "two spaces"), ("D", "\ttab"),
                           ("E", "trail  "), ("F", "x")]
    assert msg.get("a") == "1" and msg.get("missing") is None


def test_body_by_content_length():
    data = b"sendevent CUSTOM\ncontent-length: 12\n\nhello\n\nworldapi next\n\n"
    a, b = parse_all(data)
    assert a.body == "hello\n\nworld" and a.get("Content-Length") == "12"
    assert b.command == "api next"


def test_body_arrives_in_pieces():
    p = FrameParser()
    p.feed(b"sendevent CUSTOM\nContent-Length: 10\n\n01234")
    assert p.next() is None and p.partial
    p.feed(b"56789exit\n")
    assert p.next().body == "0123456789"
    assert p.next() is None
    p.feed(b"\n")
    assert p.next().command == "exit"


def test_nul_cuts_like_a_c_string():
    msg = parse_all(b"auth ClueCon\0junk\nX: a\0b\nContent-Length: 5\n\nab\0cd")[0]
    assert msg.command == "auth ClueCon" and msg.get("X") == "a" and msg.body == "ab"


@pytest.mark.parametrize("value,length", [("0", 0), ("abc", 0), ("", 0), (" 12x", 12), ("+3", 3)])
def test_content_length_like_atoi(value, length):
    assert c_atoi(value) == length


@pytest.mark.parametrize("value", [b"-1", str(MAX_BODY_BYTES + 1).encode(), b"99999999999999999999"])
def test_bad_content_length_is_fatal(value):
    p = FrameParser()
    p.feed(b"sendevent CUSTOM\nContent-Length: " + value + b"\n\n")
    with pytest.raises(FrameError):
        p.next()


def test_zero_or_garbage_content_length_means_no_body():
    a, b = parse_all(b"sendevent X\nContent-Length: 0\n\nexit\n\n")
    assert a.body is None and b.command == "exit"


def test_huge_header_block_is_cut():
    p = FrameParser()
    p.feed(b"x" * (10 * 1024 * 1024 + 5))
    msg = p.next()
    assert msg is not None and len(msg.command) == 10 * 1024 * 1024


def test_binary_garbage_keeps_its_bytes():
    """Bytes that are not UTF-8 become lone surrogates, which encode back to the same bytes."""
    msg = parse_all(b"\xff\xfe\x00garbage\nH\xff: v\xfe\n\n")[0]
    assert msg.command == "\udcff\udcfe" and msg.headers == [("H\udcff", "v\udcfe")]
    assert wire_bytes(msg.headers[0][1]) == b"v\xfe"


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=40).filter(lambda b: not set(b) & set(b"\0\r\n")),
       body=st.binary(min_size=1, max_size=60).filter(lambda b: b"\0" not in b))
def test_any_header_value_and_body_bytes_come_back_unchanged(value, body):
    data = b"sendevent\nX: " + value + b"\nContent-Length: %d\n\n" % len(body) + body
    msg = parse_all(data)[0]
    assert wire_bytes(msg.get("X")) == value.lstrip(b" ")
    assert wire_bytes(msg.body) == body


@settings(max_examples=500, deadline=None)
@given(chunks=st.lists(st.binary(max_size=200), max_size=20))
def test_fuzz_never_crashes_and_never_loses_bytes(chunks):
    p = FrameParser()
    for chunk in chunks:
        p.feed(chunk)
        while True:
            try:
                msg = p.next()
            except FrameError:
                return  # the connection would be dropped: fine
            if msg is None:
                break
            assert isinstance(msg, Message) and isinstance(msg.command, str)


@settings(max_examples=300, deadline=None)
@given(
    cmds=st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)),
                          min_size=1).filter(lambda s: s.strip("\r\n")),
                  min_size=1, max_size=5),
    body=st.binary(max_size=300).filter(lambda b: b"\0" not in b),
    split=st.integers(min_value=1, max_value=50),
)
def test_fuzz_round_trip_in_any_chunking(cmds, body, split):
    data = b"".join(c.encode() + b"\n\n" for c in cmds)
    data += b"sendevent X\nContent-Length: %d\n\n" % len(body) + body
    p = FrameParser()
    got = []
    for i in range(0, len(data), split):
        p.feed(data[i:i + split])
        while (m := p.next()) is not None:
            got.append(m)
    assert [m.command for m in got[:-1]] == [c.lstrip("\r\n") for c in cmds]
    assert got[-1].body == (body.decode("utf-8", "surrogateescape") if body else None)


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(st.text(alphabet=st.sampled_from(["a", "B", ":", " ", "\t", "\r", "%", "é",
                                                        "]", "-", "x"]), max_size=12),
                      max_size=8),
       repeat=st.booleans())
def test_header_lines_split_exactly_as_the_reference_regex(lines, repeat):
    """The fast path (split, memoised per line) and the CR path (regex) agree with the
    reference rule: name = up to the first ':', value = after it with leading spaces skipped,
    cut at the first CR; lines without ':' ignored. Parsed twice, to go through the memo."""
    import re

    from mod_event_socket.framing import CONTENT_LENGTH, EVENT_SUBCLASS, SPECIAL, parse_head

    head = ("cmd\n" + "\n".join(lines)).encode()
    reference = re.compile(r"^([^:\n]*): *([^\r\n]*)", re.M).findall("\n".join(lines))
    marks = 0
    for name, value in reference:
        if (not name or not value or name.endswith("]") or name == "_body"
                or value.startswith("ARRAY::") or "\r" in name):
            marks |= SPECIAL
        marks |= {"event-subclass": EVENT_SUBCLASS, "content-length": CONTENT_LENGTH}.get(name.lower(), 0)
    for _ in range(2 if repeat else 1):
        assert parse_head(head) == ("cmd", reference, marks)


@pytest.mark.parametrize("line, marks", [
    ("Foo: bar", 0), ("Foo:", "SPECIAL"), (": bar", "SPECIAL"), ("Foo[1]: bar", "SPECIAL"),
    ("_body: x", "SPECIAL"), ("Foo: ARRAY::a|:b", "SPECIAL"), ("EVENT-subclass: a::b", "EVENT_SUBCLASS"),
    ("content-LENGTH: 5", "CONTENT_LENGTH"), ("Content-Length:", "SPECIAL|CONTENT_LENGTH"),
    ("Bad\rName: x", "SPECIAL"),
])
def test_header_marks(line, marks):
    import mod_event_socket.framing as f

    want = 0
    for name in str(marks).split("|"):
        want |= getattr(f, name) if name != "0" else 0
    for text in (f"cmd\n{line}", f"cmd\r\n{line}\r\n"):  # the memo path and the CR LF path
        for _ in range(2):
            assert f.parse_head(text.encode())[2] == want
