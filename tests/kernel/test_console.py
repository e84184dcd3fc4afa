"""The console: execute_line on an in-process core, the input loop off the hub, and the console
of a real process (piped stdin, and a pseudo-terminal for the default-on-a-tty case)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import types

import gevent
import pytest

import softswitch
from softswitch import console
from softswitch.log import LogLevel
from softswitch.status import Status
from softswitch.testing import _wait_for as wait_for


def _mod_echo():
    m = types.ModuleType("mod_echo")  # pluggy needs a hashable plugin object

    @softswitch.hookimpl
    def module_load(module, core):
        @module.add_api("hello", "Say hello", "<name>")
        def hello(cmd, session, stream):
            stream.write(f"Hello, {cmd or 'world'}!")

        @module.add_api("broken", "Raise")
        def broken(cmd, session, stream):
            raise RuntimeError("kaput")

        @module.add_api("quiet_fail", "Fail with no output")
        def quiet_fail(cmd, session, stream):
            return Status.FALSE

    m.module_load = module_load
    return m


@pytest.fixture
def core(kernel_factory):
    return kernel_factory(modules=[("mod_echo", _mod_echo())])


def run_line(core, line):
    out = []
    keep_going = console.execute_line(core, line, out.append)
    return keep_going, "".join(out)


def test_api_command(core):
    assert run_line(core, "hello there") == (True, "\nHello, there!\n")
    assert run_line(core, "   hello") == (True, "\nHello, world!\n")


def test_several_commands(core):
    ok, out = run_line(core, "hello a;;hello b ;; ;;hello c")
    assert ok and out == "\nHello, a!\n\nHello, b!\n\nHello, c!\n"


def test_unknown_command(core):
    assert run_line(core, "frobnicate now") == (True, "Unknown Command: frobnicate\n")


def test_api_errors(core):
    ok, out = run_line(core, "broken")
    assert ok and "-ERR broken failed: RuntimeError: kaput" in out
    ok, out = run_line(core, "quiet_fail")
    assert ok and "-ERR quiet_fail returned FALSE" in out


def test_builtins_without_mod_commands(core):
    ok, out = run_line(core, "version")
    assert ok and out.startswith("FreeSWITCH Version ") and "softswitch" in out
    ok, out = run_line(core, "status")
    assert ok and out.startswith("UP 0 years, 0 days") and "is ready" in out
    ok, out = run_line(core, "help")
    assert ok and "/log LEVEL" in out and "hello" in out


def test_log_level(core):
    assert run_line(core, "/log info") == (True, "+OK console log level set to INFO\n")
    assert core.logbus.console_level == LogLevel.INFO
    assert run_line(core, "/log 3") == (True, "+OK console log level set to ERR\n")
    assert run_line(core, "/log") == (True, "+OK console log level set to ERR\n")
    assert run_line(core, "/log error") == (True, "-ERR Invalid console loglevel (error)!\n")
    assert core.logbus.console_level == LogLevel.ERR


@pytest.mark.parametrize("word", ["/exit", "/quit", "/bye", "...", "shutdown", "/EXIT"])
def test_exit_words(core, word):
    assert not core.stop_requested
    ok, out = run_line(core, f"hello;;{word};;hello never")
    assert ok is False and out == "\nHello, world!\n"
    assert core.stop_requested and core.shutdown_cause == "console"


@pytest.fixture
def fake_input(monkeypatch, tmp_path):
    """Replace input() for the console's reader thread; feed lines from the test."""
    monkeypatch.setattr(console, "HISTORY", str(tmp_path / "history"))
    lines: list[str | None] = []
    prompts: list[str] = []
    ready = threading.Semaphore(0)

    def fake(prompt=""):
        prompts.append(prompt)
        if not ready.acquire(timeout=30):
            raise EOFError
        line = lines.pop(0)
        if line is None:
            raise EOFError
        return line

    def feed(line):
        lines.append(line)
        ready.release()

    monkeypatch.setattr(console, "input", fake, raising=False)
    return types.SimpleNamespace(feed=feed, prompts=prompts)


