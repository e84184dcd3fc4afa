"""The module system: discovery, load phases, interfaces, runtime greenlets, unload and reload.

Modules are distributions that declare an entry point in the ``softswitch.modules`` group; the
entry-point name is the module's key (``<load module="mod_pcm"/>``). The loader follows
FreeSWITCH's ``switch_loadable_module_init``:

1. the core modules (mod_softtimer, mod_pcm) when installed, their MODULE_LOAD events held;
2. ``pre_load_modules.conf`` (events still held);
3. the core database opens and the held events are fired;
4. ``modules.conf``; 5. ``post_load_modules.conf`` (``critical`` not honoured there);
6. no ``<load>`` anywhere → "No modules loaded, assuming 'load all'";
7. one runtime greenlet per module that implements ``module_runtime``.

Each hook is called on one module at a time (pluggy's ``subset_hook_caller``), so a failing
module never hides another.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import sys
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
import importlib_metadata
import pluggy

from . import hookspecs
from .config import switch_true
from .event import Event, EventType
from .interfaces import ApiInterface, ApplicationInterface, Interface
from .log import NOTICE
from .status import Status, as_status

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from .core import Core

log = logging.getLogger(__name__)

__all__ = ["ModuleInterface", "ModuleLoader", "ModuleLoadError", "CriticalModuleError", "GROUP"]

GROUP = "softswitch.modules"
CORE_MODULES = ("mod_softtimer", "mod_pcm")

ERR_ALREADY = "Module already loaded"
ERR_LOAD = "module load file routine returned an error"


class ModuleLoadError(Exception):
    """A module could not be loaded; ``str()`` is the log line that says why."""


class CriticalModuleError(Exception):
    """A ``critical="true"`` module failed: startup must stop."""


def dist_name_for(key: str) -> str:
    """The distribution name our convention gives a module key (mod_x_y → softswitch-mod-x-y)."""
    return "softswitch-" + key.replace("_", "-")


# ---------------------------------------------------------------------------------------------
# ModuleInterface: a module's handle on the core
# ---------------------------------------------------------------------------------------------


class ModuleInterface:
    """What a module's hooks receive. Add interfaces to it; keep state on ``module.state``.

    Everything added through it (interfaces, event binds, log listeners, scheduled tasks,
    greenlets) is removed by the kernel when the module is unloaded.
    """

    def __init__(self, core: Core, name: str, filename: str, plugin: object,
                 dist: tuple[str, str] | None = None) -> None:
        self.core = core
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
            self.core.modules._register_interface(self, iface)
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

        ``blocking=True``: as for :meth:`add_api`, whoever executes the application runs it in
        gevent's thread pool (:func:`softswitch.interfaces.call_interface`)."""
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
        """Add a timer interface (:class:`softswitch.timer.TimerInterface`)."""
        return self.add_interface(iface)

    def add_codec(self, iface: Interface) -> Interface:
        """Add a codec interface (:class:`softswitch.codec.CodecInterface`)."""
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
        self.core.sessions.add_state_handler(table)
        return table

    # -- resources the kernel cleans up ----------------------------------------------------------
    def bind_event(self, event_type: int, callback: Callable, subclass: str | None = None,
                   user_data: object = None):
        """Bind ``callback(event)`` to events; unbound automatically at unload."""
        return self.core.events.bind(self.name, event_type, subclass, callback, user_data)

    def reserve_subclass(self, subclass: str) -> bool:
        return self.core.events.reserve_subclass(self.name, subclass)

    def bind_log(self, callback: Callable, level: int = 7):
        """Receive log lines (:class:`softswitch.log.LogLine`) at ``level`` or coarser."""
        node = self.core.logbus.bind(callback, level, owner=self.name)
        self._log_nodes.append(node)
        return node

    def add_task(self, runtime: float, callback: Callable, desc: str = "none",
                 group: str | None = None, **kw: Any):
        """Schedule ``callback(task)``; cancelled automatically at unload."""
        return self.core.scheduler.add_task(runtime, callback, desc, group or self.name,
                                            owner=self.name, **kw)

    def spawn(self, fn: Callable, *args: Any, **kwargs: Any) -> gevent.Greenlet:
        """Start a greenlet owned by the module; killed at unload if still running."""
        g = gevent.spawn(fn, *args, **kwargs)
        self._greenlets.add(g)
        g.link(self._greenlets.discard)
        return g

    # -- configuration ----------------------------------------------------------------------------
    def config(self, name: str) -> Element | None:
        """The ``<configuration name="name">`` element (``open_cfg``), or None when absent."""
        return self.core.xml.open_cfg(name) if self.core.xml is not None else None


