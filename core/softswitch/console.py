"""The interactive console: ``softswitch@<switchname>> `` runs API commands.

Lines are read with :mod:`readline` (history in ``~/.softswitch_history``, line editing) in a
thread of gevent's pool, so the hub keeps serving while the console waits for input.

* ``cmd args`` runs an API (``;;`` separates several); output is printed.
* ``/log LEVEL`` sets the console's log level (``/log`` alone shows it).
* ``/exit``, ``/quit``, ``/bye``, ``...``, ``shutdown`` stop softswitch; Ctrl-D too.
* Without mod_commands, ``help``, ``version`` and ``status`` still answer (built in).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

import gevent

from .log import level_name, parse_level
from .status import Status

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger(__name__)

HISTORY = os.path.expanduser("~/.softswitch_history")
EXIT_WORDS = ("/exit", "/quit", "/bye", "...", "shutdown")

# True while the input thread sits in a read of stdin (see cli: it then leaves with os._exit,
# because interpreter shutdown aborts on a stdin lock held by another thread).
_reading = False
_saved_tty: list | None = None


def reading() -> bool:
    """True while the console's input thread is blocked reading a line."""
    return _reading


def restore_terminal() -> None:
    """Put the terminal back as the console found it (readline changes its modes)."""
    if _saved_tty is None:
        return
    try:
        import termios

        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, _saved_tty)
    except (ImportError, OSError, ValueError):
        pass


def _save_terminal() -> None:
    global _saved_tty
    try:
        import termios

        if sys.stdin.isatty():
            _saved_tty = termios.tcgetattr(sys.stdin.fileno())
    except (ImportError, OSError, ValueError):
        _saved_tty = None


def _read_line(prompt: str) -> str | None:
    """``input()`` in a pool thread: None at end of input (an exception raised in the pool
    would be printed with a traceback by gevent)."""
    global _reading
    _reading = True
    try:
        return input(prompt)
    except EOFError:
        return None
    finally:
        _reading = False


def _redrawer(stream, prompt: str):
    """What the log bus calls after a log line while the console waits for input: the prompt
    again, and what the user has typed so far (readline's buffer), so the line being edited
    stays visible under the log output."""
    try:
        import readline

        buffer = readline.get_line_buffer
    except ImportError:  # pragma: no cover - platforms without readline
        def buffer() -> str:
            return ""

    def redraw() -> None:
        if _reading:
            stream.write(prompt + buffer())

    return redraw


def _setup_readline() -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline
        return
    try:
        readline.read_history_file(HISTORY)
    except OSError:
        pass
    readline.set_history_length(1000)


def _save_history() -> None:
    try:
        import readline

        readline.write_history_file(HISTORY)
    except (ImportError, OSError):
        pass


def execute_line(core: Core, line: str, write=None) -> bool:
    """Run one console line. Returns False when the line asks softswitch to stop."""
    write = write or sys.stdout.write
    for part in line.split(";;"):
        text = part.strip()
        if not text:
            continue
        if text.lower() in EXIT_WORDS:
            core.request_shutdown("now", "console")
            return False
        if text.startswith("/log"):
            arg = text[4:].strip()
            if arg:
                level = parse_level(arg)
                if level == 64:
                    write(f"-ERR Invalid console loglevel ({arg})!\n")
                    continue
                core.logbus.console_level = level
            write(f"+OK console log level set to {level_name(core.logbus.console_level)}\n")
            continue
        cmd, _, arg = text.partition(" ")
        result = core.api_execute(cmd, arg)
        if not result.found:
            builtin = _BUILTINS.get(cmd.lower())
            if builtin is None:
                write(f"Unknown Command: {cmd}\n")
                continue
            write(builtin(core))
            continue
        out = result.output
        if result.error:
            out += f"-ERR {cmd} failed: {result.error}\n"
        elif result.status != Status.SUCCESS and not out:
            out = f"-ERR {cmd} returned {result.status.name}\n"
        write("\n" + out + ("" if out.endswith("\n") else "\n"))
    return True


def _version(core: Core) -> str:
    from .core import version_full, version_revision

    return f"FreeSWITCH Version {version_full()} ({version_revision()})\n"


def _status(core: Core) -> str:
    return (f"UP {core.uptime_text()}\nFreeSWITCH (Version {_version(core)[19:].split(' (')[0]}) "
            f"is {'ready' if core.ready else 'not ready'}\n")


def _help(core: Core) -> str:
    names = sorted(i.name for i in core.registry.all("api"))
    return ("\nThe console runs API commands; install mod_commands for the usual set.\n"
            "Built in: help, version, status, /log LEVEL, /exit\n"
            + (f"Registered APIs: {', '.join(names)}\n" if names else ""))


_BUILTINS = {"version": _version, "status": _status, "help": _help}


def run(core: Core) -> None:
    """The console loop; returns when softswitch is stopping."""
    _save_terminal()
    _setup_readline()
    pool = gevent.get_hub().threadpool
    try:
        while not core.stop_requested:
            prompt = f"softswitch@{core.switchname}> "
            if sys.stdout.isatty():
                core.logbus.console_redraw = _redrawer(sys.stdout, prompt)
            try:
                line = pool.spawn(_read_line, prompt).get()
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                continue
            finally:
                core.logbus.console_redraw = None
            if line is None:
                sys.stdout.write("\n")
                core.request_shutdown("now", "console EOF")
                break
            if core.stop_requested:
                break
            _save_history()  # now: a stop by signal never returns here
            if not execute_line(core, line):
                break
    finally:
        _save_history()
