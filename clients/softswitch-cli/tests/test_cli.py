"""softswitch-cli: one-shot and interactive runs as real subprocesses against a real softswitch
(HOME is a temporary directory, so user config and history files are never touched), plus the
parts that do no I/O (config, profiles, formatting, the command logic, the reader thread)."""

from __future__ import annotations

import contextlib
import importlib.metadata as importlib_metadata
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from softswitch_cli import cli
from softswitch_cli.client import ESLClient, ESLError, ESLMessage

ESC = "\033["


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(home, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FS_CLI_COLOR")}
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", TERM="xterm")
    env.update(extra)
    return env


class Run:
    """A finished run; ``str()`` shows everything, for assertion messages."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(home, *args, input=None, timeout=60, env=None) -> Run:
    proc = subprocess.run([sys.executable, "-m", "softswitch_cli.cli", *args], input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=str(home),
                          env=env or cli_env(home))
    return Run(proc)


class Interactive:
    """softswitch-cli with stdin a pipe; stdout and stderr collected by threads."""

    def __init__(self, home, *args, stdout=None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "softswitch_cli.cli", *args], stdin=subprocess.PIPE,
            stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=str(home), env=cli_env(home))
        self.buf = {"out": b"", "err": b""}
        self.cond = threading.Condition()
        self.threads = []
        streams = [("err", self.proc.stderr.fileno())]
        if self.proc.stdout is not None:
            streams.append(("out", self.proc.stdout.fileno()))
        for name, fd in streams:
            self.collect(name, fd)

    def collect(self, name: str, fd: int) -> None:
        def run():
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # a pty master reads EIO once the child is gone
                    chunk = b""
                with self.cond:
                    if not chunk:
                        self.buf[name + "_closed"] = True
                        self.cond.notify_all()
                        return
                    self.buf[name] += chunk
                    self.cond.notify_all()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    @property
    def out(self) -> str:
        return self.buf["out"].decode(errors="replace")

    @property
    def err(self) -> str:
        return self.buf["err"].decode(errors="replace")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, pattern: str, stream: str = "out", timeout: float = 15.0,
                 count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.buf[stream].decode(errors="replace").count(pattern) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{pattern!r} not in {stream} within {timeout} s\n{self}")
                self.cond.wait(left)
            return self.buf[stream].decode(errors="replace")

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        for t in self.threads:
            t.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def __str__(self) -> str:
        return f"exit {self.proc.poll()}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def interactive(tmp_path):
    procs = []

    def start(*args, stdout=None) -> Interactive:
        p = Interactive(tmp_path, *args, stdout=stdout)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


def addr(server) -> list[str]:
    return ["-H", server.host, "-P", str(server.port), "-p", server.password]


# -- installation --------------------------------------------------------------------------------


def test_console_script_is_declared():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="console_scripts")}
    assert eps["softswitch-cli"].value == "softswitch_cli.cli:main"
    assert eps["softswitch-cli"].dist.name == "softswitch-cli"
    assert eps["softswitch-cli"].load() is cli.main


def test_help_lists_the_fs_cli_flags(tmp_path):
    r = run_cli(tmp_path, "--help")
    assert r.code == 0, r
    for flag in ("-H", "--host", "-P", "--port", "-p", "--password", "-u", "--user", "-x",
                 "--execute", "-l", "--loglevel", "-q", "--quiet", "-r", "--retry", "-R",
                 "--reconnect", "-d", "--debug", "-b", "--batchmode", "-t", "--timeout", "-T",
                 "--connect-timeout", "-n", "--no-color", "-U", "--log-uuid", "-s", "-i"):
        assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", r.out), (flag, r.out)


# -- one-shot: -x --------------------------------------------------------------------------------


def test_execute_prints_the_api_body(server, tmp_path):
    r = run_cli(tmp_path, *addr(server), "-x", "t_echo hello")
    assert (r.code, r.out, r.err) == (0, "hello\n", ""), r


def test_execute_twice_runs_both_in_order(server, tmp_path):
    r = run_cli(tmp_path, *addr(server), "-x", "t_echo one", "--execute=t_echo two")
    assert (r.code, r.out, r.err) == (0, "one\ntwo\n", ""), r


def test_execute_sends_console_execute(server, tmp_path):
    # console_execute: true makes the server run a ;;-separated list, as for fs_cli
    r = run_cli(tmp_path, *addr(server), "-x", "t_echo a;;t_echo b")
    assert (r.code, r.out) == (0, "ab\n"), r


def test_execute_prints_error_bodies_and_exits_0_like_fs_cli(server, tmp_path):
    r = run_cli(tmp_path, *addr(server), "-x", "t_empty", "-x", "no_such_api")
    assert r.code == 0, r
    assert r.out == "-ERR no reply\n\n-ERR no_such_api Command not found!\n\n", r


def test_wrong_password_exits_1_with_one_line(server, tmp_path):
    r = run_cli(tmp_path, "-H", server.host, "-P", str(server.port), "-p", "wrong", "-x", "t_echo x")
    assert r.code == 1 and r.out == "", r
    assert r.err.count("\n") == 1 and r.err.startswith("softswitch-cli: "), r
    assert f"{server.host}:{server.port} refused the password (-ERR invalid)" in r.err, r


def test_connection_refused_exits_1(tmp_path):
    port = free_port()
    r = run_cli(tmp_path, "-P", str(port), "-x", "t_echo x")
    assert r.code == 1 and r.out == "", r
    assert r.err == f"softswitch-cli: cannot connect to 127.0.0.1:{port}: Connection refused\n", r


def test_connection_refused_interactive_exits_1(tmp_path):
    port = free_port()
    r = run_cli(tmp_path, "-P", str(port), input="t_echo x\n")
    assert r.code == 1 and r.out == "", r
    assert r.err == f"softswitch-cli: cannot connect to 127.0.0.1:{port}: Connection refused\n", r


def test_connect_timeout_on_a_silent_server(tmp_path):
    with socket.socket() as silent:  # accepts (backlog) but never sends auth/request
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        r = run_cli(tmp_path, "-P", str(port), "-T", "300", "-x", "t_echo x")
        assert time.monotonic() - t0 < 10
    assert r.code == 1 and r.out == "", r
    assert r.err == (f"softswitch-cli: cannot connect to 127.0.0.1:{port}: no reply within 0.3 s "
                     "(is it an Event Socket?)\n"), r


def test_api_timeout(server, tmp_path):
    r = run_cli(tmp_path, *addr(server), "-t", "200", "-x", "t_sleep 3000")
    assert r.code == 1 and r.out == "", r
    assert r.err == (f"softswitch-cli: no reply to 't_sleep 3000' within 200 ms from "
                     f"{server.host}:{server.port}\n"), r


def test_userauth(server, tmp_path):
    r = run_cli(tmp_path, "-P", str(server.port), "-u", "bob@example.com", "-p", "bobpw",
                "-x", "t_echo as bob")
    assert (r.code, r.out) == (0, "as bob\n"), r
    r = run_cli(tmp_path, "-P", str(server.port), "-u", "bob@example.com", "-p", "nope", "-x", "t_echo x")
    assert r.code == 1 and "refused user bob@example.com (-ERR invalid)" in r.err, r


def test_acl_rejection(server_factory, tmp_path):
    srv = server_factory({"apply-inbound-acl": "no_such_list"})
    r = run_cli(tmp_path, *addr(srv), "-r", "-x", "t_echo x")  # not retried: it would not help
    assert r.code == 1 and r.out == "", r
    assert r.err == (f"softswitch-cli: {srv.host}:{srv.port} refused this client: "
                     "Access Denied, go away.\n"), r


def test_usage_errors(tmp_path):
    r = run_cli(tmp_path, "-P", "70000", "-x", "t_echo x")
    assert r.code == 2 and "Port must be in range 1 - 65535" in r.err, r
    r = run_cli(tmp_path, "-d", "9", "-x", "t_echo x")
    assert r.code == 2 and "Debug level should be 0 - 7" in r.err, r


def test_retry_waits_for_the_server(server_factory, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "softswitch_cli.cli", "-P", str(port), "-r",
                             "-x", "t_echo finally"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(tmp_path), env=cli_env(tmp_path))
    try:
        # the first attempt fails and says it retries (stderr), then the server comes up
        line = proc.stderr.readline()
        assert f"cannot connect to 127.0.0.1:{port}: Connection refused; retrying" in line, line
        server_factory({"listen-port": port})
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out) == (0, "finally\n"), (proc.returncode, out, err)


# -- profiles ------------------------------------------------------------------------------------


def test_fs_cli_conf_default_profile(server, tmp_path):
    (tmp_path / ".fs_cli_conf").write_text(
        "# fs_cli style\n[default]\nhost => 127.0.0.1\nport => %d\npassword => %s\n"
        % (server.port, server.password))
    r = run_cli(tmp_path, "-x", "t_echo from config")
    assert (r.code, r.out, r.err) == (0, "from config\n", ""), r


def test_named_profile_is_chosen_by_the_positional_argument(server, tmp_path):
    wrong = free_port()
    (tmp_path / ".fs_cli_conf").write_text(
        f"[default]\nport = {wrong}\n\n[lab]\nport = {server.port}\npassword = {server.password}\n")
    r = run_cli(tmp_path, "lab", "-x", "t_echo lab")
    assert (r.code, r.out) == (0, "lab\n"), r
    r = run_cli(tmp_path, "-x", "t_echo default")
    assert r.code == 1 and f"127.0.0.1:{wrong}: Connection refused" in r.err, r


def test_softswitch_cli_conf_wins_over_fs_cli_conf(server, tmp_path):
    (tmp_path / ".fs_cli_conf").write_text(f"[default]\nport = {free_port()}\n")
    (tmp_path / ".softswitch_cli_conf").write_text(f"[default]\nport = {server.port}\n")
    r = run_cli(tmp_path, "-x", "t_echo ours")
    assert (r.code, r.out) == (0, "ours\n"), r


def test_flags_override_the_profile(server, tmp_path):
    (tmp_path / ".softswitch_cli_conf").write_text(
        f"[default]\nport = {server.port}\npassword = {server.password}\n")
    r = run_cli(tmp_path, "-p", "wrong", "-x", "t_echo x")
    assert r.code == 1 and "refused the password" in r.err and ".softswitch_cli_conf" in r.err, r
    r = run_cli(tmp_path, "-P", str(free_port()), "-x", "t_echo x")
    assert r.code == 1 and "Connection refused" in r.err, r


def test_debug_7_names_the_profile(server, tmp_path):
    (tmp_path / ".fs_cli_conf").write_text(f"[lab]\nport = {server.port}\n")
    r = run_cli(tmp_path, "-d", "7", "lab", "-x", "t_echo x")
    assert r.code == 0, r
    assert r.err == f"softswitch-cli: using profile lab [127.0.0.1:{server.port}] from {tmp_path}/.fs_cli_conf\n", r


def test_unknown_profile_is_an_error(tmp_path):
    (tmp_path / ".fs_cli_conf").write_text("[default]\nport = 8021\n[lab]\nport = 8022\n")
    r = run_cli(tmp_path, "prod", "-x", "t_echo x")
    assert r.code == 1 and r.out == "", r
    assert r.err == (f"softswitch-cli: no profile [prod] in {tmp_path}/.fs_cli_conf "
                     "(profiles: [default], [lab])\n"), r


def test_config_mistakes_are_reported(server, tmp_path):
    (tmp_path / ".fs_cli_conf").write_text(
        f"[default]\nport = {server.port}\nhots = typo\nkey_F1 => help\njust words\n")
    r = run_cli(tmp_path, "-x", "t_echo still works")
    assert (r.code, r.out) == (0, "still works\n"), r
    conf = f"{tmp_path}/.fs_cli_conf"
    assert r.err.splitlines() == [
        f"softswitch-cli: {conf}:5: expected 'name = value' or 'name => value', got 'just words'; line ignored",
        f"softswitch-cli: {conf} [default]: unknown key 'hots' ignored",
    ], r


# -- interactive ---------------------------------------------------------------------------------


def test_interactive_session(server, interactive):
    c = interactive(*addr(server))
    prompt = f"softswitch@{server.host}> "  # the test switch has no switchname/hostname API
    c.wait_for(prompt)
    out = c.wait_for("+OK log level  [7]\n")  # subscribed to logs (debug) on connect
    assert "Type /help" in out
    c.send("t_echo hello there")
    c.wait_for("hello there\n")
    c.send("/log info")
    c.wait_for("+OK log level info [6]\n")
    c.send("t_log warning hi from the log")
    c.wait_for("[WARNING] mod_esltest.py")
    c.wait_for(" hi from the log\n")
    c.send("/event plain CUSTOM")
    c.wait_for("+OK event listener enabled plain\n")
    c.send("t_fire 1")
    out = c.wait_for("\nN: 0\n")
    assert "RECV EVENT\nEvent-Name: CUSTOM\n" in out
    c.send("/exit")
    assert c.wait() == 0, c
    assert ESC not in c.out, c  # stdout is a pipe: no colours
    assert "Traceback" not in c.err, c


def test_reply_precedes_the_events_it_causes(server, interactive):
    c = interactive(*addr(server), "-q")
    c.send("/event plain CUSTOM")
    c.wait_for("+OK event listener enabled plain\n")
    c.send("t_fire 3")
    out = c.wait_for("\nN: 2\n")
    assert out.index("+OK fired") < out.index("N: 0") < out.index("N: 1") < out.index("N: 2"), c
    c.send("/exit")
    assert c.wait() == 0, c


def test_end_of_input_exits_0(server, tmp_path):
    r = run_cli(tmp_path, *addr(server), "-q", input="t_echo piped\n")
    assert r.code == 0, r
    assert r.out == f"softswitch@{server.host}> piped\nsoftswitch@{server.host}> ", r


def test_quiet_has_no_banner_and_no_logs(server, interactive):
    c = interactive(*addr(server), "-q")
    c.send("t_log err quiet-line")
    c.send("t_echo marker")
    prompt = f"softswitch@{server.host}> "
    out = c.wait_for(prompt, count=3)
    assert out == f"{prompt}+OK\n\n{prompt}marker\n{prompt}", c
    c.send("/exit")
    assert c.wait() == 0, c


def test_loglevel_flag(server, interactive):
    c = interactive(*addr(server), "-l", "warning")
    c.wait_for("+OK log level warning [4]\n")
    c.send("t_log info too-fine")
    c.send("t_log err shown-line")
    out = c.wait_for("shown-line")
    assert "too-fine" not in out, c  # log lines come in order: it would be there by now
    c.send("/exit")
    assert c.wait() == 0, c


def test_local_commands(server, interactive):
    c = interactive(*addr(server), "-q")
    c.send("/help")
    c.wait_for("/exit, /quit, /bye, ...")
    c.send("/nonsense")
    c.wait_for("Unknown command [nonsense]\n")
    c.send("/debug 3")
    c.wait_for("softswitch-cli debug level set to 3\n")
    c.send("/debug 42")
    c.wait_for("softswitch-cli debug level must be 0 - 7\n")
    c.send("/log warning")
    c.wait_for("+OK log level warning [4]\n")
    c.send("/logfilter keep")
    c.wait_for("Logfilter enabled\n")
    c.send("t_log warning drop-this")
    c.send("t_log warning keep-this")
    out = c.wait_for("keep-this\n")
    assert "drop-this\n" not in out, c
    c.send("/logfilter")
    c.wait_for("Logfilter disabled\n")
    c.send("/uuid 1234")
    c.wait_for("UUID filtering enabled\n")
    c.send("/nolog")
    c.wait_for("+OK no longer logging\n")
    c.send("/noevents")
    c.wait_for("-ERR not listening for events\n")
    c.send("/filter Event-Name CUSTOM")
    c.wait_for("+OK filter added. [Event-Name]=[CUSTOM]\n")
    c.send("console loglevel err")
    c.wait_for("+OK log level err [3]\n")
    c.send("...")
    assert c.wait() == 0, c


def test_interactive_timeout_drops_the_late_reply(server, interactive):
    c = interactive(*addr(server), "-q", "-t", "2000")
    c.send("t_sleep 2500")
    c.wait_for("Request timed out.\n")
    c.send("t_echo next")  # runs after the sleep on the server; must not get "+OK slept"
    out = c.wait_for("next\n")
    assert "slept" not in out, c
    c.send("/exit")
    assert c.wait() == 0, c


@pytest.mark.parametrize("word", ["/exit", "/quit", "/bye", "/EXIT", "..."])
def test_exit_words(server, tmp_path, word):
    r = run_cli(tmp_path, *addr(server), "-q", input=f"{word}\nt_echo never\n")
    assert r.code == 0 and "never" not in r.out, r


def test_server_going_away_ends_the_session(server_factory, interactive):
    srv = server_factory()
    c = interactive(*addr(srv))
    c.wait_for("+OK log level  [7]\n")
    c.wait_for(f"softswitch@{srv.host}> ")
    srv.stop()  # stdin stays open: the client must notice by itself
    assert c.wait(timeout=30) == 1, c
    assert (f"softswitch-cli: disconnected from {srv.host}:{srv.port}: "
            "The system is being shut down.\n") in c.err, c


def test_reconnect(server_factory, interactive):
    first = server_factory(name="first")
    c = interactive(*addr(first), "-R")
    c.wait_for("+OK log level  [7]\n")
    first.stop()
    c.wait_for("disconnected from", stream="err")
    server_factory({"listen-port": first.port}, name="second")
    c.wait_for(f"reconnected to {first.host}:{first.port}", stream="err", timeout=60)
    c.wait_for("+OK log level  [7]\n", count=2)  # logs again on the new connection
    c.send("t_echo second life")
    c.wait_for("second life\n")
    c.send("/exit")
    assert c.wait() == 0, c


def test_prompt_uses_the_switchname(server_factory, tmp_path):
    pytest.importorskip("mod_commands")  # the switchname API; absent when installed alone
    srv = server_factory(extra_modules='  <load module="mod_commands"/>\n')
    name = run_cli(tmp_path, *addr(srv), "-x", "switchname").out.strip()
    assert name and not name.startswith("-ERR"), name
    r = run_cli(tmp_path, *addr(srv), "-q", input="")
    assert (r.code, r.out) == (0, f"softswitch@{name}> "), r


# -- a terminal ----------------------------------------------------------------------------------


def _pty():
    pty = pytest.importorskip("pty")
    return pty.openpty()


def test_colours_on_a_tty(server, interactive):
    master, slave = _pty()
    try:
        c = interactive(*addr(server), "-l", "debug", stdout=slave)
    finally:
        os.close(slave)
    c.collect("out", master)
    c.send("t_log warning coloured-line")
    c.send("t_log info green-line")
    out = c.wait_for("green-line")
    c.wait_for(f"{ESC}m\r\n", count=2)
    assert f"{ESC}35m" in out and f"{ESC}32m" in out, c
    out = c.out
    assert re.search(r"\x1b\[35m[^\x1b]*\[WARNING\][^\x1b]* coloured-line\x1b\[m\r\n", out), c
    assert re.search(r"\x1b\[32m[^\x1b]*\[INFO\][^\x1b]* green-line\x1b\[m\r\n", out), c
    c.send("/exit")
    assert c.wait() == 0, c
    os.close(master)


@pytest.mark.parametrize("flag", ["-n", "--no-color", "-b"])
def test_no_color_flag_and_batch_mode_on_a_tty(server, interactive, flag):
    master, slave = _pty()
    try:
        c = interactive(*addr(server), flag, stdout=slave)
    finally:
        os.close(slave)
    c.collect("out", master)
    c.send("t_log warning plain-line")
    c.wait_for("plain-line")
    c.send("/exit")
    assert c.wait() == 0, c
    assert ESC not in c.out, c
    os.close(master)


class PtySession:
    """softswitch-cli on a pseudo-terminal (stdin, stdout and stderr), as a person runs it."""

    def __init__(self, home, *args) -> None:
        import fcntl
        import termios

        self.master, slave = _pty()

        def controlling_tty():  # so that ^C on the terminal is SIGINT, as for a person
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([sys.executable, "-m", "softswitch_cli.cli", *args],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=str(home),
                                     env=cli_env(home), preexec_fn=controlling_tty)
        os.close(slave)
        self.buf = b""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def control_c(self, hint: str = "Type control-D or /exit or /quit or /bye to exit.") -> None:
        """^C until the hint shows: CPython's readline acts on a signal that lands while it is
        busy with the previous key only at the next key press, so one ^C typed right after
        other keys may wait."""
        seen = self.buf.decode(errors="replace").count(hint)
        for _ in range(10):
            self.type("\x03")
            with contextlib.suppress(AssertionError):
                self.wait_for(hint, timeout=1.0, count=seen + 1)
                return
        raise AssertionError(f"^C had no effect:\n{self.buf!r}")

    def wait_for(self, pattern: str, timeout: float = 15.0, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while self.buf.decode(errors="replace").count(pattern) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not shown within {timeout} s:\n{self.buf!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:
                    raise AssertionError(f"{pattern!r} not shown; terminal closed:\n{self.buf!r}") from None
        return self.buf.decode(errors="replace")

    def close(self) -> int | None:
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(AssertionError):
                self.wait_for("\0never", timeout=0.5)
            raise AssertionError(f"still running 20 s later:\n{self.buf!r}") from None
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


@pytest.fixture
def pty_session(tmp_path):
    sessions = []

    def start(*args) -> PtySession:
        s = PtySession(tmp_path, *args)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_terminal_session_history_and_ctrl_c(server, pty_session, tmp_path):
    history = tmp_path / ".softswitch_cli_history"
    s = pty_session(*addr(server), "-q")
    prompt = f"softswitch@{server.host}> "
    s.wait_for(prompt)
    s.type("t_echo from-a-terminal\r")
    s.wait_for("\r\nfrom-a-terminal\r\n")
    s.wait_for(prompt, count=2)
    s.type("t_echo half-typed")
    s.wait_for("half-typed")
    s.control_c()  # ^C does not leave: fs_cli says how to
    s.wait_for(prompt, count=3)
    s.type("t_sleep 3000\r")  # ^C while waiting for a reply stops the wait
    s.wait_for("t_sleep 3000\r\n")
    s.control_c("Interrupted: no longer waiting for the reply.")
    s.type("t_echo next\r")
    s.wait_for("\r\nnext\r\n")
    s.type("/exit\r")
    assert s.close() == 0, s.buf
    assert history.read_text().splitlines() == ["t_echo from-a-terminal", "t_sleep 3000",
                                                "t_echo next", "/exit"]
    assert history.stat().st_mode & 0o077 == 0
    # the next session recalls them: up arrow twice (past /exit), enter
    s = pty_session(*addr(server), "-q")
    s.wait_for(prompt)
    s.type("\x1b[A\x1b[A\r")
    s.wait_for("\r\nnext\r\n")
    s.wait_for(prompt, count=2)
    s.type("\x04")  # ^D on an empty line leaves
    assert s.close() == 0, s.buf


def test_terminal_output_while_typing_redraws_the_line(server, pty_session, tmp_path):
    s = pty_session(*addr(server), "-q")
    prompt = f"softswitch@{server.host}> "
    s.wait_for(prompt)
    s.type("/event plain CUSTOM\r")
    s.wait_for("+OK event listener enabled plain")
    s.type("t_echo unfinished")
    s.wait_for("unfinished")
    with ESLClient(server.host, server.port, server.password) as other:
        other.api("t_fire 1")
    out = s.wait_for(f"{prompt}t_echo unfinished", count=2)  # prompt and typed text drawn again
    assert "\r\x1b[KRECV EVENT\r\nEvent-Name: CUSTOM\r\n" in out and "\r\nN: 0\r\n" in out, out
    s.type("\r")
    s.wait_for("\r\nunfinished\r\n")
    s.type("/exit\r")
    assert s.close() == 0, s.buf


def test_terminal_session_ends_when_the_server_goes(server_factory, pty_session):
    srv = server_factory()
    s = pty_session(*addr(srv), "-q")
    s.wait_for(f"softswitch@{srv.host}> ")
    s.type("t_echo typing")
    s.wait_for("typing")
    srv.stop()
    s.wait_for("The system is being shut down.")
    assert s.close() == 1, s.buf


# -- no I/O: config, profiles, formatting, command logic, reader thread -----------------------------


def test_parse_config():
    text = ("; comment\n# comment\n[default]\nHost => example.org\nport = 8022 ;; trailing\n"
            "password=\n\n[lab]\nquiet => yes\nkey_F1 => help\n__END__\n[ignored]\nx = 1\n")
    profiles, warnings = cli.parse_config(text, "f")
    assert profiles == {"default": {"host": "example.org", "port": "8022", "password": ""},
                        "lab": {"quiet": "yes", "key_f1": "help"}}
    assert warnings == []
    _, warnings = cli.parse_config("port = 1\n[x\n[y]\nnovalue\n", "f")
    assert warnings == [
        "f:1: 'port' is outside a [profile] section; line ignored",
        "f:2: unclosed section header '[x', line ignored",
        "f:4: expected 'name = value' or 'name => value', got 'novalue'; line ignored",
    ]


def test_resolve_profile(tmp_path):
    conf = tmp_path / "conf"
    conf.write_text("[default]\nhost = a\nport = 9000\npassword = pw\nloglevel = err\nquiet = true\n"
                    "debug = 7\nlog-uuid = on\nbatchmode = yes\ntimeout = 1500\nconnect-timeout = 700\n"
                    "[bad]\nport = 0\ndebug = 12\ntimeout = soon\n")
    p = cli.resolve_profile(cli.parse_args(["--config", str(conf)]))
    assert (p.name, p.host, p.port, p.password, p.loglevel, p.quiet, p.debug, p.log_uuid, p.batch,
            p.timeout_ms, p.connect_timeout_ms) == ("default", "a", 9000, "pw", "err", True, 7, True,
                                                    True, 1500, 700)
    p = cli.resolve_profile(cli.parse_args(["--config", str(conf), "-H", "b", "-P", "1", "-p", "x",
                                            "-l", "info", "-d", "2", "-u", "u@d", "-t", "5", "-T", "6"]))
    assert (p.host, p.port, p.password, p.loglevel, p.quiet, p.debug, p.user, p.timeout_ms,
            p.connect_timeout_ms) == ("b", 1, "x", "info", False, 2, "u@d", 5, 6)
    p = cli.resolve_profile(cli.parse_args(["--config", str(conf), "bad"]))
    assert (p.port, p.debug, p.timeout_ms) == (8021, 6, 0)
    assert len(p.warnings) == 3
    p = cli.resolve_profile(cli.parse_args([]), config_paths=[str(tmp_path / "none")])
    assert (p.name, p.host, p.port, p.password, p.loglevel) == ("internal", "127.0.0.1", 8021,
                                                                "ClueCon", "")
    with pytest.raises(cli.CliError, match=r"no profile \[x\]: no config file found"):
        cli.resolve_profile(cli.parse_args(["x"]), config_paths=[str(tmp_path / "none")])
    with pytest.raises(cli.CliError, match="cannot read config file"):
        cli.resolve_profile(cli.parse_args(["--config", str(tmp_path / "none")]))


def message(raw: bytes) -> ESLMessage:
    head, _, body = raw.partition(b"\n\n")
    headers = [tuple(x.split(": ", 1)) for x in head.decode().split("\n")]
    return ESLMessage(headers, body, raw)


def log_message(text: str, level: int, uuid: str = "") -> ESLMessage:
    body = text.encode()
    return message(b"Content-Type: log/data\nContent-Length: %d\nLog-Level: %d\nText-Channel: 0\n"
                   b"Log-File: f.py\nLog-Func: f\nLog-Line: 1\nUser-Data: %s\n\n%s"
                   % (len(body), level, uuid.encode(), body))


def plain_event(headers: str, body: str = "") -> ESLMessage:
    data = headers + (f"Content-Length: {len(body)}\n\n{body}" if body else "\n")
    return message(b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s"
                   % (len(data.encode()), data.encode()))


def test_display_log_lines():
    d = cli.Display()
    assert d.render(log_message("a line\n", 4)) == "a line\n"
    assert d.render(log_message("no newline", 7)) == "no newline\n"
    d = cli.Display(colour=True)
    assert d.render(log_message("warn\n", 4)) == "\033[35mwarn\033[m\n"
    assert [d.render(log_message("x\n", n)) for n in range(8)] == [
        f"{c}x\033[m\n" for c in ("\033[m", "\033[31m", "\033[31m", "\033[31m", "\033[35m",
                                  "\033[36m", "\033[32m", "\033[33m")]
    assert d.render(log_message("x\n", 63)) == "\033[mx\033[m\n"
    d = cli.Display(log_uuid=True, filter_uuid="ABC")
    assert d.render(log_message("call\n", 7, "abc")) == "abc call\n"
    assert d.render(log_message("other call\n", 7, "def")) is None
    assert d.render(log_message("no call\n", 7)) == "no call\n"
    d.logfilter = "needle"
    assert d.render(log_message("hay\n", 7)) is None
    assert d.render(log_message("a needle\n", 7)) == "a needle\n"


def test_display_events():
    d = cli.Display(colour=True)
    ev = plain_event("Event-Name: CUSTOM\nEvent-Subclass: a%3A%3Ab\nX: hello%20world\n")
    assert d.render(ev) == ("RECV EVENT\nEvent-Name: CUSTOM\nEvent-Subclass: a::b\nX: hello world\n"
                            "\n\n")
    ev = plain_event("Event-Name: BACKGROUND_JOB\n", "+OK done\n")
    assert d.render(ev) == "RECV EVENT\nEvent-Name: BACKGROUND_JOB\nContent-Length: 9\n\n+OK done\n\n"
    js = message(b'Content-Length: 23\nContent-Type: text/event-json\n\n{"Event-Name":"CUSTOM"}')
    assert d.render(js) == 'RECV EVENT\n{"Event-Name":"CUSTOM"}\n\n'
    other = message(b"Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n")
    assert d.render(other) == "INCOMING DATA [text/rude-rejection]\nAccess Denied, go away.\n"
    assert d.render(message(b"Content-Type: text/disconnect-notice\nContent-Length: 3\n\nbye")) is None


class FakeLink:
    def __init__(self, replies=None) -> None:
        self.sent = []
        self.replies = replies or {}

    @contextlib.contextmanager
    def exchange(self, cmd, headers=None, timeout=None):
        self.sent.append((cmd, headers, timeout))
        reply = self.replies.get(cmd)
        if isinstance(reply, BaseException):
            raise reply
        if reply is None:
            reply = message(b"Content-Type: command/reply\nReply-Text: +OK " + cmd.encode() + b"\n\n")
        yield reply


def api_reply(body: str) -> ESLMessage:
    return message(b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body.encode()))


def test_repl_routes_lines():
    out = []
    link = FakeLink({"api status": api_reply("UP 0 years"), "api slow": TimeoutError(),
                     "api boom": ESLError("connection closed by the server")})
    display = cli.Display()
    repl = cli.Repl(link, display, out.append, timeout=2.5)
    assert repl.execute("  status  ")
    assert repl.execute("")
    assert repl.execute("/event plain ALL")
    assert repl.execute("/LOG info")
    assert repl.execute("/nolog")
    assert repl.execute("/noevents")
    assert repl.execute("/nixevent CUSTOM")
    assert repl.execute("/filter Event-Name CUSTOM")
    assert repl.execute("console loglevel  err")
    assert repl.execute("slow")
    with pytest.raises(ESLError):
        repl.execute("boom")
    assert link.sent == [
        ("api status", {"console_execute": "true"}, 2.5),
        ("event plain ALL", None, 2.5), ("LOG info", None, 2.5), ("nolog", None, 2.5),
        ("noevents", None, 2.5), ("nixevent CUSTOM", None, 2.5),
        ("filter Event-Name CUSTOM", None, 2.5),
        ("log err", None, 2.5), ("api console loglevel  err", {"console_execute": "true"}, 2.5),
        ("api slow", {"console_execute": "true"}, 2.5),
        ("api boom", {"console_execute": "true"}, 2.5),
    ]
    assert out[:3] == ["UP 0 years\n", "+OK event plain ALL\n", "+OK LOG info\n"]
    assert "Request timed out.\n" in out
    out.clear()
    for word in ("/exit", "/quit", "/bye", "...", "/Exit"):
        assert repl.execute(word) is False
    assert repl.execute("....") is True and out == ["Unknown command [....]\n"]
    assert repl.execute("/uuid abc") and display.filter_uuid == "abc"
    assert repl.execute("/uuid") and display.filter_uuid is None
    assert repl.execute("/logfilter a b") and display.logfilter == "a b"
    assert repl.execute("/debug 0") and repl.debug == 0
    assert len(link.sent) == 11  # none of these went to the server


def test_api_output():
    assert cli.api_output(api_reply("hello")) == "hello\n"
    assert cli.api_output(api_reply("-ERR no reply\n")) == "-ERR no reply\n\n"
    denied = message(b"Content-Type: command/reply\nReply-Text: -ERR permission denied\n\n")
    assert cli.api_output(denied) == "Error: permission denied!\n"


class FakeServer:
    """The other end of a socketpair, for the reader thread."""

    def __init__(self) -> None:
        self.mine, theirs = socket.socketpair()
        self.client = ESLClient("fake", 0, connect=False)
        self.client.sock = theirs
        self.mine.settimeout(10)

    def read_command(self) -> bytes:
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = self.mine.recv(1)
            assert chunk, "client closed"
            data += chunk
        return data

    def send(self, *msgs: bytes) -> None:
        self.mine.sendall(b"".join(msgs))


def ev(n: int) -> bytes:
    data = f"Event-Name: CUSTOM\nN: {n}\n\n".encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(data), data)


def api_bytes(body: str) -> bytes:
    return b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body.encode())


def test_link_keeps_wire_order_and_drops_late_replies():
    srv = FakeServer()
    order, lost = [], []
    seen = threading.Condition()

    def on_message(msg):
        with seen:
            order.append(msg.event_headers()["N"])
            seen.notify_all()

    def wait_seen(n):
        with seen:
            assert seen.wait_for(lambda: len(order) >= n, timeout=10), order

    link = cli.Link(srv.client, on_message, lost.append)
    link.start()
    try:
        srv.send(ev(1))  # idle: shown by the reader thread
        wait_seen(1)

        def answer():
            assert srv.read_command() == b"api x\nconsole_execute: true\n\n"
            srv.send(ev(2), api_bytes("reply"), ev(3))

        t = threading.Thread(target=answer)
        t.start()
        with link.exchange("api x", {"console_execute": "true"}) as reply:
            order.append("reply:" + reply.text)
        t.join()
        wait_seen(4)
        assert order == ["1", "2", "reply:reply", "3"]

        # no reply in time: TimeoutError; the late reply is dropped, not given to the next command
        with pytest.raises(TimeoutError), link.exchange("api slow", timeout=0.1):
            pass
        assert srv.read_command() == b"api slow\n\n"
        srv.send(api_bytes("late"), ev(4))
        wait_seen(5)

        def answer2():
            srv.read_command()
            srv.send(api_bytes("on time"))

        t = threading.Thread(target=answer2)
        t.start()
        with link.exchange("api next") as reply:
            assert reply.text == "on time"
        t.join()

        srv.mine.close()  # the server goes away while idle
        deadline = time.monotonic() + 10
        while not lost and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a list filled by the reader thread, bounded
        assert lost == ["connection closed by the server"]
        with pytest.raises(ESLError), link.exchange("api after"):
            pass
    finally:
        link.close()


def test_link_reports_loss_to_the_waiting_command():
    srv = FakeServer()
    link = cli.Link(srv.client, lambda m: None, lambda r: None)
    link.start()
    try:
        def hang_up():
            srv.read_command()
            srv.send(b"Content-Type: text/disconnect-notice\nContent-Length: 31\n\n"
                     b"The system is being shut down.\n")
            srv.mine.close()

        t = threading.Thread(target=hang_up)
        t.start()
        with pytest.raises(ESLError, match="The system is being shut down."), link.exchange("api x"):
            pass
        t.join()
    finally:
        link.close()
