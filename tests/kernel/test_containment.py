"""A module's exception never stops another module or the start-up (issue #13, containment).

One test per place a module's code runs: import, registration (``softswitch_addhooks``),
``module_load``, ``module_runtime``, ``module_shutdown``. Each uses real distributions (wheels
installed by pip), checks that the error is logged with the module and its distribution, and
that a well-behaved module next to it loads, answers and unloads.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap

import pytest

from softswitch import Status
from softswitch.testing import build_module_wheel, pip_install

OK = '''
import softswitch

@softswitch.hookimpl
def module_load(module, core):
    module.add_api("ok_ping", "", "", lambda cmd, session, stream: stream.write("pong"))
'''

FIXTURES = {
    "mod_ok": OK,
    "mod_c_import": "raise RuntimeError('cannot import me')\n",
    "mod_c_addhooks": '''
import softswitch

@softswitch.hookimpl
def softswitch_addhooks(pluginmanager):
    raise KeyError("no such hookspec module")

@softswitch.hookimpl
def module_load(module, core):
    pass
''',
    "mod_c_load": '''
import softswitch

@softswitch.hookimpl
def module_load(module, core):
    raise SystemExit("load gave up")
''',
    "mod_c_runtime": '''
import gevent
import softswitch
from softswitch import Status

@softswitch.hookimpl
def module_load(module, core):
    module.state.runs = 0

@softswitch.hookimpl
def module_runtime(module):
    module.state.runs += 1
    if module.state.runs == 1:
        raise ZeroDivisionError("runtime broke")
    return Status.TERM
''',
    "mod_c_shutdown": '''
import softswitch

@softswitch.hookimpl
def module_load(module, core):
    module.add_api("c_shutdown_api", "", "", lambda cmd, session, stream: None)

@softswitch.hookimpl
def module_shutdown(module):
    raise OSError("shutdown broke")
''',
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("containment")
    wheels = [build_module_wheel(str(root / "wheels"), name, {"__init__.py": textwrap.dedent(src)})
              for name, src in FIXTURES.items()]
    pip_install(wheels, str(root / "site"))
    return str(root / "site")


@pytest.fixture
def start(site, kernel_factory, monkeypatch, caplog):
    monkeypatch.syspath_prepend(site)
    importlib.invalidate_caches()

    def _start(name):
        with caplog.at_level(logging.DEBUG):
            return kernel_factory(modules=None, conf={"modules.conf.xml": (
                '<configuration name="modules.conf"><modules>'
                f'<load module="{name}"/><load module="mod_ok"/>'
                "</modules></configuration>")})

    yield _start
    for name in FIXTURES:
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]


def errors(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def ok_works(core):
    assert core.api("ok_ping") == "pong"
    assert core.modules.unload("mod_ok") == (Status.SUCCESS, "")


def test_import_error(start, caplog):
    core = start("mod_c_import")
    assert 'Error importing module "mod_c_import" (softswitch-mod-c-import 0.1.0): ' \
           "RuntimeError: cannot import me" in errors(caplog)
    assert "mod_c_import" not in core.modules.modules
    ok_works(core)


def test_addhooks_error(start, caplog):
    core = start("mod_c_addhooks")
    text = errors(caplog)
    assert "Error Loading module mod_c_addhooks (softswitch-mod-c-addhooks 0.1.0): " \
           "softswitch_addhooks raised KeyError" in text
    assert "mod_c_addhooks" not in core.modules.modules
    assert core.modules.pm.get_plugin("mod_c_addhooks") is None  # nothing half-registered
    ok_works(core)
    # and at run time: an error answer, the kernel goes on
    assert core.modules.load("mod_c_addhooks")[0] == Status.GENERR


def test_load_error(start, caplog):
    core = start("mod_c_load")
    text = errors(caplog)
    assert "Error Loading module mod_c_load" in text
    assert "SystemExit: load gave up" in text and "softswitch-mod-c-load 0.1.0" in text
    ok_works(core)


def test_runtime_error(start, caplog, wait_for):
    core = start("mod_c_runtime")
    mod = core.modules.modules["mod_c_runtime"]
    wait_for(lambda: mod.state.runs == 2)
    assert "module_runtime of mod_c_runtime raised ZeroDivisionError: runtime broke " \
           "(softswitch-mod-c-runtime 0.1.0)" in errors(caplog)
    ok_works(core)


def test_shutdown_error(start, caplog):
    core = start("mod_c_shutdown")
    assert core.modules.unload("mod_c_shutdown") == (Status.SUCCESS, "")
    assert "module_shutdown of mod_c_shutdown raised OSError: shutdown broke " \
           "(softswitch-mod-c-shutdown 0.1.0)" in errors(caplog)
    assert core.registry.get("api", "c_shutdown_api") is None  # its resources went anyway
    assert core.modules.load("mod_c_shutdown") == (Status.SUCCESS, "")
    core.shutdown()  # raises again at shutdown: mod_ok still shuts down after it
    assert errors(caplog).count("shutdown broke") == 2
    assert not core.running and core.modules.modules == {}
