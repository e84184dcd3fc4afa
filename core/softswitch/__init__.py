"""softswitch: FreeSWITCH's core architecture re-made in Python.

This module is the whole public API for module authors. A module is a distribution that
declares an entry point in the ``softswitch.modules`` group and implements hooks::

    # pyproject.toml
    [project.entry-points."softswitch.modules"]
    mod_hello = "mod_hello"

    # mod_hello/__init__.py
    import softswitch

    @softswitch.hookimpl
    def module_load(module, core):
        @module.add_api("hello", "Say hello", "<name>")
        def hello(cmd, session, stream):
            stream.write(f"Hello, {cmd or 'world'}!\\n")

Hooks (see :mod:`softswitch.hookspecs`): ``module_load(module, core)``,
``module_runtime(module)``, ``module_shutdown(module)``. ``module`` is your
:class:`ModuleInterface`; ``core`` the running :class:`~softswitch.core.Core`
(``core.api_execute``, ``core.events``, ``core.timer_open``, ``core.codec_open``, ``core.vars``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import pluggy

from ._version import FREESWITCH_COMPAT, __version__

if TYPE_CHECKING:
    # call model (docs/calls.md)
    from .callif import (
        AppFlag,
        DialplanInterface,
        EndpointInterface,
        FileError,
        FileInterface,
        Message,
        MessageId,
        Signal,
        StateHandlers,
    )
    from .causes import Cause, cause2str, cause_q850, str2cause
    from .channel import (
        CallerProfile,
        CallState,
        Channel,
        ChannelCap,
        ChannelFlag,
        ChannelState,
        Timetable,
    )
    from .codec import Codec, CodecError, CodecFlag, CodecImplementation, CodecInterface
    from .config import ConfigError, params, switch_true
    from .event import Event, EventError, EventType, Priority, event_name, name_event
    from .frame import Frame, FrameFlag
    from .interfaces import ApiInterface, ApiResult, ApplicationInterface, Interface, Stream
    from .log import ALERT, CONSOLE, NOTICE, LogLevel, LogLine
    from .modules import ModuleInterface
    from .originate import DialString, DialStringError, Leg, parse_dialstring
    from .rtp import RtpError, RtpSession, rtp_open
    from .session import Session
    from .sessions import SessionManager, SessionRefused
    from .status import Status
    from .timer import (
        Timer,
        TimerError,
        TimerInterface,
        cached_micro_time_now,
        epoch_time_now,
        micro_time_now,
        mono_micro_time_now,
    )

# The public names are imported on first use (PEP 562): ``import softswitch`` stays cheap, and
# the CLI can monkey-patch with gevent before the kernel's modules are imported.
_LAZY = {
    "Codec": "codec", "CodecError": "codec", "CodecFlag": "codec", "CodecImplementation": "codec",
    "CodecInterface": "codec",
    "ConfigError": "config", "params": "config", "switch_true": "config",
    "Event": "event", "EventError": "event", "EventType": "event", "Priority": "event",
    "event_name": "event", "name_event": "event",
    "ApiInterface": "interfaces", "ApiResult": "interfaces", "ApplicationInterface": "interfaces",
    "Interface": "interfaces", "Stream": "interfaces",
    "ALERT": "log", "CONSOLE": "log", "NOTICE": "log", "LogLevel": "log", "LogLine": "log",
    "ModuleInterface": "modules",
    "Status": "status",
    "Timer": "timer", "TimerError": "timer", "TimerInterface": "timer",
    "cached_micro_time_now": "timer", "epoch_time_now": "timer", "micro_time_now": "timer",
    "mono_micro_time_now": "timer",
    # call model (docs/calls.md)
    "AppFlag": "callif", "DialplanInterface": "callif", "EndpointInterface": "callif",
    "FileError": "callif", "FileInterface": "callif", "Message": "callif", "MessageId": "callif",
    "Signal": "callif", "StateHandlers": "callif",
    "Cause": "causes", "cause2str": "causes", "cause_q850": "causes", "str2cause": "causes",
    "CallerProfile": "channel", "CallState": "channel", "Channel": "channel",
    "ChannelCap": "channel", "ChannelFlag": "channel", "ChannelState": "channel",
    "Timetable": "channel",
    "Frame": "frame", "FrameFlag": "frame",
    "DialString": "originate", "DialStringError": "originate", "Leg": "originate",
    "parse_dialstring": "originate",
    "Session": "session",
    "SessionManager": "sessions", "SessionRefused": "sessions",
    # RTP (FreeSWITCH's switch_rtp; issue #19)
    "RtpError": "rtp", "RtpSession": "rtp", "rtp_open": "rtp",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'softswitch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


#: Marker for a module's hook implementations::
#:
#:     @softswitch.hookimpl
#:     def module_load(module, core): ...
#:
#: Accepts pluggy's options (``tryfirst``, ``trylast``, ``optionalhook``, ``specname``).
hookimpl = pluggy.HookimplMarker("softswitch")

__all__ = [
    "__version__",
    "FREESWITCH_COMPAT",
    "hookimpl",
    "Status",
    "ModuleInterface",
    "Event",
    "EventType",
    "EventError",
    "Priority",
    "name_event",
    "event_name",
    "Stream",
    "ApiResult",
    "Interface",
    "ApiInterface",
    "ApplicationInterface",
    "Timer",
    "TimerInterface",
    "TimerError",
    "Codec",
    "CodecInterface",
    "CodecImplementation",
    "CodecFlag",
    "CodecError",
    "ConfigError",
    "params",
    "switch_true",
    "LogLevel",
    "LogLine",
    "NOTICE",
    "ALERT",
    "CONSOLE",
    "micro_time_now",
    "epoch_time_now",
    "mono_micro_time_now",
    "cached_micro_time_now",
    # call model (docs/calls.md)
    "AppFlag", "DialplanInterface", "EndpointInterface", "FileError", "FileInterface", "Message",
    "MessageId", "Signal", "StateHandlers",
    "Cause", "cause2str", "cause_q850", "str2cause",
    "CallerProfile", "CallState", "Channel", "ChannelCap", "ChannelFlag", "ChannelState",
    "Timetable",
    "Frame", "FrameFlag",
    "DialString", "DialStringError", "Leg", "parse_dialstring",
    "Session", "SessionManager", "SessionRefused",
    # RTP (issue #19)
    "RtpError", "RtpSession", "rtp_open",
]
