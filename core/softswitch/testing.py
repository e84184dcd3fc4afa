"""pytest plugin (``pytest11``) for testing softswitch and its modules in-process.

Fixtures:

``kernel_factory``
    ``kernel_factory(modules=[...], conf={...}, settings={...})`` writes a configuration tree
    under ``tmp_path``, starts a :class:`~softswitch.core.Core` in this process and returns it;
    every core it started is shut down after the test. ``modules`` are module objects (your
    package) or entry-point names; only those are loaded — not even the installed core modules
    (mod_softtimer, mod_pcm): list them if you need them. Without ``modules`` the kernel
    discovers the installed modules as ``softswitch`` does ("load all"). ``conf``
    maps file names under ``autoload_configs/`` (``"event_socket.conf.xml"``) or the conf dir
    (``"vars.xml"``) to their text. ``settings`` adds switch.conf params.

``wait_for``
    ``wait_for(predicate, timeout=5.0)`` yields to gevent until ``predicate()`` is true, and fails
    the test with a clear message when it stays false.

``esl_server_factory``
    ``esl_server_factory(settings=None, host="127.0.0.1", wait=True, extra_modules="",
    name=None)`` starts a real softswitch process with mod_event_socket
    (:func:`start_esl_server`) under ``tmp_path``; all are stopped after the test.

:func:`build_module_wheel` and :func:`pip_install` make real module distributions for tests
(a wheel with the ``softswitch.modules`` entry point, installed by pip into a directory that
the test puts on ``sys.path`` or ``PYTHONPATH``).

Real ``softswitch`` processes (whole-system tests): :func:`start_softswitch` runs one on a conf
tree and gives a :class:`SoftswitchProcess` (its log, ``wait_log``, ``stop``);
:func:`start_esl_server` one with mod_event_socket on a free loopback port and a small test
module (:data:`ESL_TEST_MODULE`), the server that the Event Socket's tests and its
clients' tests (softswitch-cli) talk to.

The kernel runs on gevent: test code that waits for it must yield (``wait_for``,
``gevent.sleep``, gevent sockets), never block the thread.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

import pytest

__all__ = ["kernel_factory", "wait_for", "esl_server_factory", "write_conf", "make_core", "build_module_wheel",
           "pip_install", "SoftswitchProcess", "start_softswitch", "EslServer",
           "start_esl_server", "write_esl_conf", "ESL_TEST_MODULE", "ESL_DIRECTORY", "free_port"]

ROOT_XML = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="include" data="vars.xml"/>
  <section name="configuration" description="Various Configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
</document>
"""


def _switch_conf(settings: dict[str, Any]) -> str:
    params = {"loglevel": "debug", "core-db-name": "core", "event-heartbeat-interval": "20"}
    params.update({k: str(v) for k, v in settings.items()})
    lines = "\n".join(f'    <param name="{k}" value="{v}"/>' for k, v in params.items())
    return (f'<configuration name="switch.conf" description="Core">\n  <settings>\n{lines}\n'
            "  </settings>\n</configuration>\n")


def _modules_conf(names: Iterable[str]) -> str:
    loads = "\n".join(f'    <load module="{n}"/>' for n in names)
    return f'<configuration name="modules.conf">\n  <modules>\n{loads}\n  </modules>\n</configuration>\n'


