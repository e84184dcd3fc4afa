"""mod_commands: the everyday API commands of FreeSWITCH, for softswitch.

``status``, ``version``, ``show …``, ``load``/``unload``/``reload``, ``fsctl``, ``bgapi``,
``eval``, ``global_setvar`` and the rest, answering with FreeSWITCH's text byte for byte, since
scripts and ESL client libraries parse it. Run them from the console, ``softswitch-cli`` or an
ESL ``api``/``bgapi``.

How the module is put together (read it as an example module):

* each command family lives in its own file and declares its commands in a
  :class:`~mod_commands._api.CommandTable` (``info``, ``show``, ``modctl``, ``variables``,
  ``control``, ``jobs``, ``strings``, ``system``, ``calls``);
* :func:`module_load` adds them all to the :class:`~softswitch.ModuleInterface` and keeps the
  module's state on ``module.state`` (no module globals);
* it returns :data:`softswitch.Status.NOUNLOAD`: like FreeSWITCH's mod_commands the module is
  permanent, so ``unload mod_commands`` answers ``-ERR [Module is not unloadable]`` instead of
  pulling the floor from under the command that is running.

An API function is ``fn(module, cmd, session, stream)``: ``cmd`` is the argument text ("" when
none; an empty argument takes FreeSWITCH's "no argument" branch), ``stream.write`` collects the
reply. Bad input is answered with FreeSWITCH's ``-USAGE: …`` / ``-ERR …`` text; a command never
raises for it.
"""

from __future__ import annotations

import gevent.lock

import softswitch

from . import calls, control, info, jobs, modctl, show, strings, system, variables

__all__ = ["module_load", "TABLES"]

#: Every command table, in the order the commands are added.
TABLES = (
    info.commands,
    show.commands,
    modctl.commands,
    variables.commands,
    control.commands,
    jobs.commands,
    strings.commands,
    system.commands,
    calls.commands,
)


@softswitch.hookimpl
def module_load(module, core):
    """Add every command; the module is permanent (``Status.NOUNLOAD``)."""
    # FreeSWITCH's reload_mutex: one load/unload/reload at a time; re-entrant so that a module
    # hook running one of them from the same greenlet cannot deadlock
    module.state.reload_lock = gevent.lock.RLock()
    control.init_state(module)
    for table in TABLES:
        table.add_to(module)
    return softswitch.Status.NOUNLOAD
