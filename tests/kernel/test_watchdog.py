"""The hub watchdog and blocking APIs: code that holds the hub is reported while it holds it,
with its module and stack, and an event is fired; an API declared blocking runs in gevent's
thread pool and holds nothing up."""

from __future__ import annotations

import linecache
import os
import types

import gevent

import softswitch
from softswitch import EventType
from softswitch.watchdog import BLOCKED_SUBCLASS

SPIN = '''
import os
import time

import softswitch

LOG = None


def reported():
    try:
        with open(LOG, encoding="utf-8", errors="replace") as f:
            return "by module mod_spin" in f.read()
    except OSError:
        return False


def spin(cmd, session, stream):
    """Hold the hub (a CPU loop) for up to CMD seconds, until the watchdog's report is in
    the log file: the report must come while the hub is held."""
    end = time.perf_counter() + float(cmd)
    next_look = 0.0
    while time.perf_counter() < end:
        now = time.perf_counter()
        if now >= next_look:
            next_look = now + 0.01
            if reported():
                stream.write("+OK reported while held\\n")
                return
    stream.write("+OK spun\\n")


@softswitch.hookimpl
def module_load(module, core):
    module.add_api("spin", "hold the hub", "<seconds>", spin)
    module.add_api("spin_blocking", "a CPU loop in the thread pool", "<seconds>", spin,
                   blocking=True)
'''


def spin_module(log_path: str) -> types.ModuleType:
    mod = types.ModuleType("mod_spin")
    exec(SPIN, mod.__dict__)
    mod.LOG = log_path
    return mod


def start(kernel_factory, tmp_path, settings=None):
    log_path = os.path.join(str(tmp_path), "kernel0", "log", "softswitch.log")
    core = kernel_factory(modules=[spin_module(log_path)], settings=settings)
    got = []
    core.events.bind("test", EventType.CUSTOM, BLOCKED_SUBCLASS, got.append)
    return core, got, log_path


def test_a_cpu_loop_in_an_api_is_reported_with_its_module_and_stack(kernel_factory, tmp_path, wait_for):
    core, got, log_path = start(kernel_factory, tmp_path)
    linecache.clearcache()  # (earlier tests' tracebacks)
    assert core.api("spin 2") == "+OK reported while held\n"
    wait_for(lambda: got, timeout=10)
    ev = got[0]
    assert ev.get_header("Blocked-Module") == "mod_spin"
    assert int(ev.get_header("Blocked-MS")) > 100
    stack = ev.get_header("Blocked-Stack")
    assert "in spin" in stack and "api_execute" in stack
    with open(log_path, encoding="utf-8") as f:
        text = f.read()
    assert "[WARNING]" in text and "held for" in text and "by module mod_spin" in text
    assert "in spin\n" in text  # the stack follows the report
    # the source lines are in the stack, but the files read for it are not kept in linecache
    # (lines read during a burst of calls kept pymalloc arenas alive after the calls)
    assert "core.py" in stack and "\n    " in stack
    kernel_dir = os.path.dirname(softswitch.__file__)
    assert [f for f in linecache.cache if f.startswith(kernel_dir)] == []


def test_a_blocking_api_runs_in_the_thread_pool_and_holds_nothing_up(kernel_factory, tmp_path,
                                                                    wait_for):
    core, got, _ = start(kernel_factory, tmp_path)
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            gevent.sleep(0.01)

    t = gevent.spawn(ticker)
    try:
        before = len(ticks)
        assert core.api("spin_blocking 0.5") == "+OK spun\n"
        assert len(ticks) > before  # the hub ran the ticker while the API computed
    finally:
        t.kill()
    gevent.sleep(0)
    assert not got and not core.watchdog.reports


def test_the_watchdog_can_be_turned_off(kernel_factory, tmp_path):
    core, got, _ = start(kernel_factory, tmp_path, settings={"hub-watchdog-ms": "0"})
    assert core.api("spin 0.3") == "+OK spun\n"
    gevent.sleep(0)
    assert not got and not core.watchdog.reports
