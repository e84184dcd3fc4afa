"""The codec interfaces and implementations FreeSWITCH's CORE_PCM_MODULE registers.

:func:`build_interfaces` follows ``src/switch_pcm.c`` (``core_pcm_load`` then
``mod_g711_load``) call by call: the same interfaces in the same order, the same 151
implementations added in the same order (each interface lists them most recently added first,
as ``switch_core_codec_add_implementation`` prepends), with FreeSWITCH's quirks kept — the L16
10-ms-step stereo entries whose encoded size and bit rate are not doubled, 44.1 kHz stereo at
705600 bps, the 11025 Hz 32 ms entry of 256 samples (``shared/spec/timers-codecs.md`` §4).
The sizes matter: they are what ``show codec`` reports and what SDP negotiation and packet
sizing are computed from.

L24 (payload 96), added to ``switch_pcm.c`` after 1.10.12, is not part of the spec and not
registered here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from softswitch import Codec, CodecError, CodecFlag, CodecInterface, Status

__all__ = ["build_interfaces", "raw_status", "INTERFACE_NAMES"]

#: Interface names in registration order (``SWITCH_ADD_CODEC`` appends).
INTERFACE_NAMES = (
    "PROXY VIDEO PASS-THROUGH",
    "PROXY PASS-THROUGH",
    "RAW Signed Linear (16 bit)",
    "G.711 ulaw",
    "G.711 alaw",
)

_OPEN = CodecFlag.ENCODE | CodecFlag.DECODE


def _init_needs_direction(codec: Codec) -> bool:
    """``switch_g711u_init`` / ``switch_raw_init``: fail unless opened to encode or decode."""
    return bool(codec.flags & _OPEN)


def _init_always(codec: Codec) -> bool:
    """``switch_proxy_init``: always succeeds."""
    return True


def _proxy_refuses(data: bytes) -> bytes:
    """``switch_proxy_encode`` / ``decode`` return FALSE: a proxy codec never transcodes."""
    raise CodecError("PROXY does not transcode: with a PROXY codec the media passes through "
                     "untouched (FreeSWITCH's proxy encode/decode return FALSE); open PCMU, "
                     "PCMA or L16 to convert audio")


def _label(iana: str, rate: int, ms: int, channels: int) -> str:
    return f"{iana}@{rate}h@{ms}i" + (f"@{channels}c" if channels != 1 else "")


def _raw_passthrough(label: str, channels: int):
    """L16's encode and decode: the data is already what the other side wants (NOOP).

    FreeSWITCH's L16 is host byte order inside the core, like every decoded frame, so there is
    nothing to convert; the RTP layer swaps to network order. What is checked is that the data
    is whole samples, so that a caller that sliced a buffer wrongly hears about it.
    """
    unit = 2 * channels

    def passthrough(data: bytes) -> bytes:
        n = len(data)
        if n % unit:
            raise CodecError(
                f"{label}: {n} bytes is not a whole number of samples; expected a multiple of "
                f"{unit} bytes ({channels} channel(s) x 16-bit host-order linear samples). "
                "Pass whole samples (keep the remainder for the next call).")
        return data if type(data) is bytes else bytes(data)

    passthrough.__qualname__ = passthrough.__name__ = "l16_passthrough"
    return passthrough


def raw_status(codec: Codec, other: Codec | None = None) -> Status:
    """What FreeSWITCH's L16 encode/decode would return for ``codec`` next to ``other``.

    ``Status.RESAMPLE`` when the two codecs' actual rates differ (the data was copied through
    and the caller must resample it), else ``Status.NOOP`` (the data passes unchanged).
    """
    if other is not None and (codec.implementation.actual_samples_per_second
                              != other.implementation.actual_samples_per_second):
        return Status.RESAMPLE
    return Status.NOOP


# ---------------------------------------------------------------------------------------------
# switch_pcm.c, in order
# ---------------------------------------------------------------------------------------------

Row = dict[str, Any]


def _proxy_video() -> Iterator[Row]:
    yield dict(codec_type="video", ianacode=31, iananame="PROXY-VID", samples_per_second=90000,
               bits_per_second=0, microseconds_per_packet=0, samples_per_packet=0,
               decoded_bytes_per_packet=0, encoded_bytes_per_packet=0, number_of_channels=1,
               codec_frames_per_packet=1)


def _proxy_audio() -> Iterator[Row]:
    for channels in (1, 2):
        yield dict(ianacode=0, iananame="PROXY", samples_per_second=8000, bits_per_second=0,
                   microseconds_per_packet=20000, samples_per_packet=160,
                   decoded_bytes_per_packet=320 * channels, encoded_bytes_per_packet=0,
                   number_of_channels=channels, codec_frames_per_packet=1)


def _l16(rate: int, bps: int, ms10: int, spp: int, dec: int, enc: int, channels: int,
         frames: int) -> Row:
    """One ``switch_core_codec_add_implementation`` call of the L16 interface."""
    return dict(ianacode=100, iananame="L16", samples_per_second=rate, bits_per_second=bps,
                microseconds_per_packet=ms10, samples_per_packet=spp,
                decoded_bytes_per_packet=dec, encoded_bytes_per_packet=enc,
                number_of_channels=channels, codec_frames_per_packet=frames)


def _l16_rows() -> Iterator[Row]:
    # 8000, 16000, 32000 Hz, 10 ms steps: stereo entries keep the mono encoded size and bit
    # rate, and frames per packet = samples per packet (FreeSWITCH's loop, kept as it is).
    mpf, spf, bpf, ebpf, bps, rate = 10000, 80, 160, 160, 128000, 8000
    for _ in range(3):
        for count in range(12 if rate == 8000 else 6, 0, -1):
            yield _l16(rate, bps, mpf * count, spf * count, bpf * count, ebpf * count, 1,
                       spf * count)
            yield _l16(rate, bps, mpf * count, spf * count, bpf * count * 2, ebpf * count, 2,
                       spf * count)
        rate, bps, spf, bpf, ebpf = rate * 2, bps * 2, spf * 2, bpf * 2, ebpf * 2

    def family(rate: int, bps: int, spp: int, nbytes: int, us: int, steps: int,
               bps2: int | None = None, d_spp: int | None = None, d_bytes: int | None = None,
               d_us: int | None = None) -> Iterator[Row]:
        for x in range(steps):
            s = spp + x * (d_spp if d_spp is not None else spp)
            b = nbytes + x * (d_bytes if d_bytes is not None else nbytes)
            t = us + x * (d_us if d_us is not None else us)
            yield _l16(rate, bps, t, s, b, b, 1, 1)
            yield _l16(rate, bps * 2 if bps2 is None else bps2, t, s, b * 2, b * 2, 2, 1)

    yield from family(12000, 192000, 240, 480, 20000, 5)
    yield from family(24000, 384000, 480, 960, 20000, 3)
    # "these formats below are for file playing"
    yield from family(48000, 768000, 96, 192, 2000, 5)
    yield from family(8000, 128000, 16, 32, 2000, 4)
    yield from family(16000, 256000, 32, 64, 2000, 4)
    yield from family(32000, 512000, 64, 128, 2000, 4)
    # 48 kHz 20/30/40 ms ("10ms is already registered")
    yield from family(48000, 768000, 960, 1920, 20000, 3, d_spp=480, d_bytes=960, d_us=10000)
    # 44.1 kHz: the stereo entries keep 705600 bps
    yield from family(44100, 705600, 441, 882, 10000, 3, bps2=705600)
    yield from family(22050, 352800, 441, 882, 20000, 1)
    yield from family(11025, 176400, 441, 882, 40000, 1)
    yield from family(11025, 176400, 256, 512, 32000, 1)


def _pcmu_rows() -> Iterator[Row]:
    mpf, spf, bpf, ebpf = 10000, 80, 160, 80
    for count in range(12, 0, -1):
        yield dict(ianacode=0, iananame="PCMU", samples_per_second=8000, bits_per_second=64000,
                   microseconds_per_packet=mpf * count, samples_per_packet=spf * count,
                   decoded_bytes_per_packet=bpf * count, encoded_bytes_per_packet=ebpf * count,
                   number_of_channels=1, codec_frames_per_packet=spf * count)
        if count > 4:
            continue
        for channels in (1, 2):
            yield dict(ianacode=0, iananame="PCMU", samples_per_second=48000,
                       bits_per_second=64000 * 6 * channels,
                       microseconds_per_packet=mpf * count, samples_per_packet=spf * count * 6,
                       decoded_bytes_per_packet=bpf * count * 6 * channels,
                       encoded_bytes_per_packet=ebpf * count * 6 * channels,
                       number_of_channels=channels,
                       codec_frames_per_packet=spf * count * 6 * channels)


def _pcma_rows() -> Iterator[Row]:
    mpf, spf, bpf, ebpf = 10000, 80, 160, 80
    for count in range(12, 0, -1):
        yield dict(ianacode=8, iananame="PCMA", samples_per_second=8000, bits_per_second=64000,
                   microseconds_per_packet=mpf * count, samples_per_packet=spf * count,
                   decoded_bytes_per_packet=bpf * count, encoded_bytes_per_packet=ebpf * count,
                   number_of_channels=1, codec_frames_per_packet=spf * count)


def freeswitch_rows() -> list[tuple[str, list[Row]]]:
    """``(interface name, implementation fields in add order)`` for each interface, in order."""
    return [
        (INTERFACE_NAMES[0], list(_proxy_video())),
        (INTERFACE_NAMES[1], list(_proxy_audio())),
        (INTERFACE_NAMES[2], list(_l16_rows())),
        (INTERFACE_NAMES[3], list(_pcmu_rows())),
        (INTERFACE_NAMES[4], list(_pcma_rows())),
    ]


def _functions(row: Row) -> dict[str, Any]:
    """The init/encode/decode of one implementation; one encoder and decoder per law and
    channel count (they differ only in the error message's label)."""
    iana, channels = row["iananame"], row["number_of_channels"]
    label = _label(iana, row["samples_per_second"], row["microseconds_per_packet"] // 1000,
                   channels)
    if iana.startswith("PROXY"):
        return dict(init=_init_always, encode=_proxy_refuses, decode=_proxy_refuses)
    if iana == "L16":
        fn = _raw_passthrough(label, channels)
        return dict(init=_init_needs_direction, encode=fn, decode=fn)
    return {}  # G.711: see _defer_g711


def _defer_g711(impl: Any, law: str, channels: int, label: str) -> None:
    """Give a G.711 implementation functions that build the real ones on first use.

    The tables need numpy and about 50 ms of work; doing it when the first codec opens keeps
    the kernel's start-up fast (mod_pcm is loaded by every softswitch). Opening a codec runs
    ``init``, which swaps in the real functions before the codec binds them, so the media path
    never goes through these placeholders.
    """
    def materialize() -> None:
        from .g711 import make_decoder, make_encoder

        impl.encode = make_encoder(law, channels, label)
        impl.decode = make_decoder(law, channels, label)

    def encode(linear: bytes) -> bytes:
        materialize()
        return impl.encode(linear)

    def decode(codes: bytes) -> bytes:
        materialize()
        return impl.decode(codes)

    def init(codec: Codec) -> bool:
        if impl.encode is encode:
            materialize()
        return _init_needs_direction(codec)

    impl.encode, impl.decode, impl.init = encode, decode, init


def build_interfaces() -> list[CodecInterface]:
    """New :class:`~softswitch.CodecInterface` objects, ready for ``module.add_codec``."""
    out = []
    for name, rows in freeswitch_rows():
        iface = CodecInterface(name=name)
        for row in rows:
            impl = iface.add_implementation(**row, **_functions(row))
            if row["iananame"] in ("PCMU", "PCMA"):
                channels = row["number_of_channels"]
                _defer_g711(impl, "ulaw" if row["iananame"] == "PCMU" else "alaw", channels,
                            _label(row["iananame"], row["samples_per_second"],
                                   row["microseconds_per_packet"] // 1000, channels))
        out.append(iface)
    return out
