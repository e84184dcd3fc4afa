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
:class:`ModuleInterface`; ``core`` the kernel's :class:`Services` (``core.api_execute``,
``core.events``, ``core.vars``, ``core.timers``, ``core.codecs``, ``core.db``, ``core.tasks``,
``core.log``, ``core.admin``, …; see :mod:`softswitch.services`).

The module API is versioned: :data:`API_VERSION` ``(major, minor)``. A minor version only adds;
what a module written against an earlier minor of the same major uses keeps working. Declare the
kernel range you support in your distribution (``softswitch>=0.2,<0.3`` before 1.0, when a
minor may remove what an earlier one deprecated). Names not exported here, and attributes of
``core`` not documented, are not part of the API (they warn when used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import pluggy

from ._version import API_VERSION, FREESWITCH_COMPAT, __version__

if TYPE_CHECKING:
    # call model (docs/calls.md)
    from .accel import pure_python
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
    from .core import version_full, version_revision
    from .event import (
        Event,
        EventError,
        EventType,
        Priority,
        event_name,
        name_event,
        new_uuid,
        url_decode,
        url_encode,
        wire_bytes,
        wire_text,
    )
    from .frame import Frame, FrameFlag
    from .interfaces import ApiInterface, ApiResult, ApplicationInterface, Interface, Stream
    from .log import (
        ALERT,
        CONSOLE,
        NOTICE,
        LogLevel,
        LogLine,
        TextChannel,
        level_name,
        parse_level,
        to_python,
    )
    from .moduleinterface import ModuleInterface
    from .originate import DialString, DialStringError, Leg, parse_dialstring
    from .pacing import Pacing, new_pacing, pacing_implementation
    from .rtp import RtpError, RtpSession, rtp_open
    from .services import Services
    from .session import Session
    from .sessions import SessionManager, SessionRefused
    from .sockio import SocketIO, socket_io
    from .status import Status
    from .timer import (
        MAX_TIMER_INTERVAL_MS,
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
    "TextChannel": "log",
    "Codec": "codec", "CodecError": "codec", "CodecFlag": "codec", "CodecImplementation": "codec",
    "CodecInterface": "codec",
    "ConfigError": "config", "params": "config", "switch_true": "config",
    "Event": "event", "EventError": "event", "EventType": "event", "Priority": "event",
    "event_name": "event", "name_event": "event", "new_uuid": "event", "url_encode": "event",
    "url_decode": "event", "wire_bytes": "event", "wire_text": "event",
    "version_full": "core", "version_revision": "core",
    "SocketIO": "sockio", "socket_io": "sockio",
    "ApiInterface": "interfaces", "ApiResult": "interfaces", "ApplicationInterface": "interfaces",
    "Interface": "interfaces", "Stream": "interfaces",
    "ALERT": "log", "CONSOLE": "log", "NOTICE": "log", "LogLevel": "log", "LogLine": "log",
    "level_name": "log", "parse_level": "log", "to_python": "log",
    "ModuleInterface": "moduleinterface",
    "Services": "services",
    "pure_python": "accel",
    "Pacing": "pacing", "new_pacing": "pacing", "pacing_implementation": "pacing",
    "Status": "status",
    "separate_string": "text",
    "Timer": "timer", "TimerError": "timer", "TimerInterface": "timer",
    "cached_micro_time_now": "timer", "epoch_time_now": "timer", "micro_time_now": "timer",
    "mono_micro_time_now": "timer", "MAX_TIMER_INTERVAL_MS": "timer",
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
    "API_VERSION",
    "FREESWITCH_COMPAT",
    "version_full",
    "version_revision",
    "Services",
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
    "MAX_TIMER_INTERVAL_MS",
    "new_uuid",
    "url_encode",
    "url_decode",
    "parse_level",
    "level_name",
    "to_python",
    "pure_python",
    "Pacing",
    "new_pacing",
    "pacing_implementation",
    "wire_bytes",
    "wire_text",
    "SocketIO",
    "socket_io",
    "TextChannel",
    "separate_string",
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
