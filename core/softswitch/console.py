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
    _setup_readline()
    pool = gevent.get_hub().threadpool
    try:
        while not core.stop_requested:
            prompt = f"softswitch@{core.switchname}> "
            try:
                line = pool.spawn(input, prompt).get()
            except EOFError:
                sys.stdout.write("\n")
                core.request_shutdown("now", "console EOF")
                break
            except KeyboardInterrupt:
                sys.stdout.write("\n")
                continue
            if not execute_line(core, line):
                break
    finally:
        _save_history()
