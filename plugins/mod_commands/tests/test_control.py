"""``fsctl``, ``shutdown``, ``...``, ``log``, ``console``."""

from __future__ import annotations

import pytest

from mod_commands.control import (
    CONSOLE_COLORIZE_USAGE,
    CONSOLE_LOGLEVEL_USAGE,
    CONSOLE_USAGE,
    CTL_SYNTAX,
)
from softswitch import EventType


def test_fsctl_usage(api):
    assert api("fsctl") == f"-USAGE: {CTL_SYNTAX}\n"
    assert api("fsctl bogus") == f"-ERR Invalid command\nUSAGE: fsctl {CTL_SYNTAX}\n"
    assert api("fsctl crash") == f"-ERR Invalid command\nUSAGE: fsctl {CTL_SYNTAX}\n"


def test_fsctl_loglevel(api, core):
    try:
        assert api("fsctl loglevel err") == "+OK log level: ERR [3]\n"
        assert core.logbus.hard_level == 3
        # without a level it reports (FreeSWITCH 1.10 would set DISABLE: see control.py)
        assert api("fsctl loglevel") == "+OK log level: ERR [3]\n"
        assert core.logbus.hard_level == 3
        assert api("fsctl loglevel 6") == "+OK log level: INFO [6]\n"
        assert api("fsctl loglevel 9") == "+OK log level: DEBUG [7]\n"
        assert api("fsctl loglevel WARNING") == "+OK log level: WARNING [4]\n"
        assert api("fsctl loglevel bogus") == "-ERR syntax error, log level not set!\n"
        assert core.logbus.hard_level == 4
        assert api("fsctl loglevel disable") == "+OK log level: DISABLE [-1]\n"
        assert core.logbus.hard_level == -1
    finally:
        core.logbus.set_hard_level(7)


def test_fsctl_shutdown_variants(api, core, events):
    requested = events(EventType.SHUTDOWN_REQUESTED)
    assert api("fsctl shutdown_check") == "false"
    assert api("fsctl shutdown elegant") == "+OK\n"
    assert core.stop_requested
    assert api("fsctl shutdown_check") == "true"
    assert api("fsctl shutdown cancel") == "+OK\n"
    assert not core.stop_requested
    assert api("fsctl shutdown asap restart") == "+OK\n"
    assert core.stop_requested and core.restart_requested
    assert api("fsctl shutdown restart cancel") == "+OK\n"
    assert not core.stop_requested and not core.restart_requested
    assert api("fsctl shutdown now") == "+OK\n"
    assert core.stop_requested and not core.restart_requested
    api("fsctl shutdown cancel")
    assert api("fsctl shutdown") == "+OK\n"
    assert core.stop_requested
    assert core.events.drain(5.0)
    assert [ev.get_header("Event-Info") for ev in requested] == ["elegant", "ASAP"]


@pytest.mark.parametrize("line", ["shutdown", "..."])
def test_shutdown_api(api, core, line):
    assert api(line) == "+OK\n"
    assert core.stop_requested


def test_pause_resume(api, core):
    assert api("fsctl pause_check") == "false"
    assert api("fsctl pause inbound") == "+OK\n"
    assert api("fsctl pause_check inbound") == "true"
    assert api("fsctl pause_check outbound") == "false"
    assert api("fsctl pause_check") == "false"
    assert api("fsctl ready_check") == "true"
    assert api("fsctl pause outbound") == "+OK\n"
    assert api("fsctl pause_check") == "true"
    assert core.no_new_sessions
    assert api("fsctl ready_check") == "false"
    assert "is not ready\n" in api("status")
    assert api("fsctl resume inbound") == "+OK\n"
    assert api("fsctl pause_check") == "false"
    assert api("fsctl resume") == "+OK\n"
    assert not core.no_new_sessions
    assert api("fsctl ready_check") == "true"
    assert api("fsctl pause") == "+OK\n"
    assert api("fsctl pause_check outbound") == "true"
    assert api("fsctl resume") == "+OK\n"


def test_session_limits(api, core):
    assert api("fsctl max_sessions") == "+OK max sessions: 1000\n"
    assert api("fsctl max_sessions 250") == "+OK max sessions: 250\n"
    assert "250 session(s) max\n" in api("status")
    assert api("fsctl sps") == "+OK sessions per second: 30\n"
    assert api("fsctl sps 50") == "+OK sessions per second: 50\n"
    assert api("fsctl sps -4") == "+OK sessions per second: 50\n"
    assert "out of max 50," in api("status")
    core.sps_peak = 9
    assert api("fsctl sps_peak_reset") == "+OK max sessions per second counter reset\n"
    assert core.sps_peak == 0
    assert api("fsctl last_sps") == "+OK last sessions per second: 0\n"


def test_min_idle_cpu_and_debug_level(api, core):
    assert api("fsctl min_idle_cpu") == "+OK min idle cpu: DISABLED\n"
    assert api("fsctl min_idle_cpu 12.5") == "+OK min idle cpu: 12.50%\n"
    assert "min idle cpu 12.50/" in api("status")
    assert api("fsctl min_idle_cpu 0") == "+OK min idle cpu: DISABLED\n"
    assert api("fsctl debug_level") == "+OK DEBUG level: 0\n"
    assert api("fsctl debug_level 5") == "+OK DEBUG level: 5\n"
    assert api("fsctl debug_level 50") == "+OK DEBUG level: 10\n"
    assert core.settings.debug_level == 10


