"""``tone_stream://`` file handles: a TGML spec generated once, then read frame by frame.

FreeSWITCH's ``tone_stream_file_open`` runs libteletone into a buffer at open time and
``tone_stream_file_read`` copies out of it, rewinding for ``;loops=N`` (``switch_buffer_read_loop``).
Here the generated audio is kept in a :class:`ToneCache` shared by every handle, so a thousand
calls playing the same tone share one buffer, and each buffer is cut into frame-sized
``bytes`` once per frame size: a read is an index into a tuple, with no copy and no allocation.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from .teletone import generate

log = logging.getLogger(__name__)

__all__ = ["ToneData", "ToneCache", "ToneStream", "parse_path"]


class ToneData:
    """The audio of one spec at one rate, and its frame-sized pieces per frame size."""

    __slots__ = ("data", "_frames")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._frames: dict[int, tuple[bytes, ...]] = {}

    def frames(self, nbytes: int) -> tuple[bytes, ...]:
        """The audio cut into ``nbytes`` pieces (the last one may be short), built once."""
        got = self._frames.get(nbytes)
        if got is None:
            data = self.data
            got = tuple(data[i:i + nbytes] for i in range(0, len(data), nbytes))
            if len(self._frames) < 8:
                self._frames[nbytes] = got
        return got


class ToneCache:
    """Generated specs by ``(spec, rate)``, least recently used dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int = 32 << 20, max_entries: int = 256, pause=None) -> None:
        """:param pause: passed to the generator (``gevent.sleep`` in the module: a long spec is
            generated in slices, other calls keep their media meanwhile)."""
        self.pause = pause
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, int], ToneData] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, spec: str, rate: int) -> ToneData:
        key = (spec, rate)
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item
        item = ToneData(generate(spec, rate, self.pause))
        with self._lock:
            self.misses += 1
            if key not in self._items:
                self._items[key] = item
                self._bytes += len(item.data)
            while self._items and (self._bytes > self.max_bytes or len(self._items) > self.max_entries):
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old.data)
        return item

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _stristr_loops(path: str) -> tuple[str, int]:
    """Split ``;loops=N`` off a spec (case-insensitive, as ``switch_stristr``)."""
    i = path.lower().find(";loops=")
    if i < 0:
        return path, 0
    tail = path[i + 7:]
    n = 0
    if tail:
        digits = tail.lstrip()
        end = 0
        while end < len(digits) and (digits[end].isdigit() or (end == 0 and digits[end] in "+-")):
            end += 1
        try:
            n = int(digits[:end])
        except ValueError:
            n = 0
    return path[:i], n


def parse_path(path: str) -> tuple[str, int]:
    """``(spec, loops)`` of a ``tone_stream://`` path (the part after the scheme)."""
    return _stristr_loops(path)


class ToneStream:
    """An open ``tone_stream://``: ``read(samples)`` → bytes, or None at the end.

    ``loops`` as ``switch_buffer_set_loops``: 0 or 1 play once, N plays N times, -1 forever.
    A short piece at the end of the audio is returned as it is, as FreeSWITCH's buffer does.
    """

    __slots__ = ("samplerate", "channels", "path", "_tone", "_len", "_frames", "_nbytes", "_pos",
                 "_loops", "samples_read")

    def __init__(self, tone: ToneData, rate: int, loops: int = 0, path: str = "") -> None:
        self.samplerate = rate
        self.channels = 1
        self.path = path
        self._tone = tone
        self._len = len(tone.data)
        self._frames: tuple[bytes, ...] = ()
        self._nbytes = 0
        self._pos = 0
        self._loops = loops
        self.samples_read = 0

    def read(self, samples: int) -> bytes | None:
        nbytes = samples << 1
        pos = self._pos
        if pos >= self._len:
            if self._loops > 0:
                self._loops -= 1
            if self._loops == 0 or not self._len:
                return None
            pos = 0
        if nbytes == self._nbytes and not pos % nbytes:
            piece = self._frames[pos // nbytes]
        else:
            piece = self._piece(pos, nbytes)
        self._pos = pos + len(piece)
        self.samples_read += len(piece) >> 1
        return piece

    def _piece(self, pos: int, nbytes: int) -> bytes:
        """First read, or a read of another size (a codec change mid-playback, a caller that
        asks for odd sizes): switch to that size's pieces, or slice when off their grid."""
        if nbytes <= 0:
            return b""
        if nbytes != self._nbytes:
            self._frames = self._tone.frames(nbytes)
            self._nbytes = nbytes
        if not pos % nbytes:
            return self._frames[pos // nbytes]
        return self._tone.data[pos:pos + nbytes]

    def close(self) -> None:
        self._frames = ()


def open_tone_stream(cache: ToneCache, path: str, rate: int = 8000) -> ToneStream:
    """Open ``tone_stream://<path>``: a spec, or ``path=<file>`` with one spec per line.

    :raises OSError: a ``path=`` file that cannot be read.
    """
    spec, loops = parse_path(path)
    if rate <= 0:
        rate = 8000
    if spec[:5].lower() == "path=":
        fname = spec[5:]
        try:
            with open(fname, encoding="utf-8", errors="replace") as f:
                lines = [line.rstrip("\r\n") for line in f]
        except OSError as e:
            log.warning("Failed to open [%s]", fname)
            raise OSError(e.errno, f"tone_stream: cannot read {fname}: {e.strerror}") from e
        tone = ToneData(_generate_lines(lines, rate, cache.pause))  # not cached: the file may change
    else:
        tone = cache.get(spec, rate)
    return ToneStream(tone, rate, loops, path)


def _generate_lines(lines: list[str], rate: int, pause=None) -> bytes:
    """``path=`` files: each line run through the same generator session."""
    from .teletone import MAX_SAMPLES, ToneGenerator

    gen = ToneGenerator(rate, pause)
    for line in lines:
        gen.run(line)
        if len(gen.out) >= MAX_SAMPLES:
            break
    return gen.out.tobytes()

