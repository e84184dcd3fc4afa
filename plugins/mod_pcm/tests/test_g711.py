"""G.711 bit-exactness: mod_pcm's tables and functions against FreeSWITCH's g711.h algorithm.

The reference below is the algorithm of ``shared/spec/timers-codecs.md`` §5 (FreeSWITCH's
``src/include/g711.h``), written out per value in plain Python and deliberately unlike the
vectorised table builder in ``mod_pcm/g711.py``. Every one of the 65,536 inputs and 256 codes
of each law is compared, through the tables and through the encoders and decoders of every
implementation (``PATHS``): the default one (``make_encoder``/``make_decoder``, what the codecs
use), and each of ``g711._PATHS`` explicitly, the C gathers when the extension is built and
the numpy fallback always, on each of their inner paths (short string-codec decode, long
pair-table decode, odd-length decode, batch and frame encode). ``audioop`` is *not* the
reference: where FreeSWITCH differs from it is tested explicitly.
"""

from __future__ import annotations

import importlib
import os
import struct
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_pcm import g711
from softswitch import CodecError

with warnings.catch_warnings():  # deprecated since 3.11, gone in 3.13: only a comparison here
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # pragma: no cover - Python 3.13+
        audioop = None

needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop is not in this Python")


# ---------------------------------------------------------------------------------------------
# The reference: g711.h, one value at a time
# ---------------------------------------------------------------------------------------------


def top_bit(bits: int) -> int:
    """g711.h ``top_bit`` of an unsigned 32-bit value."""
    bits &= 0xFFFFFFFF
    return bits.bit_length() - 1


def ref_linear_to_ulaw(linear: int) -> int:
    if linear < 0:
        linear = 0x84 - linear
        mask = 0x7F
    else:
        linear = 0x84 + linear
        mask = 0xFF
    seg = top_bit(linear | 0xFF) - 7
    if seg >= 8:
        return (0x7F ^ mask) & 0xFF
    return (((seg << 4) | ((linear >> (seg + 3)) & 0xF)) ^ mask) & 0xFF


def ref_ulaw_to_linear(ulaw: int) -> int:
    ulaw = ~ulaw & 0xFF
    t = (((ulaw & 0x0F) << 3) + 0x84) << ((ulaw & 0x70) >> 4)
    return (0x84 - t) if ulaw & 0x80 else (t - 0x84)


def ref_linear_to_alaw(linear: int) -> int:
    if linear >= 0:
        mask = 0x55 | 0x80
    else:
        mask = 0x55
        linear = -linear - 8
    seg = top_bit(linear | 0xFF) - 7
    if seg >= 8:
        if linear >= 0:
            return (0x7F ^ mask) & 0xFF
        return (0x00 ^ mask) & 0xFF
    shift = (seg + 3) if seg else 4
    return (((seg << 4) | ((linear >> shift) & 0x0F)) ^ mask) & 0xFF


def ref_alaw_to_linear(alaw: int) -> int:
    alaw ^= 0x55
    i = (alaw & 0x0F) << 4
    seg = (alaw & 0x70) >> 4
    if seg:
        i = (i + 0x108) << (seg - 1)
    else:
        i += 8
    return i if alaw & 0x80 else -i


LAWS = {
    "ulaw": (ref_linear_to_ulaw, ref_ulaw_to_linear, g711.ULAW_ENCODE, g711.ULAW_DECODE,
             g711.ulaw_encode, g711.ulaw_decode),
    "alaw": (ref_linear_to_alaw, ref_alaw_to_linear, g711.ALAW_ENCODE, g711.ALAW_DECODE,
             g711.alaw_encode, g711.alaw_decode),
}

#: "default": make_encoder/make_decoder (whichever implementation is active); then every
#: implementation present, by name ("C" only when mod_pcm._g711 is built, "numpy" always).
PATHS = ["default", *sorted(g711._PATHS)]


