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

import pluggy

from ._version import FREESWITCH_COMPAT, __version__
from .codec import Codec, CodecError, CodecFlag, CodecImplementation, CodecInterface
from .config import ConfigError, params, switch_true
from .event import Event, EventError, EventType, Priority, event_name, name_event
from .interfaces import ApiInterface, ApiResult, ApplicationInterface, Interface, Stream
from .log import ALERT, CONSOLE, NOTICE, LogLevel, LogLine
from .modules import ModuleInterface
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
]
