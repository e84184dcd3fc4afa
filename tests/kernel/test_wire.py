"""Event serialization for the wire (``Event.encode``): the optional C extension
``softswitch._wire`` against the Python it replaces, and bytes kept end to end.

Differential tests (hypothesis, many examples): ``_wire.plain`` against ``Event._plain()`` on
arbitrary headers and bodies; then everything a caller can get wrong. The C tests are skipped
where the extension is not built; ``test_wire_is_built_where_required`` then fails in tox's
kernel env (SOFTSWITCH_REQUIRE_SPEEDUPS=1), so CI cannot silently fall back.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from softswitch import event as event_module
from softswitch.event import Event, EventType, wire_bytes, wire_text

try:
    from softswitch import _wire
except ImportError:  # not built here: the C tests skip, the Python tests still run
    _wire = None

needs_c = pytest.mark.skipif(_wire is None, reason="the C extension is not built here")
PURE_PYTHON = os.environ.get("SOFTSWITCH_PURE_PYTHON") == "1"


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_REQUIRE_SPEEDUPS") != "1",
                    reason="SOFTSWITCH_REQUIRE_SPEEDUPS=1 not set (tox's kernel env sets it)")
def test_wire_is_built_where_required():
    importlib.import_module("softswitch._wire")  # its ImportError, if any, says why
    if not PURE_PYTHON:
        assert event_module._c_plain is _wire.plain


def test_pure_python_switch():
    """SOFTSWITCH_PURE_PYTHON=1 keeps the Python code even where the extension is built."""
    code = ("import logging; logging.basicConfig(level=logging.DEBUG); "
            "from softswitch import event; print(event._c_plain)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ, SOFTSWITCH_PURE_PYTHON="1"))
    assert proc.stdout.split() == ["None"]
    assert "event serialization: Python (SOFTSWITCH_PURE_PYTHON=1)" in proc.stderr


# ---------------------------------------------------------------------------------------------
# bytes kept end to end
# ---------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(value=st.binary(min_size=1).filter(lambda b: b"\0" not in b),
       body=st.binary().filter(lambda b: b"\0" not in b))
def test_arbitrary_bytes_survive_every_format(value, body):
    """What came off a wire as bytes goes out as the same bytes: URL-encoded in plain (and in
    xml headers), raw in json (cJSON copies bytes >= 0x20 as they are)."""
    text = wire_text(value)
    assert wire_bytes(text) == value
    ev = Event(EventType.CUSTOM, stamp=False)
    ev.headers = [("V", text)]
    ev.body = wire_text(body) if body else None
    plain = ev.encode("plain")
    head = plain.split(b"\n")[0]
    assert head.startswith(b"V: ")
    decoded = bytearray()
    enc = head[3:]
    i = 0
    while i < len(enc):
        if enc[i:i + 1] == b"%":
            decoded.append(int(enc[i + 1:i + 3], 16))
            i += 3
        else:
            decoded.append(enc[i])
            i += 1
    if b"%" not in value:  # (a %XX run in the value is copied as it is: FreeSWITCH's quirk)
        assert bytes(decoded) == value
    if body:
        assert plain.endswith(b"Content-Length: %d\n\n%s" % (len(body), body))
    js = ev.encode("json")
    if body:
        assert js.endswith(b'"Content-Length":"%d","_body":' % len(body) + json_bytes(body) + b"}")
    assert b'"V":' + json_bytes(value) in js
    assert ev.encode("xml").startswith(b"<event>\n  <headers>\n    <V>" + head[3:] + b"</V>")


def json_bytes(raw: bytes) -> bytes:
    """cJSON's print_string_ptr: escape " \\ and controls, copy every other byte."""
    out = bytearray(b'"')
    for b in raw:
        if b == 0x22 or b == 0x5C:
            out += b"\\" + bytes([b])
        elif b < 32:
            out += {8: b"\\b", 12: b"\\f", 10: b"\\n", 13: b"\\r", 9: b"\\t"}.get(b, b"\\u%04x" % b)
        else:
            out.append(b)
    return bytes(out + b'"')


def test_latin1_in_every_format():
    ev = Event(EventType.CUSTOM, stamp=False)
    ev.headers = [("Word", wire_text(b"\xe9t\xe9 \xff\xfe"))]
    ev.body = wire_text(b"caf\xe9 <ok> \xc3\xa9")
    assert ev.encode("plain") == b"Word: %E9t%E9%20%FF%FE\nContent-Length: 12\n\ncaf\xe9 <ok> \xc3\xa9"
    assert json.loads(ev.encode("json").decode("utf-8", "surrogateescape"))["Word"] == ev.headers[0][1]
    assert ev.encode("json") == (b'{"Word":"\xe9t\xe9 \xff\xfe","Content-Length":"12",'
                                 b'"_body":"caf\xe9 <ok> \xc3\xa9"}')
    # switch_xml_ampencode: 0xE9 starts a 3-byte character, " " is no continuation: both go;
    # the valid UTF-8 é is written as a character reference
    assert ev.encode("xml") == (b"<event>\n  <headers>\n    <Word>%E9t%E9%20%FF%FE</Word>\n"
                                b"  </headers>\n  <Content-Length>12</Content-Length>\n"
                                b"  <body>caf&lt;ok&gt; &#xE9;</body>\n</event>\n")


def test_plain_round_trip_keeps_bytes():
    ev = Event(EventType.CUSTOM, stamp=False)
    ev.headers = [("Word", wire_text(b"\xe9t\xe9"))]
    ev.body = wire_text(b"\xff\xfe")
    back = Event.from_plain(ev.serialize("plain"))
    assert wire_bytes(back.get_header("Word")) == b"\xe9t\xe9"
    assert wire_bytes(back.body) == b"\xff\xfe"


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
    """ev.encode("plain", True) as the Python path makes it."""
    body = wire_bytes(ev._plain())
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
    want = wire_bytes(ev._plain())
    got = _wire.plain(ev.headers, ev.body)
    assert type(got) is bytes
    assert got == want
    assert _wire.plain(ev.headers, ev.body, False) == want
    assert _wire.plain(ev.headers, ev.body, True) == python_message(ev)


