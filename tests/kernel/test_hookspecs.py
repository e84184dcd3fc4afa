"""The hook specifications: documented like pytest's, and each one tested here
(``test_hook_<name>``), as datasette's test_docs does."""

from __future__ import annotations

import inspect
import logging
import pathlib
import re
import types

import gevent
import pytest

import softswitch
from softswitch import Status, hookspecs
from softswitch.testing import _wait_for as wait_for

SPECS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "softswitch_spec")]


def test_specs_exist():
    assert set(SPECS) == {"softswitch_addhooks", "module_load", "module_runtime", "module_shutdown"}


@pytest.mark.parametrize("name", SPECS)
def test_spec_is_documented(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert doc.split("\n")[0].endswith("."), "a one-line summary first"
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc
    assert ".. versionadded::" in doc and "Called for:" in doc
    if fn.softswitch_spec.get("firstresult"):
        assert "Stops at first non-None result." in doc


@pytest.mark.parametrize("name", SPECS)
def test_every_spec_has_a_test(name):
    here = pathlib.Path(__file__).read_text()
    assert re.search(rf"^def test_hook_{name}\(", here, re.M)


def module(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(mod, hook, softswitch.hookimpl(fn))
    return mod


def test_hook_module_load(kernel_factory):
    calls = []

    def load(module, core):
        calls.append((module.name, core.admin.ready))
        module.add_api("hook_load_api", "d", "", lambda c, s, st: st.write("ok"))

    def load_only_module(module):  # a subset of the spec's arguments is fine
        calls.append(module.name)

    core = kernel_factory(modules=[module("mod_a", module_load=load),
                                   module("mod_b", module_load=load_only_module)])
    assert calls == [("mod_a", False), "mod_b"]
    assert core.api("hook_load_api") == "ok"


def test_hook_module_load_status_nounload_and_failure(kernel_factory, caplog):
    with caplog.at_level(logging.ERROR):
        core = kernel_factory(modules=[
            module("mod_perm", module_load=lambda module, core: Status.NOUNLOAD),
            module("mod_err", module_load=lambda module, core: Status.GENERR)])
    assert core.modules.modules["mod_perm"].permanent
    assert "mod_err" not in core.modules.modules
    assert "Module load routine returned an error" in caplog.text


def test_hook_module_runtime(kernel_factory):
    runs = []

    def runtime(module):
        runs.append(gevent.getcurrent())
        return Status.TERM if len(runs) == 2 else None

    core = kernel_factory(modules=[module("mod_rt", module_load=lambda module: None, module_runtime=runtime)])
    wait_for(lambda: len(runs) == 2)
    assert runs[0] is runs[1] and runs[0] is not gevent.getcurrent()  # its own greenlet
    wait_for(lambda: not core.modules.modules["mod_rt"].runtime_running)  # TERM ended it


def test_hook_module_shutdown(kernel_factory):
    order = []
    mods = [module(f"mod_{x}", module_load=lambda module: None,
                   module_shutdown=lambda module: order.append(module.name)) for x in "abc"]
    core = kernel_factory(modules=mods)
    core.shutdown()
    assert order == ["mod_c", "mod_b", "mod_a"]  # reverse load order


def test_hook_softswitch_addhooks(kernel_factory):
    spec_mod = types.ModuleType("mod_x_specs")
    marker = __import__("pluggy").HookspecMarker("softswitch")

    def mod_x_greeting(name):
        """A module's own hook."""

    spec_mod.mod_x_greeting = marker(firstresult=True)(mod_x_greeting)
    provider = module("mod_x", module_load=lambda module: None,
                      softswitch_addhooks=lambda pluginmanager: pluginmanager.add_hookspecs(spec_mod))
    user = module("mod_y", module_load=lambda module: None,
                  mod_x_greeting=lambda name: f"hello {name}")
    core = kernel_factory(modules=[provider, user])
    assert core.modules.pm.hook.mod_x_greeting(name="ada") == "hello ada"


def test_bad_signature_names_module_hook_and_argument(kernel_factory, caplog):
    with caplog.at_level(logging.ERROR):
        core = kernel_factory(modules=[module("mod_bad", module_load=lambda module, core, extra: None)])
    assert "mod_bad" not in core.modules.modules
    text = caplog.text
    assert "mod_bad" in text and "module_load" in text and "extra" in text


def test_add_api_without_function_or_decorator_is_reported(kernel_factory, caplog):
    def load(module):
        module.add_api("forgotten", "an API whose function was never given", "")

        @module.add_api("decorated", "fine", "")
        def decorated(cmd, session, stream):
            stream.write("ok")

    with caplog.at_level(logging.WARNING):
        core = kernel_factory(modules=[module("mod_forgetful", module_load=load)])
    assert core.api("decorated") == "ok"
    assert "add_api('forgotten') without a function" in caplog.text
    assert "decorated" not in caplog.text.split("without a function")[1].split("\n")[0]
