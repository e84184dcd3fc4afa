"""The optional C extension ``mod_event_socket._speedups`` against the Python it replaces.

Differential tests (hypothesis, many examples): ``_speedups.parse_head`` against
``framing.py_parse_head`` on arbitrary header blocks; then everything a caller can get wrong.
(Event serialization is the kernel's, tested in tests/kernel/test_wire.py.) The C tests are skipped where the
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

from mod_event_socket import framing

try:
    from mod_event_socket import _speedups
except ImportError:  # not built here: the C tests skip, the fallback tests still run
    _speedups = None

needs_c = pytest.mark.skipif(_speedups is None, reason="the C extension is not built here")
PURE_PYTHON = os.environ.get("SOFTSWITCH_PURE_PYTHON") == "1"


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_REQUIRE_SPEEDUPS") != "1",
                    reason="SOFTSWITCH_REQUIRE_SPEEDUPS=1 not set (tox's mod_event_socket env sets it)")
def test_speedups_are_built_where_required():
    """In tox's mod_event_socket env (so in CI) the C extension must be there and in use."""
    importlib.import_module("mod_event_socket._speedups")  # its ImportError, if any, says why
    if not PURE_PYTHON:
        assert framing.IMPLEMENTATION == "C"
        assert framing.parse_head is _speedups.parse_head


def test_pure_python_switch():
    """SOFTSWITCH_PURE_PYTHON=1 keeps the Python code even where the extension is built."""
    code = ("from mod_event_socket import framing; "
            "print(framing.IMPLEMENTATION, framing.parse_head is framing.py_parse_head)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, SOFTSWITCH_PURE_PYTHON="1")).stdout
    assert out.split() == ["Python", "True"]


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
