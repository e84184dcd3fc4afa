"""Logging with FreeSWITCH's levels, on top of the standard :mod:`logging` module.

Modules log with ``logging.getLogger(__name__)`` as usual; the kernel maps Python levels onto
FreeSWITCH's (CONSOLE 0 … DEBUG 7), formats each record once into a :class:`LogLine` that looks
like a FreeSWITCH console line, and hands it to

* the console (coloured only on a tty, its own level: ``console loglevel`` / ``/log``),
* the log file ``<log_dir>/softswitch.log`` (reopened on SIGHUP),
* every bound log listener (:meth:`LogBus.bind`), each with its own level — this is how
  mod_event_socket's ``log`` command receives lines.

Records above the core's *hard* level (switch.conf ``loglevel``, ``fsctl loglevel``) are never
generated, as in FreeSWITCH.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "LogLevel",
    "LogLine",
    "LogBus",
    "TextChannel",
    "parse_level",
    "level_name",
    "to_python",
    "from_python",
    "NOTICE",
    "ALERT",
    "CONSOLE",
]


def _os_thread_id() -> int:
    """The OS thread's id, whether or not gevent monkey-patched the threading module."""
    return _real_get_ident()


try:
    from gevent.monkey import get_original as _get_original

    _real_get_ident = _get_original("_thread", "get_ident")
except ImportError:  # pragma: no cover - gevent is a dependency
    _real_get_ident = threading.get_ident


class LogLevel(enum.IntEnum):
    """FreeSWITCH's log levels (``switch_log_level_t``)."""

    DISABLE = -1
    CONSOLE = 0
    ALERT = 1
    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7
    INVALID = 64


#: Extra Python levels for FreeSWITCH's levels that :mod:`logging` lacks.
NOTICE = 25
ALERT = 55
CONSOLE = 60
logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(ALERT, "ALERT")
logging.addLevelName(CONSOLE, "CONSOLE")

_TO_PY = {
    LogLevel.CONSOLE: CONSOLE,
    LogLevel.ALERT: ALERT,
    LogLevel.CRIT: logging.CRITICAL,
    LogLevel.ERR: logging.ERROR,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.NOTICE: NOTICE,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
}
_BY_PY = sorted(((py, fs) for fs, py in _TO_PY.items()), reverse=True)

# Level names as FreeSWITCH accepts them (``switch_log_str2level``): no "ERROR".
_NAMES = {
    "DISABLE": LogLevel.DISABLE,
    "CONSOLE": LogLevel.CONSOLE,
    "ALERT": LogLevel.ALERT,
    "CRIT": LogLevel.CRIT,
    "ERR": LogLevel.ERR,
    "WARNING": LogLevel.WARNING,
    "NOTICE": LogLevel.NOTICE,
    "INFO": LogLevel.INFO,
    "DEBUG": LogLevel.DEBUG,
}


def to_python(level: int) -> int:
    """Python :mod:`logging` level for FreeSWITCH level ``level`` (DEBUG for anything finer)."""
    if level < 0:
        return CONSOLE + 10  # DISABLE: above everything
    return _TO_PY.get(LogLevel(min(level, 7)) if level <= 7 else LogLevel.DEBUG, logging.DEBUG)


def from_python(levelno: int) -> int:
    """FreeSWITCH level for a Python record level (the closest level at or below it)."""
    for py, fs in _BY_PY:
        if levelno >= py:
            return int(fs)
    return int(LogLevel.DEBUG)


class TextChannel(enum.IntEnum):
    """Where a log line comes from (FreeSWITCH's ``switch_text_channel_t``): the Event Socket
    sends it as ``Text-Channel`` of each ``log/data``. Set it where the line is logged::

        log.info("hello", extra={"fs_channel": TextChannel.SESSION})

    ``LOG`` is the default; FreeSWITCH's ``log`` API logs on ``SESSION``, even with no session.
    """

    LOG = 0
    LOG_CLEAN = 1
    EVENT = 2
    SESSION = 3


def parse_level(text: str) -> int:
    """Parse a level as FreeSWITCH does: a name (``err``, not ``error``) or digits.

    :returns: the level, or ``LogLevel.INVALID`` (64) when ``text`` is neither.
    """
    text = text.strip()
    # switch_is_number: an optional sign, then digits and dots ("1.5", even "."); then atoi
    digits = text[1:] if text[:1] in ("-", "+") else text
    if text and all(c == "." or "0" <= c <= "9" for c in digits):
        whole = digits.split(".", 1)[0]
        n = int(whole) if whole else 0
        if text[0] == "-":
            n = -n
        return 63 if n > 64 else max(n, 0)
    return int(_NAMES.get(text.upper(), LogLevel.INVALID))


