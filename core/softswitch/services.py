"""The services a module may use: what its hooks' ``core`` (and ``module.core``) offer.

This is the whole kernel surface a module sees at run time, next to the names
``softswitch/__init__.py`` exports. :class:`Services` is the contract, written as a
:class:`~typing.Protocol` so that a module can type against it; :class:`CoreServices` is what
the kernel hands out. Each service is one attribute:

========================  =====================================================================
``core.api_execute``      run an API: ``api_execute(cmd, arg) -> ApiResult``; ``core.api(line)``
``core.expand``           ``${var}``, ``$${global}`` and ``${api args}`` expansion
``core.create_uuid()``    a UUID as the core makes them (v4, or v7 with ``uuid-version`` 7)
``core.events``           :class:`EventService`: ``fire(event)``, ``has_listeners(type)``
``core.vars``             :class:`VariableService`: the global variables (``get``/``set``/…)
``core.config(name)``     a ``<configuration name="…">`` element (also ``module.config``)
``core.section(name)``    a ``<section name="…">`` of the XML tree (``directory``, ``dialplan``)
``core.timers``           :class:`TimerService`: ``open``, the per-kernel time source
``core.codecs``           :class:`CodecService`: ``open``
``core.db``               :class:`DatabaseService`: the core database (None with ``-nosql``)
``core.tasks``            :class:`TaskService`: scheduled tasks (add them with ``module.add_task``)
``core.log``              :class:`LogService`: the log level, the log file, idle CPU
``core.acl``              :class:`AclService`: network lists (``check(ip, list_name)``)
``core.admin``            :class:`AdminService`: switch administration (modules, settings, fsctl)
``core.sessions``         :class:`SessionService`: the calls (docs/calls.md): ``locate``,
                          iterate, ``count``, ``originate``, ``bridge``, ``hupall``, …
``core.file_open``        open a playback source (``tone_stream://…``, a file) as a file handle
``core.interface(k, n)``  the registered interface of kind ``k`` named ``n`` (or None)
========================  =====================================================================

Identity: ``core.uuid``, ``core.hostname``, ``core.switchname``.

Adding a service is one more Protocol here, one more attribute on :class:`Services` and
:class:`CoreServices`, and a line in the docs (as ``sessions`` was for the call model).

Anything else read through ``core`` still works, delegated to the kernel's internals, but is not
part of the API: it warns once per name (:class:`DeprecationWarning`) and goes in the next minor
version.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from .codec import Codec, CodecFlag
    from .core import Core, Settings
    from .event import Event
    from .eventbus import EventStats
    from .interfaces import ApiResult, Interface, Stream
    from .scheduler import Task
    from .session import Session
    from .status import Status
    from .timer import Timer

__all__ = [
    "Services", "EventService", "VariableService", "TimerService", "CodecService",
    "DatabaseService", "TaskService", "LogService", "AclService", "AdminService",
    "SessionService", "CoreServices",
]


# ---------------------------------------------------------------------------------------------
# The contract (Protocols)
# ---------------------------------------------------------------------------------------------


class EventService(Protocol):
    def fire(self, event: Event) -> bool:
        """Queue ``event`` for delivery (it is frozen from now on)."""

    def has_listeners(self, event_type: int) -> bool:
        """Whether anything is bound to ``event_type`` (skip building an event nobody wants)."""


class VariableService(Protocol):
    def get(self, name: str, default: str | None = None) -> str | None: ...
    def set(self, name: str, value: str | None) -> None: ...
    def delete(self, name: str) -> None: ...
    def items(self) -> Iterator[tuple[str, str]]: ...
    def __contains__(self, name: str) -> bool: ...


class TimerService(Protocol):
    def open(self, name: str, interval: int, samples: int) -> Timer: ...
    def set_time_source(self, source: Callable[[], int] | None) -> None: ...
    def get_time_source(self) -> Callable[[], int] | None: ...
    def cached_micro_time_now(self) -> int: ...


class CodecService(Protocol):
    def open(self, codec_string: str, flags: CodecFlag = ...) -> Codec: ...


class DatabaseService(Protocol):
    def execute(self, sql: str, params: Sequence = ()) -> None: ...
    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None: ...
    def query(self, sql: str, params: Sequence = ()) -> tuple[list[str], list[tuple]]: ...


class TaskService(Protocol):
    def list(self) -> list[Task]: ...
    def cancel(self, task_id: int) -> bool: ...
    def cancel_group(self, group: str) -> int: ...


class LogService(Protocol):
    level: int
    console_level: int
    console_colour: bool
    def set_level(self, level: int) -> None: ...
    def reopen(self) -> None: ...
    def idle_cpu(self) -> float: ...


class AclService(Protocol):
    def check(self, ip: str, list_name: str) -> bool: ...
    def names(self) -> list[str]: ...


class AdminService(Protocol):
    settings: Settings
    no_new_sessions: bool
    restart_requested: bool
    def load_module(self, name: str) -> tuple[Status, str]: ...
    def unload_module(self, name: str, force: bool = False) -> tuple[Status, str]: ...
    def reload_module(self, name: str, force: bool = False) -> tuple[tuple[Status, str], tuple[Status, str]]: ...
    def is_loaded(self, name: str) -> bool: ...
    def request_shutdown(self, mode: str = "now", cause: str = "") -> None: ...
    def reloadxml(self) -> tuple[bool, str]: ...
    def reload_acl(self) -> None: ...


class SessionService(Protocol):
    """The call model's session manager (docs/calls.md)."""

    def locate(self, uuid: str) -> Session | None: ...
    def exists(self, uuid: str) -> bool: ...
    def __iter__(self) -> Iterator[Session]: ...
    def __len__(self) -> int: ...
    @property
    def count(self) -> int: ...
    def originate(self, dialstring: str, **kw: Any) -> tuple[int, Session | None]: ...
    def route_originated(self, session: Session, target: str, dialplan: str | None = None,
                         context: str | None = None) -> None: ...
    def bridge(self, a: Session, b: Session) -> int: ...
    def uuid_bridge(self, a_uuid: str, b_uuid: str) -> bool: ...
    def hupall(self, cause: int = ..., match: dict[str, str] | None = None) -> int: ...
    def pause(self, direction: str | None, value: bool = True) -> None: ...
    def paused(self, direction: str | None = None) -> bool: ...
    def reclaim_memory(self) -> None: ...