# ---------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------


class ModuleLoader:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.pm = pluggy.PluginManager("softswitch")
        self.pm.add_hookspecs(hookspecs)
        # historic: each module registered from now on gets this call at registration
        self.pm.hook.softswitch_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        if os.environ.get("SOFTSWITCH_TRACE_HOOKS"):
            self.pm.trace.root.setwriter(lambda m: log.debug("hook %s", m.rstrip()))
            self.pm.enable_tracing()
        self.modules: dict[str, ModuleInterface] = {}
        #: Modules given as objects (kernel_factory): name -> module, no entry-point discovery.
        self.provided: dict[str, object] | None = None
        self._index: dict[str, importlib_metadata.EntryPoint] | None = None
        self.hold_events = False
        self._held: list[Event] = []
        self._pending_rows: list[tuple] = []
        self.load_elements = 0
        self.initialized = False

    # -- discovery ------------------------------------------------------------------------------
    def index(self, refresh: bool = False) -> dict[str, importlib_metadata.EntryPoint]:
        """Installed modules by key (entry points of ``softswitch.modules``), read once."""
        if self._index is None or refresh:
            if refresh:
                importlib.invalidate_caches()
            found: dict[str, importlib_metadata.EntryPoint] = {}
            for ep in importlib_metadata.entry_points(group=GROUP):
                if ep.name in found:
                    if found[ep.name].value != ep.value:
                        log.warning(
                            "two distributions provide module %s (%s and %s); using the first",
                            ep.name, _ep_dist(found[ep.name]), _ep_dist(ep),
                        )
                    continue
                found[ep.name] = ep
            self._index = found
        return self._index

    def available(self) -> list[str]:
        """Every module that could be loaded: installed ones and those given as objects."""
        return sorted(set(self.index()) | set(self.provided or ()))

    # -- phases ---------------------------------------------------------------------------------
    def init(self) -> None:
        """Run every load phase (see the module docstring). Raises CriticalModuleError."""
        core = self.core
        self.hold_events = True
        for key in CORE_MODULES:
            if self._installed(key):
                self.load(key, phase="core")
            else:
                log.warning(
                    "core module %s is not installed; its interfaces are unavailable "
                    "(pip install %s)", key, dist_name_for(key),
                )
        self._phase("pre_load_modules.conf", "preload")
        core.open_db()
        self.hold_events = False
        held, self._held = self._held, []
        for ev in held:
            core.events.fire(ev)
        self._phase("modules.conf", "common")
        self._phase("post_load_modules.conf", "postload")
        if self.load_elements == 0:
            log.info("No modules loaded, assuming 'load all'")
            for key in self.available():
                if key not in self.modules:
                    self.load(key, phase="common")
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as e:
            log.error("%s", _validation_message(e))
        self.initialized = True
        for mod in list(self.modules.values()):
            self.start_runtime(mod)

    def _installed(self, key: str) -> bool:
        return key in (self.provided or ()) or key in self.index()

    def _phase(self, cfg_name: str, phase: str) -> None:
        core = self.core
        cfg = core.xml.open_cfg(cfg_name) if core.xml is not None else None
        if cfg is None:
            log.debug("open of %s failed", cfg_name)
            return
        for mods in cfg.findall("modules"):
            for el in mods.findall("load"):
                value = (el.get("module") or "").strip()
                if not value or ("." in value and not value.lower().endswith((".so", ".py"))
                                 and "/" not in value):
                    log.error("Invalid extension for %s (%s)", value or '""', core.xml.where(el))
                    continue
                self.load_elements += 1
                critical = phase != "postload" and switch_true(el.get("critical"))
                status, err = self.load(value, el.get("path") or None, phase=phase)
                if status != Status.SUCCESS and err != ERR_ALREADY and critical:
                    msg = f"Failed to load critical module '{value}', abort() ({cfg_name}, {core.xml.where(el)})"
                    log.critical("%s", msg)
                    raise CriticalModuleError(msg)

    # -- load -----------------------------------------------------------------------------------
    @staticmethod
    def key_of(module: str) -> str:
        """FreeSWITCH's module key: the file name without directory, cut at the first dot."""
        base = os.path.basename(module.rstrip("/"))
        return base.split(".", 1)[0]

    def load(self, module: str, path: str | None = None, *, phase: str = "runtime") -> tuple[Status, str]:
        """Load a module by key (``mod_x``), file name (``mod_x.so``) or path.

        :returns: ``(status, err)`` with FreeSWITCH's error strings: ``"Module already
            loaded"``, ``"module load file routine returned an error"``, or "" on success.
        """
        key = self.key_of(module)
        if "/" in module or module.endswith(".py"):
            path = path or module
        if key in self.modules:
            log.warning("Module %s Already Loaded!", key)
            return Status.FALSE, ERR_ALREADY
        try:
            plugin, filename, dist = self._import(key, path)
        except ModuleLoadError as e:
            log.error("%s", e)
            return Status.GENERR, ERR_LOAD
        mod = ModuleInterface(self.core, key, filename, plugin, dist)
        mod.phase = phase
        try:
            self._register_plugin(mod)
        except ModuleLoadError as e:
            log.error("%s", e)
            self._forget_import(mod, force=True)
            return Status.GENERR, ERR_LOAD
        status = self._call_load(mod)
        if status not in (Status.SUCCESS, Status.NOUNLOAD):
            self._cleanup(mod)
            self.pm.unregister(name=key)
            self._forget_import(mod, force=True)
            return Status.GENERR, ERR_LOAD
        mod.permanent = status == Status.NOUNLOAD
        mod.loaded_at = time.time()
        self.modules[key] = mod
        self._register(mod)
        log.info("Successfully Loaded [%s]", key)
        if self.initialized:
            self.start_runtime(mod)
        return Status.SUCCESS, ""

    def _import(self, key: str, path: str | None) -> tuple[object, str, tuple[str, str] | None]:
        if path:
            plugin = self._import_path(key, path)
            return plugin, getattr(plugin, "__file__", path) or path, None
        if self.provided is not None and key in self.provided:
            plugin = self.provided[key]
            return _instantiate(plugin), getattr(plugin, "__file__", None) or f"<{key}>", None
        ep = self.index().get(key)
        if ep is None:
            ep = self.index(refresh=True).get(key)  # installed since startup?
        if ep is None:
            raise ModuleLoadError(
                f"Error Loading module {key}: no installed distribution provides it (no entry point "
                f'"{key}" in group "{GROUP}"). Install it (pip install {dist_name_for(key)}) '
                f'or give its directory with <load module="{key}" path="..."/>'
            )
        dist = (ep.dist.name, ep.dist.version) if ep.dist else None
        where = f"{dist[0]} {dist[1]}" if dist else "unknown distribution"
        try:
            plugin = _instantiate(ep.load())
        except Exception as e:
            log.debug("traceback of importing module %s (%s):", key, where, exc_info=True)
            raise ModuleLoadError(
                f'Error importing module "{key}" ({where}): {type(e).__name__}: {e} '
                "(traceback at DEBUG level)"
            ) from e
        return plugin, getattr(plugin, "__file__", None) or ep.value, dist

    def _import_path(self, key: str, path: str) -> object:
        path = os.path.abspath(os.path.expanduser(path))
        candidates = [path] if path.endswith(".py") else [
            os.path.join(path, key, "__init__.py"), os.path.join(path, key + ".py")]
        file = next((c for c in candidates if os.path.isfile(c)), None)
        if file is None:
            raise ModuleLoadError(
                f"Error Loading module {key}: not found at {path} (looked for {', '.join(candidates)})")
        is_pkg = file.endswith("__init__.py")
        spec = importlib.util.spec_from_file_location(
            key, file, submodule_search_locations=[os.path.dirname(file)] if is_pkg else None)
        if spec is None or spec.loader is None:
            raise ModuleLoadError(f"Error Loading module {key}: cannot import {file}")
        pymod = importlib.util.module_from_spec(spec)
        sys.modules[key] = pymod
        try:
            spec.loader.exec_module(pymod)
        except Exception as e:
            sys.modules.pop(key, None)
            log.debug("traceback of importing module %s from %s:", key, file, exc_info=True)
            raise ModuleLoadError(
                f'Error importing module "{key}" from {file}: {type(e).__name__}: {e} '
                "(traceback at DEBUG level)") from e
        return pymod

    def _register_plugin(self, mod: ModuleInterface) -> None:
        try:
            self.pm.register(mod.plugin, name=mod.name)
        except pluggy.PluginValidationError as e:
            raise ModuleLoadError(f"Error Loading module {mod.name}: {_validation_message(e)}") from e
        except ValueError as e:  # the same plugin object registered under another name
            raise ModuleLoadError(f"Error Loading module {mod.name}: {e}") from e
        if not self._impls(mod, "module_load"):
            self.pm.unregister(name=mod.name)
            raise ModuleLoadError(
                f"Error Loading module {mod.name}: {mod.filename} has no module_load hook. "
                "Module failed to initialize its module_interface. Is this a valid module? "
                "(decorate a function `module_load(module, core)` with @softswitch.hookimpl)")

    def _impls(self, mod: ModuleInterface, hook: str) -> list:
        return [i for i in getattr(self.pm.hook, hook).get_hookimpls() if i.plugin_name == mod.name]

    def call(self, mod: ModuleInterface, hook: str, **kwargs: Any) -> Any:
        """Call ``hook`` on this one module (None when it does not implement it)."""
        if not self._impls(mod, hook):
            return None
        others = [p for n, p in self.pm.list_name_plugin() if n != mod.name]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs)

    def _call_load(self, mod: ModuleInterface) -> Status:
        try:
            result = self.call(mod, "module_load", module=mod, core=self.core)
        except Exception as e:
            log.debug("traceback of module_load of %s:", mod.name, exc_info=True)
            log.error(
                "Error Loading module %s\n**Module load routine raised %s: %s** (%s; traceback at DEBUG level)",
                mod.name, type(e).__name__, e, mod.filename)
            return Status.GENERR
        status = Status.SUCCESS if result is None else as_status(result)
        if status not in (Status.SUCCESS, Status.NOUNLOAD):
            log.error("Error Loading module %s\n**Module load routine returned an error** (%s)",
                      mod.name, status.name)
        return status

    # -- registration of interfaces ---------------------------------------------------------------
    def _register(self, mod: ModuleInterface) -> None:
        mod._registered = True
        for kind, name in sorted(mod._undecorated):
            log.warning("module %s called add_%s(%r) without a function and never used it as a "
                        "decorator: the %s is not registered", mod.name, kind, name, kind)
        ifaces = list(mod.interfaces)
        for iface in ifaces:
            self._register_interface(mod, iface)
        if not ifaces:
            ev = Event(EventType.MODULE_LOAD)
            ev.add_header("type", "generic")
            ev.add_header("name", mod.name)
            self._fire(ev)
            self._db_insert(("generic", mod.name, "", mod.name, mod.filename, "", self.core.hostname))

    def _register_interface(self, mod: ModuleInterface, iface: Interface) -> None:
        check = getattr(iface, "validate", None)
        if check is not None and not check():
            mod.interfaces.remove(iface)
            return
        if not self.core.interface_allowed(mod, iface):
            mod.interfaces.remove(iface)
            return
        self.core.registry.add(iface)
        ev = Event(EventType.MODULE_LOAD)
        ev.add_header("type", iface.kind)
        ev.add_header("name", iface.name)
        if iface.kind in ("application", "api", "json_api"):
            ev.add_header("description", iface.description)
            ev.add_header("syntax", iface.syntax)
        ev.add_header("key", mod.name)
        ev.add_header("filename", mod.filename)
        if iface.kind in ("codec", "file", "database"):
            ev.add_header("module", mod.name)
        self._fire(ev)
        self._db_insert((iface.kind, iface.name, iface.description, mod.name, mod.filename,
                         iface.syntax, self.core.hostname))

    def _unregister_interfaces(self, mod: ModuleInterface) -> None:
        for iface in mod.interfaces:
            self.core.registry.remove(iface)
            ev = Event(EventType.MODULE_UNLOAD)
            ev.add_header("type", iface.kind)
            ev.add_header("name", iface.name)
            if iface.kind in ("application", "api", "json_api"):
                ev.add_header("description", iface.description)
                ev.add_header("syntax", iface.syntax)
            if iface.kind == "api":
                ev.add_header("key", mod.name)
                ev.add_header("filename", mod.filename)
            if iface.kind in ("codec", "file", "database"):
                ev.add_header("module", mod.name)
            self._fire(ev)
        if not mod.interfaces:
            ev = Event(EventType.MODULE_UNLOAD)
            ev.add_header("type", "generic")
            ev.add_header("name", mod.name)
            self._fire(ev)
        if self.core.db is not None:
            self.core.db.execute("DELETE FROM interfaces WHERE ikey = ? AND hostname = ?",
                                 (mod.name, self.core.hostname))

    def _fire(self, ev: Event) -> None:
        if self.hold_events:
            self._held.append(ev)
        else:
            self.core.events.fire(ev)

    def _db_insert(self, row: tuple) -> None:
        if self.core.db is None:
            self._pending_rows.append(row)
        else:
            self.core.db.execute(
                "INSERT INTO interfaces (type, name, description, ikey, filename, syntax, hostname) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def flush_db_rows(self) -> None:
        """Write the rows of modules loaded before the core database opened."""
        rows, self._pending_rows = self._pending_rows, []
        if rows and self.core.db is not None:
            self.core.db.executemany(
                "INSERT INTO interfaces (type, name, description, ikey, filename, syntax, hostname) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    # -- runtime --------------------------------------------------------------------------------
    def start_runtime(self, mod: ModuleInterface) -> None:
        if mod._runtime is not None or not self._impls(mod, "module_runtime"):
            return
        log.info("Starting runtime thread for %s", mod.name)
        g = gevent.spawn(self._runtime_loop, mod)
        g.name = f"runtime-{mod.name}"
        mod._runtime = g

    def _runtime_loop(self, mod: ModuleInterface) -> None:
        backoff = 0.1
        quick = 0
        while not mod.shutting_down:
            t0 = time.monotonic()
            try:
                result = self.call(mod, "module_runtime", module=mod)
            except gevent.GreenletExit:
                raise
            except Exception as e:
                log.error("module_runtime of %s raised %s: %s; running it again in %.1f s",
                          mod.name, type(e).__name__, e, backoff, exc_info=True)
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if result is not None and as_status(result) == Status.TERM:
                break
            if time.monotonic() - t0 < 0.001:
                quick += 1
                if quick == 1000:
                    log.warning("module_runtime of %s keeps returning at once; it should block "
                                "(gevent) or return Status.TERM", mod.name)
                gevent.sleep(0.001 if quick >= 1000 else 0)
            else:
                quick = 0
                gevent.sleep(0)
        log.log(NOTICE, "Thread ended for %s", mod.name)

    # -- unload ---------------------------------------------------------------------------------
    def unload(self, name: str, force: bool = False) -> tuple[Status, str]:
        """Unload a module as FreeSWITCH's ``unload [-f]`` does.

        :returns: ``(status, err)``: "No such module!", "Module is not unloadable",
            "Module in use." or "".
        """
        key = self.key_of(name)
        mod = self.modules.get(key)
        if mod is None:
            return Status.FALSE, "No such module!"
        if force:
            log.warning("Spin the barrel and pull the trigger.......!")
        if mod.permanent:
            log.critical("Module is not unloadable.")
            return Status.NOUNLOAD, "Module is not unloadable"
        if mod.refs and not force:
            return Status.INUSE, "Module in use."
        del self.modules[key]
        self._shutdown_module(mod)
        self._forget_import(mod)
        log.info("%s unloaded", key)
        return Status.SUCCESS, ""

    def _shutdown_module(self, mod: ModuleInterface) -> Status:
        mod.shutting_down = True
        self._unregister_interfaces(mod)
        status = Status.SUCCESS
        try:
            result = self.call(mod, "module_shutdown", module=mod)
            if result is not None:
                status = as_status(result)
        except Exception as e:
            log.error("module_shutdown of %s raised %s: %s", mod.name, type(e).__name__, e, exc_info=True)
        mod._shutdown_status = status  # type: ignore[attr-defined]
        self._stop_runtime(mod)
        self._cleanup(mod)
        try:
            self.pm.unregister(name=mod.name)
        except ValueError:
            pass
        return status

    def _stop_runtime(self, mod: ModuleInterface, timeout: float = 5.0) -> None:
        g = mod._runtime
        mod._runtime = None
        if g is None or g.dead or g is gevent.getcurrent():
            return
        g.join(timeout)
        if not g.dead:
            log.warning("runtime of %s did not return within %.0f s of its shutdown; killing it",
                        mod.name, timeout)
            g.kill(block=True, timeout=1)

    def _cleanup(self, mod: ModuleInterface) -> None:
        core = self.core
        core.events.unbind_owner(mod.name)
        for node in mod._log_nodes:
            core.logbus.unbind(node)
        mod._log_nodes.clear()
        core.scheduler.del_owner(mod.name)
        core.sessions.remove_owner(mod)  # call model: its global state handlers
        me = gevent.getcurrent()
        for g in list(mod._greenlets):
            if g is not me:
                g.kill(block=False)

    def _forget_import(self, mod: ModuleInterface, force: bool = False) -> None:
        """Drop the module's Python package from sys.modules so a reload imports it afresh."""
        if not force and getattr(mod, "_shutdown_status", None) == Status.NOUNLOAD:
            return
        pkg = getattr(mod.plugin, "__name__", None)
        if not isinstance(mod.plugin, types.ModuleType) or not pkg:
            return
        for name in [n for n in sys.modules if n == pkg or n.startswith(pkg + ".")]:
            del sys.modules[name]

    def reload(self, name: str, force: bool = False) -> tuple[tuple[Status, str], tuple[Status, str]]:
        """``reload [-f]``: unload then load again (same path for path-loaded modules)."""
        key = self.key_of(name)
        mod = self.modules.get(key)
        path = None
        if mod is not None and mod.distribution is None and os.path.exists(mod.filename):
            path = mod.filename
        first = self.unload(key, force)
        second = self.load(key, path)
        return first, second

    def shutdown_all(self) -> None:
        """Shut every module down in reverse load order; keep going after failures."""
        for mod in reversed(list(self.modules.values())):
            if mod.permanent:  # FreeSWITCH never shuts permanent modules down; stop their work
                mod.shutting_down = True
                self._stop_runtime(mod, timeout=1.0)
                self._cleanup(mod)
                continue
            try:
                self._shutdown_module(mod)
            except Exception:
                log.exception("shutting down %s failed; continuing", mod.name)
        self.modules.clear()


def _instantiate(obj: object) -> object:
    return obj() if inspect.isclass(obj) else obj


def _ep_dist(ep: importlib_metadata.EntryPoint) -> str:
    return f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value


def _validation_message(e: pluggy.PluginValidationError) -> str:
    """Turn pluggy's multi-line error into one line naming the hook and the bad argument."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return (f"bad hook implementation: {text}. Hook arguments must be a subset of the "
            "hookspec's (see softswitch.hookspecs)")
