"""The ``softswitch`` command: FreeSWITCH's flags, the pid file, daemonizing, signals.

``softswitch`` with no flags runs with the per-user directories (see :mod:`softswitch.dirs`) and
the default configuration, with a console when started on a terminal. ``softswitch -nc -nf``
runs in the foreground without a console (systemd, tests); ``-nc`` alone detaches.
Extra flags can also come from the environment variable ``SOFTSWITCH_OPTS`` (FreeSWITCH's
``FREESWITCH_OPTS``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field

USAGE = """\
Usage: softswitch [OPTIONS]

These are the optional arguments you can pass to softswitch:
\t-help, -h, -?       -- this message
\t-version            -- print the version and exit
\t-nc                 -- do not output to a console and background
\t-ncwait             -- do not output to a console and background but wait until
\t                       the system is ready before exiting
\t-nf                 -- no forking
\t-c                  -- output to a console and stay in the foreground
\t-stop               -- stop softswitch (the instance whose pid file is in the run dir)
\t-nonat              -- disable auto nat detection
\t-nonatmap           -- disable auto nat port mapping
\t-nosql              -- disable internal sql scoreboard
\t-nocal              -- accepted for FreeSWITCH compatibility (no clock calibration needed)
\t-nort               -- accepted for FreeSWITCH compatibility
\t-base [basedir]     -- alternate prefix directory
\t-cfgname [filename] -- alternate root config file name (default softswitch.xml, then
\t                       freeswitch.xml)
\t-conf [confdir]     -- alternate directory for softswitch configuration files
\t-log [logdir]       -- alternate directory for logfiles (and the pid file, unless -run)
\t-run [rundir]       -- alternate directory for the pid file
\t-db [dbdir]         -- alternate directory for the internal database
\t-mod [moddir]       -- alternate directory for modules
\t-htdocs [htdocsdir] -- alternate directory for htdocs
\t-scripts [scriptsdir] -- alternate directory for scripts
\t-temp [directory]   -- alternate directory for temporary files
\t-grammar [directory] -- alternate directory for grammar files
\t-certs [directory]  -- alternate directory for certificates
\t-recordings [directory] -- alternate directory for recordings
\t-storage [directory] -- alternate directory for voicemail storage
\t-cache [directory]  -- alternate directory for cache files
\t-sounds [directory] -- alternate directory for sound files
\t-copyconf [dir]     -- copy the default configuration tree to dir (default
\t                       ~/.config/softswitch) to edit it, then exit

       softswitch new-module NAME [DIR]
\t                    -- write a new module distribution (mod_NAME) into DIR
\t                       (default ./softswitch-mod-NAME); see softswitch new-module --help