def coders(path: str, law: str, channels: int = 1, label: str | None = None):
    """(encoder, decoder) of ``law`` on ``path``."""
    if path == "default":
        return (g711.make_encoder(law, channels, label), g711.make_decoder(law, channels, label))
    make_encoder, make_decoder = g711._PATHS[path]
    return make_encoder(law, channels, label), make_decoder(law, channels, label)


ALL_SAMPLES = list(range(-32768, 32768))
#: every sample, in host byte order, in the order of ALL_SAMPLES
ALL_LINEAR = struct.pack(f"={len(ALL_SAMPLES)}h", *ALL_SAMPLES)
ALL_CODES = bytes(range(256))


@pytest.fixture(scope="module")
def reference():
    """Per law: the reference code of every sample (by value) and sample of every code."""
    out = {}
    for law, (enc, dec, *_) in LAWS.items():
        out[law] = (bytes(enc(x) for x in ALL_SAMPLES), [dec(c) for c in range(256)])
    return out


def linear(*samples: int) -> bytes:
    return struct.pack(f"={len(samples)}h", *samples)


def samples_of(data: bytes) -> list[int]:
    return list(struct.unpack(f"={len(data) // 2}h", data))


# ---------------------------------------------------------------------------------------------
# The spec's worked examples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "code"), [(0, 0xFF), (-1, 0x7F), (100, 0xF2), (-100, 0x72),
                                         (32767, 0x80), (-32768, 0x00)])
def test_ulaw_encode_spec_examples(x, code):
    assert ref_linear_to_ulaw(x) == code
    assert g711.ulaw_encode(linear(x)) == bytes([code])


@pytest.mark.parametrize(("code", "x"), [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124)])
def test_ulaw_decode_spec_examples(code, x):
    assert ref_ulaw_to_linear(code) == x
    assert g711.ulaw_decode(bytes([code])) == linear(x)


@pytest.mark.parametrize(("code", "x"), [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)])
def test_alaw_decode_spec_examples(code, x):
    assert ref_alaw_to_linear(code) == x
    assert g711.alaw_decode(bytes([code])) == linear(x)


@pytest.mark.parametrize("x", range(-7, 0))
def test_alaw_just_below_zero_is_0x55(x):
    """g711.h's "tiny step below zero": -7..-1 encode to 0x55 (Sun's g711.c gives 0x5A)."""
    assert ref_linear_to_alaw(x) == 0x55
    assert g711.alaw_encode(linear(x)) == b"\x55"


# ---------------------------------------------------------------------------------------------
# Exhaustive: 65,536 inputs and 256 codes per law
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("law", LAWS)
def test_encode_table_all_65536_inputs(law, reference):
    table = LAWS[law][2]
    assert table.dtype == np.uint8 and table.shape == (65536,)
    by_pattern = [int(table[x & 0xFFFF]) for x in ALL_SAMPLES]
    assert bytes(by_pattern) == reference[law][0]


@pytest.mark.parametrize("law", LAWS)
def test_decode_table_all_256_codes(law, reference):
    table = LAWS[law][3]
    assert table.shape == (256,)
    assert table.tolist() == reference[law][1]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
def test_encode_function_all_inputs_batch_and_frames(law, path, reference):
    encode = coders(path, law)[0]
    expected = reference[law][0]
    assert encode(ALL_LINEAR) == expected
    frames = b"".join(encode(ALL_LINEAR[i:i + 320]) for i in range(0, len(ALL_LINEAR), 320))
    assert frames == expected
    odd = b"".join(encode(ALL_LINEAR[i:i + 1234]) for i in range(0, len(ALL_LINEAR), 1234))
    assert odd == expected


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
def test_decode_function_all_codes_short_path(law, path, reference):
    """256 bytes and single codes: numpy's charmap/UTF-16/translate path (below
    SHORT_DECODE_BYTES); in C, single codes are the odd-length tail."""
    assert len(ALL_CODES) <= g711.SHORT_DECODE_BYTES
    decode = coders(path, law)[1]
    assert samples_of(decode(ALL_CODES)) == reference[law][1]
    for code in range(256):
        assert samples_of(decode(bytes([code]))) == [reference[law][1][code]]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
