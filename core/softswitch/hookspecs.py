"""Hook specifications: the contract between the kernel and a module.

A module is a Python package (or any object) that a distribution declares in the
``softswitch.modules`` entry-point group, and that implements some of these hooks with
``@softswitch.hookimpl``. The kernel calls them **on one module at a time** — never as a
broadcast — so one module's failure never hides another's.

Lifecycle of a module::

    import ─► module_load ─► (all load phases done) ─► module_runtime … ─► module_shutdown
                 │                                      (own greenlet,       (reverse load
                 └─ adds APIs, applications, codecs,     re-run until TERM)    order)
                    timers, event binds to ``module``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .moduleinterface import ModuleInterface
    from .services import Services
    from .status import Status

hookspec = pluggy.HookspecMarker("softswitch")

# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


@hookspec(historic=True)
def softswitch_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add a module's own hook specifications so that other modules can implement them.

    Called once when a module is registered, before its ``module_load``; historic, so modules
    registered later still see every call.

    :param pluginmanager: the kernel's :class:`pluggy.PluginManager`; call
        ``pluginmanager.add_hookspecs(my_hookspecs)``. Prefix your hooks with your module name.

    .. versionadded:: 0.1

    Called for: every module, at registration.
    """


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def module_load(module: ModuleInterface, core: Services) -> Status | None:
    """Load the module: add its interfaces and read its configuration.

    Called once per load, in the order of the load phases (core modules, pre_load_modules.conf,
    modules.conf, post_load_modules.conf), and again on ``load``/``reload`` at run time.
    Interfaces added here are registered when the hook returns (one MODULE_LOAD event each).

    Stops at first non-None result.

    :param module: this module's :class:`~softswitch.ModuleInterface`: ``add_api``,
        ``add_application``, ``add_timer``, ``add_codec``, ``bind_event``, ``config``, ``log``.
        Keep state on it (``module.state``), not in module globals.
    :param core: the kernel's services (:class:`softswitch.Services`, see
        :mod:`softswitch.services`): ``api_execute``, ``events``, ``vars``, ``timers``,
        ``codecs``, ``db``, ``tasks``, ``log``, ``admin``, … (also ``module.core``).
    :returns: None or ``Status.SUCCESS``; ``Status.NOUNLOAD`` makes the module permanent (never
        unloaded, its shutdown hook never called); any other status, or an exception, fails the
        load — nothing the hook added is kept.

    .. versionadded:: 0.1

    Called for: the one module being loaded.
    """


# ---------------------------------------------------------------------------------------------
# Runtime
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def module_runtime(module: ModuleInterface) -> Status | None:
    """The module's long-running work, in its own greenlet.

    Started after every load phase has run (or right after a run-time ``load``); called again
    each time it returns, until it returns ``Status.TERM`` or the module is shutting down
    (``module.shutting_down``). An exception is logged and the hook is re-run after a back-off.
    Block cooperatively (gevent) inside it; never busy-loop.

    Stops at first non-None result.

    :param module: this module's :class:`~softswitch.ModuleInterface`.
    :returns: ``Status.TERM`` to stop being re-run; anything else runs it again.

    .. versionadded:: 0.1

    Called for: each loaded module that implements it, one greenlet per module.
    """


# ---------------------------------------------------------------------------------------------
# Shutdown
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def module_shutdown(module: ModuleInterface) -> Status | None:
    """Release the module's resources; make ``module_runtime`` return.

    Called on ``unload``/``reload`` and at shutdown, in reverse load order, after the module's
    interfaces were unregistered. Its runtime greenlet is stopped after this returns (killed if
    it does not end within a few seconds); event binds, log listeners, scheduled tasks and
    greenlets from ``module.spawn`` are removed by the kernel.

    Stops at first non-None result.

    :param module: this module's :class:`~softswitch.ModuleInterface`.
    :returns: None or ``Status.SUCCESS``; ``Status.NOUNLOAD`` keeps its Python code imported.

    .. versionadded:: 0.1

    Called for: the one module being unloaded; every non-permanent module at shutdown.
    """
