"""Logging: FreeSWITCH's levels on top of :mod:`logging`, the line format, listeners, the hard
level, colour, the log file and its reopening."""

from __future__ import annotations

import io
import logging
import re
import signal
import threading

import gevent
import pytest

from softswitch.log import (
    ALERT,
    CONSOLE,
    NOTICE,
    LogBus,
    LogLevel,
    console_is_tty,
    from_python,
    level_name,
    parse_level,
    to_python,
)
from softswitch.testing import _wait_for as wait_for

LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \d+\.\d\d% \[(?P<level>[A-Z]+)\] "
    r"(?P<file>\S+):(?P<line>\d+) (?P<msg>.*)\n$", re.S)


@pytest.fixture
def bus():
    root = logging.getLogger()
    level = root.level
    b = LogBus()
    b.install()
    try:
        yield b
    finally:
        b.uninstall()
        root.setLevel(level)


@pytest.fixture
def log():
    lg = logging.getLogger("softswitch.tests.log")
    lg.setLevel(logging.NOTSET)
    yield lg
    lg.setLevel(logging.NOTSET)


# ----------------------------------------------------------------------------------------------
# levels
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,want", [
    ("console", 0), ("alert", 1), ("crit", 2), ("err", 3), ("warning", 4), ("notice", 5),
    ("info", 6), ("debug", 7), ("DEBUG", 7), (" Info ", 6), ("disable", -1),
    ("error", 64), ("warn", 64), ("critical", 64), ("", 64), ("bogus", 64),
    ("0", 0), ("3", 3), ("7", 7), ("8", 8), ("63", 63), ("64", 64), ("65", 63), ("1000", 63),
    ("-1", 0), ("+3", 3),
])
def test_parse_level(text, want):
    assert parse_level(text) == want


def test_level_names_and_enum():
    assert [LogLevel(i).name for i in range(8)] == [
        "CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"]
    assert level_name(3) == "ERR" and level_name(9) == "DEBUG" and level_name(-1) == "DISABLE"
    assert LogLevel.INVALID == 64


def test_python_level_mapping_round_trips():
    for fs in range(8):
        assert from_python(to_python(fs)) == fs
    assert to_python(LogLevel.ERR) == logging.ERROR
    assert to_python(LogLevel.WARNING) == logging.WARNING
    assert to_python(LogLevel.NOTICE) == NOTICE and to_python(LogLevel.ALERT) == ALERT
    assert to_python(LogLevel.CONSOLE) == CONSOLE
    assert to_python(12) == logging.DEBUG and to_python(-1) > CONSOLE
    assert from_python(logging.CRITICAL) == LogLevel.CRIT
    assert from_python(45) == LogLevel.ERR and from_python(5) == LogLevel.DEBUG
    assert logging.getLevelName(NOTICE) == "NOTICE"


# ----------------------------------------------------------------------------------------------
# format and fan-out
# ----------------------------------------------------------------------------------------------


def test_line_format(bus, log):
    got = []
    bus.bind(got.append, LogLevel.DEBUG)
    log.info("hello %s", "world")
    (line,) = got
    m = LINE_RE.match(line.text)
    assert m, line.text
    assert m["level"] == "INFO" and m["file"] == "test_log.py" and m["msg"] == "hello world"
    assert int(m["line"]) == line.line > 0
    assert line.level == LogLevel.INFO and line.file == "test_log.py"
    assert line.func == "test_line_format" and line.message == "hello world\n"
    assert line.logger == "softswitch.tests.log"


@pytest.mark.parametrize("method,level", [
    ("debug", "DEBUG"), ("info", "INFO"), ("warning", "WARNING"), ("error", "ERR"),
    ("critical", "CRIT")])
def test_python_levels_appear_as_freeswitch_levels(bus, log, method, level):
    got = []
    bus.bind(got.append)
    getattr(log, method)("x")
    assert f"[{level}]" in got[0].text


def test_extra_levels_and_fs_level_override(bus, log):
    got = []
    bus.bind(got.append)
    log.log(NOTICE, "n")
    log.log(ALERT, "a")
    log.log(CONSOLE, "c")
    log.info("forced", extra={"fs_level": 2})
    assert [g.text.split("[")[1].split("]")[0] for g in got] == ["NOTICE", "ALERT", "CONSOLE", "CRIT"]


