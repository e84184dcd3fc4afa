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
``softtimer-spin-usec`` (softswitch's own)
    µs before a clock's deadline that the timerfd wakes the hub, which then polls without
    sleeping until the deadline and delivers the tick at once: an OS wake-up comes a
    fraction of a millisecond late, this window absorbs it. Costs up to that much CPU per
    tick (20 ms timers, 300 µs: at most 1.5 % of a core; other greenlets' I/O is served
    during the window). 0: off (wake at the deadline). Default 300, at most 2000; timerfd
    only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import softswitch
from softswitch import Status, TimerInterface, switch_true

from .engine import DEFAULT_SPIN_USEC, MAX_SPIN_USEC, SoftTimer

if TYPE_CHECKING:
    from softswitch import ModuleInterface, Services

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
def module_load(module: ModuleInterface, core: Services) -> Status | None:
    conf = _switch_conf(module)
    use_timerfd = switch_true(conf.get("enable-softtimer-timerfd", "true"))
    base = 1 if switch_true(conf.get("1ms-timer", "false")) else 20
    spin = conf.get("softtimer-spin-usec", "").strip()
    try:
        spin_usec = int(spin) if spin else DEFAULT_SPIN_USEC
    except ValueError:
        module.log.error("switch.conf: softtimer-spin-usec %r is not a number; using %d",
                         spin, DEFAULT_SPIN_USEC)
        spin_usec = DEFAULT_SPIN_USEC
    if not 0 <= spin_usec <= MAX_SPIN_USEC:
        module.log.warning("switch.conf: softtimer-spin-usec %d is out of 0..%d; using %d",
                           spin_usec, MAX_SPIN_USEC, min(max(spin_usec, 0), MAX_SPIN_USEC))
    engine = SoftTimer(use_timerfd=use_timerfd, base_interval=base, spin_usec=spin_usec,
                       timers=core.timers)
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
    module.log.debug("soft timer ready (%s clock, idle tick %d ms, spin %d µs)", engine.mode,
                     base, engine.spin_ns // 1000)
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