@runtime_checkable
class Services(Protocol):
    """What a module's hooks receive as ``core``."""

    events: EventService
    vars: VariableService
    timers: TimerService
    codecs: CodecService
    db: DatabaseService | None
    tasks: TaskService
    log: LogService
    acl: AclService
    admin: AdminService
    sessions: SessionService
    uuid: str
    hostname: str
    switchname: str

    def api_execute(self, cmd: str, arg: str = "", session: Any = None,
                    stream: Stream | None = None) -> ApiResult: ...
    def api(self, line: str) -> str: ...
    def create_uuid(self) -> str: ...
    def expand(self, text: str, lookup: Callable[[str], str | None] | None = None) -> str: ...
    def config(self, name: str) -> Element | None: ...
    def section(self, name: str) -> Element | None: ...
    def timer_open(self, name: str, interval: int, samples: int) -> Timer: ...
    def codec_open(self, codec_string: str, flags: CodecFlag = ...) -> Codec: ...
    def file_open(self, path: str, rate: int = 8000, channels: int = 1) -> Any: ...
    def interface(self, kind: str, name: str) -> Interface | None: ...


# ---------------------------------------------------------------------------------------------
# What the kernel hands out
# ---------------------------------------------------------------------------------------------

_warned: set[str] = set()


def _deprecated(what: str, instead: str = "") -> None:
    """Warn once per process that ``what`` is not part of the module API."""
    if what in _warned:
        return
    _warned.add(what)
    hint = f"; use {instead}" if instead else " (see docs/writing-modules.md)"
    warnings.warn(f"{what} is not part of softswitch's module API and goes in the next minor "
                  f"version{hint}", DeprecationWarning, stacklevel=3)


#: Undocumented names modules used, and what replaces them.
_INSTEAD = {
    "modules": "core.admin.load_module/unload_module/reload_module",
    "settings": "core.admin.settings",
    "xml": "core.config(name), core.section(name) or module.config(name)",
    "logbus": "core.log, or module.bind_log",
    "scheduler": "core.tasks, or module.add_task",
    "registry": "core.api_execute, core.timers.open, core.codecs.open",
    "request_shutdown": "core.admin.request_shutdown",
    "reloadxml": "core.admin.reloadxml",
    "no_new_sessions": "core.admin.no_new_sessions",
}