def level_name(level: int) -> str:
    """FreeSWITCH's name of ``level``; finer levels than DEBUG are called DEBUG."""
    if level < 0:
        return "DISABLE"
    if level > 7:
        return "DEBUG"
    return LogLevel(level).name


@dataclass(slots=True)
class LogLine:
    """One log record, formatted once and shared by the console, the file and listeners.

    ``text`` is the whole FreeSWITCH-style line (ending in a newline); the other fields are what
    ESL's ``log/data`` message puts in its headers.
    """

    level: int
    text: str
    file: str
    func: str
    line: int
    message: str
    channel: int = 0
    user_data: str = ""
    logger: str = ""


LogCallback = Callable[[LogLine], None]


class _Listener:
    __slots__ = ("callback", "level", "owner")

    def __init__(self, callback: LogCallback, level: int, owner: str) -> None:
        self.callback = callback
        self.level = level
        self.owner = owner


_COLOURS = {
    LogLevel.CONSOLE: "\033[0m",
    LogLevel.ALERT: "\033[31m",
    LogLevel.CRIT: "\033[31m",
    LogLevel.ERR: "\033[31m",
    LogLevel.WARNING: "\033[35m",
    LogLevel.NOTICE: "\033[36m",
    LogLevel.INFO: "\033[32m",
    LogLevel.DEBUG: "\033[33m",
}


class IdleCpu:
    """System idle CPU percentage, sampled from /proc/stat (FreeSWITCH prints it on each line)."""

    def __init__(self) -> None:
        self.value = 100.0
        self._last: tuple[int, int] | None = None
        self.sample()

    def sample(self) -> float:
        try:
            with open("/proc/stat", "rb") as f:
                fields = f.readline().split()[1:]
        except OSError:
            return self.value
        nums = [int(x) for x in fields]
        idle = nums[3] + (nums[4] if len(nums) > 4 else 0)
        total = sum(nums)
        if self._last is not None and total > self._last[1]:
            self.value = 100.0 * (idle - self._last[0]) / (total - self._last[1])
        self._last = (idle, total)
        return self.value


