"""Controlling the switch: ``fsctl``, ``shutdown`` (and ``...``), ``log``, ``console``.

``fsctl`` answers each sub-command with FreeSWITCH's text. Where softswitch has the knob the
sub-command acts on it (log levels, session limits, pause/resume of new sessions, shutdown);
knobs that only matter to call handling not written yet (DTMF durations, verbose events, …)
are kept on the module state, so the answers still follow what was set.
"""

from __future__ import annotations

from softswitch import (
    Event,
    EventType,
    LogLevel,
    TextChannel,
    level_name,
    parse_level,
    switch_true,
    to_python,
)

from ._api import CommandTable
from ._text import atof, atoi, separate_string, str2level

commands = CommandTable()

CTL_SYNTAX = (
    "[recover|send_sighup|hupall|pause [inbound|outbound]|resume [inbound|outbound]|shutdown "
    "[cancel|elegant|asap|now|restart]|sps|sps_peak_reset|sync_clock|sync_clock_when_idle|"
    "reclaim_mem|max_sessions|min_dtmf_duration [num]|max_dtmf_duration [num]|"
    "default_dtmf_duration [num]|min_idle_cpu|loglevel [level]|debug_level [level]]"
)

#: FreeSWITCH's DTMF duration bounds, in samples (switch_types.h).
MIN_DTMF_DURATION = 400
MAX_DTMF_DURATION = 192000
DEFAULT_DTMF_DURATION = 2000


def init_state(module) -> None:
    state = module.state
    state.paused = {"inbound": False, "outbound": False}
    state.dtmf = {"min": MIN_DTMF_DURATION, "max": MAX_DTMF_DURATION, "default": DEFAULT_DTMF_DURATION}
    state.flags = {"verbose_events": False, "threaded_system_exec": False, "debug_sql": False}
    state.console = {"uuid": False, "json": False}


# ---------------------------------------------------------------------------------------------
# fsctl sub-commands: fn(module, argv, stream)
# ---------------------------------------------------------------------------------------------

_FSCTL = {}


def _sub(*names):
    def deco(fn):
        for n in names:
            _FSCTL[n] = fn
        return fn
    return deco


def _ok(module, argv, stream):
    stream.write("+OK\n")


_sub("flush_db_handles", "calibrate_clock", "save_history")(_ok)


@_sub("reclaim_mem")
def _reclaim_mem(module, argv, stream):
    """FreeSWITCH's SCSC_RECLAIM frees its memory pools' recycled blocks; ours is the kernel's
    reclaim (the channels batch committed, sqlite's page cache shrunk, a full garbage
    collection, glibc's ``malloc_trim(0)``), what it also does when the calls end after a peak."""
    module.core.sessions.reclaim_memory()
    stream.write("+OK\n")


@_sub("hupall")
def _hupall(module, argv, stream):
    # SCSC_HUPALL: switch_core_session_hupall(SWITCH_CAUSE_MANAGER_REQUEST)
    sessions = getattr(module.core, "sessions", None)
    if sessions is not None:
        from softswitch import Cause

        sessions.hupall(Cause.MANAGER_REQUEST)
    stream.write("+OK\n")


@_sub("recover")
def _recover(module, argv, stream):
    # there is no recovery table yet: nothing to recover, "flush" empties nothing
    if len(argv) > 1 and argv[1].split(":", 1)[0].lower() == "flush":
        stream.write("+OK flushed\n")
    else:
        stream.write("+OK 0 session(s) recovered in total\n")


def _direction(argv) -> tuple[str, ...]:
    word = argv[1].lower() if len(argv) > 1 else ""
    return (word,) if word in ("inbound", "outbound") else ("inbound", "outbound")


def _set_paused(module, argv, value: bool) -> None:
    paused = module.state.paused
    sessions = getattr(module.core, "sessions", None)
    for d in _direction(argv):
        paused[d] = value
        if sessions is not None:  # the kernel refuses new sessions of a paused direction (§9)
            sessions.pause(d, value)
    module.core.admin.no_new_sessions = paused["inbound"] and paused["outbound"]