def write_conf(root: str, modules: Iterable[str] = (), conf: dict[str, str] | None = None,
               settings: dict[str, Any] | None = None) -> str:
    """Write a minimal conf tree under ``root``; returns the conf dir."""
    conf = dict(conf or {})
    conf_dir = os.path.join(root, "conf")
    auto = os.path.join(conf_dir, "autoload_configs")
    os.makedirs(auto, exist_ok=True)
    files = {
        "softswitch.xml": ROOT_XML,
        "vars.xml": '<include>\n  <X-PRE-PROCESS cmd="set" data="test_var=test_value"/>\n</include>\n',
        "autoload_configs/switch.conf.xml": _switch_conf(settings or {}),
        "autoload_configs/modules.conf.xml": _modules_conf(modules),
    }
    for name, text in conf.items():
        key = name if name in ("softswitch.xml", "vars.xml", "freeswitch.xml") or "/" in name \
            else f"autoload_configs/{name}"
        files[key] = text
    for name, text in files.items():
        path = os.path.join(conf_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return conf_dir


def _resolve_modules(modules: Iterable[object]) -> dict[str, object]:
    import importlib_metadata

    from .modules import GROUP

    out: dict[str, object] = {}
    eps = None
    for m in modules:
        if isinstance(m, str):
            if eps is None:
                eps = {ep.name: ep for ep in importlib_metadata.entry_points(group=GROUP)}
            if m not in eps:
                raise LookupError(f"module {m} is not installed (no entry point in {GROUP})")
            out[m] = eps[m].load()
        elif isinstance(m, tuple):
            out[m[0]] = m[1]
        else:
            name = getattr(m, "__name__", None) or type(m).__name__
            out[name.rsplit(".", 1)[-1] if isinstance(m, types.ModuleType) else name] = m
    return out


def make_core(root: str, modules: Iterable[object] | None = None,
              conf: dict[str, str] | None = None, settings: dict[str, Any] | None = None,
              start: bool = True):
    """Build (and start) a core whose directories all live under ``root``.

    :param modules: exactly the modules to load (objects or entry-point names); None: the
        installed ones, found through their entry points.
    """
    from .core import Core
    from .dirs import Directories

    provided = None if modules is None else _resolve_modules(modules)
    conf_dir = write_conf(root, provided or (), conf, settings)
    dirs = Directories.resolve({
        "conf_dir": conf_dir,
        "log_dir": os.path.join(root, "log"),
        "db_dir": os.path.join(root, "db"),
        "run_dir": os.path.join(root, "run"),
    }, base=os.path.join(root, "base"))
    core = Core(dirs, modules=provided)
    if start:
        try:
            core.start()
        except BaseException:
            core.shutdown()
            raise
    return core


@pytest.fixture
def kernel_factory(tmp_path):
    """Start in-process kernels; all are shut down after the test."""
    cores = []
    counter = iter(range(1000))

    def factory(modules: Iterable[object] | None = None, conf: dict[str, str] | None = None,
                settings: dict[str, Any] | None = None, start: bool = True):
        root = os.path.join(str(tmp_path), f"kernel{next(counter)}")
        core = make_core(root, modules, conf, settings, start=False)
        cores.append(core)
        if start:
            core.start()
        return core

    yield factory
    for core in reversed(cores):
        core.shutdown()


def _wait_for(predicate: Callable[[], object], timeout: float = 5.0, message: str = "") -> Any:
    import gevent

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message or f"condition not met within {timeout} s: {predicate}")
        gevent.sleep(0.002)


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout=5.0, message="")``: yield to gevent until true."""
    return _wait_for


# --------------------------------------------------------------------------------------------
# Real module distributions for tests
# --------------------------------------------------------------------------------------------


def build_module_wheel(out_dir: str, module: str, files: dict[str, str], version: str = "0.1.0",
                       dist_name: str | None = None, entry_point: str | None = None) -> str:
    """Write a wheel for a module distribution (no build backend needed) and return its path.

    :param module: the module key and package name (``mod_hello``).
    :param files: package-relative file name -> source (``{"__init__.py": "..."}``).
    :param entry_point: the entry-point value (default: the package itself).
    """
    import base64
    import hashlib
    import zipfile

    dist = dist_name or "softswitch-" + module.replace("_", "-")
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    contents = {f"{module}/{name}": text for name, text in files.items()}
    contents[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nRequires-Dist: softswitch\n")
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: softswitch.testing\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    contents[f"{info}/entry_points.txt"] = (
        f"[softswitch.modules]\n{module} = {entry_point or module}\n")
    record = []
    for name, text in contents.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{norm}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in contents.items():
            zf.writestr(name, text)
    return path


def pip_install(wheels: Iterable[str], target: str) -> None:
    """``pip install --target`` the wheels (no dependencies, no index): a real installation
    that a test adds to ``sys.path`` (in-process) or ``PYTHONPATH`` (subprocess)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
           "--disable-pip-version-check", "--upgrade", "--target", target, *wheels]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")



# --------------------------------------------------------------------------------------------
# Real softswitch processes
# --------------------------------------------------------------------------------------------


