"""The services a module's hooks get (``core``, ``module.core``): softswitch.services."""

from __future__ import annotations

import warnings

import pytest

import softswitch
from softswitch import EventType, Services, Status
from softswitch.services import _warned


def _capture(core_box):
    @softswitch.hookimpl
    def module_load(module, core):
        core_box["core"] = core
        core_box["module_core"] = module.core

    return module_load


class _Mod:
    def __init__(self, box):
        self.module_load = _capture(box)


def test_hooks_get_the_services_not_the_core(kernel_factory):
    box = {}
    kernel = kernel_factory(modules=[("mod_box", _Mod(box))])
    core = box["core"]
    assert core is box["module_core"]
    assert isinstance(core, Services)
    assert core is not kernel
    # what docs/writing-modules.md shows
    assert core.api("nonexistent_api") == "-ERR nonexistent_api Command not found!\n"
    assert not core.api_execute("nonexistent_api").found
    core.vars.set("svc_test", "42")
    assert core.vars.get("svc_test") == "42" and "svc_test" in core.vars
    assert core.expand("x$${svc_test}") == "x42"
    assert core.config("switch.conf") is not None and core.config("nope.conf") is None
    assert core.section("configuration") is not None and core.section("nope") is None
    assert core.uuid == kernel.uuid and core.hostname == kernel.hostname
    assert core.switchname == kernel.switchname
    assert core.db is not None and core.db.query("SELECT 1")[1] == [(1,)]
    assert core.create_uuid() != core.create_uuid()
    assert core.acl.check("127.0.0.1", "loopback.auto")


def test_undocumented_attributes_warn_once_and_still_work(kernel_factory):
    box = {}
    kernel_factory(modules=[("mod_box", _Mod(box))])
    core = box["core"]
    _warned.discard("core.registry")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert core.registry.get("api", "nope") is None
        core.registry  # noqa: B018 - the second read does not warn again
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1
    assert "core.registry is not part of softswitch's module API" in str(deprecations[0].message)
    assert deprecations[0].filename == __file__  # points at the caller's line
    with pytest.raises(AttributeError):
        core.no_such_thing  # noqa: B018


def test_admin_api(kernel_factory):
    box = {}
    kernel_factory(modules=[("mod_box", _Mod(box))])
    admin = box["core"].admin
    assert admin.is_loaded("mod_box") and admin.module_names() == ["mod_box"]
    assert admin.load_module("mod_box") == (Status.FALSE, "Module already loaded")
    assert admin.load_module("mod_kernel_absent")[0] == Status.GENERR
    assert admin.unload_module("mod_box") == (Status.SUCCESS, "")
    assert not admin.is_loaded("mod_box")
    assert admin.unload_module("mod_box") == (Status.FALSE, "No such module!")
    admin.settings.max_sessions = 7
    assert admin.settings.max_sessions == 7
    assert admin.ready
    admin.no_new_sessions = True
    assert not admin.ready
    assert admin.reloadxml() == (True, "Success")
    assert admin.session_stats()["count"] == 0
    assert admin.uptime() >= 0
    admin.request_shutdown("now", "test")
    assert admin.stopping


def test_tasks_and_log_services(kernel_factory):
    box = {}
    kernel = kernel_factory(modules=[("mod_box", _Mod(box))])
    core = box["core"]
    assert "heartbeat" in [t.desc for t in core.tasks.list()]
    task = kernel.scheduler.add_task(10_000_000_000, lambda t: None, "later", "grp")
    assert core.tasks.cancel(task.id) and not core.tasks.cancel(task.id)
    kernel.scheduler.add_task(10_000_000_000, lambda t: None, "a", "grp2")
    assert core.tasks.cancel_group("grp2") == 1
    core.log.set_level(3)
    assert core.log.level == 3
    assert isinstance(core.log.idle_cpu(), float)


