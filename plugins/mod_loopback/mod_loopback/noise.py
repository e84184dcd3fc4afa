"""The near-silence a ``null`` leg reads: FreeSWITCH's ``switch_generate_sln_silence``.

FreeSWITCH's null endpoint fills each read frame with ``switch_generate_sln_silence(data,
samples, channels, 10000)``: a 16-bit linear congruential generator (``rnd2 = rnd2 * 31821 +
13849``), six draws summed per sample, the sum truncated to 16 bits and divided by the divisor.
With the divisor 10000 every sample is in [−3, 3]: comfort noise that a silence detector does
not mistake for digital zero. :func:`sln_silence` is that algorithm, bit for bit.

Running it per frame costs about a thousand Python operations (160 samples × 6 draws), and a
thousand parked null legs read 50,000 frames a second. :class:`NoiseSource` therefore runs the
generator once, into a shared buffer of a few seconds at 8 kHz, and each read takes the next
frame-sized slice of it at that leg's own offset. The content is the same kind of noise; as in
FreeSWITCH (whose seed is the clock) nobody may rely on it (spec/sessions.md §11).
"""

from __future__ import annotations

import array

__all__ = ["sln_silence", "NoiseSource", "DIVISOR"]

#: FreeSWITCH's divisor for null reads: samples in [−3, 3].
DIVISOR = 10000


def _int16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def sln_silence(samples: int, channels: int = 1, divisor: int = DIVISOR, seed: int = 0) -> list[int]:
    """``switch_generate_sln_silence``: ``samples`` × ``channels`` signed 16-bit values.

    :param seed: the generator's starting state (FreeSWITCH uses the clock plus the buffer's
        address); any int, truncated to 16 bits as C does.
    :param divisor: ``-1`` (C's ``(uint32_t) -1``) gives digital zeros, as in FreeSWITCH.
    :raises ValueError: ``divisor`` 0 (FreeSWITCH asserts).
    """
    if divisor == 0:
        raise ValueError("sln_silence: divisor must not be 0")
    channels = channels or 1
    if divisor in (-1, 0xFFFFFFFF):
        return [0] * (samples * channels)
    out: list[int] = []
    rnd2 = _int16(seed)
    for _ in range(samples):
        total = 0
        for _ in range(6):
            # int16 * 31821U + 13849U in unsigned arithmetic, stored back into an int16
            rnd2 = _int16(rnd2 * 31821 + 13849)
            total += rnd2
        # (int16_t) sum / (int) divisor: C division truncates toward zero
        t = _int16(total)
        s = abs(t) // divisor
        s = -s if t < 0 else s
        out.extend([s] * channels)
    return out


def to_bytes(values: list[int]) -> bytes:
    """Signed 16-bit samples as native-endian bytes (L16 in memory, as FreeSWITCH keeps it)."""
    return array.array("h", values).tobytes()


class NoiseSource:
    """Frames of near-silence cut from one buffer generated once.

    ``frame(offset, nbytes)`` returns ``nbytes`` bytes starting at ``offset`` (wrapping), and
    the offset of the next frame; a leg keeps its own offset so that neighbouring legs do not
    read the same samples at the same time.
    """

    def __init__(self, samples: int = 8000 * 2, seed: int = 0x5EED) -> None:
        data = to_bytes(sln_silence(samples, 1, DIVISOR, seed))
        self.size = len(data)
        # twice the buffer, so that any slice up to its length is one contiguous copy
        self._data = data + data

    def frame(self, offset: int, nbytes: int) -> tuple[bytes, int]:
        """``(frame bytes, next offset)``; ``nbytes`` is even and at most the buffer's size."""
        if nbytes > self.size:
            reps = -(-nbytes // self.size)
            return (self._data[offset:] + self._data * reps)[:nbytes], (offset + nbytes) % self.size
        return self._data[offset:offset + nbytes], (offset + nbytes) % self.size


_shared: NoiseSource | None = None


def shared() -> NoiseSource:
    """The process's one :class:`NoiseSource` (generated on first use, about 20 ms)."""
    global _shared
    if _shared is None:
        _shared = NoiseSource()
    return _shared