class SoftswitchProcess:
    """A ``softswitch`` process (``python -m softswitch -nc -nf``) whose log, db and run
    directories live under ``root``; stdout and stderr are one pipe (read by :meth:`stop`).

    :param env: extra environment (``HOME`` and ``XDG_RUNTIME_DIR`` point under ``root``).
    """

    def __init__(self, root, conf_dir: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.log_path = os.path.join(str(root), "log", "softswitch.log")
        full_env = dict(os.environ, HOME=str(root), XDG_RUNTIME_DIR=os.path.join(str(root), "xdg"),
                        PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        cmd = [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", str(conf_dir),
               "-log", os.path.join(str(root), "log"), "-db", os.path.join(str(root), "db"),
               "-run", os.path.join(str(root), "run")]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=full_env)

    def log_text(self) -> str:
        """The log file so far ("" before the server created it)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` is in the log; returns the log. AssertionError (with the log's
        tail) when it is not there within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            content = self.log_text()
            if text in content:
                return content
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{text!r} not logged within {timeout} s; log:\n{content[-3000:]}")
            time.sleep(0.02)  # polling a file for a condition, bounded by the deadline

    def stop(self, timeout: float = 20.0) -> tuple[int, str]:
        """SIGTERM (SIGKILL after ``timeout`` s); returns the exit code and the output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return self.proc.returncode, out


def start_softswitch(root, conf_dir: str, ready: str | None = None, timeout: float = 30.0,
                     env: dict[str, str] | None = None, process: SoftswitchProcess | None = None
                     ) -> SoftswitchProcess:
    """Start a softswitch process on ``conf_dir`` and wait until its log says ``ready``.

    Fails (AssertionError with its output) if the process exits first or ``ready`` is not
    logged within ``timeout`` s, and never leaves a process behind. ``ready`` None: do not
    wait. ``process``: an already started :class:`SoftswitchProcess` (or subclass) to wait for.
    """
    p = process if process is not None else SoftswitchProcess(root, conf_dir, env)
    if ready is None:
        return p
    deadline = time.monotonic() + timeout
    try:
        while True:
            if p.proc.poll() is not None:
                raise AssertionError(
                    f"softswitch exited with {p.proc.returncode}:\n{p.proc.stdout.read()}")
            try:
                p.wait_log(ready, timeout=0.2)
                return p
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
    except BaseException:
        p.stop()
        raise


# --------------------------------------------------------------------------------------------
# An Event Socket test server (mod_event_socket's tests, softswitch-cli's tests)
# --------------------------------------------------------------------------------------------

#: A module loaded with ``path=`` (not installed) whose APIs drive the server: ``t_echo``,
#: ``t_empty``, ``t_fail``, ``t_raise``, ``t_sleep MS``, ``t_log LEVEL TEXT``, ``t_fire N
#: [SUBCLASS]`` (fires N CUSTOM events numbered in header ``N``), ``t_logch CHANNEL TEXT`` (a
#: WARNING on that text channel), ``t_spin SECONDS`` (a CPU loop that holds the hub).
ESL_TEST_MODULE = """
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
        log.log(softswitch.to_python(softswitch.parse_level(level)), "%s", text)
        stream.write("+OK\\n")

    def log_on_channel(cmd, session, stream):
        channel, _, text = cmd.partition(" ")
        log.warning("%s", text, extra={"fs_channel": softswitch.TextChannel(int(channel))})
        stream.write("+OK\\n")

    def fire(cmd, session, stream):
        count, _, sub = cmd.partition(" ")
        for n in range(int(count or 1)):
            ev = Event(EventType.CUSTOM, sub or None)
            ev.add_header("N", str(n))
            core.events.fire(ev)
            if n % 500 == 499:
                gevent.sleep(0)
        stream.write("+OK fired\\n")

    def spin(cmd, session, stream):
        import time
        end = time.perf_counter() + float(cmd or 1)
        while time.perf_counter() < end:
            pass
        stream.write("+OK spun\\n")

    for name, fn in (("t_echo", echo), ("t_empty", empty), ("t_fail", fail), ("t_raise", boom),
                     ("t_sleep", sleep), ("t_log", do_log), ("t_fire", fire),
                     ("t_logch", log_on_channel), ("t_spin", spin)):
        module.add_api(name, "test api " + name, "<args>", fn)
"""

_ESL_ROOT = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
  <section name="directory">
    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>
  </section>
</document>
"""

#: Users for the Event Socket's ``userauth``: alice@example.com (password ``alicepw``, limited
#: events, APIs ``t_echo`` and ``bgapi``, no log) and bob@example.com (``bobpw``, no limits).
ESL_DIRECTORY = """<include>
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
    """A TCP port free on ``host`` right now, for a server in another process that must be
    told its port in its configuration (prefer port 0 wherever the server reports the port
    it bound)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_LISTENING = re.compile(r"Event Socket listening on [^ ]*:(\d+) ")


def write_esl_conf(root, settings: Iterable[tuple[str, Any]], extra_modules: str = "") -> str:
    """Write a conf tree under ``root`` (a :class:`pathlib.Path`): event_socket.conf with the
    ``settings`` params (in order: a name may repeat), :data:`ESL_DIRECTORY`, and modules.conf
    loading mod_event_socket, :data:`ESL_TEST_MODULE` and the ``extra_modules`` XML. Returns
    the conf dir."""
    conf = root / "conf"
    (conf / "autoload_configs").mkdir(parents=True)
    (conf / "directory").mkdir()
    (conf / "softswitch.xml").write_text(_ESL_ROOT)
    (conf / "directory" / "example.xml").write_text(ESL_DIRECTORY)
    params = "\n".join(f'    <param name="{k}" value="{v}"/>' for k, v in settings)
    (conf / "autoload_configs" / "event_socket.conf.xml").write_text(
        f'<configuration name="event_socket.conf">\n  <settings>\n{params}\n  </settings>\n'
        '</configuration>\n')
    (conf / "autoload_configs" / "switch.conf.xml").write_text(
        '<configuration name="switch.conf"><settings>'
        '<param name="loglevel" value="debug"/><param name="event-heartbeat-interval" value="20"/>'
        '</settings></configuration>\n')
    moddir = root / "testmods"
    moddir.mkdir()
    (moddir / "mod_esltest.py").write_text(textwrap.dedent(ESL_TEST_MODULE))
    (conf / "autoload_configs" / "modules.conf.xml").write_text(
        '<configuration name="modules.conf"><modules>\n'
        '  <load module="mod_event_socket"/>\n'
        f'  <load module="mod_esltest" path="{moddir}"/>\n{extra_modules}'
        '</modules></configuration>\n')
    return str(conf)


class EslServer(SoftswitchProcess):
    """A softswitch process with mod_event_socket (:func:`start_esl_server`): ``host``,
    ``port`` and ``password`` to connect to, and :meth:`raw` for a plain socket."""

    def __init__(self, root, conf_dir: str, host: str, port: int, password: str) -> None:
        super().__init__(root, conf_dir)
        self.host = host
        self.port = port
        self.password = password

    def raw(self, timeout: float = 10.0):
        """A plain (blocking) TCP connection to the Event Socket."""
        import socket

        return socket.create_connection((self.host, self.port), timeout=timeout)


def start_esl_server(root, settings: dict | list | None = None, host: str = "127.0.0.1",
                     wait: bool = True, extra_modules: str = "", cls: type = EslServer):
    """Start a softswitch process with mod_event_socket listening on ``host`` (password
    ``ClueCon``) and :data:`ESL_TEST_MODULE`; returns a ``cls`` (:class:`EslServer` or a
    subclass of it, e.g. with a ``client()`` method for your ESL client).

    ``settings``: event_socket.conf params, a dict (replacing the defaults) or a list of
    ``(name, value)`` appended after them (a name may then repeat). Without ``listen-port`` it
    listens on a :func:`free_port`; once it listens, ``port`` is the one its "Event Socket
    listening on" log line names. A wildcard ``host`` (``::``, ``0.0.0.0``) is connected to
    on 127.0.0.1.
    """
    # A free port picked here, not listen-port 0: mod_event_socket still reads 0 as 8021.
    port = free_port(host if host not in ("::", "0.0.0.0") else "127.0.0.1")
    base = {"listen-ip": host, "listen-port": port, "password": "ClueCon"}
    if isinstance(settings, list):
        items = list(base.items()) + settings
    else:
        merged = dict(base)
        merged.update(settings or {})
        items = list(merged.items())
    values = dict(items)
    conf = write_esl_conf(root, items, extra_modules)
    server = cls(root, conf, "127.0.0.1" if host in ("::", "0.0.0.0") else host,
                 int(values["listen-port"]), values["password"])
    if wait:
        start_softswitch(root, conf, ready="Event Socket listening", process=server)
        # the port it bound, as it logs it (listen-port 0 would be a free one)
        server.port = int(_LISTENING.search(server.log_text()).group(1))
    return server


@pytest.fixture
def esl_server_factory(tmp_path):
    """Start Event Socket test servers (:func:`start_esl_server`); all are stopped after the
    test (an exit code other than 0 is printed with the server's output)."""
    servers = []

    def factory(settings=None, host="127.0.0.1", wait=True, extra_modules="", name=None,
                cls=EslServer):
        root = tmp_path / (name or f"srv{len(servers)}")
        root.mkdir()
        s = start_esl_server(root, settings, host, wait, extra_modules, cls=cls)
        servers.append(s)
        return s

    yield factory
    for s in servers:
        code, out = s.stop()
        if code not in (0, None):
            print(f"server exited with {code}:\n{out[-5000:]}")