def test_console_loop_never_blocks_the_hub(core, fake_input, capsys):
    loop = gevent.spawn(console.run, core)
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.001)

    t = gevent.spawn(ticker)
    try:
        # the console waits in its reader thread; the hub keeps running other greenlets
        wait_for(lambda: fake_input.prompts and len(ticks) > 20, timeout=10)
        assert fake_input.prompts[0] == f"softswitch@{core.switchname}> "
        assert console.reading()
        fake_input.feed("hello console")
        wait_for(lambda: "Hello, console!" in capsys.readouterr().out or len(fake_input.prompts) > 1,
                 timeout=10)
        fake_input.feed("/exit")
        loop.join(10)
        assert loop.dead and core.stop_requested
        assert not console.reading()
    finally:
        t.kill()
        loop.kill()


def test_console_eof_shuts_down(core, fake_input):
    loop = gevent.spawn(console.run, core)
    try:
        fake_input.feed(None)
        loop.join(10)
        assert loop.dead and core.stop_requested and core.shutdown_cause == "console EOF"
    finally:
        loop.kill()


# ----------------------------------------------------------------------------------------------
# real processes
# ----------------------------------------------------------------------------------------------


def test_console_in_a_real_process(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf", switchname="box1")
    r = kernels.run("-c", "-nf", *kernels.dirs(tmp_path / "k", conf),
                    input="version\n/log err\nnosuchcommand\n/exit\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "softswitch@box1> " in r.stdout
    assert "FreeSWITCH Version " in r.stdout
    assert "+OK console log level set to ERR" in r.stdout
    assert "Unknown Command: nosuchcommand" in r.stdout
    assert "Shutting down (console)" in r.stdout  # CONSOLE-level lines show at any level
    assert r.stderr == ""
    assert not (tmp_path / "k" / "run" / "softswitch.pid").exists()


def test_console_eof_in_a_real_process(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    r = kernels.run("-c", "-nf", *kernels.dirs(tmp_path / "k", conf), input="")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Shutting down (console EOF)" in r.stdout
    assert "Traceback" not in r.stderr, r.stderr


def test_sigterm_while_console_waits_for_input(tmp_path, kernels, kt):
    conf = kt.small_conf(tmp_path / "conf")
    k = kernels.start("-c", "-nf", *kernels.dirs(tmp_path / "k", conf), foreground=False,
                      stdin=subprocess.PIPE)
    try:
        k.wait_output(r"softswitch@\S+> ")
        k.signal(signal.SIGTERM)
        assert k.wait_exit() == 0, k.describe()
    finally:
        k.proc.stdin.close()
    assert "Fatal Python error" not in k.stderr and "Traceback" not in k.stderr, k.describe()
    assert "Shutting down (SIGTERM)" in k.stdout
    assert not (tmp_path / "k" / "run" / "softswitch.pid").exists()


def test_console_is_the_default_on_a_tty(tmp_path, kernels, kt):
    """No -c/-nc: on a terminal the console runs, with coloured log lines (switch.conf
    colorize-console true, as in the default conf)."""
    import pty

    conf = kt.small_conf(tmp_path / "conf", switchname="ttybox", colorize_console="true")
    master, slave = pty.openpty()
    env = dict(kernels.env, TERM="xterm")
    try:
        proc = subprocess.Popen(kt.softswitch_cmd("-nf", *kernels.dirs(tmp_path / "k", conf)),
                                stdin=slave, stdout=slave, stderr=slave, env=env,
                                cwd=tmp_path, start_new_session=True)
    finally:
        os.close(slave)
    buf = bytearray()

    def read_some():
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child is gone
            return True
        buf.extend(chunk)
        return b"softswitch@ttybox> " in buf

    try:
        kt.wait_until(read_some, 30, "the console prompt on the pty",
                      lambda: buf.decode(errors="replace"))
        assert b"\033[" in buf  # coloured on a tty
        del buf[:]
        os.write(master, b"version\n")
        kt.wait_until(read_some, 30, "the prompt after a command", lambda: buf.decode(errors="replace"))
        assert b"FreeSWITCH Version" in buf
        os.write(master, b"/exit\n")
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            read_some()  # keep draining so the child never blocks on a full pty
        assert proc.wait(5) == 0, buf.decode(errors="replace")
        # line history, kept in the home directory
        history = tmp_path / "home" / ".softswitch_history"
        assert "version" in history.read_text().splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