@needs_c
def test_plain_every_character_and_byte():
    """Each code point up to U+07FF, and some beyond, alone and after a '%'."""
    chars = [chr(c) for c in range(0x800)] + ["\u0800", "\uffff", "\U00010000", "\U0010ffff"]
    headers = [("C", c) for c in chars] + [("P", "%" + c + d) for c in "09AFafGz%" for d in chars[:0x80]]
    ev = event_with(headers, "".join(chars[1:]))
    assert _wire.plain(ev.headers, ev.body) == wire_bytes(ev._plain())


@needs_c
def test_plain_bench_event():
    """A 25-header event like bench/esl.py's, with a body, and one of 10,000 headers."""
    ev = Event.create(EventType.CUSTOM, "bench::esl", Unique_ID="0f1d2c3b-4a59-4687-9a5b",
                      Channel_Name="sofia/internal/1000@example.com",
                      Caller_Destination_Number="+1 (555) 010-2000",
                      variable_sip_from_uri="sip:1000@10.0.0.1:5060;transport=udp")
    for body in (None, "x" * 100_000):
        ev.body = body
        assert _wire.plain(ev.headers, ev.body) == wire_bytes(ev._plain())
        assert _wire.plain(ev.headers, ev.body, True) == python_message(ev)
    big = event_with([(f"H-{i}", f"v {i}%" * 5) for i in range(10_000)], "b")
    assert _wire.plain(big.headers, big.body) == wire_bytes(big._plain())


@needs_c
def test_plain_surrogates():
    """Lone surrogates cannot be UTF-8: the C code refuses them; Event.encode then runs the
    Python code, which writes U+DC80..U+DCFF (bytes that came in as no UTF-8) back as those
    bytes, and refuses other surrogates (nothing read from a wire can make them)."""
    for headers, body in (([("A", "\udce9t\udce9")], None), ([("\udcff", "v")], None),
                          ([("A", ["x", "\udcfe"])], None), ([], "\udce9")):
        ev = event_with(headers, body)
        with pytest.raises(UnicodeEncodeError):
            _wire.plain(ev.headers, ev.body)
        assert ev.encode("plain", True) == python_message(ev)
    assert event_with([("A", "\udce9t\udce9 \udcff\udcfe")], None).encode() == b"A: %E9t%E9%20%FF%FE\n\n"
    for headers, body in (([("A", "\ud800")], None), ([], "\udfff")):
        ev = event_with(headers, body)
        with pytest.raises(UnicodeEncodeError):
            _wire.plain(ev.headers, ev.body)
        with pytest.raises(UnicodeEncodeError):
            ev.encode()


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
            _wire.plain(headers, body)
    for args in ((), ([],), ([], None, True, None)):
        with pytest.raises(TypeError, match="expected 2 or 3 arguments"):
            _wire.plain(*args)
    with pytest.raises(TypeError):
        _wire.plain([], body=None)
    with pytest.raises(TypeError):
        _wire.plain([], None, framed=True)

    class Falsy:
        def __bool__(self):
            raise ValueError("no truth")

    with pytest.raises(ValueError, match="no truth"):
        _wire.plain([], None, Falsy())


@needs_c
def test_plain_does_not_modify_its_input():
    headers = [("A", "x y"), ("B", ["1", "2"])]
    copy = [("A", "x y"), ("B", ["1", "2"])]
    assert _wire.plain(headers, "b") == b"A: x%20y\nB: ARRAY%3A%3A1%7C%3A2\nContent-Length: 1\n\nb"
    assert headers == copy


# ---------------------------------------------------------------------------------------------
# wire.event_message, with the C serializer or without
# ---------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(headers=st.lists(st.tuples(names, header_values), max_size=8), body=bodies)
def test_event_message_matches_python(headers, body):
    ev = event_with(headers, body)
    assert ev.encode("plain", True) == python_message(ev)
    assert ("plain", True) not in ev.cache  # not frozen: nothing cached
    ev.freeze()
    data = ev.encode("plain", True)
    assert data == python_message(ev)
    assert ev.cache[("plain", True)] is data
    assert ev.encode("plain", True) is data


def test_event_message_falls_back_for_unusual_headers():
    """What the C code refuses, event.serialize renders (here as event.py's _plain does)."""
    for headers in ([("A", "x"), ("C", Text("sub"))], [(Text("N"), "v")], [("A", [Text("v")])]):
        ev = event_with(headers, "b")
        ev.freeze()
        assert ev.encode("plain", True) == python_message(ev)
    ev = event_with([("A", "x")], None)
    ev._body = Text("b")  # through the setter it would be str()ed
    ev.freeze()
    assert ev.encode("plain", True) == python_message(ev)
    ev = event_with([("A", 1.5)], None)
    with pytest.raises(TypeError):
        ev._plain()
    with pytest.raises(TypeError):
        ev.encode("plain", True)


def test_event_message_other_formats_unchanged():
    ev = Event.create(EventType.CUSTOM, "t::x", A="1 2", B="é")
    ev.body = "hi"
    ev.freeze()
    for fmt, ctype in (("json", b"text/event-json"), ("xml", b"text/event-xml")):
        body = ev.serialize(fmt).encode()
        assert ev.encode(fmt, True) == (b"Content-Length: %d\nContent-Type: %s\n\n%s"
                                        % (len(body), ctype, body))