@_sub("pause")
def _pause(module, argv, stream):
    _set_paused(module, argv, True)
    stream.write("+OK\n")


@_sub("resume")
def _resume(module, argv, stream):
    _set_paused(module, argv, False)
    stream.write("+OK\n")


@_sub("pause_check")
def _pause_check(module, argv, stream):
    core = module.core
    sessions = getattr(core, "sessions", None)
    if sessions is not None:  # what the session manager actually refuses
        paused = all(sessions.paused(d) for d in _direction(argv))
    else:
        paused = all(module.state.paused[d] for d in _direction(argv))
    stream.write("true" if core.admin.no_new_sessions or paused else "false")


@_sub("ready_check")
def _ready_check(module, argv, stream):
    stream.write("true" if module.core.admin.ready else "false")


@_sub("shutdown_check")
def _shutdown_check(module, argv, stream):
    stream.write("true" if module.core.admin.stopping else "false")


@_sub("send_sighup")
def _send_sighup(module, argv, stream):
    core = module.core
    ev = Event(EventType.TRAP)
    ev.add_header("Trapped-Signal", "HUP")
    core.events.fire(ev)
    try:
        core.log.reopen()  # what softswitch does on SIGHUP
    except OSError as e:
        module.log.error("send_sighup: cannot reopen the log file: %s", e)
    stream.write("+OK\n")


def _flag(name: str, on: str, off: str):
    def handler(module, argv, stream):
        flags = module.state.flags
        if len(argv) > 1:
            flags[name] = switch_true(argv[1])
        stream.write(f"+OK {name} is {on if flags[name] else off} \n")
    return handler


_sub("verbose_events")(_flag("verbose_events", "on", "off"))
_sub("threaded_system_exec")(_flag("threaded_system_exec", "true", "false"))


@_sub("api_expansion")
def _api_expansion(module, argv, stream):
    settings = module.core.admin.settings
    if len(argv) > 1:
        settings.api_expansion = switch_true(argv[1])
    stream.write(f"+OK api_expansion is {'on' if settings.api_expansion else 'off'} \n")


@_sub("shutdown")
def _shutdown(module, argv, stream):
    mode, restart = "now", False
    for word in argv[1:5]:
        w = word.lower()
        if w == "cancel":
            mode, restart = "cancel", False
            break
        if w in ("elegant", "now", "asap"):
            mode = w
        elif w == "restart":
            restart = True
    core = module.core
    if mode == "cancel":
        core.admin.request_shutdown("cancel", "fsctl")
    elif restart:
        core.admin.restart_requested = True
        core.admin.request_shutdown("restart" if mode == "now" else mode, "fsctl")
    else:
        core.admin.request_shutdown(mode, "fsctl")
    stream.write("+OK\n")


@_sub("debug_sql")
def _debug_sql(module, argv, stream):
    flags = module.state.flags
    flags["debug_sql"] = not flags["debug_sql"]
    stream.write(f"+OK SQL DEBUG [{'on' if flags['debug_sql'] else 'off'}]\n")


@_sub("sql")
def _sql(module, argv, stream):
    if len(argv) > 1:
        stream.write("+OK\n")


@_sub("max_sessions")
def _max_sessions(module, argv, stream):
    settings = module.core.admin.settings
    n = atoi(argv[1]) if len(argv) > 1 else 0
    if n:
        settings.max_sessions = n
    stream.write(f"+OK max sessions: {settings.max_sessions}\n")


@_sub("min_idle_cpu")
def _min_idle_cpu(module, argv, stream):
    settings = module.core.admin.settings
    d = atof(argv[1]) if len(argv) > 1 else -1.0
    if d >= 0:
        settings.min_idle_cpu = d
    d = settings.min_idle_cpu
    # FreeSWITCH's format is "%0.2f%\n"; the C library prints the stray "%\n" as it is
    stream.write(f"+OK min idle cpu: {d:0.2f}%\n" if d else "+OK min idle cpu: DISABLED\n")