def test_exception_and_bad_format_do_not_break(bus, log):
    got = []
    bus.bind(got.append)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    assert "Traceback" in got[0].text and "RuntimeError: boom" in got[0].text
    # a bad format string (pytest's own capture handler would raise here, so format directly)
    record = log.makeRecord(log.name, logging.INFO, "f.py", 3, "%d", ("not a number",), None)
    line = bus.format(record)
    assert "log formatting failed" in line.text and LINE_RE.match(line.text)


def test_listeners_have_their_own_level(bus, log):
    debug, err = [], []
    n1 = bus.bind(debug.append, LogLevel.DEBUG, owner="a")
    bus.bind(err.append, LogLevel.ERR, owner="b")
    log.debug("d")
    log.info("i")
    log.error("e")
    log.critical("c")
    assert [x.message for x in debug] == ["d\n", "i\n", "e\n", "c\n"]
    assert [x.message for x in err] == ["e\n", "c\n"]
    bus.unbind(n1)
    bus.unbind_owner("b")
    log.error("after")
    assert len(debug) == 4 and len(err) == 2


def test_failing_listener_does_not_break_others(bus, log, capsys):
    got = []

    def bad(line):
        raise ValueError("listener bug")

    bus.bind(bad, owner="mod_bad")
    bus.bind(got.append)
    log.info("x")
    assert len(got) == 1
    assert "log listener of mod_bad raised ValueError: listener bug" in capsys.readouterr().err


def test_hard_level_filters_everything(bus, log):
    got = []
    bus.bind(got.append, LogLevel.DEBUG)
    bus.set_hard_level(LogLevel.ERR)
    log.info("dropped")
    log.warning("dropped")
    log.error("kept")
    # A logger with its own explicit level must not bypass the core's hard level.
    log.setLevel(logging.DEBUG)
    log.debug("dropped too")
    log.info("dropped too")
    log.critical("kept too")
    assert [g.message for g in got] == ["kept\n", "kept too\n"]
    # changeable at run time
    bus.set_hard_level(LogLevel.DEBUG)
    log.debug("now kept")
    assert got[-1].message == "now kept\n"


def test_uninstall_restores_root_level():
    root = logging.getLogger()
    before, handlers = root.level, list(root.handlers)
    b = LogBus()
    b.install()
    assert len(root.handlers) == len(handlers) + 1
    b.set_hard_level(LogLevel.ERR)
    b.uninstall()
    assert root.level == before
    assert root.handlers == handlers


