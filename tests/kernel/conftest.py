"""Shared helpers for the kernel's foundation tests: real ``softswitch`` processes.

Every process runs with its directories under ``tmp_path`` and with ``HOME`` and the ``XDG_*``
variables pointing there too, so per-user defaults are exercised without touching the real
home. Output goes to files (no reader threads), waits poll with a deadline, and every process
started — including daemons, found through their pid files — is killed at teardown.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from softswitch import testing

#: The line the kernel logs when every start-up phase has run (core.py, load_modules).
READY_RE = re.compile(r"softswitch Version \S+ \(.*\) Started\..* ready in \d+ ms")
START_TIMEOUT = 30.0
EXIT_TIMEOUT = 20.0
#: A module name no distribution provides: listing it keeps the kernel from "load all"
#: (which would start whatever modules happen to be installed) at the cost of one ERR line.
ABSENT_MODULE = "mod_kernel_tests_absent"

ROOT_XML = testing.ROOT_XML


def switch_conf(**settings: object) -> str:
    params = {"loglevel": "debug", "event-heartbeat-interval": "20"}
    params.update({k.replace("_", "-"): str(v) for k, v in settings.items()})
    lines = "\n".join(f'    <param name="{k}" value="{v}"/>' for k, v in params.items())
    return (f'<configuration name="switch.conf">\n  <settings>\n{lines}\n  </settings>\n'
            "</configuration>\n")


def modules_conf(*names: str) -> str:
    loads = "\n".join(f'    <load module="{n}"/>' for n in names)
    return f'<configuration name="modules.conf">\n  <modules>\n{loads}\n  </modules>\n</configuration>\n'


def write_tree(conf_dir: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative path -> text or bytes) under ``conf_dir``."""
    for name, content in files.items():
        path = conf_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return conf_dir


def small_conf(conf_dir: Path, files: dict[str, str | bytes] | None = None, **settings) -> Path:
    """A minimal tree: root, vars.xml, switch.conf (``settings``), a modules.conf that loads
    nothing that exists. ``files`` adds or replaces files."""
    tree: dict[str, str | bytes] = {
        "softswitch.xml": ROOT_XML,
        "vars.xml": '<include>\n  <X-PRE-PROCESS cmd="set" data="test_var=test_value"/>\n</include>\n',
        "autoload_configs/switch.conf.xml": switch_conf(**settings),
        "autoload_configs/modules.conf.xml": modules_conf(ABSENT_MODULE),
    }
    tree.update(files or {})
    return write_tree(conf_dir, tree)


