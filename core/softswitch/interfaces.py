"""Interfaces a module adds in its load hook, and the registry the core and modules query.

Kinds, in FreeSWITCH's registration order: endpoint, timer, dialplan, codec, application, api,
file, speech, directory, chat, say, asr, management, limit, chat_application, json_api,
database. ``api``, ``application``, ``timer`` and ``codec`` have their own classes; every other
kind uses :class:`Interface` (a name, a description and whatever the module attaches), so a new
kind needs no change to the loader.

Lookups are case-insensitive; a same-name interface from another module replaces the entry, as
in FreeSWITCH.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .status import Status

if TYPE_CHECKING:
    from .event import Event
    from .modules import ModuleInterface

__all__ = [
    "KINDS",
    "Interface",
    "ApiInterface",
    "ApplicationInterface",
    "Registry",
    "Stream",
    "ApiResult",
]

KINDS = (
    "endpoint", "timer", "dialplan", "codec", "application", "api", "file", "speech",
    "directory", "chat", "say", "asr", "management", "limit", "chat_application", "json_api",
    "database",
)


class Stream:
    """Where an API writes its output (``switch_stream_handle_t``).

    ``stream.write("text")`` or printf-style ``stream.write("%d calls\\n", n)``.
    ``param_event`` carries request parameters for web-style APIs (``event_sink``).
    """

    __slots__ = ("_parts", "param_event", "data")

    def __init__(self, param_event: Event | None = None) -> None:
        self._parts: list[str] = []
        self.param_event = param_event
        self.data: dict[str, Any] = {}

    def write(self, text: str, *args: object) -> None:
        self._parts.append(text % args if args else str(text))

    def getvalue(self) -> str:
        return "".join(self._parts)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)


@dataclass(slots=True)
class ApiResult:
    """What running an API gave: its status and everything it wrote.

    ``found`` is False for an unknown command; ``error`` holds the exception text when the API
    raised (the traceback is in the log).
    """

    status: Status
    output: str
    found: bool = True
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.found and self.status == Status.SUCCESS


@dataclass(eq=False)
class Interface:
    """A registered interface of any kind. Modules may attach more through ``extra``."""

    kind: str = ""
    name: str = ""
    description: str = ""
    syntax: str = ""
    module: ModuleInterface | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: declared blocking when registered (``add_api(..., blocking=True)``): the kernel runs
    #: it in gevent's thread pool, so it cannot hold the hub (see softswitch.watchdog)
    blocking: bool = False

    @property
    def module_name(self) -> str:
        return self.module.name if self.module else ""


ApiFunction = Callable[[str, Any, Stream], "Status | None"]


@dataclass(eq=False)
class ApiInterface(Interface):
    """An API command: ``function(cmd, session, stream)``; ``cmd`` is the argument text
    ("" when none). Return None or ``Status.SUCCESS``; anything else is a failure."""

    function: ApiFunction | None = None

    def __post_init__(self) -> None:
        self.kind = "api"


@dataclass(eq=False)
class ApplicationInterface(Interface):
    """A dialplan application: ``function(session, data)``."""

    long_desc: str = ""
    flags: int = 0
    function: Callable[[Any, str], None] | None = None

    def __post_init__(self) -> None:
        self.kind = "application"

    @property
    def short_desc(self) -> str:
        return self.description


def call_interface(iface: ApiInterface | ApplicationInterface, *args: Any) -> Any:
    """Run an API's or application's function: in a thread of gevent's pool when it was
    declared ``blocking`` (the calling greenlet waits, the hub serves everything else), else
    right here."""
    if iface.blocking:
        import gevent

        return gevent.get_hub().threadpool.apply(iface.function, args)
    return iface.function(*args)  # type: ignore[misc]


class Registry:
    """All registered interfaces, by kind and case-insensitive name."""

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, Interface]] = {k: {} for k in KINDS}

    def add(self, iface: Interface) -> Interface | None:
        """Register; returns the interface it replaced, if any."""
        table = self._by_kind.setdefault(iface.kind, {})
        old = table.pop(iface.name.lower(), None)  # re-insert: the newest comes last
        table[iface.name.lower()] = iface
        return old

    def remove(self, iface: Interface) -> bool:
        table = self._by_kind.get(iface.kind, {})
        key = iface.name.lower()
        if table.get(key) is iface:
            del table[key]
            return True
        return False

    def get(self, kind: str, name: str) -> Interface | None:
        table = self._by_kind.get(kind)
        return table.get(name.lower()) if table is not None else None

    def table(self, kind: str) -> dict[str, Interface]:
        """The live table of one kind, lower-case name -> interface, for lookups on hot paths
        (the core's ``api_execute``); read it, change it only through add/remove."""
        return self._by_kind.setdefault(kind, {})

    def all(self, kind: str) -> list[Interface]:
        return list(self._by_kind.get(kind, {}).values())

    def kinds(self) -> Iterator[str]:
        return iter(self._by_kind)
