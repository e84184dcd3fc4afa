"""Real softswitch processes with mod_event_socket on a free loopback port.

A small module loaded with ``path=`` (not installed) gives the tests APIs to drive the server:
``t_echo``, ``t_empty``, ``t_fail``, ``t_raise``, ``t_sleep MS``, ``t_log LEVEL TEXT``,
``t_fire N [SUBCLASS]`` (fires N CUSTOM events numbered in header ``N``),
``t_logch CHANNEL TEXT`` (a WARNING on that text channel), ``t_spin SECONDS`` (a CPU loop
that holds the hub).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from softswitch_cli.client import ESLClient

TEST_MODULE = '''
import logging
import gevent
import softswitch
from softswitch import Event, EventType, Status

log = logging.getLogger("mod_esltest")


@softswitch.hookimpl
def module_load(module, core):
    def echo(cmd, session, stream):
        stream.write(cmd)

    def empty(cmd, session, stream):
        return None

    def fail(cmd, session, stream):
        stream.write("partial output")
        return Status.GENERR

    def boom(cmd, session, stream):
        raise RuntimeError("t_raise was asked to fail")

    def sleep(cmd, session, stream):
        gevent.sleep(int(cmd or 0) / 1000.0)
        stream.write("+OK slept\\n")

    def do_log(cmd, session, stream):
        level, _, text = cmd.partition(" ")
        log.log(softswitch.log.to_python(softswitch.log.parse_level(level)), "%s", text)
        stream.write("+OK\\n")

    def log_on_channel(cmd, session, stream):
        channel, _, text = cmd.partition(" ")
        log.warning("%s", text, extra={"fs_channel": softswitch.TextChannel(int(channel))})
        stream.write("+OK\\n")

    def spin(cmd, session, stream):
        import time
        end = time.perf_counter() + float(cmd or 1)
        while time.perf_counter() < end:
            pass
        stream.write("+OK spun\\n")

    def fire(cmd, session, stream):
        count, _, sub = cmd.partition(" ")
        for n in range(int(count or 1)):
            ev = Event(EventType.CUSTOM, sub or None)
            ev.add_header("N", str(n))
            core.events.fire(ev)
            if n % 500 == 499:
                gevent.sleep(0)
        stream.write("+OK fired\\n")

    for name, fn in (("t_echo", echo), ("t_empty", empty), ("t_fail", fail), ("t_raise", boom),
                     ("t_sleep", sleep), ("t_log", do_log), ("t_fire", fire),
                     ("t_logch", log_on_channel), ("t_spin", spin)):
        module.add_api(name, "test api " + name, "<args>", fn)
'''

ROOT = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
  <section name="directory">
    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>
  </section>
</document>
"""

DIRECTORY = """<include>
  <domain name="example.com">
    <params><param name="esl-allowed-log" value="true"/></params>
    <groups><group name="ops"><users>
      <user id="alice">
        <params>
          <param name="esl-password" value="alicepw"/>
          <param name="esl-allowed-events" value="HEARTBEAT CUSTOM allowed::sub"/>
          <param name="esl-allowed-api" value="t_echo,bgapi"/>
          <param name="esl-allowed-log" value="false"/>
        </params>
      </user>
    </users></group></groups>
    <users>
      <user id="bob"><params><param name="esl-password" value="bobpw"/></params></user>
    </users>
  </domain>
</include>
"""


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Server:
    """A running softswitch process."""

    def __init__(self, root, proc, port, host, password, log_path):
        self.root = root
        self.proc = proc
        self.port = port
        self.host = host
        self.password = password
        self.log_path = log_path

    def client(self, password: str | None = "", **kw) -> ESLClient:
        return ESLClient(self.host, self.port, self.password if password == "" else password, **kw)

    def raw(self, timeout: float = 10.0) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return s

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log_text()
            if text in content:
                return content
            time.sleep(0.02)  # polling a file for a condition, bounded by the deadline
        raise AssertionError(f"{text!r} not logged within {timeout} s; log:\n{self.log_text()[-3000:]}")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return self.proc.returncode, out


