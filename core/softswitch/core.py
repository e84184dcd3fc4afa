"""The core: start-up, the running state, API execution and the shutdown sequence.

Order of :meth:`Core.init` and :meth:`Core.load_modules`, as FreeSWITCH's ``switch_core_init`` /
``switch_core_init_and_modload``:

1. directories and the default global variables (hostname, local_ip_v4, base_dir, …);
2. the XML configuration (pre-processed and parsed; failure stops startup);
3. logging (level from switch.conf, log file), switch.conf settings and ``<variables>``;
4. the event system, the core UUID, RELOADXML; the scheduler with the ``heartbeat`` and
   ``check_ip`` tasks;
5. network lists; the module load phases (the core database opens between pre-load and
   modules.conf); ``post_load_switch.conf``; STARTUP; "softswitch Started".

Shutdown (:meth:`Core.shutdown`): SHUTDOWN event (delivered before modules go away), modules'
shutdown hooks in reverse load order, core database, scheduler, event system, logging.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event

from . import netinfo
from ._version import FREESWITCH_COMPAT, __version__
from .acl import NetworkLists
from .codec import Codec, CodecFlag, find_implementation, parse_codec_string
from .config import ConfigError, GlobalVars, XmlConfig, expand, load_xml, switch_true
from .db import CoreDB, open_core_db
from .dirs import Directories
from .event import Event, EventType
from .eventbus import EventSystem
from .interfaces import ApiInterface, ApiResult, Interface, Registry, Stream, call_interface
from .log import CONSOLE, LogBus, LogLevel, parse_level
from .modules import ModuleInterface, ModuleLoader
from .scheduler import Scheduler, Task
from .services import CoreServices
from .status import Status, as_status
from .timer import Timer, TimerInterface, get_time_source, set_time_source, timer_open
from .watchdog import DEFAULT_THRESHOLD_MS, HubWatchdog

log = logging.getLogger(__name__)

_SUCCESS = Status.SUCCESS
_API = EventType.API

__all__ = ["Core", "Settings", "version_full", "version_revision"]


def version_full() -> str:
    """Full version in FreeSWITCH's shape (``1.10.12-softswitch-0.1.0~64bit``)."""
    return f"{FREESWITCH_COMPAT}-softswitch-{__version__}~64bit"


def version_revision() -> str:
    return f"softswitch {__version__}; Python {platform.python_version()}"


@dataclass
class Settings:
    """switch.conf values the core acts on (names as in switch.conf, with ``_``)."""

    loglevel: int = int(LogLevel.DEBUG)
    debug_level: int = 0
    event_heartbeat_interval: int = 20
    max_sessions: int = 1000
    sessions_per_second: int = 30
    core_db_name: str = "core"
    core_db_dsn: str | None = None
    switchname: str = ""
    api_expansion: bool = True
    auto_clear_sql: bool = True
    colorize_console: bool = False
    initial_event_threads: int = 1
    uuid_version: int = 4
    min_idle_cpu: float = 0.0
    verbose_channel_events: bool = False  # call model: variable_* on every channel event
    rtp_start_port: int = 16384  # the kernel's RTP stack (softswitch.rtp)
    rtp_end_port: int = 32768
    #: softswitch: report code that holds the gevent hub longer than this (0 = off)
    hub_watchdog_ms: int = DEFAULT_THRESHOLD_MS


def _uuid7() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 66) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def _register_kernel_files(core: Core) -> None:
    """The kernel's own file interface: ``silence_stream://`` (call model)."""
    from .files import silence_stream_interface

    core.registry.add(silence_stream_interface())


def _c_string(text: str | None) -> str:
    """``text`` as a C function sees it: up to its first NUL, stripped."""
    if not text:
        return ""
    if "\0" in text:
        text = text.split("\0", 1)[0]
    return text.strip()


