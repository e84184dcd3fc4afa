"""Media frames (``switch_frame_t``), reused per session on the hot path."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["Frame", "FrameFlag"]


class FrameFlag(enum.IntFlag):
    NONE = 0
    CNG = 1
    RAW_RTP = 2
    RTP_HEADER = 4
    PLC = 8
    RFC2833 = 16
    PROXY_PACKET = 32
    DYNAMIC = 64


class Frame:
    """One frame of media. ``codec`` is the open :class:`~softswitch.Codec` the data is in
    (None: the reading session's read codec). ``datalen`` follows ``data``; endpoints keep one
    Frame per session and replace ``data``/``samples`` per read instead of allocating."""

    __slots__ = ("data", "samples", "rate", "channels", "codec", "payload", "timestamp", "seq",
                 "ssrc", "m", "flags", "user_data")

    def __init__(self, data: bytes = b"", samples: int = 0, rate: int = 8000, codec: Any = None,
                 channels: int = 1, flags: int = 0) -> None:
        self.data = data
        self.samples = samples
        self.rate = rate
        self.channels = channels
        self.codec = codec
        self.payload = 0
        self.timestamp = 0
        self.seq = 0
        self.ssrc = 0
        self.m = False
        self.flags = flags
        self.user_data = None

    @property
    def datalen(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<Frame {len(self.data)} bytes {self.samples} samples @{self.rate}>"