class _Delegating:
    """Base of the service objects: explicit API on the class; anything else is delegated to
    the kernel object behind it, with a one-time DeprecationWarning."""

    __slots__ = ("_target", "_label")

    def __init__(self, target: object, label: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_label", label)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._target, name)  # AttributeError as usual when it does not exist
        _deprecated(f"{self._label}.{name}", _INSTEAD.get(name, ""))
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            object.__setattr__(self, name, value)
            return
        _deprecated(f"{self._label}.{name} = ...", _INSTEAD.get(name, ""))
        setattr(self._target, name, value)


class _Timers:
    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    def open(self, name: str, interval: int, samples: int) -> Timer:
        """Open a timer by name (``soft``). :raises TimerError: unknown name, bad interval."""
        return self._core.timer_open(name, interval, samples)

    def set_time_source(self, source: Callable[[], int] | None) -> None:
        """Provide this kernel's cached "now" (wall-clock µs; a timer module's last tick), or
        None to go back to the clock. Reset it to None when the module shuts down."""
        self._core.set_time_source(source)

    def get_time_source(self) -> Callable[[], int] | None:
        return self._core.time_source

    def cached_micro_time_now(self) -> int:
        """This kernel's hot-path "now": the time source's value, else the clock."""
        return self._core.cached_micro_time_now()


class _Codecs:
    __slots__ = ("open",)

    def __init__(self, core: Core) -> None:
        self.open = core.codec_open


class _Tasks:
    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    def list(self) -> list[Task]:
        """The scheduled tasks, by id (``show tasks``)."""
        return sorted(self._core.scheduler.tasks.values(), key=lambda t: t.id)

    def cancel(self, task_id: int) -> bool:
        """Remove a task (``sched_del``); False when there is none with that id."""
        return self._core.scheduler.del_task_id(task_id)

    def cancel_group(self, group: str) -> int:
        """Remove every task of ``group``; returns how many."""
        return self._core.scheduler.del_task_group(group)


class _Log:
    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core

    @property
    def level(self) -> int:
        """The hard log level (FreeSWITCH's numbers: 7 DEBUG … 0 CONSOLE)."""
        return self._core.logbus.hard_level

    def set_level(self, level: int) -> None:
        """Set the hard log level (``fsctl loglevel``), for this run."""
        self._core.logbus.set_hard_level(level)
        self._core.settings.loglevel = level

    def reopen(self) -> None:
        """Re-open the log file (log rotation; what SIGHUP does)."""
        self._core.logbus.reopen_file()

    def idle_cpu(self) -> float:
        """The idle CPU percentage last sampled."""
        return self._core.logbus.idle_cpu.value

    @property
    def console_level(self) -> int:
        """The console's log level (``console loglevel``)."""
        return self._core.logbus.console_level

    @console_level.setter
    def console_level(self, level: int) -> None:
        self._core.logbus.console_level = level

    @property
    def console_colour(self) -> bool:
        """Whether the console colours its log lines (``console colorize``)."""
        return self._core.logbus.console_colour

    @console_colour.setter
    def console_colour(self, on: bool) -> None:
        self._core.logbus.console_colour = on


class _Admin(_Delegating):
    """Switch administration: what ``load``/``unload``/``reload``, ``fsctl`` and ``status`` do.

    Meant for mod_commands and management modules, not for modules in general.
    """

    __slots__ = ()

    # -- modules --------------------------------------------------------------------------------
    def load_module(self, name: str) -> tuple[Status, str]:
        """``load mod_x``: ``(status, err)`` with FreeSWITCH's error strings."""
        return self._target.modules.load(name)

    def unload_module(self, name: str, force: bool = False) -> tuple[Status, str]:
        """``unload [-f] mod_x``: ``(status, err)``."""
        return self._target.modules.unload(name, force)

    def reload_module(self, name: str, force: bool = False):
        """``reload [-f] mod_x``: the unload's ``(status, err)`` and the load's."""
        return self._target.modules.reload(name, force)

    def is_loaded(self, name: str) -> bool:
        return name in self._target.modules.modules

    def module_names(self) -> list[str]:
        """Loaded modules, in load order."""
        return list(self._target.modules.modules)

    # -- settings and state -----------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """switch.conf settings the core acts on (writable: ``fsctl`` changes them)."""
        return self._target.settings

    @property
    def no_new_sessions(self) -> bool:
        return self._target.no_new_sessions

    @no_new_sessions.setter
    def no_new_sessions(self, value: bool) -> None:
        self._target.no_new_sessions = value

    @property
    def restart_requested(self) -> bool:
        return self._target.restart_requested

    @restart_requested.setter
    def restart_requested(self, value: bool) -> None:
        self._target.restart_requested = value

    @property
    def ready(self) -> bool:
        """FreeSWITCH's ``switch_core_ready()``: up, not stopping, taking new sessions."""
        c = self._target
        return bool(c.ready and not c.shutting_down and not c.no_new_sessions)

    @property
    def stopping(self) -> bool:
        """A shutdown was requested or is under way."""
        return self._target.stop_requested or self._target.shutting_down

    def request_shutdown(self, mode: str = "now", cause: str = "") -> None:
        """``now``/``elegant``/``asap``/``restart``/``cancel``."""
        self._target.request_shutdown(mode, cause)

    def reloadxml(self) -> tuple[bool, str]:
        return self._target.reloadxml()

    def reload_acl(self) -> None:
        """Re-read acl.conf (``reloadacl``)."""
        self._target.load_network_lists()

    def event_stats(self) -> EventStats:
        return self._target.events.snapshot()

    # -- figures for status/uptime ----------------------------------------------------------------
    def uptime(self) -> float:
        return self._target.uptime()

    def uptime_parts(self) -> tuple[int, int, int, int, int, int, int]:
        return self._target.uptime_parts()

    def stack_size_k(self) -> tuple[int, int]:
        return self._target.stack_size_k()

    def session_stats(self) -> dict[str, int]:
        """``count``, ``since_startup``, ``peak``, ``peak_fivemin``, ``sps_last``, ``sps_peak``,
        ``sps_peak_fivemin``."""
        c = self._target
        return {"count": c.session_count, "since_startup": c.sessions_since_startup,
                "peak": c.session_peak, "peak_fivemin": c.session_peak_fivemin,
                "sps_last": c.sps_last, "sps_peak": c.sps_peak,
                "sps_peak_fivemin": c.sps_peak_fivemin}

    def reset_sps_peak(self) -> None:
        """``fsctl sps_peak_reset``."""
        self._target.sps_peak = 0


class CoreServices(_Delegating):
    """The :class:`Services` of one kernel: the hooks' ``core`` and ``module.core``.

    Hot-path methods are the kernel's own bound methods, set once: calling
    ``core.api_execute`` through this object costs what calling the kernel's does.
    """

    __slots__ = ("api_execute", "api", "expand", "timer_open", "codec_open", "create_uuid",
                 "events", "vars", "timers", "codecs", "tasks", "log", "acl", "admin",
                 "sessions", "file_open")

    def __init__(self, core: Core) -> None:
        super().__init__(core, "core")
        s = object.__setattr__
        s(self, "api_execute", core.api_execute)
        s(self, "api", core.api)
        s(self, "expand", core.expand)
        s(self, "timer_open", core.timer_open)
        s(self, "codec_open", core.codec_open)
        s(self, "create_uuid", core.create_uuid)
        s(self, "events", core.events)
        s(self, "vars", core.vars)
        s(self, "timers", _Timers(core))
        s(self, "codecs", _Codecs(core))
        s(self, "tasks", _Tasks(core))
        s(self, "log", _Log(core))
        s(self, "acl", core.acl)
        s(self, "admin", _Admin(core, "core.admin"))
        # the call model (docs/calls.md)
        s(self, "sessions", core.sessions)
        s(self, "file_open", core.file_open)
        # one more service: a name in __slots__, a line here, a Protocol above and an
        # attribute on Services, a row in the module docstring's table

    def __repr__(self) -> str:
        return f"<softswitch services of core {self._target.uuid or '(starting)'}>"

    # the core database opens between load phases: read it when asked
    @property
    def db(self) -> DatabaseService | None:
        """The core database (sqlite by default), or None (``-nosql``, or before it opens:
        a module loaded from pre_load_modules.conf sees None in its load hook)."""
        return self._target.db

    @property
    def uuid(self) -> str:
        return self._target.uuid

    @property
    def hostname(self) -> str:
        return self._target.hostname

    @property
    def switchname(self) -> str:
        return self._target.switchname

    def config(self, name: str) -> Element | None:
        """The ``<configuration name="name">`` element, or None when absent."""
        xml = self._target.xml
        return xml.open_cfg(name) if xml is not None else None

    def section(self, name: str) -> Element | None:
        """A ``<section name="name">`` of the XML tree (``directory``, ``dialplan``, …), or
        None when absent. Read it when needed: ``reloadxml`` replaces the tree."""
        xml = self._target.xml
        return xml.section(name) if xml is not None else None

    def interface(self, kind: str, name: str) -> Interface | None:
        """The registered interface of ``kind`` (``application``, ``dialplan``, ``codec``,
        ``endpoint``, ``file``, …; see :data:`softswitch.interfaces.KINDS`) named ``name``
        (case-insensitive), or None: what a dialplan checks before it lists an application, or
        an endpoint to see that the codec it holds is still the registered one."""
        return self._target.interface(kind, name)