def write_tree(root, settings: dict | list, extra_modules: str = "") -> str:
    conf = root / "conf"
    (conf / "autoload_configs").mkdir(parents=True)
    (conf / "directory").mkdir()
    (conf / "softswitch.xml").write_text(ROOT)
    (conf / "directory" / "example.xml").write_text(DIRECTORY)
    items = settings.items() if isinstance(settings, dict) else settings
    params = "\n".join(f'    <param name="{k}" value="{v}"/>' for k, v in items)
    (conf / "autoload_configs" / "event_socket.conf.xml").write_text(
        f'<configuration name="event_socket.conf">\n  <settings>\n{params}\n  </settings>\n</configuration>\n')
    (conf / "autoload_configs" / "switch.conf.xml").write_text(
        '<configuration name="switch.conf"><settings>'
        '<param name="loglevel" value="debug"/><param name="event-heartbeat-interval" value="20"/>'
        '</settings></configuration>\n')
    moddir = root / "testmods"
    moddir.mkdir()
    (moddir / "mod_esltest.py").write_text(textwrap.dedent(TEST_MODULE))
    (conf / "autoload_configs" / "modules.conf.xml").write_text(
        '<configuration name="modules.conf"><modules>\n'
        '  <load module="mod_event_socket"/>\n'
        f'  <load module="mod_esltest" path="{moddir}"/>\n{extra_modules}'
        '</modules></configuration>\n')
    return str(conf)


def start_server(root, settings: dict | list | None = None, host: str = "127.0.0.1",
                 wait: bool = True, extra_modules: str = "") -> Server:
    port = free_port(host if host not in ("::", "0.0.0.0") else "127.0.0.1")
    base = {"listen-ip": host, "listen-port": port, "password": "ClueCon"}
    if isinstance(settings, list):
        items = list(base.items()) + settings
    else:
        merged = dict(base)
        merged.update(settings or {})
        items = list(merged.items())
    port = int(dict(items)["listen-port"])
    conf = write_tree(root, items, extra_modules)
    env = dict(os.environ, HOME=str(root), XDG_RUNTIME_DIR=str(root / "xdg"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", conf, "-log", str(root / "log"),
           "-db", str(root / "db"), "-run", str(root / "run")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    server = Server(root, proc, port, "127.0.0.1" if host in ("::", "0.0.0.0") else host,
                    dict(items)["password"], str(root / "log" / "softswitch.log"))
    if wait:
        deadline = time.monotonic() + 30
        try:
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"softswitch exited with {proc.returncode}:\n{proc.stdout.read()}")
                try:
                    server.wait_log("Event Socket listening", timeout=0.2)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
        except BaseException:
            server.stop()  # never leave a process behind
            raise
    return server


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def factory(settings=None, host="127.0.0.1", wait=True, extra_modules="", name=None):
        root = tmp_path / (name or f"srv{len(servers)}")
        root.mkdir()
        s = start_server(root, settings, host, wait, extra_modules)
        servers.append(s)
        return s

    yield factory
    for s in servers:
        code, out = s.stop()
        if code not in (0, None):
            print(f"server exited with {code}:\n{out[-5000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("esl"))
    yield s
    code, out = s.stop()
    assert code == 0, out[-5000:]


@pytest.fixture
def esl(server):
    c = server.client()
    yield c
    c.close()


@pytest.fixture
def inprocess_es(kernel_factory, wait_for):
    """Start mod_event_socket in an in-process kernel on a free loopback port; returns
    ``(core, es, port)`` (``es``: the module's EventSocket state). ``params``: extra
    ``<param>`` elements for event_socket.conf. Clients must be gevent sockets."""

    def start(params: str = ""):
        port = free_port("127.0.0.1")
        core = kernel_factory(modules=["mod_event_socket"], conf={
            "event_socket.conf.xml": '<configuration name="event_socket.conf"><settings>'
                                     f'<param name="listen-port" value="{port}"/>{params}'
                                     '</settings></configuration>'})
        es = core.modules.modules["mod_event_socket"].state.es
        # as in FreeSWITCH, the module hands out events once its listening socket is up
        wait_for(lambda: es.ready)
        return core, es, port

    return start
