"""The optional C extension ``mod_event_socket._speedups`` against the Python it replaces.

Differential tests (hypothesis, many examples): ``_speedups.parse_head`` against
``framing.py_parse_head`` on arbitrary header blocks, ``_speedups.plain`` against
``softswitch.event.Event._plain()`` on arbitrary headers and bodies; ``wire.event_message``
with either; then everything a caller can get wrong. The C tests are skipped where the
extension is not built; ``test_speedups_are_built_where_required`` then fails in tox's
mod_event_socket env (SOFTSWITCH_REQUIRE_SPEEDUPS=1), so CI cannot silently fall back.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mod_event_socket import framing, wire
from softswitch.event import Event, EventType

try:
    from mod_event_socket import _speedups
except ImportError:  # not built here: the C tests skip, the fallback tests still run
    _speedups = None

needs_c = pytest.mark.skipif(_speedups is None, reason="the C extension is not built here")
PURE_PYTHON = os.environ.get("SOFTSWITCH_ESL_PURE_PYTHON") == "1"


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_REQUIRE_SPEEDUPS") != "1",
                    reason="SOFTSWITCH_REQUIRE_SPEEDUPS=1 not set (tox's mod_event_socket env sets it)")
def test_speedups_are_built_where_required():
    """In tox's mod_event_socket env (so in CI) the C extension must be there and in use."""
    importlib.import_module("mod_event_socket._speedups")  # its ImportError, if any, says why
    if not PURE_PYTHON:
        assert framing.IMPLEMENTATION == "C"
        assert framing.parse_head is _speedups.parse_head
        assert wire._c_plain is _speedups.plain


