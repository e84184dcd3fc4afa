"""``file_string://a!b!c``: several playback sources read one after the other, as one file
(``file_string_file_*`` of mod_dptools.c).

Each part is opened with ``core.file_open`` when the previous one ends (a part that cannot be
opened is logged, reported with a CUSTOM ``filestring::fail`` event and skipped); CUSTOM
``filestring::open`` / ``filestring::close`` events carry the part in ``File``. As in
FreeSWITCH the handle starts with 250 ms of near-silence (samples of −1).
"""

from __future__ import annotations

import logging

from softswitch import Event, EventType, FileError

from .args import separate_string

log = logging.getLogger(__name__)

__all__ = ["FileString", "SUBCLASSES"]

OPEN, CLOSE, FAIL = "filestring::open", "filestring::close", "filestring::fail"
SUBCLASSES = (OPEN, CLOSE, FAIL)


class FileString:
    __slots__ = ("core", "parts", "index", "current", "samplerate", "channels", "lead",
                 "samples_read")

    def __init__(self, core, path: str, rate: int, channels: int) -> None:
        self.core = core
        self.parts = separate_string(path, "!", 128)
        self.index = -1
        self.current = None
        self.samplerate = rate
        self.channels = channels
        self.lead = (rate // 1000) * 250
        self.samples_read = 0
        if not self._next():
            raise FileError(f"file_string://{path}: none of its files could be opened")

    def _fire(self, subclass: str, name: str) -> None:
        events = self.core.events
        if events.has_listeners(EventType.CUSTOM):
            ev = Event(EventType.CUSTOM, subclass)
            ev.add_header("File", name)
            events.fire(ev)

    def _next(self) -> bool:
        while True:
            self.index += 1
            if self.current is not None:
                self._fire(CLOSE, self.parts[self.index - 1])
                self.current.close()
                self.current = None
            if self.index >= len(self.parts):
                return False
            name = self.parts[self.index]
            try:
                self.current = self.core.file_open(name, self.samplerate, self.channels)
            except FileError as e:
                self._fire(FAIL, name)
                log.error("Can't open file %s", name)
                log.debug("%s", e)
                continue
            self._fire(OPEN, name)
            return True

    def read(self, samples: int) -> bytes | None:
        if self.lead > 0:
            n = min(samples, self.lead)
            self.lead -= n
            self.samples_read += n
            return b"\xff\xff" * n
        while self.current is not None:
            data = self.current.read(samples)
            if data is not None:
                self.samples_read += len(data) >> 1
                return data
            if not self._next():
                return None
        return None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