def user_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: its own HOME and XDG dirs under ``root``, no SOFTSWITCH_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOFTSWITCH_", "XDG_", "FREESWITCH_"))}
    home = root / "home"
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_RUNTIME_DIR=str(root / "xdg-runtime"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


def softswitch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "softswitch", *args]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for row in f:
                if row.startswith("State:"):
                    return "Z" not in row.split()[1]
    except OSError:
        return False
    return True


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               details: Callable[[], str] = lambda: "") -> object:
    """Poll ``predicate`` until it is true; fail with ``what`` (and ``details()``) at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{details()}")
        time.sleep(delay)  # polling interval, not synchronisation
        delay = min(delay * 2, 0.1)


class Kernel:
    """A ``softswitch`` child process with its output in files."""

    def __init__(self, args: list[str], root: Path, env: dict[str, str], name: str,
                 stdin=subprocess.DEVNULL) -> None:
        self.args = args
        self.root = root
        self.out_path = root / f"{name}.stdout"
        self.err_path = root / f"{name}.stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(softswitch_cmd(*args), stdin=stdin, stdout=out,
                                         stderr=err, env=env, cwd=root)
        self.pid = self.proc.pid

    # -- output ---------------------------------------------------------------------------------
    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def describe(self) -> str:
        return (f"command: {' '.join(softswitch_cmd(*self.args))}\nreturncode: "
                f"{self.proc.poll()}\n--- stdout ---\n{self.stdout[-6000:]}\n"
                f"--- stderr ---\n{self.stderr[-6000:]}")

    # -- waiting --------------------------------------------------------------------------------
    def wait_output(self, pattern: str | re.Pattern, timeout: float = START_TIMEOUT,
                    stream: str = "stdout") -> re.Match:
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found():
            m = rx.search(getattr(self, stream))
            if m is None and self.proc.poll() is not None:
                m = rx.search(getattr(self, stream))
                if m is None:
                    pytest.fail(f"softswitch exited before printing {rx.pattern!r}\n{self.describe()}")
            return m

        return wait_until(found, timeout, f"{rx.pattern!r} on {stream}", self.describe)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> re.Match:
        return self.wait_output(READY_RE, timeout)

    def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"softswitch did not exit within {timeout} s\n{self.describe()}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def terminate_and_check(self) -> None:
        """SIGTERM, then expect exit code 0."""
        self.signal(signal.SIGTERM)
        rc = self.wait_exit()
        assert rc == 0, self.describe()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


class KernelFactory:
    """Starts kernels and plain runs of the command; cleans everything up at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.kernels: list[Kernel] = []
        self.pid_files: list[Path] = []
        self.env = user_env(tmp_path)
        self._n = 0

    def dirs(self, root: Path, conf: Path | None = None) -> list[str]:
        """Explicit -conf/-log/-db/-run flags for a kernel living under ``root``."""
        args = ["-log", str(root / "log"), "-db", str(root / "db"), "-run", str(root / "run")]
        if conf is not None:
            args = ["-conf", str(conf), *args]
        self.watch_pid_file(root / "run" / "softswitch.pid")
        return args

    def watch_pid_file(self, path: Path) -> None:
        """Kill whatever pid this file names at teardown (daemons are not our children)."""
        self.pid_files.append(path)

    def start(self, *args: str, env: dict[str, str] | None = None, stdin=subprocess.DEVNULL,
              foreground: bool = True) -> Kernel:
        """``softswitch -nc -nf ARGS`` (``foreground=False``: exactly ``softswitch ARGS``)."""
        self._n += 1
        full = ["-nc", "-nf", *args] if foreground else list(args)
        k = Kernel(full, self.tmp_path, env or self.env, f"kernel{self._n}", stdin=stdin)
        self.kernels.append(k)
        return k

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``softswitch ARGS`` to completion (``-version``, ``-stop``, a broken conf …)."""
        try:
            return subprocess.run(softswitch_cmd(*args), env=env or self.env, cwd=self.tmp_path,
                                  capture_output=True, text=True, timeout=timeout, input=input,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"softswitch {' '.join(args)} did not finish within {timeout} s\n"
                        f"stdout: {e.stdout}\nstderr: {e.stderr}")

    def cleanup(self) -> None:
        for k in self.kernels:
            k.kill()
        for path in self.pid_files:
            pid = _read_pid(path)
            if pid and pid != os.getpid() and pid_alive(pid) and _is_softswitch(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_softswitch(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"softswitch" in f.read()
    except OSError:
        return False


@pytest.fixture
def kernels(tmp_path):
    """:class:`KernelFactory` for this test; every process it started is killed afterwards."""
    factory = KernelFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.cleanup()


def one_line(text: str) -> str:
    """The single non-empty line of ``text`` (fails when there are zero or several)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one line, got {len(lines)}:\n{text}"
    return lines[0]


def lines_matching(text: str, words: Iterable[str]) -> list[str]:
    return [ln for ln in text.splitlines() if all(w in ln for w in words)]


@pytest.fixture(scope="session")
def kt():
    """These helpers as a namespace (``kt.small_conf``, ``kt.READY_RE`` …): under
    ``--import-mode=importlib`` test modules cannot ``import conftest``."""
    import types

    return types.SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith("_")})
