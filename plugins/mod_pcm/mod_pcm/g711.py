"""G.711 μ-law and A-law, bit-exact with FreeSWITCH's ``g711.h``, vectorised.

FreeSWITCH's encoders are spandsp's, not the ITU-T G.191 reference and not CPython's
``audioop``: for a few hundred negative inputs per law they give a different code (see
``tests/test_g711.py``). So the tables here are computed from the ``g711.h`` algorithm
(``shared/spec/timers-codecs.md`` §5), once, at import, over every input:

* ``ULAW_ENCODE`` / ``ALAW_ENCODE``: 65,536 codes (``uint8``), indexed by the bit pattern of
  the 16-bit sample (``sample & 0xFFFF``);
* ``ULAW_DECODE`` / ``ALAW_DECODE``: 256 linear samples (``int16``), indexed by the code.

Linear audio is 16-bit signed samples in **host byte order**, as inside FreeSWITCH's core
(``short *``); the RTP layer, not the codec, deals with network order.

Speed (``bench/codecs.py`` has the figures). No function here loops over samples in Python.
Two implementations, chosen at import (``IMPLEMENTATION``); both use the tables above:

**"C"**, when the optional extension ``mod_pcm._g711`` was built (``setup.py`` builds it
wherever a C compiler is found). It holds two generic gathers, no G.711: ``encode16`` (each
16-bit sample through the 65,536-code table) and ``decode8`` (each two codes through a
65,536-entry table of sample pairs), given these tables as bytes. Computing the tables stays
here, so bit-exactness has one source, and the tests run every input through both
implementations. Why C: numpy's fixed cost per call is more than audioop's whole call on a
20 ms frame, so no numpy encoder reaches half audioop's frame rate; and no numpy or stdlib
primitive gathers faster than audioop's decode loop (see below). The figures against
``audioop`` are in ``bench/README.md`` (``bench/codecs.py``).

**"numpy"**, without the extension (an install on a machine with no C compiler): just as
exact, slower where numpy's per-call cost shows, and short of issue #6's targets for
single frames and for decoding:

* **encode** is one ``numpy.take`` from the 64 KiB table (``np.frombuffer`` makes the index
  array without copying). A 16-bit → 8-bit map has no pure-``bytes`` equivalent.
* **decode** of a short input (a packet) avoids numpy's per-call cost (several times what the
  conversion itself costs at 160 samples): ``codecs.charmap_decode``
  maps each code to one character whose UTF-16 encoding is the sample's two bytes, the UTF-16
  encoder lays them out, and one ``bytes.translate`` undoes a byte permutation that keeps
  every character out of the surrogate range (U+D800-U+DFFF), which the encoder would
  otherwise reject or send through its slow error handler. Three C calls, no numpy.
* **decode** of a long input (a batch) reads the codes two at a time as ``uint16`` and takes
  both samples at once from a 65,536-entry ``uint32`` pair table: half as many gathers as a
  256-entry lookup, which is what numpy spends its time on.

Slower than ``audioop`` for single frames, faster for 1 s batches of encoding (audioop
searches the segment table per sample): figures in ``bench/README.md``.

FreeSWITCH's *decoders* are bit-identical to audioop's, and this module used to decode with
audioop's C loop when it was there. The C extension is faster, and for installs without a
compiler a third implementation was not worth a dependency (``audioop-lts`` from Python 3.13)
and the import of a deprecated module.
"""

from __future__ import annotations

import codecs
import functools
import sys
from collections.abc import Callable

import numpy as np

import softswitch
from softswitch import CodecError

# softswitch.pure_python() (SOFTSWITCH_PURE_PYTHON=1) arrived with the kernel's API 0.2; a 0.1
# kernel, which this module still supports, has no such switch.
_pure_python = getattr(softswitch, "pure_python", None)
if _pure_python is not None and _pure_python():
    _speedups = None
else:
    try:  # the optional C gathers (setup.py builds them where a compiler is available)
        from . import _g711 as _speedups
    except ImportError:  # pragma: no cover - exercised by installs without a compiler
        _speedups = None

__all__ = [
    "ULAW_ENCODE",
    "ULAW_DECODE",
    "ALAW_ENCODE",
    "ALAW_DECODE",
    "ulaw_encode",
    "ulaw_decode",
    "alaw_encode",
    "alaw_decode",
    "make_encoder",
    "make_decoder",
    "IMPLEMENTATION",
    "SHORT_DECODE_BYTES",
]

