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

:func:`build_module_wheel` and :func:`pip_install` make real module distributions for tests
(a wheel with the ``softswitch.modules`` entry point, installed by pip into a directory that
the test puts on ``sys.path`` or ``PYTHONPATH``).

The kernel runs on gevent: test code that waits for it must yield (``wait_for``,
``gevent.sleep``, gevent sockets), never block the thread.
"""

from __future__ import annotations

import os
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

import pytest

__all__ = ["kernel_factory", "wait_for", "write_conf", "make_core", "build_module_wheel",
           "pip_install"]

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