class LogBus:
    """Formats records and fans them out; installed on the root logger by the running core."""

    def __init__(self) -> None:
        self._listeners: tuple[_Listener, ...] = ()
        self.idle_cpu = IdleCpu()
        self.console_level = int(LogLevel.DEBUG)
        self.console_stream = None  # a text stream, or None for no console output
        self.console_colour = False
        self._file = None
        self._file_path: str | None = None
        self._handler = _BusHandler(self)
        self._hub_thread = threading.main_thread().ident
        self._hub = None
        self.hard_level = int(LogLevel.DEBUG)
        self._root_level: int | None = None

    # -- installation ---------------------------------------------------------------------------
    def install(self, hard_level: int = LogLevel.DEBUG) -> None:
        """Attach to the root logger (the kernel is the application, so this is its call)."""
        import gevent

        self._hub = gevent.get_hub()
        self._hub_thread = _os_thread_id()
        root = logging.getLogger()
        if self._handler not in root.handlers:
            self._root_level = root.level
            root.addHandler(self._handler)
        self.set_hard_level(hard_level)

    def uninstall(self) -> None:
        root = logging.getLogger()
        if self._handler in root.handlers:
            root.removeHandler(self._handler)
            if self._root_level is not None:
                # leave the root logger as we found it (in-process cores in tests, embedding)
                root.setLevel(self._root_level)
                self._root_level = None
        self.close_file()
        self._listeners = ()

    def set_hard_level(self, level: int) -> None:
        """The core's level: records finer than this are never produced."""
        self.hard_level = int(level)
        logging.getLogger().setLevel(to_python(level))

    # -- file -----------------------------------------------------------------------------------
    def open_file(self, path: str) -> None:
        self._file_path = path
        self.reopen_file()

    def reopen_file(self) -> None:
        """(Re)open the log file, e.g. after logrotate moved it (SIGHUP)."""
        if self._file_path is None:
            return
        old = self._file
        # surrogateescape: bytes a client sent that are not UTF-8 are written as they came
        self._file = open(self._file_path, "a", encoding="utf-8", errors="surrogateescape",
                          buffering=1)
        if old is not None:
            old.close()

    def close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- listeners ------------------------------------------------------------------------------
    def bind(self, callback: LogCallback, level: int = LogLevel.DEBUG, owner: str = "") -> _Listener:
        """Receive every line at ``level`` or coarser. Returns a handle for :meth:`unbind`.

        The callback runs in the greenlet that logged; it must not block (enqueue and return).
        """
        node = _Listener(callback, int(level), owner)
        self._listeners = self._listeners + (node,)
        return node

    def unbind(self, node: _Listener) -> None:
        self._listeners = tuple(n for n in self._listeners if n is not node)

    def unbind_owner(self, owner: str) -> None:
        self._listeners = tuple(n for n in self._listeners if n.owner != owner)

    # -- emission -------------------------------------------------------------------------------
    def format(self, record: logging.LogRecord) -> LogLine:
        level = getattr(record, "fs_level", None)
        if level is None:
            level = from_python(record.levelno)
        try:
            message = record.getMessage()
        except Exception as e:  # a bad format string must not kill the caller
            message = f"{record.msg!r} (log formatting failed: {e})"
        if record.exc_info and record.exc_info[0] is not None:
            message = message + "\n" + logging.Formatter().formatException(record.exc_info)
        if not message.endswith("\n"):
            message += "\n"
        ct = record.created
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ct))
        usec = int((ct - int(ct)) * 1_000_000)
        filename = record.filename
        text = (
            f"{stamp}.{usec:06d} {self.idle_cpu.value:.2f}% [{level_name(level)}] "
            f"{filename}:{record.lineno} {message}"
        )
        return LogLine(
            level=level,
            text=text,
            file=filename,
            func=record.funcName,
            line=record.lineno,
            message=message,
            channel=int(getattr(record, "fs_channel", TextChannel.LOG)),
            user_data=getattr(record, "fs_user_data", ""),
            logger=record.name,
        )

    def emit(self, line: LogLine) -> None:
        self._write(line)
        self._to_listeners(line)

    def _write(self, line: LogLine) -> None:
        """The console and the log file."""
        if line.level <= self.console_level and self.console_stream is not None:
            try:
                if self.console_colour:
                    colour = _COLOURS.get(LogLevel(min(max(line.level, 0), 7)), "")
                    self.console_stream.write(f"{colour}{line.text}\033[0m")
                else:
                    self.console_stream.write(line.text)
                self.console_stream.flush()
            except (OSError, ValueError):
                pass
        if self._file is not None:
            try:
                self._file.write(line.text)
            except (OSError, ValueError):
                pass

    def warn_now(self, message: str, name: str = "softswitch.watchdog") -> None:
        """A WARNING written at once to the console and the log file, from any thread, even
        while the hub is held (the hub watchdog's report); log listeners get it from the hub
        once it is free."""
        frame = sys._getframe(1)
        record = logging.LogRecord(name, logging.WARNING, frame.f_code.co_filename,
                                   frame.f_lineno, "%s", (message,), None, frame.f_code.co_name)
        line = self.format(record)
        if line.level > self.hard_level:
            return
        self._write(line)
        if self._hub is not None:
            self._hub.loop.run_callback_threadsafe(self._to_listeners, line)

    def _to_listeners(self, line: LogLine) -> None:
        for node in self._listeners:
            if line.level <= node.level:
                try:
                    node.callback(line)
                except Exception as e:  # never let a listener break logging for others
                    who = node.owner or repr(node.callback)
                    sys.stderr.write(f"log listener of {who} raised {type(e).__name__}: {e}\n")

    def emit_record(self, record: logging.LogRecord) -> None:
        level = getattr(record, "fs_level", None)
        if level is None:
            level = from_python(record.levelno)
        if level > self.hard_level:
            # The root logger's level is the usual filter, but a logger with its own explicit
            # level (a module calling setLevel(DEBUG)) bypasses it: the hard level still holds.
            return
        line = self.format(record)
        # (the OS thread: under gevent's monkey-patching threading.current_thread() is a
        # different object in each greenlet, and every line of a greenlet was deferred)
        if self._hub is None or _os_thread_id() == self._hub_thread:
            self.emit(line)
        else:
            # A real OS thread (gevent's threadpool, a C library): hand over to the hub.
            self._hub.loop.run_callback_threadsafe(self.emit, line)


class _BusHandler(logging.Handler):
    def __init__(self, bus: LogBus) -> None:
        super().__init__(logging.NOTSET)
        self.bus = bus

    def emit(self, record: logging.LogRecord) -> None:
        self.bus.emit_record(record)

    # logging.Handler takes a threading lock around emit; a gevent-patched lock is fine but
    # slower and pointless here: the bus is only touched from the hub thread.
    def handle(self, record: logging.LogRecord) -> bool:
        rv = self.filter(record)
        if rv:
            self.emit(record)
        return bool(rv)


def console_is_tty(stream) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb" and "NO_COLOR" not in os.environ
    except (AttributeError, ValueError):
        return False