def test_pure_python_switch():
    """SOFTSWITCH_ESL_PURE_PYTHON=1 keeps the Python code even where the extension is built."""
    code = ("from mod_event_socket import framing, wire; "
            "print(framing.IMPLEMENTATION, framing.parse_head is framing.py_parse_head, "
            "wire._c_plain)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, SOFTSWITCH_ESL_PURE_PYTHON="1")).stdout
    assert out.split() == ["Python", "True", "None"]


# ---------------------------------------------------------------------------------------------
# parse_head
# ---------------------------------------------------------------------------------------------

#: pieces that matter to the parser, and bytes that are not UTF-8 (alone or cut short)
HEAD_PIECES = [b"\n", b"\r", b"\r\n", b"\0", b":", b": ", b" ", b"  ", b"\t", b"a", b"Zz", b"]",
               b"[1]", b"_body", b"ARRAY::", b"ARRAY:", b"Content-Length", b"cOnTeNt-LeNgTh",
               b"Event-Subclass", b"EVENT-SUBCLASS", b"event-subclasS", b"Content-Lengt\r",
               b"\xff", b"\xc3", b"\xa9", b"\xc3\xa9", b"\xe2\x82", b"\xe2\x82\xac", b"\x80",
               b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80",
               b"\xe2\x84\xaa", b"\xc4\xb0",  # U+212A, U+0130: their lower() has ASCII letters
               b"sendevent CUSTOM", b"%", b"1"]
pieced_heads = st.lists(st.sampled_from(HEAD_PIECES), max_size=60).map(b"".join)


def header_block(lines: list[tuple[bytes, bytes, bytes]]) -> bytes:
    return b"sendevent CUSTOM\n" + b"".join(n + b":" + v + end for n, v, end in lines)


piece_text = st.lists(st.sampled_from(HEAD_PIECES[3:]), max_size=6).map(b"".join)
structured_heads = st.lists(
    st.tuples(piece_text, piece_text, st.sampled_from([b"\n", b"\r\n", b"\n\r", b"\0\n"])),
    max_size=30).map(header_block)


def check_parse_head(head: bytes) -> None:
    want = framing.py_parse_head(head)
    for form in (head, bytearray(head)):
        got = _speedups.parse_head(form)
        assert got == want
        command, headers, marks = got
        assert type(command) is str and type(headers) is list and type(marks) is int
        assert all(type(h) is tuple and len(h) == 2 and type(h[0]) is str and type(h[1]) is str
                   for h in headers)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(head=st.binary(max_size=300))
@example(head=b"")
@example(head=b"\n")
@example(head=b"\0")
@example(head=b"cmd\r\0x\n")
def test_parse_head_any_bytes(head):
    check_parse_head(head)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(head=pieced_heads)
def test_parse_head_pieced(head):
    check_parse_head(head)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(head=structured_heads)
@example(head=b"sendevent CUSTOM\nA: 1\n B:  2\nC:\t3\nD: x\r\nno colon\n:\nE:\nF]: v\n_body: b\n"
              b"G: ARRAY::x|:y\nEvent-Subclass: s\ncontent-length: 5\n")
def test_parse_head_structured(head):
    check_parse_head(head)


@needs_c
def test_parse_head_marks_each_kind():
    S, E, C = framing.SPECIAL, framing.EVENT_SUBCLASS, framing.CONTENT_LENGTH
    cases = {b"A: 1": 0, b"A:": S, b": v": S, b"A[2]: v": S, b"_body: v": S, b"_Body: v": 0,
             b"A: ARRAY::x": S, b"A: ARRAY:x": 0, b"event-SUBCLASS: x": E,
             b"Content-Length: 3": C, b"Content-Length:": S | C, b"Content-Length : 3": 0,
             b"Event-Subclas\xe2\x84\xaa: x": 0, b"Event-Subclass\0: x": 0}
    for line, marks in cases.items():
        head = b"cmd\n" + line
        assert _speedups.parse_head(head)[2] == marks == framing.py_parse_head(head)[2], line


@needs_c
def test_parse_head_bench_block():
    """The block bench/esl.py sends, and one of 10,000 headers."""
    head = (b"sendevent CUSTOM\nEvent-Subclass: bench::esl\nUnique-ID: 0f1d2c3b\n"
            b"Caller-Destination-Number: +1 (555) 010-2000\nvariable_sip_from_uri: "
            b"sip:1000@10.0.0.1:5060;transport=udp")
    check_parse_head(head)
    big = b"api x\n" + b"".join(b"H-%d: value %d\r\n" % (i, i) for i in range(10_000))
    check_parse_head(big)
    assert len(_speedups.parse_head(big)[1]) == 10_000


@needs_c
def test_parse_head_bytes_like_and_buffers_released():
    head = b"cmd\nA: 1"
    want = ("cmd", [("A", "1")], 0)
    assert _speedups.parse_head(memoryview(head)) == want
    assert _speedups.parse_head(memoryview(b"xx" + head)[2:]) == want
    data = bytearray(head)
    assert _speedups.parse_head(data) == want
    data.extend(b"\nB: 2")  # would raise BufferError if an export were still held
    assert _speedups.parse_head(memoryview(bytearray())) == ("", [], 0)


@needs_c
def test_parse_head_bad_input():
    for bad in ("cmd\nA: 1", None, 12, ["cmd"], object()):
        with pytest.raises(TypeError):
            _speedups.parse_head(bad)
    with pytest.raises(BufferError):
        _speedups.parse_head(memoryview(b"cmd\nA: 1")[::2])
    for args in ((), (b"a", b"b")):
        with pytest.raises(TypeError, match="expected 1 argument"):
            _speedups.parse_head(*args)
    with pytest.raises(TypeError):
        _speedups.parse_head(head=b"cmd")


# ---------------------------------------------------------------------------------------------
# plain
# ---------------------------------------------------------------------------------------------

#: what url_encode treats specially, and characters from everywhere (controls, non-ASCII,
#: astral); no lone surrogates (both paths raise on those: test_plain_surrogates)
VALUE_PIECES = ["%", "%4", "%41", "%4a", "%aF", "%zz", "%%41", "%A", "+", " ", "  ", "|", ":",
                "|:", "ARRAY::", "ARRAY:", "a", "Z9", "-._~", "!$'()*,/", "#&;=?@[]^`{}\"<>\\",
                "\t", "\r", "\n", "\x00", "\x01", "\x7f", "\x80", "é", "€", "\U0001f600", "\u212a"]
wide_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
values = st.one_of(
    st.lists(st.sampled_from(VALUE_PIECES), max_size=8).map("".join),
    wide_text,
    st.lists(st.one_of(st.sampled_from(VALUE_PIECES), wide_text), max_size=5).map("".join),
)
names = st.one_of(st.sampled_from(["Event-Name", "Unique-ID", "Event-UUID", "Event-Sequence",
                                   "Event-Date-Timestamp", "variable_sip_from_uri", "x"]),
                  wide_text)
header_values = st.one_of(values, st.lists(values, min_size=1, max_size=3))
bodies = st.one_of(st.none(), st.just(""), wide_text.map(lambda s: s.replace("\0", "")),
                   st.lists(st.sampled_from(VALUE_PIECES), max_size=6)
                   .map(lambda p: "".join(p).replace("\0", "")))


def event_with(headers: list[tuple], body: str | None) -> Event:
    ev = Event(EventType.CUSTOM, stamp=False)
    ev.headers = list(headers)
    ev.body = body
    return ev


def python_message(ev: Event) -> bytes:
    """wire.event_message(ev, "plain") as the Python path makes it."""
    body = ev._plain().encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(body), body)


