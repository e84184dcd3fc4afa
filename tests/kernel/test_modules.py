"""The module system with real module distributions (wheels built here, installed with pip).

Spec: modules.md §2–5; the seed's switch_loadable_module_init / load / unload walk-through.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import textwrap
import time
import types

import gevent
import gevent.event
import pytest

import softswitch
from softswitch import EventType, Status
from softswitch.modules import CriticalModuleError
from softswitch.testing import build_module_wheel, make_core, pip_install

GOOD = '''
import gevent.event
import softswitch
from softswitch import EventType, Status, params

CALLS = []


@softswitch.hookimpl
def module_load(module, core):
    CALLS.append("load")
    module.state.runs = 0
    module.state.stop = gevent.event.Event()
    module.state.seen = []
    module.state.greeting = dict(params(module.config("good.conf"))).get("greeting", "hello")

    @module.add_api("good_echo", "Echo for tests", "<text>")
    def good_echo(cmd, session, stream):
        stream.write("%s:%s\\n", module.state.greeting, cmd)

    @module.add_api("good_block", "Wait until released", "")
    def good_block(cmd, session, stream):
        module.state.stop.wait(10)
        stream.write("released\\n")

    module.add_application("good_app", "A test app", "Long description", "<x>",
                           lambda session, data: None)
    module.bind_event(EventType.CUSTOM, module.state.seen.append, "good::sub")
    module.state.task = module.add_task(2000000000, lambda task: None, "good task")


@softswitch.hookimpl
def module_runtime(module):
    module.state.runs += 1
    CALLS.append("runtime")
    module.state.stop.wait()
    return Status.TERM


@softswitch.hookimpl
def module_shutdown(module):
    CALLS.append("shutdown")
    module.state.stop.set()
'''

TERM3 = '''
import softswitch
from softswitch import Status
import gevent


@softswitch.hookimpl
def module_load(module, core):
    module.state.runs = 0


@softswitch.hookimpl
def module_runtime(module):
    module.state.runs += 1
    gevent.sleep(0.01)
    return Status.TERM if module.state.runs >= 3 else None
'''

FLAKY = '''
import softswitch
from softswitch import Status


@softswitch.hookimpl
def module_load(module, core):
    module.state.runs = 0


@softswitch.hookimpl
def module_runtime(module):
    module.state.runs += 1
    if module.state.runs <= 2:
        raise RuntimeError("flaky runtime %d" % module.state.runs)
    return Status.TERM
'''

FAILS = '''
import softswitch
from softswitch import Status


@softswitch.hookimpl
def module_load(module, core):
    module.add_api("fails_api", "never registered", "", lambda cmd, session, stream: None)
    return Status.GENERR
'''

LOAD_RAISES = '''
import softswitch


@softswitch.hookimpl
def module_load(module, core):
    raise ValueError("bad configuration value")
'''

IMPORT_ERROR = '''
raise ImportError("libfoo is missing, install it")
'''

BAD_SIG = '''
import softswitch


@softswitch.hookimpl
def module_load(module, core, extra):
    pass
'''

NO_HOOK = '''
def something():
    return 1
'''

PERM = '''
import softswitch
from softswitch import Status


@softswitch.hookimpl
def module_load(module, core):
    module.add_api("perm_api", "Permanent", "", lambda cmd, session, stream: stream.write("perm"))
    return Status.NOUNLOAD
'''

PHASE = '''
import sys

import softswitch

SEEN = []


@softswitch.hookimpl
def module_load(module, core):
    # whether the loader holds its events now: the kernel's state, which a module cannot see,
    # read through a probe that the test puts in sys.modules
    SEEN.append((module.name, core.db is not None, sys.modules["phase_probe"].events_held()))
'''

RELOADABLE = '''
import softswitch

VERSION = "v1"


@softswitch.hookimpl
def module_load(module, core):
    module.add_api("which_version", "Version of the code", "", lambda c, s, st: st.write(VERSION))
'''

LATE = '''
import softswitch


@softswitch.hookimpl
def module_load(module, core):
    module.add_api("late_hello", "Installed after start", "", lambda c, s, st: st.write("late!"))
'''

FIXTURES = {
    "mod_good": GOOD, "mod_term3": TERM3, "mod_flaky": FLAKY, "mod_fails": FAILS,
    "mod_loadraises": LOAD_RAISES, "mod_importerr": IMPORT_ERROR, "mod_badsig": BAD_SIG,
    "mod_nohook": NO_HOOK, "mod_perm": PERM, "mod_pre": PHASE, "mod_common": PHASE,
    "mod_post": PHASE, "mod_reloadme": RELOADABLE,
}


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """Every fixture distribution, pip-installed into one directory."""
    root = tmp_path_factory.mktemp("dists")
    wheels = [build_module_wheel(str(root / "wheels"), name, {"__init__.py": textwrap.dedent(src)})
              for name, src in FIXTURES.items()]
    late = build_module_wheel(str(root / "late-wheels"), "mod_late", {"__init__.py": LATE})
    target = str(root / "site")
    pip_install(wheels, target)
    return {"site": target, "late": late, "root": root}


@pytest.fixture
def site(installed, monkeypatch):
    monkeypatch.syspath_prepend(installed["site"])
    importlib.invalidate_caches()
    yield installed["site"]
    for name in FIXTURES:  # leave no fixture module imported for the next test
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]


def modules_conf(*loads, phase="modules.conf"):
    lines = "\n".join(f"    {x}" for x in loads)
    return {f"{phase}.xml": f'<configuration name="{phase}">\n  <modules>\n{lines}\n  </modules>\n</configuration>\n'}


def start(kernel_factory, *loads, **conf):
    files = modules_conf(*loads)
    files.update(conf)
    return kernel_factory(conf=files)


# -- loading --------------------------------------------------------------------------------------


def test_module_interfaces_db_rows_and_events(site, kernel_factory, wait_for):
    core = kernel_factory(start=False, conf={
        **modules_conf('<load module="mod_good"/>'),
        "good.conf.xml": '<configuration name="good.conf"><settings>'
                         '<param name="greeting" value="hi"/></settings></configuration>'})
    core.init()
    seen = []
    core.events.bind("test", EventType.MODULE_LOAD, None, seen.append)
    core.load_modules()
    assert core.api("good_echo there") == "hi:there\n"
    assert core.registry.get("application", "GOOD_APP").description == "A test app"
    mod = core.modules.modules["mod_good"]
    assert mod.distribution == ("softswitch-mod-good", "0.1.0")
    assert mod.filename.endswith(os.path.join("mod_good", "__init__.py"))
    cols, rows = core.db.query(
        "select type, name, description, ikey, syntax from interfaces where ikey='mod_good' order by type, name")
    assert rows == [("api", "good_block", "Wait until released", "mod_good", ""),
                    ("api", "good_echo", "Echo for tests", "mod_good", "<text>"),
                    ("application", "good_app", "A test app", "mod_good", "<x>")]
    wait_for(lambda: len([e for e in seen if e["key"] == "mod_good"]) == 3)
    api_ev = next(e for e in seen if e["name"] == "good_echo")
    names = [k for k, _ in api_ev.items()]
    assert names[names.index("Event-Sequence") + 1:] == ["type", "name", "description", "syntax", "key", "filename"]
    assert api_ev["key"] == "mod_good" and api_ev["filename"] == mod.filename


def test_hook_order_and_resources_removed_at_unload(site, kernel_factory, wait_for):
    core = start(kernel_factory, '<load module="mod_good"/>')
    mod = core.modules.modules["mod_good"]
    plugin = mod.plugin
    wait_for(lambda: plugin.CALLS == ["load", "runtime"])
    task_id = mod.state.task.id
    assert task_id in core.scheduler.tasks
    assert any(n.id == "mod_good" for n in core.events.nodes())
    unloaded = []
    core.events.bind("test", EventType.MODULE_UNLOAD, None, unloaded.append)
    assert core.modules.unload("mod_good") == (Status.SUCCESS, "")
    assert plugin.CALLS == ["load", "runtime", "shutdown"]
    assert not mod.runtime_running
    assert core.registry.get("api", "good_echo") is None
    assert core.api_execute("good_echo", "x").found is False
    assert task_id not in core.scheduler.tasks
    assert not any(n.id == "mod_good" for n in core.events.nodes())
    assert core.db.query("select * from interfaces where ikey='mod_good'")[1] == []
    assert "mod_good" not in sys.modules
    wait_for(lambda: len(unloaded) == 3)
    assert {e["name"] for e in unloaded} == {"good_echo", "good_block", "good_app"}
    assert core.modules.unload("mod_good") == (Status.FALSE, "No such module!")


def test_phases_hold_events_until_the_core_db_opens(site, kernel_factory, wait_for, monkeypatch):
    conf = {}
    conf.update(modules_conf('<load module="mod_pre"/>', phase="pre_load_modules.conf"))
    conf.update(modules_conf('<load module="mod_common"/>'))
    conf.update(modules_conf('<load module="mod_post"/>', phase="post_load_modules.conf"))
    core = kernel_factory(start=False, conf=conf)
    probe = types.ModuleType("phase_probe")
    probe.events_held = lambda: core.modules.hold_events
    monkeypatch.setitem(sys.modules, "phase_probe", probe)
    core.init()
    seen = []
    core.events.bind("test", EventType.MODULE_LOAD, None, seen.append)
    core.load_modules()
    phase = [seen for name in ("mod_pre", "mod_common", "mod_post") for seen in sys.modules[name].SEEN]
    assert phase == [
        ("mod_pre", False, True),     # pre-load: no core DB yet, events held
        ("mod_common", True, False),  # modules.conf: DB open, held events fired
        ("mod_post", True, False),
    ]
    fixture = ("mod_pre", "mod_common", "mod_post")
    wait_for(lambda: set(fixture) <= {e["name"] for e in seen})
    assert [e["name"] for e in seen if e["name"] in fixture] == list(fixture)
    assert all(e["type"] == "generic" for e in seen if e["name"] in fixture)
    _, rows = core.db.query("select type, name, ikey from interfaces where ikey='mod_pre'")
    assert rows == [("generic", "mod_pre", "mod_pre")]
    assert [m.phase for m in core.modules.modules.values() if m.name in fixture] == [
        "preload", "common", "postload"]
    assert all(m.phase == "core" for m in core.modules.modules.values() if m.name not in fixture)


def test_no_load_element_means_load_all(site, kernel_factory, caplog):
    with caplog.at_level(logging.INFO):
        core = kernel_factory()
    assert "No modules loaded, assuming 'load all'" in caplog.text
    assert {"mod_good", "mod_term3", "mod_perm", "mod_reloadme"} <= set(core.modules.modules)
    assert "mod_fails" not in core.modules.modules and "mod_importerr" not in core.modules.modules


def test_failures_are_logged_and_startup_goes_on(site, kernel_factory, caplog):
    with caplog.at_level(logging.DEBUG):
        core = start(kernel_factory, *(f'<load module="{m}"/>' for m in (
            "mod_fails", "mod_loadraises", "mod_importerr", "mod_badsig", "mod_nohook",
            "mod_missing", "mod_good")))
    assert [m for m in core.modules.modules if m in FIXTURES or m == "mod_missing"] == ["mod_good"]
    assert core.registry.get("api", "fails_api") is None  # a failed load keeps nothing
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    text = "\n".join(errors)
    assert "mod_fails" in text and "Module load routine returned an error" in text
    assert "mod_loadraises" in text and "ValueError: bad configuration value" in text
    assert 'Error importing module "mod_importerr" (softswitch-mod-importerr 0.1.0): ImportError: libfoo is missing' in text
    assert "mod_badsig" in text and "module_load" in text and "extra" in text
    assert "mod_nohook" in text and "no module_load hook" in text
    assert "mod_missing" in text and "pip install softswitch-mod-missing" in text
    # the import traceback is there, at DEBUG
    assert any(r.levelno == logging.DEBUG and r.exc_info and "mod_importerr" in r.getMessage()
               for r in caplog.records)
    assert not any("Traceback" in e for e in errors)


def test_already_loaded_and_invalid_extension(site, kernel_factory, caplog):
    with caplog.at_level(logging.WARNING):
        core = start(kernel_factory, '<load module="mod_good"/>', '<load module="mod_good.so"/>',
                     '<load module="mod_good.foo"/>')
    assert "Module mod_good Already Loaded!" in caplog.text
    assert "Invalid extension for mod_good.foo" in caplog.text
    assert core.modules.load("mod_good") == (Status.FALSE, "Module already loaded")


def test_critical_failure_aborts_startup(site, tmp_path):
    core = make_core(str(tmp_path), conf=modules_conf('<load module="mod_fails" critical="true"/>'),
                     start=False)
    try:
        with pytest.raises(CriticalModuleError, match="Failed to load critical module 'mod_fails'"):
            core.start()
    finally:
        core.shutdown()


def test_critical_already_loaded_and_post_load_critical_are_not_fatal(site, kernel_factory):
    conf = modules_conf('<load module="mod_good"/>', '<load module="mod_good" critical="true"/>')
    conf.update(modules_conf('<load module="mod_fails" critical="true"/>', phase="post_load_modules.conf"))
    core = kernel_factory(conf=conf)
    assert "mod_good" in core.modules.modules


def test_critical_failure_stops_a_real_process(installed, tmp_path):
    from softswitch.testing import write_conf

    conf = write_conf(str(tmp_path), conf=modules_conf(
        '<load module="mod_missing"/>', '<load module="mod_loadraises" critical="true"/>'))
    env = dict(os.environ, PYTHONPATH=installed["site"])
    proc = subprocess.run(
        [sys.executable, "-m", "softswitch", "-nc", "-nf", "-conf", conf, "-log", str(tmp_path / "log"),
         "-db", str(tmp_path / "db"), "-run", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 255, proc.stdout + proc.stderr
    assert "Failed to load critical module 'mod_loadraises'" in proc.stderr
    assert "pip install softswitch-mod-missing" in proc.stdout  # the non-critical one is logged
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "softswitch.pid").exists()


# -- runtime ----------------------------------------------------------------------------------------


def test_runtime_rerun_until_term(site, kernel_factory, wait_for, caplog):
    with caplog.at_level(logging.INFO):
        core = start(kernel_factory, '<load module="mod_term3"/>')
        mod = core.modules.modules["mod_term3"]
        wait_for(lambda: not mod.runtime_running)  # started at load; ends after the 3rd run
    assert mod.state.runs == 3
    assert "Starting runtime thread for mod_term3" in caplog.text
    assert "Thread ended for mod_term3" in caplog.text


def test_runtime_that_raises_is_restarted(site, kernel_factory, wait_for, caplog):
    with caplog.at_level(logging.ERROR):
        core = start(kernel_factory, '<load module="mod_flaky"/>')
        mod = core.modules.modules["mod_flaky"]
        wait_for(lambda: not mod.runtime_running, timeout=10)
    assert mod.state.runs == 3
    assert caplog.text.count("module_runtime of mod_flaky raised RuntimeError") == 2


# -- unload and reload --------------------------------------------------------------------------


def test_permanent_module_is_not_unloadable(site, kernel_factory, caplog):
    core = start(kernel_factory, '<load module="mod_perm"/>')
    with caplog.at_level(logging.WARNING):
        assert core.modules.unload("mod_perm", force=True) == (Status.NOUNLOAD, "Module is not unloadable")
    assert "Spin the barrel and pull the trigger" in caplog.text
    assert core.api_execute("perm_api").found
    first, second = core.modules.reload("mod_perm")
    assert first == (Status.NOUNLOAD, "Module is not unloadable")
    assert second == (Status.FALSE, "Module already loaded")


def test_module_in_use_unless_forced(site, kernel_factory, wait_for):
    core = start(kernel_factory, '<load module="mod_good"/>')
    mod = core.modules.modules["mod_good"]
    g = gevent.spawn(core.api_execute, "good_block", "")
    wait_for(lambda: mod.refs == 1)
    assert core.modules.unload("mod_good") == (Status.INUSE, "Module in use.")
    assert "mod_good" in core.modules.modules
    assert core.modules.unload("mod_good", force=True) == (Status.SUCCESS, "")
    assert g.get(timeout=10).output == "released\n"  # its shutdown released the waiting API


def test_reload_imports_new_code(site, kernel_factory):
    core = start(kernel_factory, '<load module="mod_reloadme"/>')
    assert core.api("which_version") == "v1"
    path = os.path.join(site, "mod_reloadme", "__init__.py")
    with open(path) as f:
        src = f.read()
    try:
        with open(path, "w") as f:
            f.write(src.replace('"v1"', '"v2"'))
        first, second = core.modules.reload("mod_reloadme")
        assert first == (Status.SUCCESS, "") and second == (Status.SUCCESS, "")
        assert core.api("which_version") == "v2"
    finally:
        with open(path, "w") as f:
            f.write(src)


def test_pip_install_after_start_then_load(installed, tmp_path, monkeypatch, kernel_factory):
    late_site = str(tmp_path / "late-site")
    os.makedirs(late_site)
    monkeypatch.syspath_prepend(late_site)
    core = kernel_factory(conf=modules_conf())
    status, err = core.modules.load("mod_late")
    assert (status, err) == (Status.GENERR, "module load file routine returned an error")
    pip_install([installed["late"]], late_site)
    try:
        assert core.modules.load("mod_late") == (Status.SUCCESS, "")
        assert core.api("late_hello") == "late!"
    finally:
        core.modules.unload("mod_late")


def test_load_from_path_for_module_developers(tmp_path, kernel_factory):
    pkg = tmp_path / "dev" / "mod_devpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import softswitch\nfrom . import helper\n\n@softswitch.hookimpl\n"
        "def module_load(module, core):\n"
        "    module.add_api('devpkg', 'dev', '', lambda c, s, st: st.write(helper.TEXT))\n")
    (pkg / "helper.py").write_text("TEXT = 'from a package'\n")
    single = tmp_path / "mod_devfile.py"
    single.write_text(
        "import softswitch\n\n@softswitch.hookimpl\ndef module_load(module, core):\n"
        "    module.add_api('devfile', 'dev', '', lambda c, s, st: st.write('from a file'))\n")
    core = start(kernel_factory, f'<load module="mod_devpkg" path="{tmp_path / "dev"}"/>',
                 f'<load module="mod_devfile" path="{single}"/>')
    assert core.api("devpkg") == "from a package"
    assert core.api("devfile") == "from a file"
    assert core.modules.modules["mod_devfile"].filename == str(single)
    first, second = core.modules.reload("mod_devpkg")
    assert second == (Status.SUCCESS, "") and core.api("devpkg") == "from a package"
    assert core.modules.unload("mod_devpkg") == (Status.SUCCESS, "")
    assert "mod_devpkg.helper" not in sys.modules


def test_kernel_without_modules_starts(kernel_factory, caplog):
    with caplog.at_level(logging.WARNING):
        core = kernel_factory(conf=modules_conf('<load module="mod_commands"/>'))
    assert core.ready
    if "mod_commands" not in core.modules.available():
        assert "Error Loading module mod_commands" in caplog.text


def test_hook_monitoring_env_var(site, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SOFTSWITCH_TRACE_HOOKS", "1")
    with caplog.at_level(logging.DEBUG, logger="softswitch.modules"):
        core = make_core(str(tmp_path), conf=modules_conf('<load module="mod_term3"/>'))
        core.shutdown()
    assert "module_load" in caplog.text


class _ShutdownRecorder:
    """A module (an object with hooks) that records its module_shutdown in ``order``;
    ``permanent``: its load returns NOUNLOAD."""

    def __init__(self, name: str, order: list, permanent: bool = False):
        self.name, self.order, self.permanent = name, order, permanent
        self.stop = gevent.event.Event()

    @softswitch.hookimpl
    def module_load(self, module, core):
        return Status.NOUNLOAD if self.permanent else None

    @softswitch.hookimpl
    def module_shutdown(self, module):
        self.order.append(self.name)
        self.stop.set()


class _RuntimeRecorder(_ShutdownRecorder):
    """... with a module_runtime that blocks until module_shutdown wakes it."""

    @softswitch.hookimpl
    def module_runtime(self, module):
        self.stop.wait()
        return Status.TERM


def test_unload_during_shutdown_order(kernel_factory, wait_for):
    order: list[str] = []
    mods = [_ShutdownRecorder("mod_a", order), _RuntimeRecorder("mod_b", order),
            _ShutdownRecorder("mod_p", order, permanent=True)]
    core = kernel_factory(modules=[(m.name, m) for m in mods])
    assert [core.services.admin.is_loaded(m.name) for m in mods] == [True, True, True]
    mod_b = core.modules.modules["mod_b"]
    wait_for(lambda: mod_b.runtime_running)
    t0 = time.monotonic()
    core.shutdown()
    assert order == ["mod_b", "mod_a"]  # reverse load order; permanent ones never
    assert not mod_b.runtime_running
    assert time.monotonic() - t0 < 10  # (a hang guard: the blocked runtime was woken)
