"""Whole-system tests: a real ``softswitch`` process with every first-party module installed and
the default configuration tree (copied with ``softswitch -copyconf``), on a free loopback port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

#: every System started in this test session: stopped at its end whatever a fixture did (a
#: fixture that fails after start() never reaches its own stop)
_STARTED: list[System] = []


@pytest.fixture(scope="session", autouse=True)
def _stop_leftover_systems():
    yield
    for s in _STARTED:
        if s.proc is not None and s.proc.poll() is None:
            s.stop()


class System:
    def __init__(self, root, port: int) -> None:
        self.root = root
        self.port = port
        self.conf = root / "conf"
        self.log_path = root / "log" / "softswitch.log"
        self.proc: subprocess.Popen | None = None
        self.out = root / "stdout.txt"

    def start(self, *extra: str) -> None:
        env = dict(os.environ, HOME=str(self.root), XDG_RUNTIME_DIR=str(self.root / "xdg"),
                   XDG_CONFIG_HOME=str(self.root / "config"), XDG_STATE_HOME=str(self.root / "state"))
        cmd = [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", str(self.conf),
               "-log", str(self.root / "log"), "-db", str(self.root / "db"), "-run", str(self.root / "run"),
               *extra]
        self.proc = subprocess.Popen(cmd, stdout=open(self.out, "w"), stderr=subprocess.STDOUT, env=env)
        _STARTED.append(self)
        try:
            self.wait_log("Event Socket listening", timeout=60)
        except BaseException:
            self.stop()  # never leave a server behind a failed start
            raise
        if not self.port:  # listen-port 0: the port the server bound, from its log line
            m = re.search(r"Event Socket listening on [^ ]*:(\d+) ", self.log_text())
            self.port = int(m.group(1))

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"softswitch exited ({self.proc.returncode}):\n{self.out.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged in {timeout} s:\n{self.log_text()[-4000:]}")
            time.sleep(0.05)  # polling the log file for a condition, bounded by the deadline

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def make_system(root) -> System:
    """A conf tree under ``root`` whose Event Socket listens on port 0: the server binds a free
    port itself, and ``System.start`` reads it from the log (no pick-then-bind race)."""
    port = 0
    subprocess.run([sys.executable, "-m", "softswitch", "-copyconf", str(root / "conf")], check=True,
                   capture_output=True, env=dict(os.environ, HOME=str(root)))
    vars_xml = root / "conf" / "vars.xml"
    vars_xml.write_text(vars_xml.read_text().replace("event_socket_port=8021", f"event_socket_port={port}"))
    return System(root, port)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    s = make_system(tmp_path_factory.mktemp("system"))
    s.start()
    yield s
    code = s.stop()
    assert code == 0, s.out.read_text()[-4000:]


@pytest.fixture
def fresh_system(tmp_path):
    s = make_system(tmp_path)
    yield s
    s.stop()


def add_loads(conf, modules) -> None:
    """Add ``<load module="…"/>`` to the conf tree's modules.conf.xml for each of ``modules``."""
    path = conf / "autoload_configs" / "modules.conf.xml"
    text = path.read_text()
    active = re.sub(r"<!--.*?-->", "", text, flags=re.S)  # a commented-out load loads nothing
    extra = "".join(f'    <load module="{m}"/>\n' for m in modules if f'"{m}"' not in active)
    path.write_text(text.replace("  </modules>", extra + "  </modules>", 1))


@pytest.fixture(scope="module")
def calls_system(tmp_path_factory):
    """A running softswitch that also loads mod_loopback (null, loopback), mod_dptools (park,
    answer, the inline dialplan) and mod_dialplan_xml (the default context's extensions)."""
    s = make_system(tmp_path_factory.mktemp("calls"))
    add_loads(s.conf, ("mod_loopback", "mod_dptools", "mod_dialplan_xml"))
    # the tests make calls faster than the default 30 a second
    sw = s.conf / "autoload_configs" / "switch.conf.xml"
    sw.write_text(sw.read_text().replace('name="sessions-per-second" value="30"',
                                         'name="sessions-per-second" value="1000"'))
    s.start()
    yield s
    code = s.stop()
    assert code == 0, s.out.read_text()[-4000:]


@pytest.fixture(scope="module")
def routing_system(tmp_path_factory):
    """A running softswitch with null/loopback legs, both dialplans, the applications and
    tone_stream (mod_loopback, mod_dialplan_xml, mod_dptools, mod_tone_stream)."""
    s = make_system(tmp_path_factory.mktemp("routing"))
    add_loads(s.conf, ("mod_loopback", "mod_dptools", "mod_dialplan_xml", "mod_tone_stream"))
    s.start()
    yield s
    code = s.stop()
    assert code == 0, s.out.read_text()[-4000:]