def test_decode_function_all_code_pairs_long_path(law, path, reference):
    """Every pair of consecutive codes (the pair table's 65,536 entries), and odd lengths."""
    decode = coders(path, law)[1]
    table = reference[law][1]
    pairs = np.arange(65536, dtype=np.uint32).astype("=u2").tobytes()  # every (b0, b1)
    expected = [table[b] for b in pairs]
    assert samples_of(decode(pairs)) == expected
    odd = pairs[: 2 * g711.SHORT_DECODE_BYTES + 1]  # long and odd: the 256-entry path
    assert samples_of(decode(odd)) == expected[: len(odd)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 159, 160, g711.SHORT_DECODE_BYTES,
                               g711.SHORT_DECODE_BYTES + 1, g711.SHORT_DECODE_BYTES + 2, 8000,
                               8001])
def test_decode_every_path_boundary(law, path, n, reference):
    decode = coders(path, law)[1]
    data = bytes((i * 37 + 11) % 256 for i in range(n))
    assert samples_of(decode(data)) == [reference[law][1][b] for b in data]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), law=st.sampled_from(sorted(LAWS)),
       path=st.sampled_from(PATHS))
def test_decode_any_bytes(data, law, path):
    ref_dec, decode = LAWS[law][1], coders(path, law)[1]
    assert samples_of(decode(data)) == [ref_dec(b) for b in data]


@settings(max_examples=200, deadline=None)
@given(samples=st.lists(st.integers(-32768, 32767), max_size=1500),
       law=st.sampled_from(sorted(LAWS)), path=st.sampled_from(PATHS))
def test_encode_any_samples(samples, law, path):
    ref_enc, encode = LAWS[law][0], coders(path, law)[0]
    assert encode(linear(*samples)) == bytes(ref_enc(x) for x in samples)


@pytest.mark.parametrize("path", PATHS)
def test_linear_is_host_byte_order(path):
    """FreeSWITCH's linear audio is ``short`` in host order; 100 must not be read as 25600."""
    encode, decode = coders(path, "ulaw")
    assert encode((100).to_bytes(2, sys.byteorder, signed=True)) == b"\xf2"
    assert decode(b"\x80") == (32124).to_bytes(2, sys.byteorder, signed=True)


@pytest.mark.parametrize("path", PATHS)
def test_bytes_like_inputs(path):
    encode, decode = coders(path, "ulaw")
    data = linear(0, -1, 100, -100)
    for form in (bytearray(data), memoryview(data), memoryview(b"\0" + data)[1:]):
        assert encode(form) == b"\xff\x7f\xf2\x72"
    codes = b"\xff\x7f\x00\x80"
    for form in (bytearray(codes), memoryview(codes), memoryview(b"\0" + codes)[1:]):
        assert decode(form) == linear(0, 0, -32124, 32124)
    long_codes = codes * 300
    assert decode(bytearray(long_codes)) == linear(0, 0, -32124, 32124) * 300
    assert encode(bytearray(data * 300)) == b"\xff\x7f\xf2\x72" * 300


@pytest.mark.parametrize("path", PATHS)
def test_empty_input(path):
    encode, decode = coders(path, "alaw")
    assert encode(b"") == b"" and decode(b"") == b""
    assert type(encode(b"")) is bytes and type(decode(b"")) is bytes


def test_tables_are_read_only():
    with pytest.raises(ValueError):
        g711.ULAW_ENCODE[0] = 0


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("law", "not_round_tripping"), [("ulaw", {0x7F}), ("alaw", set())])
def test_code_round_trip(law, not_round_tripping):
    """encode(decode(c)) == c for every code but μ-law's negative zero 0x7F (-> 0xFF)."""
    encode, decode = LAWS[law][4], LAWS[law][5]
    back = encode(decode(ALL_CODES))
    assert {c for c in range(256) if back[c] != c} == not_round_tripping
    if law == "ulaw":
        assert back[0x7F] == 0xFF