@needs_c
@settings(max_examples=3000, deadline=None)
@given(headers=st.lists(st.tuples(names, header_values), max_size=12), body=bodies)
@example(headers=[], body=None)
@example(headers=[("A", "")], body="")
@example(headers=[("A", "50%41 %4 %zz %%41 %4g +"), ("B", ["x"]), ("C", ["a%4", "1|:2", ""]),
                  ("D", "ARRAY::x|:y"), ("E", ["ARRAY::z"])], body="héllo\n")
def test_plain_matches_event_plain(headers, body):
    ev = event_with(headers, body)
    want = ev._plain().encode()
    got = _speedups.plain(ev.headers, ev.body)
    assert type(got) is bytes
    assert got == want
    assert _speedups.plain(ev.headers, ev.body, False) == want
    assert _speedups.plain(ev.headers, ev.body, True) == python_message(ev)


@needs_c
def test_plain_every_character_and_byte():
    """Each code point up to U+07FF, and some beyond, alone and after a '%'."""
    chars = [chr(c) for c in range(0x800)] + ["\u0800", "\uffff", "\U00010000", "\U0010ffff"]
    headers = [("C", c) for c in chars] + [("P", "%" + c + d) for c in "09AFafGz%" for d in chars[:0x80]]
    ev = event_with(headers, "".join(chars[1:]))
    assert _speedups.plain(ev.headers, ev.body) == ev._plain().encode()


@needs_c
def test_plain_bench_event():
    """A 25-header event like bench/esl.py's, with a body, and one of 10,000 headers."""
    ev = Event.create(EventType.CUSTOM, "bench::esl", Unique_ID="0f1d2c3b-4a59-4687-9a5b",
                      Channel_Name="sofia/internal/1000@example.com",
                      Caller_Destination_Number="+1 (555) 010-2000",
                      variable_sip_from_uri="sip:1000@10.0.0.1:5060;transport=udp")
    for body in (None, "x" * 100_000):
        ev.body = body
        assert _speedups.plain(ev.headers, ev.body) == ev._plain().encode()
        assert _speedups.plain(ev.headers, ev.body, True) == python_message(ev)
    big = event_with([(f"H-{i}", f"v {i}%" * 5) for i in range(10_000)], "b")
    assert _speedups.plain(big.headers, big.body) == big._plain().encode()


