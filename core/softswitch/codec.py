"""The codec interface (``switch_core_codec.c``): implementations, the registry query and
opening a codec from FreeSWITCH's codec string (``PCMU``, ``PCMU@8000h@20i``,
``L16@16000h@20i@2c``).

A codec module (mod_pcm) builds a :class:`CodecInterface` per codec (``G.711 ulaw``) with one
:class:`CodecImplementation` per rate/ptime/channels it supports, and adds it in its load hook
with ``module.add_codec(iface)``. FreeSWITCH's registration filter is applied when the module
registers (rejected implementations are logged at CRIT).

``encode`` / ``decode`` take and return ``bytes`` for one frame or many whole frames.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .interfaces import Interface

if TYPE_CHECKING:
    from .interfaces import Registry

log = logging.getLogger(__name__)

__all__ = [
    "CodecFlag",
    "CodecImplementation",
    "CodecInterface",
    "Codec",
    "CodecError",
    "CodecSpec",
    "parse_codec_string",
    "find_implementation",
]


class CodecError(ValueError):
    """Unknown codec, no such implementation, or data that is not whole frames."""


class CodecFlag(enum.IntFlag):
    ENCODE = 1 << 0
    DECODE = 1 << 1
    SILENCE_START = 1 << 2
    SILENCE_STOP = 1 << 3
    SILENCE = 1 << 4
    FREE_POOL = 1 << 5
    AAL2 = 1 << 6
    PASSTHROUGH = 1 << 7
    READY = 1 << 8


Transcode = Callable[[bytes], bytes]


@dataclass(eq=False)
class CodecImplementation:
    """One rate/ptime/channels variant of a codec (``switch_codec_implementation_t``)."""

    iananame: str
    ianacode: int
    samples_per_second: int
    bits_per_second: int
    microseconds_per_packet: int
    samples_per_packet: int
    decoded_bytes_per_packet: int
    encoded_bytes_per_packet: int
    number_of_channels: int = 1
    codec_frames_per_packet: int = 1
    actual_samples_per_second: int = 0
    codec_type: str = "audio"
    fmtp: str | None = None
    encode: Transcode | None = None
    decode: Transcode | None = None
    #: optional ``init(codec) -> bool`` and ``destroy(codec)``
    init: Callable[[Codec], bool] | None = None
    destroy: Callable[[Codec], None] | None = None

    def __post_init__(self) -> None:
        if not self.actual_samples_per_second:
            self.actual_samples_per_second = self.samples_per_second

    @property
    def ptime(self) -> int:
        """Packet time in ms."""
        return self.microseconds_per_packet // 1000

    def describe(self) -> str:
        return (f"{self.iananame} {self.samples_per_second}hz {self.ptime}ms "
                f"{self.number_of_channels}ch")


def _ptime_ok(rate: int, ms: int) -> bool:
    """FreeSWITCH's audio registration filter (switch_loadable_module.c)."""
    if rate == 8000:
        ok = ms <= 120 and ms % 2 == 0
    elif rate == 12000:
        ok = ms <= 100 and ms % 2 == 0
    elif rate in (16000, 24000, 32000):
        ok = ms <= 60 and ms % 2 == 0
    elif rate in (44100, 48000):
        ok = ms <= 40 and ms % 2 == 0
    elif rate in (11025, 22050):
        ok = ms < 120
    else:
        return False
    return ok and (rate / 1000) * ms < 8192


@dataclass(eq=False)
class CodecInterface(Interface):
    """A codec (``G.711 ulaw``) and its implementations, most recently added first."""

    implementations: list[CodecImplementation] = field(default_factory=list)
    fmtp_parser: Callable[[str], dict] | None = None

    def __post_init__(self) -> None:
        self.kind = "codec"

    def add_implementation(self, impl: CodecImplementation | None = None, **kw) -> CodecImplementation:
        """Add an implementation (object or its fields as keywords); it goes first in the list."""
        if impl is None:
            impl = CodecImplementation(**kw)
        self.implementations.insert(0, impl)
        return impl

    def validate(self) -> bool:
        """Apply FreeSWITCH's registration filter; False rejects the whole interface."""
        for impl in self.implementations:
            if not impl.iananame or impl.decoded_bytes_per_packet > 8192:
                log.critical(
                    "Failed to load codec interface %s from %s due to no iana name in an "
                    "implementation or decoded bytes per packet over 8192.", self.name, self.module_name)
                return False
        kept = []
        for impl in self.implementations:
            if impl.codec_type == "audio" and not _ptime_ok(impl.samples_per_second, impl.ptime):
                log.critical("Rejected codec name: %s rate: %d ptime: %d", impl.iananame,
                             impl.samples_per_second, impl.ptime)
                continue
            kept.append(impl)
        self.implementations = kept
        return True

    def iananames(self) -> set[str]:
        return {i.iananame.lower() for i in self.implementations}