def test_dtmf_durations(api):
    assert api("fsctl min_dtmf_duration") == "+OK min dtmf duration: 400\n"
    assert api("fsctl min_dtmf_duration 100") == "+OK min dtmf duration: 400\n"
    assert api("fsctl min_dtmf_duration 800") == "+OK min dtmf duration: 800\n"
    assert api("fsctl max_dtmf_duration 999999") == "+OK max dtmf duration: 192000\n"
    assert api("fsctl max_dtmf_duration 10") == "+OK max dtmf duration: 800\n"
    assert api("fsctl default_dtmf_duration 10") == "+OK default dtmf duration: 800\n"
    assert api("fsctl default_dtmf_duration 5000") == "+OK default dtmf duration: 800\n"
    assert api("fsctl max_dtmf_duration 192000") == "+OK max dtmf duration: 192000\n"
    assert api("fsctl default_dtmf_duration 5000") == "+OK default dtmf duration: 5000\n"


def test_simple_acknowledgements(api):
    for sub in ("hupall", "reclaim_mem", "flush_db_handles", "calibrate_clock", "save_history"):
        assert api(f"fsctl {sub}") == "+OK\n", sub
    assert api("fsctl sync_clock") == "+OK clock synchronized\n"
    assert api("fsctl sync_clock_when_idle") == "+OK clock synchronized\n"
    assert api("fsctl recover") == "+OK 0 session(s) recovered in total\n"
    assert api("fsctl recover flush") == "+OK flushed\n"
    assert api("fsctl sql") == ""
    assert api("fsctl sql start") == "+OK\n"
    assert api("fsctl debug_sql") == "+OK SQL DEBUG [on]\n"
    assert api("fsctl debug_sql") == "+OK SQL DEBUG [off]\n"


def test_flags(api, core):
    assert api("fsctl verbose_events") == "+OK verbose_events is off \n"
    assert api("fsctl verbose_events on") == "+OK verbose_events is on \n"
    assert api("fsctl verbose_events") == "+OK verbose_events is on \n"
    assert api("fsctl threaded_system_exec yes") == "+OK threaded_system_exec is true \n"
    assert api("fsctl api_expansion off") == "+OK api_expansion is off \n"
    assert api("eval ${md5 x}") == "<API execute Permission Denied>"
    assert api("fsctl api_expansion on") == "+OK api_expansion is on \n"
    assert api("eval ${md5 x}") == "9dd4e461268c8034f5c8564e155c67a6"


def test_send_sighup_fires_trap(api, core, events):
    traps = events(EventType.TRAP)
    assert api("fsctl send_sighup") == "+OK\n"
    assert core.events.drain(5.0)
    assert [ev.get_header("Trapped-Signal") for ev in traps] == ["HUP"]


def test_event_stats(api):
    lines = api("fsctl event_stats").splitlines()
    names = [line.split(": ")[0] for line in lines]
    assert "fired" in names and "queue_depth" in names
    assert all(line.split(": ")[1].isdigit() for line in lines)


def test_log(api, log_lines):
    assert api("log err something broke") == "+OK\n"
    assert api("log just words") == "+OK\n"
    assert api("log single") == "+OK\n"
    assert api("log CONSOLE shown") == "+OK\n"
    assert api("log") == "-ERR\n"
    got = {(line.message.rstrip("\n"), line.level) for line in log_lines
           if line.logger.startswith("mod_commands")}
    assert ("something broke", 3) in got
    assert ("words", 7) in got  # an unknown level word logs the rest at DEBUG
    assert ("single", 7) in got
    assert ("shown", 0) in got


def test_console_loglevel(api, core):
    assert api("console") == CONSOLE_USAGE
    assert api("console help") == CONSOLE_USAGE
    assert api("console loglevel help") == CONSOLE_LOGLEVEL_USAGE
    assert api("console loglevel 3") == "+OK console log level set to ERR\n"
    assert core.logbus.console_level == 3
    assert api("console loglevel") == "+OK console log level set to ERR\n"
    assert api("console loglevel info") == "+OK console log level set to INFO\n"
    assert api("console loglevel 9") == "+OK console log level set to DEBUG\n"
    assert api("console loglevel nope") == "-ERR Invalid console loglevel (nope)!\n\n"
    assert core.logbus.console_level == 9


def test_console_switches(api, core):
    assert api("console colorize help") == CONSOLE_COLORIZE_USAGE
    assert api("console colorize on") == "+OK console color enabled\n"
    assert core.logbus.console_colour is True
    assert api("console colorize toggle") == "+OK console color disabled\n"
    assert api("console colorize") == "+OK console color disabled\n"
    assert api("console uuid on") == "+OK console uuid enabled\n"
    assert api("console uuid toggle") == "+OK console uuid disabled\n"
    assert api("console json yes") == "+OK console json enabled\n"
    assert api("console json") == "+OK console json enabled\n"