def _dtmf(kind: str, label: str):
    def handler(module, argv, stream):
        dtmf = module.state.dtmf
        n = atoi(argv[1]) if len(argv) > 1 else 0
        if n > 0:
            if kind == "min":
                n = min(max(n, MIN_DTMF_DURATION), dtmf["max"])
            elif kind == "max":
                n = max(min(n, MAX_DTMF_DURATION), dtmf["min"])
            else:
                n = min(max(n, dtmf["min"]), dtmf["max"])
            dtmf[kind] = n
        stream.write(f"+OK {label} dtmf duration: {dtmf[kind]}\n")
    return handler


_sub("min_dtmf_duration")(_dtmf("min", "min"))
_sub("max_dtmf_duration")(_dtmf("max", "max"))
_sub("default_dtmf_duration")(_dtmf("default", "default"))


@_sub("loglevel")
def _loglevel(module, argv, stream):
    core = module.core
    if len(argv) > 1:
        level = str2level(argv[1])
        if level == LogLevel.INVALID:
            stream.write("-ERR syntax error, log level not set!\n")
            return
        level = min(level, int(LogLevel.DEBUG))
        core.log.set_level(level)
    # Without a level, FreeSWITCH 1.10 *sets* the core level to DISABLE and answers
    # "+OK log level: DISABLE [-1]": an operator asking for the level silences all logging.
    # That is a foot-gun, not an interface, so "fsctl loglevel" only reports the level, as
    # FreeSWITCH did before (an explicit "fsctl loglevel disable" still disables logging).
    level = core.log.level
    stream.write(f"+OK log level: {level_name(level)} [{level}]\n")


@_sub("debug_level")
def _debug_level(module, argv, stream):
    settings = module.core.admin.settings
    n = atoi(argv[1]) if len(argv) > 1 else -1
    if n > -1:
        settings.debug_level = min(n, 10)
    stream.write(f"+OK DEBUG level: {settings.debug_level}\n")


@_sub("sps_peak_reset")
def _sps_peak_reset(module, argv, stream):
    module.core.admin.reset_sps_peak()
    stream.write("+OK max sessions per second counter reset\n")


@_sub("last_sps")
def _last_sps(module, argv, stream):
    stream.write(f"+OK last sessions per second: {module.core.admin.session_stats()['sps_last']}\n")


@_sub("sps")
def _sps(module, argv, stream):
    settings = module.core.admin.settings
    n = atoi(argv[1]) if len(argv) > 1 else 0
    if n > 0:
        settings.sessions_per_second = n
    stream.write(f"+OK sessions per second: {settings.sessions_per_second}\n")


@_sub("sync_clock")
def _sync_clock(module, argv, stream):
    stream.write("+OK clock synchronized\n")


@_sub("sync_clock_when_idle")
def _sync_clock_when_idle(module, argv, stream):
    if module.core.admin.session_stats()["count"] == 0:
        stream.write("+OK clock synchronized\n")
    else:
        stream.write("+OK clock will synchronize when there are no more calls\n")


@_sub("event_stats")
def _event_stats(module, argv, stream):
    """softswitch's own: the event system's counters, one ``name: value`` per line."""
    stats = module.core.admin.event_stats()
    for name, value in vars(stats).items():
        stream.write(f"{name}: {value}\n")


@commands("fsctl", "FS control messages", CTL_SYNTAX)
def fsctl(module, cmd, session, stream):
    if not cmd:
        stream.write(f"-USAGE: {CTL_SYNTAX}\n")
        return
    argv = separate_string(cmd, " ", 6)
    handler = _FSCTL.get(argv[0].lower()) if argv else None
    if handler is None:
        stream.write(f"-ERR Invalid command\nUSAGE: fsctl {CTL_SYNTAX}\n")
        return
    handler(module, argv, stream)


def _shutdown_api(module, cmd, session, stream):
    stream.write("+OK\n")
    module.core.admin.request_shutdown("now", "api shutdown")


commands("...", "Shutdown", "")(_shutdown_api)
commands("shutdown", "Shutdown", "")(_shutdown_api)