class Codec:
    """An opened codec: one implementation, for encoding and/or decoding."""

    __slots__ = ("implementation", "interface", "flags", "private", "fmtp_in")

    def __init__(self, interface: CodecInterface, implementation: CodecImplementation,
                 flags: CodecFlag = CodecFlag.ENCODE | CodecFlag.DECODE, fmtp: str | None = None) -> None:
        self.interface = interface
        self.implementation = implementation
        self.flags = CodecFlag(flags)
        self.private = None
        self.fmtp_in = fmtp
        if implementation.init is not None and implementation.init(self) is False:
            raise CodecError(f"codec {implementation.describe()} refused to initialise")

    def encode(self, decoded: bytes) -> bytes:
        """Encode linear audio (one or many whole frames); ``bytes`` in, ``bytes`` out."""
        if not self.flags & CodecFlag.ENCODE:
            raise CodecError(f"{self.implementation.describe()} was not opened for encoding")
        fn = self.implementation.encode
        if fn is None:
            raise CodecError(f"{self.implementation.describe()} cannot encode")
        return fn(decoded)

    def decode(self, encoded: bytes) -> bytes:
        """Decode one or many whole frames to linear audio."""
        if not self.flags & CodecFlag.DECODE:
            raise CodecError(f"{self.implementation.describe()} was not opened for decoding")
        fn = self.implementation.decode
        if fn is None:
            raise CodecError(f"{self.implementation.describe()} cannot decode")
        return fn(encoded)

    def destroy(self) -> None:
        if self.implementation.destroy is not None:
            self.implementation.destroy(self)

    def __repr__(self) -> str:
        return f"<Codec {self.implementation.describe()}>"


@dataclass(frozen=True)
class CodecSpec:
    name: str
    rate: int = 0
    ptime: int = 0
    channels: int = 1
    bitrate: int = 0
    module: str | None = None
    fmtp: str | None = None


_PART = re.compile(r"^(\d+)([hkicb])$", re.IGNORECASE)


def parse_codec_string(text: str) -> CodecSpec:
    """Parse ``NAME[@<rate>h|@<n>k][@<ms>i][@<ch>c][@<bps>b]`` (``module.NAME`` allowed).

    :raises CodecError: for an empty name or a part that is none of those.
    """
    text = text.strip()
    fmtp = None
    if "~" in text:
        text, fmtp = text.split("~", 1)
    name, *parts = text.split("@")
    if not name:
        raise CodecError(f"codec string {text!r} has no codec name")
    rate = ptime = bitrate = 0
    channels = 1
    for part in parts:
        m = _PART.match(part.strip())
        if not m:
            raise CodecError(
                f"codec string {text!r}: cannot read {part!r} (use <rate>h, <kHz>k, <ms>i, <n>c or <bps>b)")
        n, unit = int(m.group(1)), m.group(2).lower()
        if unit == "h":
            rate = n
        elif unit == "k":
            rate = n * 1000
        elif unit == "i":
            ptime = n
        elif unit == "c":
            channels = n
        else:
            bitrate = n
    module = None
    if "." in name and not name.startswith("G.") and not name.lower().startswith("g."):
        module, name = name.split(".", 1)
    return CodecSpec(name, rate, ptime, channels, bitrate, module, fmtp)


def find_implementation(registry: Registry, spec: CodecSpec) -> tuple[CodecInterface, CodecImplementation]:
    """Choose an implementation as ``switch_core_codec_init`` does.

    With no ptime: the first implementation (list order) of 20 ms matching the non-zero rate,
    bitrate and channels; else the first matching every non-zero criterion.
    """
    lname = spec.name.lower()
    candidates = [
        i for i in reversed(registry.all("codec"))  # the newest module's interface first
        if isinstance(i, CodecInterface) and lname in i.iananames()
        and (spec.module is None or i.module_name == spec.module)
    ]
    if not candidates:
        raise CodecError(f"Invalid codec {spec.name}! (no loaded module provides it; is mod_pcm loaded?)")
    iface = candidates[0]
    impls = [i for i in iface.implementations if i.iananame.lower() == lname]

    def fits(i: CodecImplementation, ptime: int) -> bool:
        return ((not spec.rate or spec.rate == i.actual_samples_per_second)
                and (not spec.bitrate or spec.bitrate == i.bits_per_second)
                and (not ptime or ptime == i.ptime)
                and (not spec.channels or spec.channels == i.number_of_channels))

    ptime = spec.ptime or 20
    for impl in impls:
        if fits(impl, ptime):
            return iface, impl
    raise CodecError(
        f"Codec {spec.name} Exists but not at the desired implementation. "
        f"{spec.rate}hz {spec.ptime}ms {spec.channels}ch")
