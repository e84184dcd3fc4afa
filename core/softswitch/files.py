"""Playback sources: ``core.file_open`` and the kernel's ``silence_stream://`` (docs/calls.md §6).

A file interface is looked up by the ``scheme://`` prefix of the path (``tone_stream``), else by
the file's extension. A handle gives signed 16-bit native-endian linear samples.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .callif import FileError, FileInterface

if TYPE_CHECKING:
    from .interfaces import Registry

__all__ = ["file_open", "SilenceStream", "silence_stream_interface"]


def file_open(registry: Registry, path: str, rate: int = 8000, channels: int = 1):
    """Open ``path`` with the file interface its scheme or extension names.

    :raises FileError: nothing handles it, or the interface's open failed (message says why).
    """
    scheme, sep, rest = path.partition("://")
    if sep:
        iface = registry.get("file", scheme)
        if iface is None or getattr(iface, "open", None) is None:
            raise FileError(f"no file interface for {scheme}:// ({path!r}); load the module "
                            "that provides it")
        target = rest
    else:
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        iface = None
        for cand in registry.all("file"):
            if ext and ext in getattr(cand, "extensions", ()):
                iface = cand
                break
        if iface is None:
            raise FileError(f"no file interface for the extension {ext or '(none)'!r} of {path!r}")
        target = path
    try:
        handle = iface.open(target, rate, channels)
    except FileError:
        raise
    except Exception as e:
        raise FileError(f"{iface.name} ({iface.module_name or 'kernel'}) could not open "
                        f"{path!r}: {type(e).__name__}: {e}") from e
    if handle is None:
        raise FileError(f"{iface.name} could not open {path!r}")
    return handle


class SilenceStream:
    """``silence_stream://<ms>[,<divisor>]``: silence for ``ms`` ms (≤ 0: forever)."""

    __slots__ = ("samplerate", "channels", "_left", "_zeros")

    def __init__(self, arg: str, rate: int, channels: int) -> None:
        ms_text = arg.split(",", 1)[0].strip()
        try:
            ms = int(ms_text) if ms_text else 0
        except ValueError:
            raise FileError(f"silence_stream://{arg}: the duration must be a number of ms") from None
        self.samplerate = rate
        self.channels = channels
        self._left = ms * rate // 1000 if ms > 0 else -1
        self._zeros = b""

    def read(self, samples: int) -> bytes | None:
        if self._left == 0:
            return None
        if self._left > 0:
            samples = min(samples, self._left)
            self._left -= samples
        n = samples * 2 * self.channels
        if len(self._zeros) != n:
            self._zeros = bytes(n)
        return self._zeros

    def close(self) -> None:
        self._left = 0


def silence_stream_interface() -> FileInterface:
    return FileInterface(name="silence_stream", description="silence",
                         open=lambda path, rate, channels: SilenceStream(path, rate, channels))