class Core:
    """One running softswitch. Modules reach it as ``module.core`` (and the hooks' ``core``)."""

    def __init__(
        self,
        dirs: Directories,
        *,
        cfgname: str | None = None,
        nonat: bool = False,
        nosql: bool = False,
        console: bool = False,
        modules: dict[str, object] | None = None,
        cpu_count: int | None = None,
    ) -> None:
        self.dirs = dirs
        self.cfgname = cfgname
        self.nonat = nonat
        self.nosql = nosql
        self.console = console
        self.vars = GlobalVars()
        self.settings = Settings()
        self.logbus = LogBus()
        self.events = EventSystem(cpu_count)
        self.scheduler = Scheduler(self.events.fire)
        self.registry = Registry()
        self._apis = self.registry.table("api")
        self.acl = NetworkLists()
        self.modules = ModuleLoader(self)
        if modules is not None:
            self.modules.provided = dict(modules)
        self.xml: XmlConfig | None = None
        self.db: CoreDB | None = None
        self.uuid = ""
        self.hostname = socket.gethostname()
        self.switchname = self.hostname
        self.local_ip_v4 = "127.0.0.1"
        self.local_ip_v6 = ""
        self.started_mono = time.monotonic()
        self.started_at = time.time()
        self.running = False
        self.ready = False
        self.shutting_down = False
        self.no_new_sessions = True
        self.restart_requested = False
        self.shutdown_cause = ""
        self._stop = gevent.event.Event()
        self.watchdog: HubWatchdog | None = None
        self._allowlist: set[str] | None = None
        # session accounting (no call sessions yet: all stay 0 but the figures are real)
        self.session_count = 0
        self.sessions_since_startup = 0
        self.session_peak = 0
        self.session_peak_fivemin = 0
        self.sps_last = 0
        self.sps_peak = 0
        self.sps_peak_fivemin = 0
        # -- the call model (issue #14: sessions.py, session.py, docs/calls.md) --
        from .sessions import SessionManager
        self.sessions = SessionManager(self)
        self._codec_cache: dict[str, tuple] = {}
        _register_kernel_files(self)


        #: This kernel's cached "now" (a timer module's last tick), or None: the clock.
        self.time_source: Callable[[], int] | None = None
        #: What modules see: the hooks' ``core`` and ``module.core`` (softswitch.services).
        self.services = CoreServices(self)

    # ------------------------------------------------------------------------------------------
    # start-up
    # ------------------------------------------------------------------------------------------
    def init(self) -> None:
        """Everything before the modules. :raises ConfigError: broken configuration."""
        self.logbus.install(LogLevel.DEBUG)
        self.dirs.ensure()
        self._set_default_vars()
        self.xml = load_xml(self.dirs.conf_dir, self.vars, self.cfgname, self.dirs.log_dir)
        if self.dirs.conf_is_default:
            log.info("using the default configuration shipped with softswitch (%s); copy it to "
                     "edit it: softswitch -copyconf", self.dirs.conf_dir)
        self.logbus.open_file(os.path.join(self.dirs.log_dir, "softswitch.log"))
        self._load_switch_conf("switch.conf")
        self.logbus.set_hard_level(self.settings.loglevel)
        # colours on the console only when switch.conf asks (colorize-console) and it is a tty
        self.logbus.console_colour = self.logbus.console_colour and self.settings.colorize_console
        self.switchname = self.settings.switchname or self.hostname
        self.uuid = self.create_uuid()
        self._set_identity()
        self.running = True
        self.started_mono = time.monotonic()
        self.started_at = time.time()
        self.events.start()
        for _ in range(1, min(self.settings.initial_event_threads, self.events.max_dispatch - 1)):
            self.events._launch()
        self.events.fire(Event(EventType.RELOADXML))
        self.sessions.start()  # call model: the sps budget's once-a-second reset
        self.scheduler.start()
        self.scheduler.add_task(time.time(), self._heartbeat, "heartbeat", "core", no_del=True)
        self.scheduler.add_task(60, self._check_ip, "check_ip", "core", no_del=True, own_thread=True)
        self.vars.set("core_uuid", self.uuid)
        self.load_network_lists()
        self.watchdog = HubWatchdog(self.settings.hub_watchdog_ms, self.events.fire,
                                    self._module_packages, self.logbus.warn_now)
        self.watchdog.start()

    def _module_packages(self) -> dict[str, str]:
        """Python package -> module name, for the hub watchdog (called from its thread)."""
        out = {}
        for name, mod in list(self.modules.modules.items()):
            package = getattr(mod.plugin, "__name__", "") or ""
            if package:
                out[package.split(".", 1)[0]] = name
        return out

    def _set_identity(self) -> None:
        """The identity headers this kernel's events carry (refreshed by the IP check)."""
        self.events.set_identity(self.uuid, self.hostname, self.switchname, self.local_ip_v4,
                                 self.local_ip_v6)

    def set_time_source(self, source: Callable[[], int] | None) -> None:
        """This kernel's cached "now" (``core.timers.set_time_source``). Also the process-wide
        :func:`softswitch.cached_micro_time_now` (the kernel that set one last wins; reset
        to the clock when that kernel's goes)."""
        previous = self.time_source
        self.time_source = source
        if source is not None or get_time_source() is previous:  # the last one set wins
            set_time_source(source)

    def cached_micro_time_now(self) -> int:
        """This kernel's hot-path "now": its time source, else the clock (wall-clock µs)."""
        src = self.time_source
        return src() if src is not None else time.time_ns() // 1000

    def _set_default_vars(self) -> None:
        v = self.vars
        self.local_ip_v4 = netinfo.guess_local_ip_v4()
        self.local_ip_v6 = netinfo.guess_local_ip_v6()
        v.set("hostname", self.hostname)
        v.set("local_ip_v4", self.local_ip_v4)
        v.set("local_mask_v4", netinfo.local_mask_v4(self.local_ip_v4))
        v.set("local_ip_v6", self.local_ip_v6)
        for name, value in self.dirs.as_variables():
            v.set(name, value)
        v.set("switch_serial", self._serial())

    def _serial(self) -> str:
        """FreeSWITCH's ``switch_serial``: the local IPv4 as 8 hex digits + 4 random ones,
        kept in ``<conf_dir>/softswitch.serial`` when the conf dir is writable."""
        path = os.path.join(self.dirs.conf_dir, "softswitch.serial")
        try:
            with open(path) as f:
                value = f.read().strip()
                if value:
                    return value
        except OSError:
            pass
        value = socket.inet_aton(self.local_ip_v4).hex() + os.urandom(2).hex()
        if not self.dirs.conf_is_default:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(value)
            except OSError:
                pass
        return value

    def _load_switch_conf(self, name: str) -> None:
        cfg = self.xml.open_cfg(name) if self.xml else None
        if cfg is None:
            if name == "switch.conf":
                log.debug("open of %s failed; using defaults", name)
            return
        s = self.settings
        for settings in cfg.findall("settings"):
            for p in settings.findall("param"):
                key = (p.get("name") or "").lower()
                val = p.get("value") or ""
                where = self.xml.where(p)
                try:
                    self._apply_setting(s, key, val, where)
                except ValueError:
                    log.error("switch.conf %s: bad value %r for %s; keeping %s", where, val, key,
                              "the default")
        for variables in cfg.findall("variables"):
            for var in variables.findall("variable"):
                self.vars.set(var.get("name") or "", var.get("value") or "")
        allow = cfg.find("interface-allowlist")
        if allow is not None:
            names = {a.get("name") for a in allow.findall("allow") if a.get("name")}
            if names:
                self._allowlist = names
            else:
                log.error("switch.conf: <interface-allowlist> is present but empty; not enforcing it")

    def _apply_setting(self, s: Settings, key: str, val: str, where: str) -> None:
        if key == "loglevel":
            level = parse_level(val)
            if level == LogLevel.INVALID:
                raise ValueError(val)
            s.loglevel = min(level, int(LogLevel.DEBUG))
        elif key == "debug-level":
            n = int(val)
            if 0 <= n <= 10:
                s.debug_level = n
        elif key == "hub-watchdog-ms":
            n = int(val)
            if n < 0:
                raise ValueError(val)
            s.hub_watchdog_ms = n
        elif key == "event-heartbeat-interval":
            n = int(val)
            if n <= 0:
                log.error("heartbeat-interval must be a greater than 0 (%s)", where)
            else:
                s.event_heartbeat_interval = n
        elif key == "max-sessions":
            n = int(val)
            if n:
                s.max_sessions = n
        elif key == "sessions-per-second":
            n = int(val)
            if n:
                s.sessions_per_second = n
        elif key == "core-db-name":
            s.core_db_name = val
        elif key == "core-db-dsn":
            s.core_db_dsn = val or None
        elif key == "switchname":
            s.switchname = val
        elif key == "api-expansion":
            s.api_expansion = switch_true(val)
        elif key == "auto-clear-sql":
            s.auto_clear_sql = switch_true(val)
        elif key == "colorize-console":
            s.colorize_console = switch_true(val)
        elif key == "initial-event-threads":
            s.initial_event_threads = max(1, int(val))
        elif key == "uuid-version":
            if int(val) in (4, 7):
                s.uuid_version = int(val)
        elif key == "min-idle-cpu":
            s.min_idle_cpu = float(val)
        elif key == "verbose-channel-events":  # call model
            s.verbose_channel_events = switch_true(val)
        elif key == "rtp-start-port":  # RTP ports (softswitch.rtp)
            s.rtp_start_port = int(val)
        elif key == "rtp-end-port":
            s.rtp_end_port = int(val)
        # every other param (FreeSWITCH has dozens: max-db-handles and db-handle-timeout have no
        # connection pool to size here) is accepted and ignored,
        # as FreeSWITCH ignores params it does not know

    def interface_allowed(self, mod: ModuleInterface, iface: Interface) -> bool:
        """switch.conf ``<interface-allowlist>`` (FreeSWITCH 2026): apps and APIs only."""
        allow = self._allowlist
        if not allow or iface.kind not in ("application", "api", "json_api", "chat_application"):
            return True
        short = {"application": "app", "chat_application": "chat_app"}.get(iface.kind, iface.kind)
        if mod.name in allow or f"{mod.name}.{iface.name}" in allow or f"{mod.name}.{iface.name}.{short}" in allow:
            return True
        log.warning("interface %s %s of %s is not in switch.conf's interface-allowlist; not registered",
                    iface.kind, iface.name, mod.name)
        return False

    def load_network_lists(self) -> None:
        acl_cfg = self.xml.open_cfg("acl.conf") if self.xml else None
        self.acl.load(self.local_ip_v4, self.vars.get("local_mask_v4", "255.255.255.255"), acl_cfg)

    def open_db(self) -> None:
        """Open the core database (between pre-load and modules.conf, as FreeSWITCH does)."""
        if self.nosql:
            return
        s = self.settings
        self.db = open_core_db(self.dirs.db_dir, s.core_db_name, s.core_db_dsn)
        self.db.create_schema(self.hostname, clear=s.auto_clear_sql)
        self.sessions.db.ensure_views()  # call model: basic_calls / detailed_calls
        self.sessions.db.prepare()  # call model: its statements compiled before the first call
        self.db.before_read = self.sessions.db.flush  # call model: readers see queued writes
        self.modules.flush_db_rows()

    def load_modules(self) -> None:
        """Module phases, post_load_switch.conf, STARTUP. Raises CriticalModuleError."""
        log.log(CONSOLE, "Bringing up environment.")
        log.log(CONSOLE, "Loading Modules.")
        self.modules.init()
        self.load_network_lists()
        self._load_switch_conf("post_load_switch.conf")
        ev = Event(EventType.STARTUP)
        ev.add_header("Event-Info", "System Ready")
        self.events.fire(ev)
        self.ready = True
        self.no_new_sessions = False
        elapsed = (time.monotonic() - self.started_mono) * 1000
        log.log(CONSOLE, "softswitch Version %s (%s) Started. Max Sessions [%d] Session Rate [%d] "
                "SQL [%s]; ready in %.0f ms", version_full(), version_revision(),
                self.settings.max_sessions, self.settings.sessions_per_second,
                "Disabled" if self.nosql else "Enabled", elapsed)
        startup = self.vars.get("api_on_startup")
        if startup:
            cmd, _, arg = startup.partition(" ")
            self.api_execute(cmd, arg)

    def start(self) -> None:
        """init + load_modules (what the CLI and ``kernel_factory`` call)."""
        self.init()
        self.load_modules()

    # ------------------------------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block (cooperatively) until a shutdown is requested."""
        return self._stop.wait(timeout)

    def request_shutdown(self, mode: str = "now", cause: str = "") -> None:
        """Ask the main loop to stop: ``now``/``elegant``/``asap`` (no sessions, so alike),
        ``restart`` (re-exec afterwards) or ``cancel``."""
        if mode == "cancel":
            self._stop.clear()
            self.restart_requested = False
            return
        if mode in ("elegant", "asap"):
            ev = Event(EventType.SHUTDOWN_REQUESTED)
            ev.add_header("Event-Info", "elegant" if mode == "elegant" else "ASAP")
            self.events.fire(ev)
        if mode == "restart":
            self.restart_requested = True
        self.shutdown_cause = cause or mode
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def uptime(self) -> float:
        return time.monotonic() - self.started_mono

    def uptime_parts(self) -> tuple[int, int, int, int, int, int, int]:
        us = int(self.uptime() * 1_000_000)
        secs, usec = divmod(us, 1_000_000)
        ms, usec = divmod(usec, 1000)
        years, secs = divmod(secs, 365 * 86400)
        days, secs = divmod(secs, 86400)
        hours, secs = divmod(secs, 3600)
        minutes, secs = divmod(secs, 60)
        return years, days, hours, minutes, secs, ms, usec

    def uptime_text(self) -> str:
        """``0 years, 0 days, 0 hours, 1 minute, 5 seconds, 12 milliseconds, 7 microseconds``."""
        y, d, h, m, s, ms, us = self.uptime_parts()
        def p(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"
        return ", ".join((p(y, "year"), p(d, "day"), p(h, "hour"), p(m, "minute"), p(s, "second"),
                          p(ms, "millisecond"), p(us, "microsecond")))

    @staticmethod
    def stack_size_k() -> tuple[int, int]:
        cur, mx = resource.getrlimit(resource.RLIMIT_STACK)
        def k(v: int) -> int:
            return 0 if v == resource.RLIM_INFINITY else v // 1024
        return k(cur), k(mx)

    def _heartbeat(self, task: Task) -> None:
        ev = Event(EventType.HEARTBEAT)
        ev.add_header("Event-Info", "System Ready")
        ev.add_header("Up-Time", self.uptime_text())
        ev.add_header("FreeSWITCH-Version", version_full())
        ev.add_header("Uptime-msec", str(int(self.uptime() * 1000)))
        ev.add_header("Session-Count", str(self.session_count))
        ev.add_header("Max-Sessions", str(self.settings.max_sessions))
        ev.add_header("Session-Per-Sec", str(self.settings.sessions_per_second))
        ev.add_header("Session-Per-Sec-Last", str(self.sps_last))
        ev.add_header("Session-Per-Sec-Max", str(self.sps_peak))
        ev.add_header("Session-Per-Sec-FiveMin", str(self.sps_peak_fivemin))
        ev.add_header("Session-Since-Startup", str(self.sessions_since_startup))
        ev.add_header("Session-Peak-Max", str(self.session_peak))
        ev.add_header("Session-Peak-FiveMin", str(self.session_peak_fivemin))
        ev.add_header("Idle-CPU", f"{self.logbus.idle_cpu.sample():f}")
        self.events.fire(ev)
        task.runtime = time.time() + self.settings.event_heartbeat_interval

    def _check_ip(self, task: Task) -> None:
        self.check_ip()

    def check_ip(self) -> None:
        """(Every 60 s, the ``check_ip`` task.) Notice a changed hostname or local address:
        TRAP events, the global variables, and the identity headers of this kernel's events."""
        hostname = socket.gethostname()
        if hostname != self.hostname:
            ev = Event(EventType.TRAP)
            ev.add_header("condition", "hostname-change")
            ev.add_header("old-hostname", self.hostname)
            ev.add_header("new-hostname", hostname)
            self.events.fire(ev)
            self.hostname = hostname
            self.vars.set("hostname", hostname)
            if not self.settings.switchname:
                self.switchname = hostname
            self._set_identity()
        ip4 = netinfo.guess_local_ip_v4()
        ip6 = netinfo.guess_local_ip_v6()
        if ip4 != self.local_ip_v4 or ip6 != self.local_ip_v6:
            ev = Event(EventType.TRAP)
            ev.add_header("condition", "network-address-change")
            if ip4 != self.local_ip_v4:
                ev.add_header("network-address-previous-v4", self.local_ip_v4)
                ev.add_header("network-address-change-v4", ip4)
            if ip6 != self.local_ip_v6:
                ev.add_header("network-address-previous-v6", self.local_ip_v6)
                ev.add_header("network-address-change-v6", ip6)
            self.events.fire(ev)
            self.local_ip_v4, self.local_ip_v6 = ip4, ip6
            self.vars.set("local_ip_v4", ip4)
            self.vars.set("local_mask_v4", netinfo.local_mask_v4(ip4))
            self.vars.set("local_ip_v6", ip6)
            self._set_identity()

    # ------------------------------------------------------------------------------------------
    # services for modules
    # ------------------------------------------------------------------------------------------
    def api_execute(self, cmd: str, arg: str = "", session: Any = None,
                    stream: Stream | None = None) -> ApiResult:
        """Run API ``cmd`` with ``arg`` — the one way the console, ESL and modules run APIs.

        An unknown command gives ``-ERR <cmd> Command not found!`` (``found`` False); an API
        that raises is logged with its traceback and gives status GENERR with ``error`` set.
        """
        # C strings end at a NUL: so do FreeSWITCH's command and argument (the one place this
        # is done: APIs get arguments without NUL)
        cmd = _c_string(cmd)
        arg = _c_string(arg)
        if stream is None:
            stream = Stream()
        iface = self._apis.get(cmd.lower())
        if not isinstance(iface, ApiInterface) or iface.function is None:
            result = ApiResult(Status.NOTFOUND, f"-ERR {cmd} Command not found!\n", False)
        else:
            mod = iface.module
            if mod is not None:  # in use: an unload waits for it (FreeSWITCH's rwlock)
                mod.refs += 1
            error = None
            try:
                # (one declared blocking runs in a thread of gevent's pool)
                status = (call_interface(iface, arg, session, stream) if iface.blocking
                          else iface.function(arg, session, stream))
            except gevent.GreenletExit:
                raise
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                log.error("API %s %s (module %s) raised %s", cmd, arg, iface.module_name, error,
                          exc_info=True)
                status = Status.GENERR
            finally:
                if mod is not None:
                    mod.refs -= 1
            if status is None:
                status = _SUCCESS
            elif status.__class__ is not Status:
                status = as_status(status)
            result = ApiResult(status, stream.getvalue(), True, error)
        events = self.events
        if events.running and events.has_listeners(_API):
            ev = Event(_API)
            ev.add_header("API-Command", cmd)
            ev.add_header("API-Command-Argument", arg)
            events.fire(ev)
        return result

    def create_uuid(self) -> str:
        """A UUID as switch.conf ``uuid-version`` says: 4 (random) or 7 (time-ordered)."""
        return _uuid7() if self.settings.uuid_version == 7 else str(uuid.uuid4())

    def api(self, line: str) -> str:
        """Run an API command line (``"status"``, ``"show modules as json"``) and return its
        output (the error text for an unknown command)."""
        cmd, _, arg = line.strip().partition(" ")
        return self.api_execute(cmd, arg).output

    def expand(self, text: str, lookup=None) -> str:
        """Expand ``${var}``, ``$${global}`` and ``${api args}`` as ``eval`` does."""
        def run(cmd: str, arg: str) -> str:
            return self.api_execute(cmd, arg).output
        return expand(text, self.vars, lookup, run, self.settings.api_expansion)

    def interface(self, kind: str, name: str) -> Interface | None:
        """The registered interface of ``kind`` named ``name`` (``core.interface`` of the
        services; see :meth:`softswitch.services.CoreServices.interface`)."""
        return self.registry.get(kind, name)

    def timer_open(self, name: str, interval: int, samples: int) -> Timer:
        """Open a timer by name (``soft``). :raises TimerError: unknown name, bad interval."""
        iface = self.registry.get("timer", name)
        return timer_open(iface if isinstance(iface, TimerInterface) else None, name, interval, samples)

    def codec_open(self, codec_string: str, flags: CodecFlag = CodecFlag.ENCODE | CodecFlag.DECODE) -> Codec:
        """Open a codec from a codec string (``PCMU@8000h@20i``). :raises CodecError."""
        # call model: every call leg opens its codecs, and the lookup walks every
        # implementation; remember it per string while that interface stays registered
        hit = self._codec_cache.get(codec_string)
        if hit is not None and self.registry.get("codec", hit[0].name) is hit[0]:
            return Codec(hit[0], hit[1], flags, hit[2])
        spec = parse_codec_string(codec_string)
        iface, impl = find_implementation(self.registry, spec)
        if len(self._codec_cache) > 256:
            self._codec_cache.clear()
        self._codec_cache[codec_string] = (iface, impl, spec.fmtp)
        return Codec(iface, impl, flags, spec.fmtp)

    def file_open(self, path: str, rate: int = 8000, channels: int = 1):
        """Open a playback source (``tone_stream://…``, ``silence_stream://…``, a file by its
        extension). :raises FileError: no file interface for it, or its open failed."""
        from .files import file_open

        return file_open(self.registry, path, rate, channels)

    def reloadxml(self) -> tuple[bool, str]:
        """Re-read the conf tree; on failure the old one stays. Fires RELOADXML on success."""
        try:
            xml = load_xml(self.dirs.conf_dir, self.vars, self.cfgname, self.dirs.log_dir)
        except ConfigError as e:
            log.error("reloadxml failed, keeping the previous configuration: %s", e)
            return False, str(e)
        self.xml = xml
        self.events.fire(Event(EventType.RELOADXML))
        return True, "Success"

    # ------------------------------------------------------------------------------------------
    # shutdown
    # ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The shutdown sequence; safe to call more than once and after a failed start."""
        if self.shutting_down:
            return
        self.shutting_down = True
        self.no_new_sessions = True
        self.ready = False
        log.log(CONSOLE, "Shutting down (%s)", self.shutdown_cause or "requested")
        if self.events.running:
            ev = Event(EventType.SHUTDOWN)
            ev.add_header("Event-Info", "System Shutting Down")
            self.events.fire(ev)
            self.events.drain(2.0)  # so ESL clients get SHUTDOWN before their disconnect notice
        try:  # call model: hang up every call (SYSTEM_SHUTDOWN) before the modules go
            self.sessions.shutdown()
        except Exception:
            log.exception("hanging up the calls at shutdown failed")
        try:
            self.modules.shutdown_all()
        except Exception:
            log.exception("module shutdown failed")
        if self.time_source is not None:  # a timer module that did not reset it
            self.set_time_source(None)
        if self.db is not None:
            try:
                self.db.execute("DELETE FROM interfaces WHERE hostname = ?", (self.hostname,))
            except Exception:
                pass
            self.db.close()
            self.db = None
        self.scheduler.stop()
        if self.watchdog is not None:
            self.watchdog.stop()
        self.events.stop(drain_timeout=0.5)
        self.running = False
        log.log(CONSOLE, "softswitch stopped")
        self.logbus.uninstall()
        sys.stdout.flush()
