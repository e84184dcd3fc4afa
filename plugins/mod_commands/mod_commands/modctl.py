"""Modules and configuration: ``load``, ``unload``, ``reload``, ``module_exists``,
``reloadxml``, ``reloadacl``.

``load``/``unload``/``reload`` hold one lock, as FreeSWITCH's ``reload_mutex``: a re-entrant
gevent lock, so a module whose load or shutdown hook runs one of these commands in the same
greenlet does not deadlock. ``unload mod_commands`` answers ``-ERR [Module is not
unloadable]`` because this module's load returns ``Status.NOUNLOAD``.
"""

from __future__ import annotations

from softswitch import Status

from ._api import CommandTable

commands = CommandTable()

LOAD_SYNTAX = "<mod_name>"
UNLOAD_SYNTAX = "[-f] <mod_name>"


def _force_and_name(cmd: str) -> tuple[bool, str]:
    """``[-f] <name>`` read as FreeSWITCH reads it: after a leading ``-``, every ``f`` up to the
    first blank means force; without a blank the whole text stays the module name."""
    force = False
    if cmd.startswith("-"):
        for i, c in enumerate(cmd[1:], 1):
            if c == " ":
                return force, cmd[i + 1:]
            if c == "f":
                force = True
    return force, cmd


def _reloadxml(module, stream) -> None:
    ok, _ = module.core.admin.reloadxml()
    if ok:
        stream.write("+OK Reloading XML\n")


@commands("load", "Load Module", LOAD_SYNTAX)
def load(module, cmd, session, stream):
    if not cmd:
        stream.write(f"-USAGE: {LOAD_SYNTAX}\n")
        return
    with module.state.reload_lock:
        _reloadxml(module, stream)
        status, err = module.core.admin.load_module(cmd)
        stream.write("+OK\n" if status == Status.SUCCESS else f"-ERR [{err}]\n")


@commands("unload", "Unload module", UNLOAD_SYNTAX)
def unload(module, cmd, session, stream):
    force, name = _force_and_name(cmd)
    if not name:
        stream.write(f"-USAGE: {UNLOAD_SYNTAX}\n")
        return
    with module.state.reload_lock:
        status, err = module.core.admin.unload_module(name, force)
        stream.write("+OK\n" if status == Status.SUCCESS else f"-ERR [{err}]\n")


@commands("reload", "Reload module", UNLOAD_SYNTAX)
def reload(module, cmd, session, stream):
    force, name = _force_and_name(cmd)
    if not name:
        stream.write(f"-USAGE: {UNLOAD_SYNTAX}\n")
        return
    with module.state.reload_lock:
        _reloadxml(module, stream)
        (ustatus, uerr), (lstatus, lerr) = module.core.admin.reload_module(name, force)
        stream.write("+OK module unloaded\n" if ustatus == Status.SUCCESS else f"-ERR unloading module [{uerr}]\n")
        stream.write("+OK module loaded\n" if lstatus == Status.SUCCESS else f"-ERR loading module [{lerr}]\n")


@commands("module_exists", "Check if module exists", "<module>")
def module_exists(module, cmd, session, stream):
    if cmd:
        stream.write("true" if module.core.admin.is_loaded(cmd) else "false")


@commands("reloadxml", "Reload XML", "")
def reloadxml(module, cmd, session, stream):
    _, err = module.core.admin.reloadxml()
    stream.write(f"+OK [{err}]\n")


@commands("reloadacl", "Reload XML", "")
def reloadacl(module, cmd, session, stream):
    if cmd.lower() == "reloadxml":
        stream.write("This option is deprecated, we now always reloadxml.\n")
    ok, err = module.core.admin.reloadxml()
    if ok:
        module.core.admin.reload_acl()
        stream.write("+OK acl reloaded\n")
    else:
        stream.write(f"-ERR [{err}]\n")