@commands("log", "Log", "<level> <message>")
def log(module, cmd, session, stream):
    if not cmd:
        stream.write("-ERR\n")
        return
    word, blank, message = cmd.partition(" ")
    level = int(LogLevel.DEBUG)
    if blank:
        level = str2level_name(word)
    else:
        message = cmd
    # FreeSWITCH logs this on the session text channel (SWITCH_CHANNEL_SESSION_LOG), session
    # or not: Event Socket clients see Text-Channel: 3
    module.log.log(to_python(level), "%s", message,
                   extra={"fs_level": level, "fs_channel": TextChannel.SESSION})
    stream.write("+OK\n")


def str2level_name(word: str) -> int:
    """``switch_log_str2level`` for ``log``: an unknown level logs at DEBUG."""
    level = parse_level(word)
    return int(LogLevel.DEBUG) if level == LogLevel.INVALID else level


CONSOLE_USAGE = (
    "USAGE:\n"
    "--------------------------------------------------------------------------------\n"
    "console help\n"
    "console loglevel [[0-7] | <loglevel_string>]\n"
    "console uuid [on|off|toggle]\n"
    "console json [on|off|toggle]\n"
    "console colorize [on|off|toggle]\n"
    "--------------------------------------------------------------------------------\n"
)
CONSOLE_LOGLEVEL_USAGE = (
    "USAGE:\n"
    "--------------------------------------------------------------------------------\n"
    "console loglevel [[0-7] | <loglevel_string>]\n"
    "\n"
    "Set the logging verbosity of the console from 0 (least verbose) to\n"
    "7 (debugging), or specify the loglevel as a string:\n"
    "\n"
    "  0 console\n"
    "  1 alert\n"
    "  2 crit\n"
    "  3 err\n"
    "  4 warning\n"
    "  5 notice\n"
    "  6 info\n"
    "  7 debug\n"
    "--------------------------------------------------------------------------------\n"
)
CONSOLE_COLORIZE_USAGE = (
    "USAGE:\n"
    "--------------------------------------------------------------------------------\n"
    "console colorize [on|off|toggle]\n"
    "\n"
    "Enable, disable, or toggle console coloring.\n"
    "--------------------------------------------------------------------------------\n"
)


def _toggle(current: bool, word: str) -> bool:
    return not current if word.lower() == "toggle" else switch_true(word)


@commands("console", "Console",
          "loglevel [level]|colorize [on|toggle|off]|uuid [on|toggle|off]|json [on|toggle|off]")
def console(module, cmd, session, stream):
    """FreeSWITCH's mod_console API, here because softswitch's console is in the kernel."""
    argv = separate_string(cmd, " ", 3)
    if not argv or not argv[0]:
        stream.write(CONSOLE_USAGE)
        return
    logbus = module.core.log
    sub = argv[0].lower()
    arg = argv[1] if len(argv) > 1 else None
    if sub == "loglevel":
        level = logbus.console_level
        if arg is not None:
            if arg.lower() == "help":
                stream.write(CONSOLE_LOGLEVEL_USAGE)
                return
            level = str2level(arg)
        if level == LogLevel.INVALID:
            stream.write(f"-ERR Invalid console loglevel ({arg or ''})!\n\n")
        else:
            logbus.console_level = level
            stream.write(f"+OK console log level set to {level_name(level)}\n")
    elif sub == "colorize":
        if arg is not None:
            if arg.lower() == "help":
                stream.write(CONSOLE_COLORIZE_USAGE)
                return
            logbus.console_colour = _toggle(logbus.console_colour, arg)
        stream.write(f"+OK console color {'enabled' if logbus.console_colour else 'disabled'}\n")
    elif sub in ("uuid", "json"):
        # kept for the answer; softswitch's console prints neither uuids nor JSON lines yet
        flags = module.state.console
        if arg is not None:
            flags[sub] = _toggle(flags[sub], arg)
        stream.write(f"+OK console {sub} {'enabled' if flags[sub] else 'disabled'}\n")
    else:
        stream.write(CONSOLE_USAGE)
