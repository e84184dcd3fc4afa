"""mod_softtimer: the ``soft`` timer (FreeSWITCH's CORE_SOFTTIMER_MODULE).

Loaded first, as a core module, whenever it is installed. It registers the timer interface
``soft``; media code paces its frames with it::

    timer = core.timer_open("soft", 20, 160)   # 20 ms, 160 samples per tick
    while talking:
        timer.next()                           # cooperative: only this greenlet waits
        ...
    timer.destroy()

Its runtime hook is the clock loop (:meth:`mod_softtimer.engine.SoftTimer.run`): one timerfd,
armed for the earliest deadline among all intervals in use, wakes every timer of an interval
at once. While it runs, :func:`softswitch.cached_micro_time_now` (and ``epoch_time_now``)
return the time of its last wake-up, as FreeSWITCH's ``switch_micro_time_now`` does.

switch.conf settings it reads (FreeSWITCH's names):

``enable-softtimer-timerfd``
    false-ish: do not use a timerfd; sleep until each deadline with gevent (millisecond
    precision). Default: timerfd where the platform has it.
``1ms-timer``
    true: the clock loop also wakes every 1 ms when idle (the cached "now" is then at most
    1 ms old; default 20 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import softswitch
from softswitch import Status, TimerInterface, switch_true

from .engine import SoftTimer

if TYPE_CHECKING:
    from softswitch import ModuleInterface
    from softswitch.core import Core

__all__ = ["SoftTimer", "module_load", "module_runtime", "module_shutdown"]

__version__ = "0.1.0"


def _switch_conf(module: ModuleInterface) -> dict[str, str]:
    cfg = module.config("switch.conf")
    out: dict[str, str] = {}
    if cfg is None:
        return out
    for settings in cfg.findall("settings"):
        for p in settings.findall("param"):
            out[(p.get("name") or "").lower()] = p.get("value") or ""
    return out


@softswitch.hookimpl
def module_load(module: ModuleInterface, core: Core) -> Status | None:
    conf = _switch_conf(module)
    use_timerfd = switch_true(conf.get("enable-softtimer-timerfd", "true"))
    base = 1 if switch_true(conf.get("1ms-timer", "false")) else 20
    engine = SoftTimer(use_timerfd=use_timerfd, base_interval=base)
    module.state.softtimer = engine
    module.add_timer(TimerInterface(
        name="soft",
        description="Soft timer: shared interval clocks on the monotonic clock",
        init=engine.init,
        next=engine.next,
        step=engine.step,
        sync=engine.sync,
        check=engine.check,
        destroy=engine.destroy,
        bind_next=engine.bind_next,
    ))
    module.log.debug("soft timer ready (%s clock, idle tick %d ms)", engine.mode, base)
    return None


@softswitch.hookimpl
def module_runtime(module: ModuleInterface) -> Status:
    return module.state.softtimer.run()


@softswitch.hookimpl
def module_shutdown(module: ModuleInterface) -> Status | None:
    engine = getattr(module.state, "softtimer", None)
    if engine is not None:
        engine.shutdown()
    return None
