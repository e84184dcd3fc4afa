"""``load``, ``unload``, ``reload``, ``module_exists``, ``reloadxml``, ``reloadacl``."""

from __future__ import annotations

import textwrap

import gevent
import pytest

from softswitch import EventType

PATH_MODULE = textwrap.dedent('''
    import softswitch

    @softswitch.hookimpl
    def module_load(module, core):
        module.add_api("pathmod_hello", "Say hello", "", lambda cmd, s, st: st.write("hello"))
''')

NESTED_MODULE = textwrap.dedent('''
    import softswitch

    @softswitch.hookimpl
    def module_load(module, core):
        module.add_api("nested_hello", "Say hello", "", lambda cmd, s, st: st.write("hello"))

    @softswitch.hookimpl
    def module_shutdown(module):
        # runs inside "unload", which holds mod_commands' reload lock: "load" takes it again
        core = module.core
        core.vars.set("nested_reply", core.api("load /nonexistent/mod_zzz.py"))
''')


@pytest.fixture
def path_module(tmp_path):
    path = tmp_path / "mod_pathmod.py"
    path.write_text(PATH_MODULE)
    return str(path)


def test_load_unload_reload_cycle(api, core, path_module, events):
    loads = events(EventType.MODULE_LOAD)
    reloads = events(EventType.RELOADXML)
    assert api("module_exists mod_pathmod") == "false"
    assert api(f"load {path_module}") == "+OK Reloading XML\n+OK\n"
    assert api("module_exists mod_pathmod") == "true"
    assert api("pathmod_hello") == "hello"
    assert api(f"load {path_module}") == "+OK Reloading XML\n-ERR [Module already loaded]\n"
    assert api("reload mod_pathmod") == (
        "+OK Reloading XML\n+OK module unloaded\n+OK module loaded\n")
    assert api("pathmod_hello") == "hello"
    assert api("unload mod_pathmod") == "+OK\n"
    assert api("module_exists mod_pathmod") == "false"
    assert core.registry.get("api", "pathmod_hello") is None
    assert api("unload mod_pathmod") == "-ERR [No such module!]\n"
    assert api("reload mod_pathmod") == (
        "+OK Reloading XML\n-ERR unloading module [No such module!]\n"
        "-ERR loading module [module load file routine returned an error]\n")
    assert core.events.drain(5.0)
    assert any(ev.get_header("name") == "pathmod_hello" for ev in loads)
    assert len(reloads) >= 4


def test_load_errors(api):
    assert api("load") == "-USAGE: <mod_name>\n"
    assert api("load mod_not_installed") == (
        "+OK Reloading XML\n-ERR [module load file routine returned an error]\n")
    assert api("load mod_fixture") == "+OK Reloading XML\n-ERR [Module already loaded]\n"


@pytest.mark.parametrize("cmd", ["unload", "reload"])
def test_unload_reload_usage(api, cmd):
    assert api(cmd) == "-USAGE: [-f] <mod_name>\n"


def test_unload_force_flag_parsing(api, path_module, log_lines):
    assert api(f"load {path_module}") == "+OK Reloading XML\n+OK\n"
    # "-f" alone is taken as the module name, as FreeSWITCH does
    assert api("unload -f") == "-ERR [No such module!]\n"
    assert api("unload -f mod_pathmod") == "+OK\n"
    assert any("Spin the barrel" in line.message for line in log_lines)
    assert api(f"load {path_module}") == "+OK Reloading XML\n+OK\n"
    assert api("reload -f mod_pathmod") == (
        "+OK Reloading XML\n+OK module unloaded\n+OK module loaded\n")


def test_unload_fixture_module(api, core):
    assert api("unload mod_fixture") == "+OK\n"
    assert api("module_exists mod_fixture") == "false"
    assert api("show timer") == "\n0 total.\n"


def test_reload_lock_is_reentrant(api, core, tmp_path):
    path = tmp_path / "mod_nested.py"
    path.write_text(NESTED_MODULE)
    assert api(f"load {path}") == "+OK Reloading XML\n+OK\n"
    with gevent.Timeout(5):
        assert api("unload mod_nested") == "+OK\n"
    assert core.vars.get("nested_reply") == (
        "+OK Reloading XML\n-ERR [module load file routine returned an error]\n")


def test_concurrent_loads_are_serialised(api, core, path_module):
    replies = gevent.joinall([gevent.spawn(api, f"load {path_module}") for _ in range(3)])
    outs = sorted(g.value for g in replies)
    assert outs == ["+OK Reloading XML\n+OK\n"] + ["+OK Reloading XML\n-ERR [Module already loaded]\n"] * 2


def test_module_exists(api):
    assert api("module_exists") == ""
    assert api("module_exists mod_commands") == "true"
    assert api("module_exists MOD_COMMANDS") == "false"  # module keys are case-sensitive


def test_reloadxml(api, core, events):
    core.events.drain(1.0)  # the RELOADXML of start-up is not ours
    got = events(EventType.RELOADXML)
    assert api("reloadxml") == "+OK [Success]\n"
    assert core.events.drain(5.0)
    assert len(got) == 1


def test_reloadxml_error_keeps_the_old_tree(api, core):
    import os

    root = os.path.join(core.dirs.conf_dir, "softswitch.xml")
    with open(root, "a") as f:
        f.write("<broken")
    out = api("reloadxml")
    assert out.startswith("+OK [") and out != "+OK [Success]\n"
    assert "Reloading XML" not in api("load mod_whatever")
    assert core.xml is not None


def test_reloadacl(api):
    assert api("reloadacl") == "+OK acl reloaded\n"
    assert api("reloadacl reloadxml") == (
        "This option is deprecated, we now always reloadxml.\n+OK acl reloaded\n")
    assert api("acl 127.0.0.1 loopback.auto") == "true"
