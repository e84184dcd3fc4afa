"""How mod_commands declares its API commands, and how one command runs another.

Each command family (``info``, ``show``, ``modctl``, …) keeps a :class:`CommandTable`::

    commands = CommandTable()

    @commands("hostname", "Return the system hostname", "")
    def hostname(module, cmd, session, stream):
        stream.write(module.core.hostname)

and ``module_load`` adds every table to the module with :meth:`CommandTable.add_to`. The
functions get the :class:`~softswitch.ModuleInterface` first, so they reach the core
(``module.core``) and the module's state (``module.state``) without module globals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from softswitch import Status

if TYPE_CHECKING:
    from softswitch import ModuleInterface, Stream

__all__ = ["CommandTable", "execute_into"]

Command = Callable[["ModuleInterface", str, Any, "Stream"], "Status | None"]


class CommandTable:
    """API commands declared at import time and added to a module at load time."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, Command]] = []

    def __call__(self, name: str, description: str, syntax: str) -> Callable[[Command], Command]:
        """Decorator: declare ``fn(module, cmd, session, stream)`` as API ``name``."""
        def deco(fn: Command) -> Command:
            self.entries.append((name, description, syntax, fn))
            return fn
        return deco

    def add_to(self, module: ModuleInterface) -> None:
        """Add every declared command to ``module`` (in declaration order)."""
        for name, description, syntax, fn in self.entries:
            module.add_api(name, description, syntax, _bind(fn, module))


def _bind(fn: Command, module: ModuleInterface) -> Callable:
    @functools.wraps(fn)
    def api(cmd: str, session: Any, stream: Stream) -> Status | None:
        # (the kernel's api_execute already cut cmd at a NUL, as C strings end there)
        return fn(module, cmd, session, stream)
    return api


def execute_into(module: ModuleInterface, cmd: str, arg: str, session: Any, stream: Stream) -> Status:
    """Run API ``cmd`` writing into ``stream``, as FreeSWITCH's ``switch_api_execute`` does.

    An unknown command writes ``INVALID COMMAND!\\n`` and a failing one
    ``COMMAND RETURNED ERROR!\\n`` into the stream (callers such as ``expand`` add their own
    error line after it).
    """
    result = module.core.api_execute(cmd, arg, session, stream)
    if not result.found:
        stream.write("INVALID COMMAND!\n")
        return Status.FALSE
    if result.status != Status.SUCCESS:
        stream.write("COMMAND RETURNED ERROR!\n")
    return result.status
