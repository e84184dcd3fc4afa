"""ModuleInterface: a module's handle on the kernel, the ``module`` its hooks receive.

Through it a module adds its interfaces (APIs, applications, timers, codecs, and any other kind
of :data:`softswitch.interfaces.KINDS`), binds events and log lines, schedules tasks and starts
greenlets; the kernel removes all of that when the module is unloaded. ``module.core`` is the
kernel's :class:`~softswitch.services.Services`, the same object the load hook gets as ``core``.

The class is typed against :class:`~softswitch.services.Services` only: nothing here reaches
into the loader or the core beyond the small :class:`_Kernel` protocol below, so the module API
can grow (the call model adds ``add_endpoint``, ``add_dialplan``, ``add_file`` and
``add_state_handler`` in the "interfaces" section) without touching the loader.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import gevent

from .interfaces import ApiInterface, ApplicationInterface, Interface

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from .services import Services

log = logging.getLogger(__name__)

__all__ = ["ModuleInterface"]


class _Kernel(Protocol):
    """What a ModuleInterface needs from the kernel (the core implements it)."""

    services: Services

    def register_interface(self, mod: ModuleInterface, iface: Interface) -> None: ...
    def bind_event(self, owner: str, event_type: int, subclass: str | None,
                   callback: Callable, user_data: object) -> Any: ...
    def reserve_subclass(self, owner: str, subclass: str) -> bool: ...
    def bind_log(self, callback: Callable, level: int, owner: str) -> Any: ...
    def add_task(self, runtime: float, callback: Callable, desc: str, group: str,
                 owner: str, **kw: Any) -> Any: ...
    def add_state_handler(self, table: Any) -> None: ...


class ModuleInterface:
    """What a module's hooks receive. Add interfaces to it; keep state on ``module.state``.

    Everything added through it (interfaces, event binds, log listeners, scheduled tasks,
    greenlets) is removed by the kernel when the module is unloaded.
    """

    def __init__(self, kernel: _Kernel, name: str, filename: str, plugin: object,
                 dist: tuple[str, str] | None = None) -> None:
        self._kernel = kernel
        self.name = name
        self.filename = filename
        self.plugin = plugin
        self.distribution = dist
        self.log = logging.getLogger(getattr(plugin, "__name__", name))
        self.state = types.SimpleNamespace()
        self.interfaces: list[Interface] = []
        self.permanent = False
        self.shutting_down = False
        self.phase = ""
        self.refs = 0
        self.loaded_at = 0.0
        self._registered = False
        self._greenlets: set[gevent.Greenlet] = set()
        self._runtime: gevent.Greenlet | None = None
        self._log_nodes: list = []
        self._undecorated: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"<ModuleInterface {self.name}>"

    @property
    def core(self) -> Services:
        """The kernel's services (the load hook's ``core``)."""
        return self._kernel.services

    @property
    def runtime_running(self) -> bool:
        """Whether the module's ``module_runtime`` greenlet is running."""
        g = self._runtime
        return g is not None and not g.dead

    @property
    def version(self) -> str:
        return self.distribution[1] if self.distribution else ""

    # -- interfaces -----------------------------------------------------------------------------
    def add_interface(self, iface: Interface) -> Interface:
        """Add an interface of any kind (see :data:`softswitch.interfaces.KINDS`)."""
        if not iface.name:
            log.critical("module %s added a %s interface without a name; skipped", self.name, iface.kind)
            return iface
        iface.module = self
        self.interfaces.append(iface)
        if self._registered:  # added after load: register right away
            self._kernel.register_interface(self, iface)
        return iface

    def add_api(self, name: str, description: str = "", syntax: str = "",
                function: Callable | None = None, *, blocking: bool = False) -> Any:
        """Add an API command ``function(cmd, session, stream)``.

        Usable as a decorator::

            @module.add_api("hello", "Say hello", "<name>")
            def hello(cmd, session, stream):
                stream.write(f"hello {cmd}\\n")

        ``blocking=True``: the function blocks or computes for long (a system call, a CPU-bound
        job): the kernel runs it in a thread of gevent's pool, where it holds no connection,
        call or timer up. It then runs outside the hub: it may write to ``stream`` and log,
        and must not use other kernel objects (fire events, run APIs) itself.
        """
        if function is None:
            self._undecorated.add(("api", name))

            def deco(fn: Callable) -> Callable:
                self._undecorated.discard(("api", name))
                self.add_api(name, description, syntax, fn, blocking=blocking)
                return fn
            return deco
        return self.add_interface(ApiInterface("api", name, description, syntax, function=function,
                                               blocking=blocking))

    def add_application(self, name: str, short_desc: str = "", long_desc: str = "",
                        syntax: str = "", function: Callable | None = None, flags: int = 0, *,
                        blocking: bool = False) -> Any:
        """Add a dialplan application ``function(session, data)`` (decorator when no function).

        ``blocking=True``: as for :meth:`add_api`, the session runs the application in gevent's
        thread pool (:func:`softswitch.interfaces.call_interface`)."""
        if function is None:
            self._undecorated.add(("application", name))

            def deco(fn: Callable) -> Callable:
                self._undecorated.discard(("application", name))
                self.add_application(name, short_desc, long_desc, syntax, fn, flags,
                                     blocking=blocking)
                return fn
            return deco
        return self.add_interface(ApplicationInterface(
            "application", name, short_desc, syntax, long_desc=long_desc, flags=flags,
            function=function, blocking=blocking))

    def add_timer(self, iface: Interface) -> Interface:
        """Add a timer interface (:class:`softswitch.TimerInterface`)."""
        return self.add_interface(iface)

    def add_codec(self, iface: Interface) -> Interface:
        """Add a codec interface (:class:`softswitch.CodecInterface`)."""
        return self.add_interface(iface)

    # -- call model (docs/calls.md) ---------------------------------------------------------------
    def add_endpoint(self, name: str, *, outgoing_channel: Callable | None = None,
                     read_frame: Callable | None = None, write_frame: Callable | None = None,
                     kill_channel: Callable | None = None, receive_message: Callable | None = None,
                     send_dtmf: Callable | None = None, state_handlers: Any = None,
                     description: str = "") -> Any:
        """Add an endpoint (docs/calls.md §2)."""
        from .callif import EndpointInterface

        if state_handlers is not None:
            state_handlers.module = self
        return self.add_interface(EndpointInterface(
            "endpoint", name, description, outgoing_channel=outgoing_channel,
            read_frame=read_frame, write_frame=write_frame, kill_channel=kill_channel,
            receive_message=receive_message, send_dtmf=send_dtmf, state_handlers=state_handlers))

    def add_dialplan(self, name: str, hunt: Callable | None = None, description: str = "") -> Any:
        """Add a dialplan ``hunt(session, arg) -> [(app, data), …] | None`` (decorator when no
        function)."""
        from .callif import DialplanInterface

        if hunt is None:
            self._undecorated.add(("dialplan", name))

            def deco(fn: Callable) -> Callable:
                self._undecorated.discard(("dialplan", name))
                self.add_dialplan(name, fn, description)
                return fn
            return deco
        return self.add_interface(DialplanInterface("dialplan", name, description, hunt=hunt))

    def add_file(self, name: str, open: Callable, extensions: tuple[str, ...] = (),
                 description: str = "") -> Any:
        """Add a file interface ``open(path, rate, channels) -> handle`` (docs/calls.md §6)."""
        from .callif import FileInterface

        return self.add_interface(FileInterface("file", name, description, open=open,
                                                extensions=tuple(e.lower() for e in extensions)))

    def add_state_handler(self, table: Any) -> Any:
        """Add a global state handler table (:class:`softswitch.StateHandlers`); removed at
        unload."""
        table.module = self
        self._kernel.add_state_handler(table)
        return table

    # -- resources the kernel cleans up ----------------------------------------------------------
    def bind_event(self, event_type: int, callback: Callable, subclass: str | None = None,
                   user_data: object = None):
        """Bind ``callback(event)`` to events of ``event_type`` (for CUSTOM, of ``subclass``;
        ``EventType.ALL`` for every event); unbound automatically at unload. Returns the
        binding (give it to ``core.events.unbind`` to unbind earlier)."""
        return self._kernel.bind_event(self.name, event_type, subclass, callback, user_data)

    def reserve_subclass(self, subclass: str) -> bool:
        """Reserve a CUSTOM subclass (``weather::changed``) for this module: False when another
        module owns it."""
        return self._kernel.reserve_subclass(self.name, subclass)

    def bind_log(self, callback: Callable, level: int = 7):
        """Receive log lines (:class:`softswitch.LogLine`) at ``level`` or coarser."""
        node = self._kernel.bind_log(callback, level, self.name)
        self._log_nodes.append(node)
        return node

    def add_task(self, runtime: float, callback: Callable, desc: str = "none",
                 group: str | None = None, **kw: Any):
        """Schedule ``callback(task)``; cancelled automatically at unload."""
        return self._kernel.add_task(runtime, callback, desc, group or self.name, self.name, **kw)

    def spawn(self, fn: Callable, *args: Any, **kwargs: Any) -> gevent.Greenlet:
        """Start a greenlet owned by the module; killed at unload if still running."""
        g = gevent.spawn(fn, *args, **kwargs)
        self._greenlets.add(g)
        g.link(self._greenlets.discard)
        return g

    # -- configuration ----------------------------------------------------------------------------
    def config(self, name: str) -> Element | None:
        """The ``<configuration name="name">`` element (``open_cfg``), or None when absent."""
        return self._kernel.services.config(name)
