"""What the switch is: ``status``, ``version``, ``uptime``, ``hostname``, ``switchname``,
``getcputime``."""

from __future__ import annotations

import resource

from softswitch import FREESWITCH_COMPAT, version_full, version_revision

from ._api import CommandTable
from ._text import separate_string

commands = CommandTable()


def status_text(core) -> str:
    """The ``status`` report, byte for byte as FreeSWITCH prints it."""
    admin = core.admin
    y, d, h, m, s, ms, us = admin.uptime_parts()

    def p(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    cur, mx = admin.stack_size_k()
    settings = admin.settings
    n = admin.session_stats()
    return (
        f"UP {p(y, 'year')}, {p(d, 'day')}, {p(h, 'hour')}, {p(m, 'minute')}, {p(s, 'second')}, "
        f"{p(ms, 'millisecond')}, {p(us, 'microsecond')}\n"
        f"FreeSWITCH (Version {version_full()}) is {'ready' if admin.ready else 'not ready'}\n"
        f"{n['since_startup']} session(s) since startup\n"
        f"{n['count']} session(s) - peak {n['peak']}, "
        f"last 5min {n['peak_fivemin']} \n"
        f"{n['sps_last']} session(s) per Sec out of max {settings.sessions_per_second}, "
        f"peak {n['sps_peak']}, last 5min {n['sps_peak_fivemin']} \n"
        f"{settings.max_sessions} session(s) max\n"
        f"min idle cpu {settings.min_idle_cpu:0.2f}/{core.log.idle_cpu():0.2f}\n"
        f"Current Stack Size/Max {cur}K/{mx}K\n"
    )


@commands("status", "Show current status", "")
def status(module, cmd, session, stream):
    stream.write(status_text(module.core))


@commands("version", "Version", "[short]")
def version(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 2)
    if argv and "short" in argv[0].lower():  # switch_stristr: "short" anywhere, any case
        stream.write("%s.%s.%s\n" % tuple((FREESWITCH_COMPAT.split(".") + ["0", "0"])[:3]))
    else:
        stream.write(f"FreeSWITCH Version {version_full()} ({version_revision()})\n")


UPTIME_SYNTAX = "[us|ms|s|m|h|d|microseconds|milliseconds|seconds|minutes|hours|days]"
_SCALES = {
    "": 1_000_000,
    "us": 1, "microseconds": 1,
    "ms": 1000, "milliseconds": 1000,
    "s": 1_000_000, "seconds": 1_000_000,
    "m": 60_000_000, "minutes": 60_000_000,
    "h": 3_600_000_000, "hours": 3_600_000_000,
    "d": 86_400_000_000, "days": 86_400_000_000,
}


@commands("uptime", "Show uptime", UPTIME_SYNTAX)
def uptime(module, cmd, session, stream):
    scale = _SCALES.get(cmd.lower())
    if scale is None:
        stream.write(f"-USAGE: {UPTIME_SYNTAX}\n")
        return
    stream.write(f"{int(module.core.admin.uptime() * 1_000_000) // scale}\n")


@commands("hostname", "Return the system hostname", "")
def hostname(module, cmd, session, stream):
    stream.write(module.core.hostname)


@commands("switchname", "Return the switch name", "")
def switchname(module, cmd, session, stream):
    stream.write(module.core.switchname)


@commands("getcputime", "Gets CPU time in milliseconds (user,kernel)", "[reset]")
def getcputime(module, cmd, session, stream):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    reset = getattr(module.state, "cputime_reset", (0, 0))
    user = int(usage.ru_utime * 1000) - reset[0]
    kernel = int(usage.ru_stime * 1000) - reset[1]
    stream.write(f"{user}, {kernel}")
    if cmd.startswith("reset"):
        module.state.cputime_reset = (reset[0] + user, reset[1] + kernel)
