"""The optional C extension ``mod_pcm._g711`` on its own: generic gathers, and bad input.

Its G.711 results are tested with everything else in ``test_g711.py`` (every path, every input).
Here: the two functions as the table lookups they are, with tables that are not G.711 at all,
and everything a caller can get wrong. Skipped where the extension is not built (then
``test_g711.test_speedups_are_built_where_required`` fails in tox's mod_pcm env).
"""

from __future__ import annotations

import array
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_pcm import g711

_g711 = pytest.importorskip("mod_pcm._g711", reason="the C extension is not built here")

RNG = np.random.default_rng(711)
#: an arbitrary 65,536-byte table (not G.711): out[i] = table[uint16 sample i]
ENC_TABLE = RNG.integers(0, 256, 65536, dtype=np.uint8).tobytes()
#: an arbitrary pair table: entry i = the two samples of the two codes whose bytes make i
_SAMPLES = RNG.integers(-32768, 32768, 256, dtype=np.int64).astype("=i2")
PAIR_TABLE = np.ascontiguousarray(
    _SAMPLES[np.arange(65536, dtype=np.uint32).astype("=u2").view(np.uint8).reshape(-1, 2)]
).tobytes()


def ref_encode(table: bytes, linear: bytes) -> bytes:
    return np.frombuffer(table, np.uint8)[np.frombuffer(linear, "=u2")].tobytes()


def ref_decode(codes: bytes) -> bytes:
    return _SAMPLES[np.frombuffer(codes, np.uint8)].tobytes()


# ---------------------------------------------------------------------------------------------
# Generic gathers
# ---------------------------------------------------------------------------------------------


def test_encode16_every_sample_value():
    every = np.arange(65536, dtype=np.uint32).astype("=u2").tobytes()
    assert _g711.encode16(ENC_TABLE, every) == ENC_TABLE
    identity_low = bytes(range(256)) * 256  # table[i] = i & 0xFF
    assert _g711.encode16(identity_low, every) == identity_low


def test_decode8_every_code_pair_and_odd_tail():
    pairs = np.arange(65536, dtype=np.uint32).astype("=u2").tobytes()
    assert _g711.decode8(PAIR_TABLE, pairs) == ref_decode(pairs)
    for code in range(256):  # one code: the odd tail reads the pair (c, c)
        assert _g711.decode8(PAIR_TABLE, bytes([code])) == _SAMPLES[code].tobytes()
    assert _g711.decode8(PAIR_TABLE, pairs[:12345]) == ref_decode(pairs[:12345])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=5000), offset=st.integers(0, 3))
def test_gathers_match_numpy(data, offset):
    """Any bytes, at any alignment (a memoryview into the middle of a buffer)."""
    buf = memoryview(b"\0" * offset + data)[offset:]
    even = data[: len(data) & ~1]
    assert _g711.encode16(ENC_TABLE, buf[: len(even)]) == ref_encode(ENC_TABLE, even)
    assert _g711.decode8(PAIR_TABLE, buf) == ref_decode(data)


def test_host_byte_order():
    table = bytearray(65536)
    table[0x0102] = 7
    assert _g711.encode16(bytes(table), (0x0102).to_bytes(2, sys.byteorder)) == b"\x07"


def test_bytes_like_inputs_and_results():
    linear = np.arange(-400, 400, dtype="=i2").tobytes()
    codes = bytes(range(256)) * 3 + b"\x05"
    enc, dec = ref_encode(ENC_TABLE, linear), ref_decode(codes)
    for form in (linear, bytearray(linear), memoryview(linear), array.array("h", linear),
                 np.frombuffer(linear, "=i2")):
        out = _g711.encode16(ENC_TABLE, form)
        assert type(out) is bytes and out == enc
    for form in (codes, bytearray(codes), memoryview(codes), array.array("B", codes)):
        out = _g711.decode8(PAIR_TABLE, form)
        assert type(out) is bytes and out == dec