Directories default to per-user places: configuration in ~/.config/softswitch (or the
default tree shipped with softswitch), logs in ~/.local/state/softswitch/log, the database in
~/.local/state/softswitch/db, the pid file in $XDG_RUNTIME_DIR/softswitch.
"""

_DIR_FLAGS = {
    "-base": None, "-conf": "conf_dir", "-log": "log_dir", "-run": "run_dir", "-db": "db_dir",
    "-mod": "mod_dir", "-htdocs": "htdocs_dir", "-scripts": "script_dir", "-temp": "temp_dir",
    "-grammar": "grammar_dir", "-certs": "certs_dir", "-recordings": "recordings_dir",
    "-storage": "storage_dir", "-cache": "cache_dir", "-sounds": "sounds_dir",
}
_BOOL_FLAGS = {
    "-nc", "-ncwait", "-nf", "-c", "-stop", "-nonat", "-nonatmap", "-nosql", "-nocal", "-nort",
    "-version", "-help", "-h", "-?", "-rp", "-hp", "-lp", "-np", "-vg", "-core", "-heavy-timer",
    "-reincarnate", "-reincarnate-reexec", "-elegant-term", "-waste", "-no-auto-stack",
}
PID_FILE = "softswitch.pid"


class UsageError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Options:
    flags: set[str] = field(default_factory=set)
    dirs: dict[str, str] = field(default_factory=dict)
    base: str | None = None
    cfgname: str | None = None
    copyconf: str | None = None

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def console(self) -> bool | None:
        """True (-c), False (-nc/-ncwait), None (not said: console when on a tty)."""
        if "-c" in self.flags:
            return True
        if self.flags & {"-nc", "-ncwait"}:
            return False
        return None


def parse_args(argv: list[str]) -> Options:
    """Parse FreeSWITCH-style flags (exact, case-sensitive, any order).

    :raises UsageError: with FreeSWITCH's wording and exit code.
    """
    opts = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _DIR_FLAGS or arg == "-cfgname":
            value = argv[i + 1] if i + 1 < len(argv) else None
            if value is None or value.startswith("-"):
                what = "a file name" if arg == "-cfgname" else "a directory"
                raise UsageError(f"When using {arg} you must specify {what}", 255)
            if arg == "-base":
                opts.base = value
            elif arg == "-cfgname":
                opts.cfgname = value
            else:
                opts.dirs[_DIR_FLAGS[arg]] = value
            i += 2
            continue
        if arg == "-copyconf":
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if nxt is not None and not nxt.startswith("-"):
                opts.copyconf = nxt
                i += 2
            else:
                opts.copyconf = ""
                i += 1
            continue
        if arg in ("-u", "-g"):
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                raise UsageError(f"Option '{arg}' requires an argument!", 1)
            raise UsageError(f"Option '{arg}' (run as another user/group) is not supported; "
                             "start softswitch as that user instead (systemd User=)", 1)
        if arg in _BOOL_FLAGS:
            opts.flags.add(arg)
            i += 1
            continue
        raise UsageError(f"Unknown option '{arg}', see '{_prog()} -help' for a list of valid options", 1)
    if "-c" in opts.flags:
        opts.flags.discard("-nc")
        opts.flags.discard("-ncwait")
    return opts


def _prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    # ``python -m softswitch`` has argv[0] ".../softswitch/__main__.py"
    return "softswitch" if not name or name.startswith("__main__") or name == "-c" else name


# ---------------------------------------------------------------------------------------------
# pid file
# ---------------------------------------------------------------------------------------------


class PidFile:
    """``<run_dir>/softswitch.pid``, exclusively locked while we run."""

    def __init__(self, run_dir: str) -> None:
        self.path = os.path.join(run_dir, PID_FILE)
        self.fd: int | None = None

    @staticmethod
    def read(path: str) -> int | None:
        try:
            with open(path) as f:
                return int(f.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        """Lock and write our pid. :raises UsageError: another instance holds it."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise self._held_error() from None
            raise
        old = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if old and old != str(os.getpid()):
            sys.stderr.write(f"softswitch: removing stale pid file {self.path} (pid {old} is gone)\n")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def check_free(self) -> None:
        """Fail now, while we still have a terminal, if another instance holds the lock.

        :raises UsageError: as :meth:`acquire` does. Nothing is created or written.
        """
        if self.held(self.path):
            raise self._held_error()

    @staticmethod
    def held(path: str) -> bool:
        """True when a running softswitch holds the lock on the pid file at ``path``."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            return e.errno in (errno.EWOULDBLOCK, errno.EACCES)
        finally:
            os.close(fd)
        return False

    def _held_error(self) -> UsageError:
        other = self.read(self.path)
        return UsageError(
            f"Cannot lock pid file {self.path}: softswitch (pid {other or '?'}) is already "
            f"running with this run dir. Stop it with 'softswitch -stop' (same -run/-base "
            "flags) or give this instance its own -run directory.", 255)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if self.read(self.path) == os.getpid():
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def stop_instance(run_dir: str) -> int:
    """``-stop``: SIGTERM the instance whose pid file is in ``run_dir``."""
    path = os.path.join(run_dir, PID_FILE)
    pid = PidFile.read(path)
    if pid is None:
        sys.stderr.write(f"Cannot open pid file {path}: no softswitch is running with this run dir\n")
        return 255
    if not PidFile.held(path):
        # Nobody holds the lock: the instance is gone and the pid may belong to an unrelated
        # process by now (pid reuse) -- never signal it.
        sys.stderr.write(f"Stale pid file {path} (pid {pid}): no softswitch is running with "
                         "this run dir; removing it\n")
        try:
            os.unlink(path)
        except OSError:
            pass
        return 255
    sys.stderr.write(f"Killing: {pid}\n")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        sys.stderr.write(f"process {pid} is not running; removing stale pid file {path}\n")
        try:
            os.unlink(path)
        except OSError:
            pass
        return 255
    except PermissionError:
        sys.stderr.write(f"not allowed to signal process {pid} (another user's softswitch?)\n")
        return 255
    return 0


def copy_conf(dest: str, opts: Options | None = None) -> int:
    """``-copyconf [DIR]``: copy the shipped tree to DIR, by default to the conf dir this
    command line would use (``-conf``, else ``<base>/conf``, else the per-user one)."""
    from .dirs import DEFAULT_CONF, user_conf_dir

    opts = opts or Options()
    default = (opts.dirs.get("conf_dir")
               or (os.path.join(opts.base, "conf") if opts.base else None)
               or user_conf_dir())
    default = os.path.abspath(os.path.expanduser(default))
    dest = os.path.abspath(os.path.expanduser(dest)) if dest else default
    for root in ("softswitch.xml", "freeswitch.xml"):
        if os.path.exists(os.path.join(dest, root)):
            sys.stderr.write(f"{dest} already has a {root}; not overwriting it\n")
            return 1
    try:
        shutil.copytree(DEFAULT_CONF, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.serial"))
    except OSError as e:
        sys.stderr.write(f"Cannot copy the default configuration to {dest}: {e}\n")
        return 1
    if dest == default:
        how = "" if opts.dirs.get("conf_dir") or opts.base else " (no flags needed)"
        print(f"Copied the default configuration to {dest}; softswitch uses it from now on{how}")
    else:
        print(f"Copied the default configuration to {dest}; start softswitch with -conf {dest}")
    return 0


# ---------------------------------------------------------------------------------------------
# daemonizing
# ---------------------------------------------------------------------------------------------


def daemonize(wait: bool) -> int | None:
    """Detach (double fork). Returns the write end of the readiness pipe in the daemon, or
    exits in the parent (after the daemon reports ready, with ``wait``)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(wfd)
        if not wait:
            os._exit(0)
        status = b""
        while True:
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            status += chunk
        if status.startswith(b"ready"):
            os._exit(0)
        # "failed <the one line>": say why here, the daemon's stderr is /dev/null
        why = status.partition(b" ")[2].decode(errors="replace").strip()
        os.write(2, ((why or "softswitch: the daemon exited before it was ready") + "\n").encode())
        os._exit(255)
    os.close(rfd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return wfd


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["new-module"]:
        from .newmodule import main as new_module_main

        return new_module_main(argv[1:])
    argv += os.environ.get("SOFTSWITCH_OPTS", "").split()
    try:
        opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write(f"{e}\n")
        return e.code
    if opts.has("-help") or opts.has("-h") or opts.has("-?"):
        sys.stdout.write(USAGE)
        return 0
    if opts.has("-version"):
        # imported here only: the kernel proper is imported after gevent's monkey-patching
        from .core import version_full, version_revision

        sys.stdout.write(f"softswitch version: {version_full()} ({version_revision()})\n")
        return 0
    if opts.copyconf is not None:
        return copy_conf(opts.copyconf, opts)

    from .config import ROOT_FILES
    from .dirs import Directories

    roots = (opts.cfgname,) if opts.cfgname else ROOT_FILES
    dirs = Directories.resolve(opts.dirs, opts.base, root_files=roots)
    if opts.has("-stop"):
        return stop_instance(dirs.run_dir)

    # the server gives memory back after peaks only on the C allocator (memory.py says why)
    from .memory import exec_with_system_malloc

    exec_with_system_malloc()
    console = opts.console
    if console is None:
        console = sys.stdin.isatty() and sys.stdout.isatty()
    background = not console and not opts.has("-nf") and bool(opts.flags & {"-nc", "-ncwait"})
    if background:
        # The daemon's stderr is /dev/null: refuse a second instance while we can still say so.
        try:
            PidFile(dirs.run_dir).check_free()
        except UsageError as e:
            sys.stderr.write(f"{e}\n")
            return e.code
    ready_fd = daemonize(opts.has("-ncwait")) if background else None

    # gevent first: before the kernel or any module is imported (DESIGN: cli.py)
    _patch_all()
    return _run(opts, dirs, console, ready_fd, argv)


def _patch_all() -> None:
    """``gevent.monkey.patch_all()``, with the installed entry points read once.

    patch_all announces each of its ~25 steps to gevent plugins through
    ``importlib.metadata.entry_points(group=...)``, and every such call scans every installed
    distribution again: about a third of the time to ready (bench/startup.py). Serving those
    calls from one scan keeps the plugin calls exactly as they were.
    """
    from importlib import metadata

    from gevent import monkey

    real = metadata.entry_points
    try:
        every = real()
    except Exception:  # a broken distribution: let gevent meet it the usual way
        monkey.patch_all()
        return

    def entry_points(**params):
        return every.select(**params) if params else every

    metadata.entry_points = entry_points
    try:
        monkey.patch_all()
    finally:
        metadata.entry_points = real


def _run(opts: Options, dirs, console: bool, ready_fd: int | None, argv: list[str]) -> int:
    import gevent

    from .config import ConfigError
    from .core import Core
    from .log import console_is_tty
    from .modules import CriticalModuleError

    def report(status: bytes) -> None:
        if ready_fd is not None:
            try:
                os.write(ready_fd, status)
                os.close(ready_fd)
            except OSError:
                pass

    def fail(message: str, code: int = 255) -> int:
        """One line on stderr; a daemon also tells its waiting parent and its log file."""
        sys.stderr.write(f"{message}\n")
        if ready_fd is not None:
            report(b"failed " + message.encode())
            _append_log(dirs.log_dir, message)
        return code

    pid = PidFile(dirs.run_dir)
    try:
        pid.acquire()
    except UsageError as e:
        return fail(str(e), e.code)
    except OSError as e:
        return fail(f"Cannot write pid file {pid.path}: {e.strerror}")

    core = Core(dirs, cfgname=opts.cfgname, nonat=opts.has("-nonat"), nosql=opts.has("-nosql"),
                console=console)
    if ready_fd is None:
        core.logbus.console_stream = sys.stdout
        core.logbus.console_colour = console_is_tty(sys.stdout)

    gevent.signal_handler(signal.SIGTERM, core.request_shutdown, "now", "SIGTERM")
    gevent.signal_handler(signal.SIGINT, core.request_shutdown, "now", "SIGINT")
    gevent.signal_handler(signal.SIGHUP, on_sighup, core)
    code = 0
    console_mod = None
    try:
        try:
            core.init()
            core.load_modules()
        except (ConfigError, CriticalModuleError) as e:
            return fail(f"softswitch: cannot start: {e}")
        except OSError as e:
            # an unwritable log/db/run dir and the like: one line, not a traceback
            where = f" ({e.filename})" if e.filename else ""
            return fail(f"softswitch: cannot start: {e.strerror or e}{where}")
        report(b"ready")
        if console:
            from . import console as console_mod

            gevent.spawn(console_mod.run, core)
        core.wait()
    finally:
        core.shutdown()
        pid.release()
    if core.restart_requested:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "softswitch", *argv])
    if console_mod is not None and console_mod.reading():
        # The console's input thread is blocked in a read of stdin; letting the interpreter
        # finalize with it there aborts ("could not acquire lock for <stdin>"): leave now.
        console_mod.restore_terminal()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def on_sighup(core) -> None:
    """SIGHUP: reopen the log file (logrotate) and fire TRAP ``Trapped-Signal: HUP`` as
    FreeSWITCH does, so modules can reopen their own files."""
    try:
        core.logbus.reopen_file()
    except OSError as e:
        import logging

        logging.getLogger(__name__).error("SIGHUP: cannot reopen the log file: %s", e)
    if core.events.running:
        from .event import Event, EventType

        ev = Event(EventType.TRAP)
        ev.add_header("Trapped-Signal", "HUP")
        core.events.fire(ev)


def _append_log(log_dir: str, message: str) -> None:
    """A daemon's start-up failure, kept where its operator will look (same line format)."""
    import logging

    from .log import LogBus

    record = logging.LogRecord(__name__, logging.CRITICAL, __file__, 0, message, None, None)
    try:
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "softswitch.log"), "a", encoding="utf-8") as f:
            f.write(LogBus().format(record).text)
    except OSError:
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