#: Which gathers :func:`make_encoder` and :func:`make_decoder` use: ``"C"`` when the optional
#: extension ``mod_pcm._g711`` was built (and ``SOFTSWITCH_PURE_PYTHON=1`` was not set when
#: this was imported), else ``"numpy"`` (numpy and string codecs).
IMPLEMENTATION = "C" if _speedups is not None else "numpy"

#: The linear sample type: 16-bit, host byte order (FreeSWITCH's ``short``).
LINEAR = np.dtype("=i2")
_U16 = np.dtype("=u2")
_U8 = np.dtype(np.uint8)

#: Without the C extension, inputs up to this many bytes decode through the string codecs,
#: longer ones through numpy:
#: where the two cross over on the development machine, between 320 and 400 bytes
#: (``python bench/codecs.py --crossover``). Packets of 10 to 40 ms at 8 kHz stay below it.
SHORT_DECODE_BYTES = 360


# ---------------------------------------------------------------------------------------------
# Tables, from the g711.h algorithm (computed for all inputs at once)
# ---------------------------------------------------------------------------------------------


def _all_samples() -> np.ndarray:
    """Every 16-bit sample, in the order of its bit pattern (index i is ``int16(i)``), as int64."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int64)


def _top_bit(v: np.ndarray) -> np.ndarray:
    """``top_bit`` of g711.h for values 1 .. 2**32-1: the index of the highest set bit."""
    top = np.zeros(v.shape, dtype=np.int64)
    for bit in range(1, 32):  # 31 vectorised passes at import, not a loop over samples
        top[(v >> bit) != 0] = bit
    return top


def _ulaw_encode_table() -> np.ndarray:
    x = _all_samples()
    neg = x < 0
    v = np.where(neg, 0x84 - x, 0x84 + x)          # ULAW_BIAS, sign split
    mask = np.where(neg, 0x7F, 0xFF)
    seg = _top_bit(v | 0xFF) - 7
    shift = np.minimum(seg, 7) + 3
    code = ((np.minimum(seg, 7) << 4) | ((v >> shift) & 0x0F)) ^ mask
    code = np.where(seg >= 8, 0x7F ^ mask, code)   # no explicit clip: same result as 32635
    return code.astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    x = _all_samples()
    neg = x < 0
    mask = np.where(neg, 0x55, 0xD5)               # ALAW_AMI_MASK, sign bit set for x >= 0
    v = np.where(neg, -x - 8, x)                   # -1..-7 give v < 0: "a tiny step below zero"
    seg = _top_bit((v & 0xFFFFFFFF) | 0xFF) - 7    # g711.h's top_bit takes an unsigned int
    s = np.minimum(seg, 7)
    shift = np.where(s == 0, 4, s + 3)
    code = ((s << 4) | ((v >> shift) & 0x0F)) ^ mask
    code = np.where(seg >= 8, np.where(v >= 0, 0x7F ^ mask, 0x00 ^ mask), code)
    return code.astype(np.uint8)


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(LINEAR)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    i = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    i = np.where(seg != 0, (i + 0x108) << np.maximum(seg - 1, 0), i + 8)
    return np.where(a & 0x80, i, -i).astype(LINEAR)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


ULAW_ENCODE = _readonly(_ulaw_encode_table())
ALAW_ENCODE = _readonly(_alaw_encode_table())
ULAW_DECODE = _readonly(_ulaw_decode_table())
ALAW_DECODE = _readonly(_alaw_decode_table())


def _pair_table(decode: np.ndarray) -> np.ndarray:
    """``uint32`` entry i = the two samples of the two codes whose bytes make ``uint16`` i.

    Built through native-order views on both sides, so it is right on either endianness.
    """
    codes = np.arange(65536, dtype=np.uint32).astype(_U16).view(_U8).reshape(-1, 2)
    return _readonly(np.ascontiguousarray(decode[codes]).view(np.dtype("=u4")).reshape(-1))


def _string_tables(decode: np.ndarray) -> tuple[str, bytes]:
    """The character map and byte permutation of the short-input decoder.

    Character for code c = ``(p[hi] << 8) | p[lo]`` (hi, lo: the sample's bytes), where the
    involution p swaps D8-DF with eight byte values that are never a sample's high byte, so no
    character is a surrogate. ``bytes.translate(p)`` afterwards restores the sample bytes.
    """
    samples = [int(s) & 0xFFFF for s in decode]
    highs = {s >> 8 for s in samples}
    spare = [b for b in range(256) if b not in highs and not 0xD8 <= b <= 0xDF]
    perm = list(range(256))
    for k, b in enumerate(range(0xD8, 0xE0)):
        perm[b], perm[spare[k]] = spare[k], b
    chars = "".join(chr((perm[s >> 8] << 8) | perm[s & 0xFF]) for s in samples)
    # charmap_decode reads U+FFFE as "undefined"; the permutation never makes it, but check.
    if any(0xD800 <= ord(c) <= 0xDFFF or ord(c) == 0xFFFE for c in chars):  # pragma: no cover
        raise RuntimeError("mod_pcm: cannot build the G.711 string decoder table")
    return chars, bytes(perm)


# ---------------------------------------------------------------------------------------------
# Encoders and decoders
# ---------------------------------------------------------------------------------------------

_LAWS = {
    "ulaw": (ULAW_ENCODE, ULAW_DECODE),
    "alaw": (ALAW_ENCODE, ALAW_DECODE),
}
_PAIRS = {law: _pair_table(dec) for law, (_, dec) in _LAWS.items()}
_STRINGS = {law: _string_tables(dec) for law, (_, dec) in _LAWS.items()}
_utf16_host = codecs.utf_16_le_encode if sys.byteorder == "little" else codecs.utf_16_be_encode
#: The C gathers take their tables as bytes (the same tables, copied once).
_ENCODE_BYTES = {law: enc.tobytes() for law, (enc, _) in _LAWS.items()}
_PAIRS_BYTES = {law: pairs.tobytes() for law, pairs in _PAIRS.items()}

Transcode = Callable[[bytes], bytes]


def make_encoder(law: str, channels: int = 1, label: str | None = None) -> Transcode:
    """An encoder ``f(linear: bytes) -> bytes`` for ``law`` ("ulaw" or "alaw").

    :param channels: interleaved channels; the input must hold whole sample frames
        (``2 * channels`` bytes each).
    :param label: how error messages name the codec (``PCMU@8000h@20i``).
    :raises CodecError: (from the encoder) when the input is not whole sample frames.
    """
    if _speedups is not None:
        return _c_encoder(law, channels, label)
    return _numpy_encoder(law, channels, label)


def _encoder(law: str, channels: int, label: str | None, gather: Transcode) -> Transcode:
    """An encoder around ``gather`` (codes for whole host-order 16-bit samples; ValueError for
    an odd byte count), with the error messages of :func:`make_encoder`."""
    unit = 2 * channels
    name = label or ("PCMU" if law == "ulaw" else "PCMA")

    if channels == 1:
        # gather already refuses an odd byte count (ValueError): turning that into a CodecError
        # costs nothing on the good path, unlike a length check on every call.
        def encode(linear: bytes) -> bytes:
            try:
                return gather(linear)
            except ValueError:
                if len(linear) & 1:
                    raise CodecError(_whole_samples(name, "encode", len(linear), 2, 1,
                                                    linear=True)) from None
                raise
    else:
        def encode(linear: bytes) -> bytes:
            n = len(linear)
            if n % unit:
                raise CodecError(_whole_samples(name, "encode", n, unit, channels, linear=True))
            return gather(linear)

    encode.__doc__ = f"G.711 {law} encode ({channels} ch): 16-bit host-order linear -> codes."
    encode.__qualname__ = encode.__name__ = f"{law}_encode"
    return encode


def _c_encoder(law: str, channels: int = 1, label: str | None = None) -> Transcode:
    """The encoder on the C gather ``_g711.encode16`` over the same 65,536-code table."""
    return _encoder(law, channels, label,
                    functools.partial(_speedups.encode16, _ENCODE_BYTES[law]))  # type: ignore[union-attr]


def _numpy_encoder(law: str, channels: int = 1, label: str | None = None) -> Transcode:
    """The encoder without the C extension: one ``numpy.take`` from the 65,536-code table."""
    take, frombuffer, u16 = _LAWS[law][0].take, np.frombuffer, _U16

    def gather(linear: bytes) -> bytes:  # np.frombuffer refuses an odd byte count
        return take(frombuffer(linear, u16)).tobytes()

    return _encoder(law, channels, label, gather)


def make_decoder(law: str, channels: int = 1, label: str | None = None) -> Transcode:
    """A decoder ``f(codes: bytes) -> bytes`` (16-bit host-order linear) for ``law``.

    :param channels: interleaved channels; the input must be a multiple of ``channels`` bytes.
    :param label: how error messages name the codec.
    """
    if _speedups is not None:
        return _c_decoder(law, channels, label)
    return _numpy_decoder(law, channels, label)


def _decoder(law: str, channels: int, label: str | None, gather: Transcode) -> Transcode:
    """A decoder around ``gather`` (samples for any number of codes), with the error messages
    of :func:`make_decoder`."""
    name = label or ("PCMU" if law == "ulaw" else "PCMA")
    if channels == 1:  # every byte count is whole mono samples
        def decode(codes: bytes) -> bytes:
            return gather(codes)
    else:
        def decode(codes: bytes) -> bytes:
            n = len(codes)
            if n % channels:
                raise CodecError(_whole_samples(name, "decode", n, channels, channels))
            return gather(codes)
    decode.__doc__ = f"G.711 {law} decode ({channels} ch): codes -> 16-bit host-order linear."
    decode.__qualname__ = decode.__name__ = f"{law}_decode"
    return decode


def _c_decoder(law: str, channels: int = 1, label: str | None = None) -> Transcode:
    """The decoder on the C gather ``_g711.decode8`` over the 65,536-entry pair table."""
    return _decoder(law, channels, label,
                    functools.partial(_speedups.decode8, _PAIRS_BYTES[law]))  # type: ignore[union-attr]


def _numpy_decoder(law: str, channels: int = 1, label: str | None = None) -> Transcode:
    """The decoder without the C extension: string codecs for packets, numpy for batches."""
    table = _LAWS[law][1]
    chars, perm = _STRINGS[law]
    pairs = _PAIRS[law]
    charmap_decode, utf16, short = codecs.charmap_decode, _utf16_host, SHORT_DECODE_BYTES
    take, take_pairs, frombuffer, u8, u16 = table.take, pairs.take, np.frombuffer, _U8, _U16

    def gather(codes: bytes) -> bytes:
        n = len(codes)
        if n <= short:
            return utf16(charmap_decode(codes, None, chars)[0])[0].translate(perm)
        # mode="wrap": the indices are in range by construction (uint8 into 256 entries,
        # uint16 into 65,536); numpy's wrap loop skips the check mode="raise" makes.
        if n & 1:
            return take(frombuffer(codes, u8), mode="wrap").tobytes()
        return take_pairs(frombuffer(codes, u16), mode="wrap").tobytes()

    return _decoder(law, channels, label, gather)


def _whole_samples(name: str, op: str, n: int, unit: int, channels: int,
                   linear: bool = False) -> str:
    what = (f"{channels} channel(s) x 16-bit host-order linear samples" if linear
            else f"one code byte per sample and channel, {channels} channel(s)")
    return (f"{name} {op}: {n} bytes is not a whole number of samples; expected a multiple of "
            f"{unit} bytes ({what}). Nothing was {op}d: pass whole samples "
            f"(keep the remainder for the next call).")


#: The code paths, by name: (encoder factory, decoder factory), each with the signature of
#: make_encoder / make_decoder. ``"C"`` only when the extension is built. The tests run every
#: path present; ``bench/codecs.py`` times the numpy path beside the active one.
_PATHS: dict[str, tuple[Callable[..., Transcode], Callable[..., Transcode]]] = {
    "numpy": (_numpy_encoder, _numpy_decoder),
}
if _speedups is not None:
    _PATHS["C"] = (_c_encoder, _c_decoder)

#: Mono encoders and decoders, for use without a kernel (``bench/codecs.py`` uses these).
ulaw_encode = make_encoder("ulaw")
ulaw_decode = make_decoder("ulaw")
alaw_encode = make_encoder("alaw")
alaw_decode = make_decoder("alaw")