@pytest.mark.parametrize("law", LAWS)
def test_linear_round_trip_is_stable(law):
    """decode(encode(x)) is a fixed point: a second encode/decode pass changes nothing.

    (Compared as linear audio: μ-law's -1..-3 encode to 0x7F, which decodes to 0, which
    encodes to 0xFF, the same level.)
    """
    encode, decode = LAWS[law][4], LAWS[law][5]
    once = decode(encode(ALL_LINEAR))
    assert decode(encode(once)) == once


@pytest.mark.parametrize("law", LAWS)
def test_linear_round_trip_error_is_within_the_step(law):
    """The quantisation error stays within the segment's step (about 3 % of the value)."""
    encode, decode = LAWS[law][4], LAWS[law][5]
    back = np.frombuffer(decode(encode(ALL_LINEAR)), dtype="=i2").astype(np.int64)
    x = np.arange(-32768, 32768, dtype=np.int64)
    err = np.abs(back - x)
    assert int(err.max()) <= 1024
    big = np.abs(x) >= 256
    assert bool(np.all(err[big] <= np.abs(x[big]) / 16))


# ---------------------------------------------------------------------------------------------
# FreeSWITCH is not audioop (nor G.191)
# ---------------------------------------------------------------------------------------------


@needs_audioop
@pytest.mark.parametrize(("law", "count", "lowest", "highest"),
                         [("ulaw", 381, -31611, -1), ("alaw", 889, -31751, -17)])
def test_encoder_differs_from_audioop(law, count, lowest, highest):
    encode = LAWS[law][4]
    theirs = getattr(audioop, f"lin2{law}")(ALL_LINEAR, 2)
    ours = encode(ALL_LINEAR)
    differ = [x for x, a, b in zip(ALL_SAMPLES, ours, theirs, strict=True) if a != b]
    assert len(differ) == count
    assert all(x < 0 for x in differ)
    assert (min(differ), max(differ)) == (lowest, highest)


@needs_audioop
@pytest.mark.parametrize(("law", "x", "freeswitch", "audioop_code"), [
    ("ulaw", -1, 0x7F, 0x7E),
    ("ulaw", -2, 0x7F, 0x7E),
    ("ulaw", -31611, 0x01, 0x00),
    ("alaw", -17, 0x55, 0x54),
    ("alaw", -31751, 0x2B, 0x2A),
])
def test_encoder_differences_from_audioop_values(law, x, freeswitch, audioop_code):
    encode = LAWS[law][4]
    assert encode(linear(x)) == bytes([freeswitch])
    assert LAWS[law][0](x) == freeswitch
    assert getattr(audioop, f"lin2{law}")(linear(x), 2) == bytes([audioop_code])


@needs_audioop
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
def test_decoders_agree_with_audioop(law, path):
    decode = coders(path, law)[1]
    theirs = getattr(audioop, f"{law}2lin")
    assert decode(ALL_CODES) == theirs(ALL_CODES, 2)
    long = ALL_CODES * 40
    assert decode(long) == theirs(long, 2)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("n", [1, 3, 321])
def test_odd_linear_length_is_refused(law, path, n):
    encode = coders(path, law)[0]
    for data in (b"\0" * n, bytearray(n), memoryview(b"\0" * n)):
        with pytest.raises(CodecError) as e:
            encode(data)
        msg = str(e.value)
        assert f"{n} bytes" in msg and "multiple of 2" in msg and "encode" in msg
        assert msg.startswith("PCMU encode: " if law == "ulaw" else "PCMA encode: ")
    with pytest.raises(CodecError, match=rf"^PCMU@8000h@20i encode: {n} bytes"):
        coders(path, law, label="PCMU@8000h@20i")[0](b"\0" * n)


