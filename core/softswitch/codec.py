"""The codec interface (``switch_core_codec.c``): implementations, the registry query and
opening a codec from FreeSWITCH's codec string (``PCMU``, ``PCMU@8000h@20i``,
``L16@16000h@20i@2c``).

A codec module (mod_pcm) builds a :class:`CodecInterface` per codec (``G.711 ulaw``) with one
:class:`CodecImplementation` per rate/ptime/channels it supports, and adds it in its load hook
with ``module.add_codec(iface)``. FreeSWITCH's registration filter is applied when the module
registers (rejected implementations are logged at CRIT).

``encode`` / ``decode`` take and return ``bytes`` for one frame or many whole frames.

Two ways to choose an implementation, as in FreeSWITCH:

* a **codec string** (``core.codec_open("PCMU")``): what ``switch_loadable_module_get_codecs_sorted``
  does with ``absolute_codec_string`` and codec preferences. A missing rate is the codec's
  default rate (8000 Hz; 48000 Hz for opus), a missing ptime its default ptime (20 ms; 30 ms for
  iLBC, iSAC, G723), channels default to 1; so ``PCMU`` is ``PCMU@8000h@20i``.
* ``switch_core_codec_init`` (``defaults=False``): a zero rate matches any rate, and a zero ptime
  prefers 20 ms, then anything. ``PCMU`` then opens whatever 20 ms implementation was added last
  (mod_pcm's 48 kHz one), which is why codec strings exist.
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
    "list_implementations",
    "default_rate",
    "default_ptime",
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


#: FreeSWITCH's ``SWITCH_RECOMMENDED_BUFFER_SIZE``: the most decoded bytes one packet may have.
SWITCH_RECOMMENDED_BUFFER_SIZE = 8192


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
        """Apply FreeSWITCH's registration filter; False rejects the whole interface.

        Per implementation, as ``switch_core_codec_add_implementation`` does: more than 8192
        decoded bytes per packet, or an audio ptime the rate does not allow (checked against
        the *actual* rate), rejects that implementation with a CRIT line. An implementation
        without an IANA name rejects the whole interface (``switch_loadable_module_process``).
        """
        for impl in self.implementations:
            if not impl.iananame:
                log.critical("Failed to load codec interface %s from %s due to no iana name in an "
                             "implementation.", self.name, self.module_name)
                return False
        kept = []
        for impl in self.implementations:
            rate, ptime = impl.actual_samples_per_second, impl.ptime
            if impl.decoded_bytes_per_packet > SWITCH_RECOMMENDED_BUFFER_SIZE:
                log.critical("Rejected codec name: %s rate: %d ptime: %d not enough buffer space "
                             "%d > %d", impl.iananame, rate, ptime, impl.decoded_bytes_per_packet,
                             SWITCH_RECOMMENDED_BUFFER_SIZE)
                continue
            if impl.codec_type == "audio" and not _ptime_ok(rate, ptime):
                log.critical("Rejected codec name: %s rate: %d ptime: %d", impl.iananame, rate, ptime)
                continue
            kept.append(impl)
        self.implementations = kept
        return True

    def iananames(self) -> set[str]:
        return {i.iananame.lower() for i in self.implementations}


class Codec:
    """An opened codec: one implementation, for encoding and/or decoding.

    ``encode`` and ``decode`` are on the media path (one call per 20 ms frame per call leg), so
    the flag checks happen once, here: each resolves to the implementation's function, or to
    one that raises :class:`CodecError` saying why the codec cannot do it.
    """

    __slots__ = ("implementation", "interface", "flags", "private", "fmtp_in", "_enc", "_dec")

    def __init__(self, interface: CodecInterface, implementation: CodecImplementation,
                 flags: CodecFlag = CodecFlag.ENCODE | CodecFlag.DECODE, fmtp: str | None = None) -> None:
        self.interface = interface
        self.implementation = implementation
        self.flags = CodecFlag(flags)
        self.private = None
        self.fmtp_in = fmtp
        if implementation.init is not None and implementation.init(self) is False:
            raise CodecError(
                f"codec {implementation.describe()} refused to initialise with flags "
                f"{self.flags!r} (open it with CodecFlag.ENCODE and/or CodecFlag.DECODE)")
        self._enc = self._resolve(CodecFlag.ENCODE, implementation.encode, "encoding")
        self._dec = self._resolve(CodecFlag.DECODE, implementation.decode, "decoding")

    def _resolve(self, flag: CodecFlag, fn: Transcode | None, what: str) -> Transcode:
        desc = self.implementation.describe()
        if not self.flags & flag:
            def refuse(data: bytes) -> bytes:
                raise CodecError(f"{desc} was not opened for {what} (add CodecFlag.{flag.name} "
                                 "to the flags of codec_open)")
            return refuse
        if fn is None:
            def unable(data: bytes) -> bytes:
                raise CodecError(f"{desc} cannot do {what}: its module gave no function for it")
            return unable
        return fn

    def encode(self, decoded: bytes) -> bytes:
        """Encode linear audio (one or many whole frames); ``bytes`` in, ``bytes`` out.

        :raises CodecError: not opened for encoding, or not a whole number of samples.
        """
        return self._enc(decoded)

    def decode(self, encoded: bytes) -> bytes:
        """Decode one or many whole frames to linear audio.

        :raises CodecError: not opened for decoding, or not a whole number of samples.
        """
        return self._dec(encoded)

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


#: ``switch_default_ptime``'s built-in table (switch.conf ``<default-ptimes>`` can add to it).
DEFAULT_PTIMES = {"ilbc": 30, "isac": 30, "g723": 30}


def default_rate(name: str) -> int:
    """The rate a codec string without ``@<rate>h`` means (``switch_default_rate``)."""
    return 48000 if name.lower() == "opus" else 8000


def default_ptime(name: str) -> int:
    """The ptime a codec string without ``@<ms>i`` means (``switch_default_ptime``)."""
    return DEFAULT_PTIMES.get(name.lower(), 20)


def _interfaces_for(registry: Registry, spec: CodecSpec) -> list[CodecInterface]:
    lname = spec.name.lower()
    return [
        i for i in reversed(registry.all("codec"))  # the newest module's interface first
        if isinstance(i, CodecInterface) and lname in i.iananames()
        and (spec.module is None or i.module_name == spec.module)
    ]


def list_implementations(registry: Registry, name: str | None = None
                         ) -> list[tuple[CodecInterface, CodecImplementation]]:
    """Every registered implementation (of the codec ``name``, if given), in lookup order.

    Answers "which implementations of PCMU exist": the newest module's interface first, each
    interface's implementations most recently added first, as ``codec_init`` walks them.
    """
    out = []
    for iface in reversed(registry.all("codec")):
        if not isinstance(iface, CodecInterface):
            continue
        for impl in iface.implementations:
            if name is None or impl.iananame.lower() == name.lower():
                out.append((iface, impl))
    return out


def _summary(impls: list[CodecImplementation]) -> str:
    """``8000hz 10-120ms 1ch; 48000hz 10-40ms 1ch/2ch`` for an error message."""
    by_rate: dict[int, tuple[set[int], set[int]]] = {}
    for i in impls:
        ptimes, chans = by_rate.setdefault(i.actual_samples_per_second, (set(), set()))
        ptimes.add(i.ptime)
        chans.add(i.number_of_channels)
    parts = []
    for rate in sorted(by_rate):
        ptimes, chans = by_rate[rate]
        ms = ",".join(str(p) for p in sorted(ptimes))
        parts.append(f"{rate}hz {ms}ms {'/'.join(f'{c}ch' for c in sorted(chans))}")
    return "; ".join(parts)


def find_implementation(registry: Registry, spec: CodecSpec, *, defaults: bool = True
                        ) -> tuple[CodecInterface, CodecImplementation]:
    """Choose an implementation for ``spec``, walking each list most recently added first.

    :param defaults: True (codec strings, ``get_codecs_sorted``): a missing rate or ptime is
        the codec's default (:func:`default_rate`, :func:`default_ptime`); when nothing matches
        those, the first implementation matching only what the string gave. False
        (``switch_core_codec_init``): a zero rate or bitrate matches anything, and a zero
        ptime prefers 20 ms, then anything. Either way ``PROXY*`` takes the first
        implementation with the requested channel count.
    :raises CodecError: no loaded module provides the codec, or none of its implementations
        matches; the message lists what exists.
    """
    candidates = _interfaces_for(registry, spec)
    if not candidates:
        known = sorted({i.iananame for _, i in list_implementations(registry)})
        who = f"{spec.module}.{spec.name}" if spec.module else spec.name
        raise CodecError(
            f"Invalid codec {who}! No loaded module provides it"
            + (f" (available: {', '.join(known)})" if known else " (no codec module is loaded: "
               "install and load mod_pcm)"))
    iface = candidates[0]
    lname = spec.name.lower()
    impls = [i for i in iface.implementations if i.iananame.lower() == lname]

    def fits(i: CodecImplementation, rate: int, ptime: int) -> bool:
        return ((not rate or rate == i.actual_samples_per_second)
                and (not spec.bitrate or spec.bitrate == i.bits_per_second)
                and (not ptime or ptime == i.ptime)
                and (not spec.channels or spec.channels == i.number_of_channels))

    if lname.startswith("proxy"):
        tries = [(0, 0)]
    elif defaults:
        tries = [(spec.rate or default_rate(spec.name), spec.ptime or default_ptime(spec.name)),
                 (spec.rate, spec.ptime)]
    else:
        tries = [(spec.rate, spec.ptime or 20), (spec.rate, spec.ptime)]
    for rate, ptime in tries:
        for impl in impls:
            if fits(impl, rate, ptime):
                return iface, impl
    raise CodecError(
        f"Codec {spec.name} Exists but not at the desired implementation. "
        f"{spec.rate}hz {spec.ptime}ms {spec.channels}ch (registered by {iface.module_name or 'a module'}: "
        f"{_summary(impls)})")