def test_console_output_level_and_colour(bus, log):
    plain = io.StringIO()
    bus.console_stream = plain
    bus.console_level = LogLevel.WARNING
    log.info("quiet")
    log.warning("loud")
    assert "quiet" not in plain.getvalue()
    assert LINE_RE.match(plain.getvalue()) and "\033[" not in plain.getvalue()
    coloured = io.StringIO()
    bus.console_stream = coloured
    bus.console_colour = True
    log.error("red")
    assert coloured.getvalue().startswith("\033[31m") and coloured.getvalue().endswith("\033[0m")


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_colour_only_on_a_tty(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert console_is_tty(_Stream(True)) is True
    assert console_is_tty(_Stream(False)) is False
    assert console_is_tty(object()) is False
    monkeypatch.setenv("TERM", "dumb")
    assert console_is_tty(_Stream(True)) is False
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    assert console_is_tty(_Stream(True)) is False


def test_log_file_and_reopen(bus, log, tmp_path):
    path = tmp_path / "softswitch.log"
    bus.open_file(str(path))
    log.info("first")
    moved = tmp_path / "softswitch.log.1"
    path.rename(moved)
    log.info("second")  # still the old (moved) file
    bus.reopen_file()
    log.info("third")
    assert "first" in moved.read_text() and "second" in moved.read_text()
    assert "third" in path.read_text() and "second" not in path.read_text()
    assert all(LINE_RE.match(ln + "\n") for ln in path.read_text().splitlines())


def test_reopen_without_file_is_harmless():
    LogBus().reopen_file()


def test_record_from_a_real_thread_goes_through_the_hub(bus, log):
    got = []
    bus.bind(got.append)
    t = threading.Thread(target=log.warning, args=("from a thread",))
    t.start()
    t.join(10)
    wait_for(lambda: got, timeout=10)
    assert got[0].message == "from a thread\n"


def test_core_level_from_switch_conf_and_runtime_change(kernel_factory):
    core = kernel_factory(settings={"loglevel": "warning"})
    assert core.settings.loglevel == LogLevel.WARNING and core.logbus.hard_level == LogLevel.WARNING
    core2 = kernel_factory(settings={"loglevel": "error"})  # "error" is not a level name
    assert core2.settings.loglevel == LogLevel.DEBUG
    core3 = kernel_factory(settings={"loglevel": "12"})  # digits: capped at DEBUG
    assert core3.settings.loglevel == LogLevel.DEBUG


def test_core_writes_log_file(kernel_factory):
    core = kernel_factory()
    path = core.dirs.log_dir + "/softswitch.log"
    logging.getLogger("softswitch.tests").info("into the file")
    text = open(path).read()
    assert "into the file" in text and "Started." in text


def test_module_log_listener_with_its_own_level(kernel_factory):
    core = kernel_factory()
    got = []
    core.logbus.bind(got.append, LogLevel.WARNING, owner="mod_x")
    lg = logging.getLogger("mod_x")
    lg.info("no")
    lg.warning("yes")
    assert [g.message for g in got] == ["yes\n"]
    core.logbus.unbind_owner("mod_x")


# ----------------------------------------------------------------------------------------------
# a real process: log file in the log dir, SIGHUP reopens it
# ----------------------------------------------------------------------------------------------


def test_sighup_reopens_log_file(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf", event_heartbeat_interval=1)
    root = tmp_path / "k"
    k = kernels.start(*kernels.dirs(root, conf))
    k.wait_ready()
    log_file = root / "log" / "softswitch.log"
    moved = root / "log" / "softswitch.log.1"
    kt.wait_until(lambda: kt.READY_RE.search(log_file.read_text()), 10, "ready line in the log file")
    log_file.rename(moved)
    k.signal(signal.SIGHUP)
    kt.wait_until(log_file.exists, 10, "a new log file after SIGHUP", k.describe)
    assert k.proc.poll() is None, k.describe()
    k.terminate_and_check()
    new = log_file.read_text()
    assert "Shutting down (SIGTERM)" in new and "softswitch stopped" in new
    assert "Shutting down" not in moved.read_text()
    assert all(LINE_RE.match(ln + "\n") for ln in new.splitlines() if ln[:2] == "20")


def test_console_lines_look_like_freeswitch(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf", loglevel="info")
    k = kernels.start(*kernels.dirs(tmp_path / "k", conf))
    k.wait_ready()
    k.terminate_and_check()
    # a record's own lines; indented ones continue a multi-line record (a stack the hub
    # watchdog prints when a loaded machine holds the hub up, say)
    lines = [ln for ln in k.stdout.splitlines() if ln and not ln[0].isspace()]
    assert lines and all(LINE_RE.match(ln + "\n") for ln in lines), k.describe()
    assert "\033[" not in k.stdout  # not a tty: no colour
    assert "[DEBUG]" not in k.stdout  # loglevel info from switch.conf
    gevent.sleep(0)


def test_log_lines_name_the_module_not_its_init_file():
    """A module's ``__init__.py`` is named by its package: ``mod_kv:42``."""
    from softswitch.log import LogBus

    bus = LogBus()
    record = logging.LogRecord("mod_kv", logging.INFO, "/site/mod_kv/__init__.py", 42, "hi",
                               None, None)
    assert " mod_kv:42 hi\n" in bus.format(record).text
    record = logging.LogRecord("mod_kv.store", logging.INFO, "/site/mod_kv/store.py", 7, "x",
                               None, None)
    assert " store.py:7 x\n" in bus.format(record).text


def test_console_prompt_is_redrawn_after_a_log_line():
    import io

    from softswitch.log import LogBus

    bus = LogBus()
    out = io.StringIO()
    bus.console_stream = out
    bus.console_redraw = lambda: out.write("softswitch@host> sta")
    record = logging.LogRecord("mod_kv", logging.WARNING, "/x/mod_kv/__init__.py", 1, "late",
                               None, None)
    bus.emit(bus.format(record))
    text = out.getvalue()
    assert text.startswith("\r\x1b[K") and text.endswith("late\nsoftswitch@host> sta")
    bus.console_redraw = None
    out.truncate(0)
    out.seek(0)
    bus.emit(bus.format(record))
    assert not out.getvalue().startswith("\r") and out.getvalue().endswith("late\n")