@pytest.mark.parametrize("path", PATHS)
def test_stereo_encoder_wants_whole_frames(path):
    encode = coders(path, "ulaw", channels=2, label="PCMU@48000h@20i@2c")[0]
    assert encode(linear(1, 2)) == bytes([ref_linear_to_ulaw(1), ref_linear_to_ulaw(2)])
    with pytest.raises(CodecError, match=r"PCMU@48000h@20i@2c encode: 6 bytes .* multiple of 4"):
        encode(b"\0" * 6)
    with pytest.raises(CodecError, match=r"PCMU@48000h@20i@2c encode: 3 bytes .* multiple of 4"):
        encode(b"\0" * 3)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("n", [1, 3, g711.SHORT_DECODE_BYTES + 1, 8001])
def test_stereo_decoder_wants_whole_frames(path, n):
    decode = coders(path, "alaw", channels=2, label="PCMA-2ch")[1]
    with pytest.raises(CodecError, match=rf"PCMA-2ch decode: {n} bytes .* multiple of 2"):
        decode(b"\xd5" * n)
    assert decode(b"\xd5" * (n + 1)) == linear(8) * (n + 1)


@pytest.mark.parametrize("path", PATHS)
def test_not_bytes_is_a_type_error(path):
    encode, decode = coders(path, "ulaw")
    for bad in ("abcd", None, 1234, [0, 0]):
        with pytest.raises(TypeError):
            encode(bad)
        with pytest.raises(TypeError):
            decode(bad)


# ---------------------------------------------------------------------------------------------
# Every implementation, stereo; which one is active
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("channels", [1, 2])
def test_every_path_every_code_mono_and_stereo(path, law, channels, reference):
    encode, decode = coders(path, law, channels)
    table = reference[law][1]
    for code in range(0, 256, channels):  # short inputs, every code
        data = bytes(range(code, code + channels))
        assert samples_of(decode(data)) == [table[b] for b in data]
    pairs = np.arange(65536, dtype=np.uint32).astype("=u2").tobytes()  # long, every pair
    assert samples_of(decode(pairs)) == [table[b] for b in pairs]
    assert encode(ALL_LINEAR) == reference[law][0]
    if channels == 1:  # long and odd: numpy's 256-entry path, C's tail
        odd = pairs[: 2 * g711.SHORT_DECODE_BYTES + 1]
        assert samples_of(decode(odd)) == [table[b] for b in odd]
    else:
        with pytest.raises(CodecError, match="not a whole number of samples"):
            decode(b"\x01\x02\x03")


def test_active_implementation():
    """make_encoder/make_decoder use the C gathers exactly when the extension is built."""
    assert set(g711._PATHS) <= {"C", "numpy"} and "numpy" in g711._PATHS
    active = "C" if "C" in g711._PATHS else "numpy"
    assert g711.IMPLEMENTATION == active
    make_encoder, make_decoder = g711._PATHS[active]
    for law in LAWS:
        for channels in (1, 2):
            assert (g711.make_encoder(law, channels).__code__
                    is make_encoder(law, channels).__code__)
            assert (g711.make_decoder(law, channels).__code__
                    is make_decoder(law, channels).__code__)
    assert g711.ulaw_decode.__code__ is make_decoder("ulaw").__code__


@pytest.mark.skipif(os.environ.get("SOFTSWITCH_REQUIRE_SPEEDUPS") != "1",
                    reason="SOFTSWITCH_REQUIRE_SPEEDUPS=1 not set (tox's mod_pcm env sets it)")
def test_speedups_are_built_where_required():
    """In tox's mod_pcm env (so in CI) the C extension must be there: no silent fallback."""
    importlib.import_module("mod_pcm._g711")  # its ImportError, if any, says why
    assert g711.IMPLEMENTATION == "C"