def test_two_kernels_keep_their_own_identity_and_time_source(kernel_factory, wait_for):
    a = kernel_factory(modules=[], settings={"switchname": "alpha"})
    b = kernel_factory(modules=[], settings={"switchname": "beta"})
    seen = {"a": [], "b": []}
    a.events.bind("t", EventType.CUSTOM, "svc::test", seen["a"].append)
    b.events.bind("t", EventType.CUSTOM, "svc::test", seen["b"].append)
    for kernel in (a, b, a):
        ev = softswitch.Event(EventType.CUSTOM, "svc::test")
        kernel.events.fire(ev)
    wait_for(lambda: len(seen["a"]) == 2 and len(seen["b"]) == 1)
    assert {e["Core-UUID"] for e in seen["a"]} == {a.uuid}
    assert [e["FreeSWITCH-Switchname"] for e in seen["a"]] == ["alpha", "alpha"]
    assert seen["b"][0]["Core-UUID"] == b.uuid
    assert seen["b"][0]["FreeSWITCH-Switchname"] == "beta"
    # the standard headers stay in FreeSWITCH's order after the correction
    names = [h[0] for h in seen["a"][0].headers]
    assert names[:3] == ["Event-Name", "Core-UUID", "FreeSWITCH-Hostname"]
    # time sources
    a.services.timers.set_time_source(lambda: 1_000_000)
    b.services.timers.set_time_source(lambda: 2_000_000)
    assert a.services.timers.cached_micro_time_now() == 1_000_000
    assert b.services.timers.cached_micro_time_now() == 2_000_000
    assert softswitch.cached_micro_time_now() == 2_000_000  # the last one set
    b.shutdown()
    assert a.services.timers.cached_micro_time_now() == 1_000_000
    a.services.timers.set_time_source(None)
    assert abs(softswitch.cached_micro_time_now() - softswitch.micro_time_now()) < 5_000_000


def test_ip_check_refreshes_the_identity_of_events(kernel_factory, wait_for, monkeypatch):
    from softswitch import netinfo

    core = kernel_factory(modules=[])
    seen = []
    core.events.bind("t", EventType.ALL, None, seen.append)
    monkeypatch.setattr(netinfo, "guess_local_ip_v4", lambda: "192.0.2.77")
    core.check_ip()
    ev = softswitch.Event(EventType.CUSTOM, "svc::after")
    core.events.fire(ev)
    wait_for(lambda: any(e.subclass == "svc::after" for e in seen))
    trap = next(e for e in seen if e.event_id == EventType.TRAP)
    assert trap["network-address-change-v4"] == "192.0.2.77"
    after = next(e for e in seen if e.subclass == "svc::after")
    assert after["FreeSWITCH-IPv4"] == "192.0.2.77"
    assert core.vars.get("local_ip_v4") == "192.0.2.77"


def test_kernel_factory_loads_only_the_modules_given(kernel_factory):
    """Not even the installed core modules (mod_softtimer, mod_pcm) when given a list."""
    box = {}
    core = kernel_factory(modules=[("mod_box", _Mod(box))])
    assert list(core.modules.modules) == ["mod_box"]
    assert core.registry.get("timer", "soft") is None


def test_api_result_reply_is_the_one_mapping():
    from softswitch import ApiResult, Status

    assert ApiResult(Status.SUCCESS, "out\n").reply("x") == "out\n"
    assert ApiResult(Status.SUCCESS, "").reply("x") == "-ERR no reply\n"
    assert ApiResult(Status.SUCCESS, "").reply("x", empty="") == ""
    assert ApiResult(Status.NOTFOUND, "-ERR x Command not found!\n", False).reply("x") == \
        "-ERR x Command not found!\n"
    assert ApiResult(Status.FALSE, "partial").reply("x") == "-ERR x Command not found!\n"
    assert ApiResult(Status.GENERR, "", True, "ValueError: no").reply("x") == \
        "-ERR x failed: ValueError: no\n"
    assert ApiResult(Status.FALSE, "").reply("x", not_found="{cmd}: Command not found!\n") == \
        "x: Command not found!\n"


@pytest.mark.parametrize("value", [True, False])
def test_colorize_console_setting_is_used(kernel_factory, value):
    core = kernel_factory(modules=[], settings={"colorize-console": str(value).lower()},
                          start=False)
    core.logbus.console_colour = True  # what the CLI sets on a tty
    core.start()
    assert core.services.log.console_colour is value


def test_every_public_name_resolves_and_the_api_is_versioned():
    for name in softswitch.__all__:
        assert getattr(softswitch, name) is not None, name
    assert softswitch.API_VERSION == (0, 2)
    assert softswitch.__version__.startswith("0.2.")
    assert softswitch.version_full().startswith(softswitch.FREESWITCH_COMPAT + "-softswitch-")
    assert softswitch.url_encode("a b") == "a%20b"
    assert len(softswitch.new_uuid()) == 36