@needs_c
def test_plain_surrogates():
    """Lone surrogates cannot be UTF-8: the C code raises what encoding the Python text does."""
    for headers, body in (([("A", "\ud800")], None), ([("\udfff", "v")], None),
                          ([("A", ["x", "\ud800"])], None), ([], "\ud800")):
        ev = event_with(headers, body)
        with pytest.raises(UnicodeEncodeError):
            ev._plain().encode()
        with pytest.raises(UnicodeEncodeError):
            _speedups.plain(ev.headers, ev.body)
        with pytest.raises(UnicodeEncodeError):
            wire.event_message(ev, "plain")


class Text(str):
    pass


@needs_c
def test_plain_bad_input():
    bad = [
        (None, None), ((("A", "v"),), None), ({"A": "v"}, None),  # headers not a list
        ([("A", 1)], None), ([("A", None)], None), ([("A", b"v")], None),  # value
        ([("A", ["x", 1])], None), ([("A", [None])], None), ([("A", {"x"})], None),
        ([(1, "v")], None), ([(None, "v")], None), ([(b"A", "v")], None),  # name
        ([("A",)], None), ([()], None), ([["A", "v"]], None), (["A: v"], None),  # header
        ([("A", Text("v"))], None), ([(Text("A"), "v")], None), ([("A", [Text("v")])], None),
        ([], b"body"), ([], 5), ([], Text("body")),  # body
    ]
    for headers, body in bad:
        with pytest.raises(TypeError):
            _speedups.plain(headers, body)
    for args in ((), ([],), ([], None, True, None)):
        with pytest.raises(TypeError, match="expected 2 or 3 arguments"):
            _speedups.plain(*args)
    with pytest.raises(TypeError):
        _speedups.plain([], body=None)
    with pytest.raises(TypeError):
        _speedups.plain([], None, framed=True)

    class Falsy:
        def __bool__(self):
            raise ValueError("no truth")

    with pytest.raises(ValueError, match="no truth"):
        _speedups.plain([], None, Falsy())


@needs_c
def test_plain_does_not_modify_its_input():
    headers = [("A", "x y"), ("B", ["1", "2"])]
    copy = [("A", "x y"), ("B", ["1", "2"])]
    assert _speedups.plain(headers, "b") == b"A: x%20y\nB: ARRAY%3A%3A1%7C%3A2\nContent-Length: 1\n\nb"
    assert headers == copy


# ---------------------------------------------------------------------------------------------
# wire.event_message, with the C serializer or without
# ---------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(headers=st.lists(st.tuples(names, header_values), max_size=8), body=bodies)
def test_event_message_matches_python(headers, body):
    ev = event_with(headers, body)
    assert wire.event_message(ev, "plain") == python_message(ev)
    assert ("esl", "plain") not in ev.cache  # not frozen: nothing cached
    ev.freeze()
    data = wire.event_message(ev, "plain")
    assert data == python_message(ev)
    assert ev.cache[("esl", "plain")] is data
    assert wire.event_message(ev, "plain") is data


def test_event_message_falls_back_for_unusual_headers():
    """What the C code refuses, event.serialize renders (here as event.py's _plain does)."""
    for headers in ([("A", "x"), ("C", Text("sub"))], [(Text("N"), "v")], [("A", [Text("v")])]):
        ev = event_with(headers, "b")
        ev.freeze()
        assert wire.event_message(ev, "plain") == python_message(ev)
    ev = event_with([("A", "x")], None)
    ev._body = Text("b")  # through the setter it would be str()ed
    ev.freeze()
    assert wire.event_message(ev, "plain") == python_message(ev)
    ev = event_with([("A", 1.5)], None)
    with pytest.raises(TypeError):
        ev._plain()
    with pytest.raises(TypeError):
        wire.event_message(ev, "plain")


def test_event_message_other_formats_unchanged():
    ev = Event.create(EventType.CUSTOM, "t::x", A="1 2", B="é")
    ev.body = "hi"
    ev.freeze()
    for fmt, ctype in (("json", b"text/event-json"), ("xml", b"text/event-xml")):
        body = ev.serialize(fmt).encode()
        assert wire.event_message(ev, fmt) == (b"Content-Length: %d\nContent-Type: %s\n\n%s"
                                               % (len(body), ctype, body))
