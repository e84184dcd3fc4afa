"""Fixtures: a kernel with mod_commands and a small fixture module of known interfaces.

``mod_fixture`` registers interfaces whose ``show`` output the golden tests know byte for byte:
two APIs (one without a description, which ``show api`` leaves out), two applications (one
with characters XML must escape), two timers (``fake`` ticks at once, ``fake_fail`` refuses to
start) and one interface of each of the other kinds ``show`` reports.
"""

from __future__ import annotations

import types

import gevent
import pytest

import softswitch
from softswitch import Interface, Status, TimerInterface
from softswitch.console import execute_line


def make_fixture_module() -> types.ModuleType:
    mod = types.ModuleType("mod_fixture")

    @softswitch.hookimpl
    def module_load(module, core):
        module.add_api("fix_api", "Fixture API <&>", "<a>|[b]",
                       lambda cmd, session, stream: stream.write(f"fix:{cmd}"))
        module.add_api("fix_nodesc", "", "", lambda cmd, session, stream: None)
        module.add_api("fix_fail", "Fails", "", lambda cmd, session, stream: Status.GENERR)
        module.add_application("fix_app", "Fixture app", "long", "<x>", lambda session, data: None)
        module.add_application("fix_app2", "Caf\u00e9 & <tea>", "", "[\"q\"]\r", lambda session, data: None)

        def tick(timer):
            gevent.sleep(0)

        module.add_timer(TimerInterface(name="fake", init=lambda t: None, next=tick,
                                        destroy=lambda t: None))
        module.add_timer(TimerInterface(name="fake_fail", init=lambda t: Status.GENERR, next=tick))
        for kind in ("dialplan", "file", "chat", "say", "management", "limit", "endpoint"):
            module.add_interface(Interface(kind, f"fix_{kind}"))

    mod.module_load = module_load
    return mod


def isolated(kernel_factory, modules, **kw):
    """A kernel that loads only ``modules``: core modules that happen to be installed in this
    environment (mod_pcm, mod_softtimer) stay out, so that golden output does not depend on
    what else is installed."""
    core = kernel_factory(modules=modules, start=False, **kw)
    core.modules.index = lambda refresh=False: {}
    core.start()
    return core


@pytest.fixture
def core(kernel_factory):
    """A running kernel with mod_commands and mod_fixture (and nothing else)."""
    return isolated(kernel_factory, ["mod_commands", make_fixture_module()])


@pytest.fixture
def api(core):
    """``api("show timer")`` → the output text (through ``core.api_execute``)."""
    def run(line: str) -> str:
        cmd, _, arg = line.partition(" ")
        result = core.api_execute(cmd, arg)
        assert result.error is None, result.error
        return result.output
    return run


@pytest.fixture
def console(core):
    """``console("show timer")`` → what the console prints for the line."""
    def run(line: str) -> str:
        out: list[str] = []
        execute_line(core, line, out.append)
        return "".join(out)
    return run


@pytest.fixture
def log_lines(core):
    """Every log line (:class:`softswitch.LogLine`) produced while the test runs."""
    lines: list = []
    core.logbus.bind(lines.append, 7, owner="test")
    return lines


@pytest.fixture
def events(core):
    """``events(EventType.X)`` → a list that fills with every X fired from now on."""
    def collect(event_type) -> list:
        got: list = []
        core.events.bind("test", event_type, None, got.append, None)
        return got
    return collect