def test_empty_input():
    assert _g711.encode16(ENC_TABLE, b"") == b""
    assert _g711.decode8(PAIR_TABLE, b"") == b""
    assert _g711.encode16(ENC_TABLE, bytearray()) == b""
    assert _g711.decode8(PAIR_TABLE, memoryview(b"")) == b""


def test_big_input():
    codes = RNG.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    assert _g711.decode8(PAIR_TABLE, codes) == ref_decode(codes)
    linear = RNG.integers(0, 256, 1 << 21, dtype=np.uint8).tobytes()
    assert _g711.encode16(ENC_TABLE, linear) == ref_encode(ENC_TABLE, linear)


def test_inputs_are_not_modified_and_buffers_are_released():
    data = bytearray(b"\x01\x02" * 100)
    _g711.encode16(ENC_TABLE, data)
    _g711.decode8(PAIR_TABLE, data)
    assert data == bytearray(b"\x01\x02" * 100)
    data.extend(b"\x03")  # would raise BufferError if an export were still held
    view = memoryview(bytearray(4))
    _g711.decode8(PAIR_TABLE, view)
    view.release()


def test_g711_tables_are_what_g711_passes():
    """g711.py hands the C gathers bytes copies of its own tables."""
    for law, (enc, dec) in g711._LAWS.items():
        assert g711._ENCODE_BYTES[law] == enc.tobytes()
        assert g711._PAIRS_BYTES[law] == g711._PAIRS[law].tobytes()
        assert _g711.decode8(g711._PAIRS_BYTES[law], bytes(range(256))) == dec.tobytes()


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 161, 16001])
def test_encode16_odd_length_is_a_value_error(n):
    for form in (b"\0" * n, bytearray(n), memoryview(b"\0" * (n + 1))[1:]):
        with pytest.raises(ValueError, match=rf"^encode16: {n} bytes is not a whole number"):
            _g711.encode16(ENC_TABLE, form)


@pytest.mark.parametrize(("fn", "good"), [(_g711.encode16, ENC_TABLE), (_g711.decode8, PAIR_TABLE)])
def test_wrong_table_size_is_a_value_error(fn, good):
    for table in (b"", good[:-1], good + b"\0", good[:512]):
        with pytest.raises(ValueError, match=rf"the table must be {len(good)} bytes, not "
                                             rf"{len(table)}"):
            fn(table, b"\0\0")


@pytest.mark.parametrize(("fn", "good"), [(_g711.encode16, ENC_TABLE), (_g711.decode8, PAIR_TABLE)])
def test_table_must_be_bytes(fn, good):
    for table in (bytearray(good), memoryview(good), np.frombuffer(good, np.uint8), None, "x"):
        with pytest.raises(TypeError, match="the table must be bytes"):
            fn(table, b"\0\0")


@pytest.mark.parametrize(("fn", "good"), [(_g711.encode16, ENC_TABLE), (_g711.decode8, PAIR_TABLE)])
def test_data_must_be_bytes_like(fn, good):
    for data in ("ab", None, 12, [0, 0], object()):
        with pytest.raises(TypeError):
            fn(good, data)


@pytest.mark.parametrize(("fn", "good"), [(_g711.encode16, ENC_TABLE), (_g711.decode8, PAIR_TABLE)])
def test_strided_memoryview_is_refused(fn, good):
    strided = memoryview(bytes(16))[::2]
    with pytest.raises(BufferError):
        fn(good, strided)


@pytest.mark.parametrize(("fn", "good"), [(_g711.encode16, ENC_TABLE), (_g711.decode8, PAIR_TABLE)])
def test_argument_count(fn, good):
    for args in ((), (good,), (good, b"", b"")):
        with pytest.raises(TypeError, match="expected 2 arguments"):
            fn(*args)
    with pytest.raises(TypeError):
        fn(good, data=b"")  # positional only
