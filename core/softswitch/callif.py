"""The call interfaces a module registers: endpoints, dialplans, files, state handler tables.

See docs/calls.md §2–§6. They are :class:`~softswitch.interfaces.Interface` kinds like the
others (``show endpoint``, ``show dialplan``, ``show file`` list them).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .interfaces import Interface

__all__ = [
    "StateHandlers", "EndpointInterface", "DialplanInterface", "FileInterface", "FileError",
    "Signal", "MessageId", "Message", "AppFlag", "STATE_HANDLER_NAMES",
]

STATE_HANDLER_NAMES = ("on_init", "on_routing", "on_execute", "on_hangup", "on_exchange_media",
                       "on_soft_execute", "on_consume_media", "on_hibernate", "on_reset",
                       "on_park", "on_reporting", "on_destroy")


class StateHandlers:
    """A state handler table (``switch_state_handler_table_t``): ``on_x(session)`` returning
    None/SUCCESS to go on or ``Status.FALSE`` to veto the core default. ``pre_exec`` tables run
    before the endpoint's handler (SSH_FLAG_PRE_EXEC)."""

    __slots__ = (*STATE_HANDLER_NAMES, "pre_exec", "module", "name")

    def __init__(self, *, pre_exec: bool = False, name: str = "", **handlers: Callable | None) -> None:
        for n in STATE_HANDLER_NAMES:
            setattr(self, n, handlers.pop(n, None))
        if handlers:
            raise TypeError(f"unknown state handler(s) {sorted(handlers)}; the names are "
                            f"{', '.join(STATE_HANDLER_NAMES)}")
        self.pre_exec = pre_exec
        self.module = None
        self.name = name

    def __repr__(self) -> str:
        set_ = [n for n in STATE_HANDLER_NAMES if getattr(self, n) is not None]
        return f"<StateHandlers {self.name or ''} {set_}>"


class Signal(enum.IntEnum):
    """``switch_signal_t`` for ``kill_channel``."""

    NONE = 0
    KILL = 1
    XFER = 2
    BREAK = 3


class MessageId(enum.IntEnum):
    REDIRECT_AUDIO = 0
    TRANSMIT_TEXT = 1
    INDICATE_ANSWER = 2
    INDICATE_ACKNOWLEDGE_CALL = 3
    INDICATE_PROGRESS = 4
    INDICATE_BRIDGE = 5
    INDICATE_UNBRIDGE = 6
    INDICATE_TRANSFER = 7
    INDICATE_RINGING = 8
    INDICATE_ALERTING = 9
    INDICATE_MEDIA = 10
    INDICATE_3P_MEDIA = 11
    INDICATE_NOMEDIA = 12
    INDICATE_3P_NOMEDIA = 13
    INDICATE_HOLD = 14
    INDICATE_UNHOLD = 15
    INDICATE_REDIRECT = 16
    INDICATE_RESPOND = 17
    INDICATE_BROADCAST = 18
    INDICATE_MEDIA_REDIRECT = 19
    INDICATE_DEFLECT = 20
    INDICATE_VIDEO_REFRESH_REQ = 21
    INDICATE_DISPLAY = 22
    INDICATE_MESSAGE = 23
    INDICATE_INFO = 24
    INDICATE_AUDIO_SYNC = 25
    INDICATE_VIDEO_SYNC = 26
    INDICATE_AUDIO_DATA = 27
    INDICATE_BLIND_TRANSFER_RESPONSE = 28
    INDICATE_STUN_ERROR = 29
    INDICATE_MEDIA_RENEG = 30
    INDICATE_KEEPALIVE = 31
    INDICATE_HARD_MUTE = 32
    INDICATE_BITRATE_REQ = 33
    INDICATE_BITRATE_ACK = 34
    INDICATE_CODEC_DEBUG_REQ = 35
    INDICATE_CODEC_SPECIFIC_REQ = 36
    REFER_EVENT = 37
    ANSWER_EVENT = 38
    PROGRESS_EVENT = 39
    RING_EVENT = 40
    RESAMPLE_EVENT = 41
    HEARTBEAT_EVENT = 42
    INDICATE_SESSION_ID = 43
    INDICATE_PROMPT = 44


@dataclass(slots=True)
class Message:
    """``switch_core_session_message_t``: an indication for the endpoint."""

    id: MessageId
    string_arg: str = ""
    numeric_arg: int = 0
    pointer_arg: Any = None
    from_: str = ""


class AppFlag(enum.IntFlag):
    SAF_NONE = 0
    SAF_SUPPORT_NOMEDIA = 1
    SAF_ROUTING_EXEC = 2
    SAF_MEDIA_TAP = 4
    SAF_ZOMBIE_EXEC = 8
    SAF_NO_LOOPBACK = 16
    SAF_SUPPORT_TEXT_ONLY = 32


@dataclass(eq=False)
class EndpointInterface(Interface):
    """An endpoint (``switch_endpoint_interface_t``); see docs/calls.md §2."""

    outgoing_channel: Callable | None = None
    read_frame: Callable | None = None
    write_frame: Callable | None = None
    kill_channel: Callable | None = None
    receive_message: Callable | None = None
    send_dtmf: Callable | None = None
    state_handlers: StateHandlers | None = None

    def __post_init__(self) -> None:
        self.kind = "endpoint"


@dataclass(eq=False)
class DialplanInterface(Interface):
    """A dialplan: ``hunt(session, arg) -> list[(app, data)] | None``."""

    hunt: Callable | None = None

    def __post_init__(self) -> None:
        self.kind = "dialplan"


class FileError(Exception):
    """A file (playback source) that cannot be opened; the message says which and why."""


@dataclass(eq=False)
class FileInterface(Interface):
    """A file format or stream scheme: ``open(path, rate, channels) -> handle``; the handle has
    ``samplerate``, ``channels``, ``read(samples) -> bytes | None`` and ``close()``."""

    open: Callable | None = None
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.kind = "file"
