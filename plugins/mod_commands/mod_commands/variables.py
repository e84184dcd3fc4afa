"""Variables and expansion: ``echo``, ``eval``, ``expand``, ``global_getvar``,
``global_setvar``, ``getenv``, ``setenv``.

``eval`` and ``expand`` expand against an event as FreeSWITCH does: ``eval`` against a fresh
CHANNEL_DATA event (so ``${Event-Name}`` or ``${Core-UUID}`` resolve from its standard
headers) and ``expand`` against the API request's event (``${API-Command}``), then the global
variables. A ``uuid:<uuid>`` prefix names the channel whose variables come first; there are no
call sessions yet, so it only selects nothing.
"""

from __future__ import annotations

import os

from softswitch import Event, EventType, Status

from ._api import CommandTable, execute_into
from ._text import separate_string

commands = CommandTable()

GLOBAL_SETVAR_SYNTAX = "<var>=<value> [=<value2>]"


def split_uuid_prefix(cmd: str) -> tuple[str, str | None]:
    """``[uuid:<uuid> ]<rest>`` → ``(uuid, rest)``; rest is None for ``uuid:x`` with no blank."""
    if cmd[:5].lower() != "uuid:":
        return "", cmd
    p = cmd[5:]
    blank = p.find(" ")
    if blank < 0:
        return "", None
    return p[:blank], p[blank + 1:]


def _lookup(event: Event):
    return lambda name: event.get_header(name)


@commands("echo", "Echo", "<data>")
def echo(module, cmd, session, stream):
    stream.write(cmd)


@commands("eval", "eval (noop)", "[uuid:<uuid> ]<expression>")
def eval_(module, cmd, session, stream):
    if not cmd:
        return
    _uuid, text = split_uuid_prefix(cmd)
    if not text:
        return
    event = Event(EventType.CHANNEL_DATA)
    stream.write(module.core.expand(text, _lookup(event)))


@commands("expand", "Execute an api with variable expansion", "[uuid:<uuid> ]<cmd> <args>")
def expand(module, cmd, session, stream):
    if not cmd:
        stream.write("-ERR No input\n")
        return
    _uuid, rest = split_uuid_prefix(cmd)
    if not rest:
        stream.write("-ERR No input\n")
        return
    event = stream.param_event
    if event is None:  # what switch_api_execute gives every API: its request as an event
        event = Event(EventType.API)
        event.add_header("API-Command", "expand")
        event.add_header("API-Command-Argument", cmd)
    name, blank, arg = rest.partition(" ")
    expanded = module.core.expand(arg, _lookup(event)) if blank else ""
    if execute_into(module, name, expanded, session, stream) != Status.SUCCESS:
        stream.write("-ERR Cannot execute command\n")


@commands("global_getvar", "Get global var", "<var>")
def global_getvar(module, cmd, session, stream):
    variables = module.core.vars
    if not cmd:
        for name, value in variables.items():
            stream.write(f"{name}={value}\n")
    else:
        stream.write(variables.get(cmd, "") or "")


@commands("global_setvar", "Set global var", GLOBAL_SETVAR_SYNTAX)
def global_setvar(module, cmd, session, stream):
    argv = separate_string(cmd, "=", 3)
    if not argv or not argv[0]:
        stream.write(f"-USAGE: {GLOBAL_SETVAR_SYNTAX}\n")
        return
    argv += [""] * (3 - len(argv))
    name, value, expected = argv[0], argv[1] or None, argv[2] or None
    variables = module.core.vars
    if expected is not None:
        # switch_core_set_var_conditional: only when the current value is the expected one
        current = variables.get(name)
        if current is not None and current != expected:
            stream.write("+OK")
            return
        if current is None:
            stream.write("+OK")
            return
    variables.set(name, value)
    stream.write("+OK")


@commands("getenv", "getenv", "<name>")
def getenv(module, cmd, session, stream):
    value = os.environ.get(cmd) if cmd else None
    stream.write(value if value is not None else "_undef_")


@commands("setenv", "setenv", "<name=val>")
def setenv(module, cmd, session, stream):
    argv = separate_string(cmd, "=", 2)
    if len(argv) == 2 and argv[1]:
        try:
            if argv[1] == "_undef_":
                os.environ.pop(argv[0], None)
            else:
                os.environ[argv[0]] = argv[1]
        except ValueError:  # a name C's setenv refuses too (empty, with "=" or NUL); still +OK
            pass
        stream.write("+OK\n")
    else:
        stream.write("-ERR\n")
