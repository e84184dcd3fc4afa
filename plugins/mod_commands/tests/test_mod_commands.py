"""The module as a whole: installed, loads, permanent, every command answers both ways."""

from __future__ import annotations

import re

import importlib_metadata
import pytest

import mod_commands
from softswitch import Status


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="softswitch.modules")}
    assert "mod_commands" in eps
    ep = eps["mod_commands"]
    assert ep.value == "mod_commands"
    assert ep.dist.name == "softswitch-mod-commands"
    assert ep.load() is mod_commands


def test_load_adds_every_command_and_is_permanent(core):
    mod = core.modules.modules["mod_commands"]
    assert mod.permanent
    names = {name for table in mod_commands.TABLES for name, *_ in table.entries}
    for name in names:
        assert core.registry.get("api", name) is not None, name
    _, rows = core.db.query("select name from interfaces where ikey='mod_commands' and type='api'")
    assert {r[0] for r in rows} == names
    assert {"status", "show", "load", "unload", "reload", "fsctl", "bgapi", "eval", "echo",
            "global_getvar", "global_setvar", "version", "uptime", "help", "module_exists",
            "timer_test", "reloadxml", "log", "console", "md5", "create_uuid", "strftime",
            "strepoch", "msleep", "switchname", "hostname", "expand"} <= names


def test_module_load_returns_nounload():
    class Mod:
        def __init__(self):
            import types
            self.state = types.SimpleNamespace()
            self.added = []

        def add_api(self, *args):
            self.added.append(args)

    m = Mod()
    assert mod_commands.module_load(m, None) == Status.NOUNLOAD
    assert len(m.added) == sum(len(t.entries) for t in mod_commands.TABLES)


def test_unload_itself_is_refused_without_deadlock(api, log_lines):
    assert api("unload mod_commands") == "-ERR [Module is not unloadable]\n"
    assert api("unload -f mod_commands") == "-ERR [Module is not unloadable]\n"
    assert any("Spin the barrel and pull the trigger" in line.message for line in log_lines)
    assert api("reload mod_commands") == (
        "+OK Reloading XML\n"
        "-ERR unloading module [Module is not unloadable]\n"
        "-ERR loading module [Module already loaded]\n"
    )
    assert api("module_exists mod_commands") == "true"
    assert api("status").startswith("UP ")


# Every command, once through the API and once through the console. The expected text is a
# regular expression of the whole reply (the console adds "\n" before and after).
CASES = [
    ("status", r"UP \d+ years?, .*\nFreeSWITCH \(Version .*\) is ready\n(?:.*\n){5}Current Stack Size/Max \d+K/\d+K\n"),
    ("version", r"FreeSWITCH Version 1\.10\.\d+-softswitch-\S+ \(.*\)\n"),
    ("version short", r"\d+\.\d+\.\d+\n"),
    ("uptime", r"\d+\n"),
    ("uptime us", r"\d+\n"),
    ("hostname", r"\S+"),
    ("switchname", r"\S+"),
    ("help", r"\nValid Commands:\n\n(?:.*\n)+"),
    ("show timer", r"type,name,ikey\ntimer,fake,mod_fixture\ntimer,fake_fail,mod_fixture\n\n2 total\.\n"),
    ("show api fix_api", r"name,description,syntax,ikey\nfix_api,Fixture API <&>,<a>\|\[b\],mod_fixture\n\n1 total\.\n"),
    ("show calls", r"\n0 total\.\n"),
    ("show channels as json", r'\{"row_count": 0\}\n'),
    ("module_exists mod_fixture", r"true"),
    ("module_exists mod_nothere", r"false"),
    ("load", r"-USAGE: <mod_name>\n"),
    ("unload mod_nothere", r"-ERR \[No such module!\]\n"),
    ("echo hello world", r"hello world"),
    ("eval $${hostname}", r"\S+"),
    ("expand echo $${hostname}", r"\S+"),
    ("global_getvar test_var", r"test_value"),
    ("global_setvar a_var=1", r"\+OK"),
    ("log notice from the test", r"\+OK\n"),
    ("console colorize off", r"\+OK console color disabled\n"),
    ("fsctl sps", r"\+OK sessions per second: \d+\n"),
    ("fsctl ready_check", r"true"),
    ("reloadxml", r"\+OK \[Success\]\n"),
    ("md5 hello", r"5d41402abc4b2a76b9719d911017c592"),
    ("create_uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
    ("uuid", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
    ("strftime 86400|%Y", r"1970"),
    ("strepoch", r"\d+"),
    ("msleep 1", r"\+OK"),
    ("sleep 1", r"\+OK"),
    ("bgapi status", r"\+OK Job-UUID: [0-9a-f-]{36}\n"),
    ("timer_test 20 2 fake", r"Avg: \d+\.\d{3}ms Total Time: \d+\.\d{3}ms\n"),
    ("event_channel_broadcast {\"eventChannel\": \"x\"}", r"\+OK message sent\n"),
    ("url_encode a b", r"a%20b"),
    ("cond 1 < 2 ? yes : no", r"yes"),
    ("getcputime", r"\d+, \d+"),
    ("show", r"-USAGE: codec\|.*\n"),
    ("reload mod_nothere", r"\+OK Reloading XML\n-ERR unloading module \[No such module!\]\n"
                           r"-ERR loading module \[module load file routine returned an error\]\n"),
    ("reloadacl", r"\+OK acl reloaded\n"),
    ("getenv MC_SURELY_NOT_SET", r"_undef_"),
    ("setenv", r"-ERR\n"),
    ("console loglevel 7", r"\+OK console log level set to DEBUG\n"),
    ("sched_api +3600 mc_g echo x", r"\+OK Added: \d+\n"),
    ("unsched_api 999999", r"-ERR No such id\n"),
    ("sched_del mc_nogroup", r"\+OK Deleted: 0\n"),
    ("time_test 100 1", r"test 1 sleep 100 \d+\navg \d+\n"),
    ("strftime_tz UTC 86400|%Y", r"1970"),
    ("url_decode a%20b", r"a b"),
    ("toupper abc", r"ABC"),
    ("tolower ABC", r"abc"),
    ("escape a b", r"a\\sb"),
    ("sql_escape it's", r"it''s"),
    ("replace abc|b|x", r"axc"),
    ("regex abc|b", r"true"),
    ("coalesce ,x", r"x"),
    ("acl 127.0.0.1 loopback.auto", r"true"),
    ("gethost localhost", r"127\.0\.0\.1"),
    ("host_lookup localhost", r"127\.0\.0\.1|::1"),
    ("file_exists /", r"true"),
    ("originate null/1", r"-USAGE: <call url> .*\n"),
    ("hupall", r"\+OK hangup all channels with cause MANAGER_REQUEST\n"),
    ("uuid_kill 00000000-0000-4000-8000-000000000000", r"-ERR No such channel!\n"),
    ("uuid_exists 00000000-0000-4000-8000-000000000000", r"false"),
    ("uuid_getvar 00000000-0000-4000-8000-000000000000 x", r"-ERR No such channel!\n"),
    ("uuid_setvar 00000000-0000-4000-8000-000000000000 x y", r"-ERR No such channel!\n"),
    ("uuid_setvar_multi 00000000-0000-4000-8000-000000000000 x=y", r"-ERR No such channel!\n-USAGE: .*\n"),
    ("uuid_dump 00000000-0000-4000-8000-000000000000", r"-ERR No such channel!\n"),
    ("uuid_answer 00000000-0000-4000-8000-000000000000", r"-ERROR\n"),
    ("uuid_pre_answer 00000000-0000-4000-8000-000000000000", r"-ERROR\n"),
    ("uuid_outgoing_answer 00000000-0000-4000-8000-000000000000", r"-ERR No such channel!\n"),
    ("uuid_park 00000000-0000-4000-8000-000000000000", r"-ERR No such channel!\n"),
    ("uuid_transfer 00000000-0000-4000-8000-000000000000 1000", r"-ERR No such channel!\n"),
    ("uuid_broadcast 00000000-0000-4000-8000-000000000000 x.wav", r"-ERR invalid uuid\n"),
    ("uuid_bridge 00000000-0000-4000-8000-000000000000 00000000-0000-4000-8000-000000000000", r"-ERR Invalid uuid\n"),
    ("uuid_hold 00000000-0000-4000-8000-000000000000", r"\+OK Success\n"),
    ("uuid_send_dtmf 00000000-0000-4000-8000-000000000000 1", r"-ERR Cannot locate session!\n"),
    ("uuid_recv_dtmf 00000000-0000-4000-8000-000000000000 1", r"-ERR Cannot locate session!\n"),
    ("uuid_break 00000000-0000-4000-8000-000000000000", r"-ERR No such channel!\n"),
    ("break 00000000-0000-4000-8000-000000000000", r"-ERR No such channel!\n"),
]


@pytest.mark.parametrize(("line", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_command_through_api(api, line, pattern):
    assert re.fullmatch(pattern, api(line)), api(line)


@pytest.mark.parametrize(("line", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_command_through_console(console, line, pattern):
    out = console(line)
    assert out.startswith("\n") and out.endswith("\n")
    body = out[1:]
    if not re.fullmatch(pattern, body):  # the console adds a newline when the reply has none
        assert re.fullmatch(pattern, body[:-1]), out


def test_every_command_is_in_the_table():
    names = {name for table in mod_commands.TABLES for name, *_ in table.entries}
    # the console reads "shutdown" and "..." itself (they stop it); see test_control.py
    assert names - {"shutdown", "..."} <= {line.split(" ")[0] for line, _ in CASES}


def test_failing_api_through_console(console):
    assert console("nosuchcommand x") == "Unknown Command: nosuchcommand\n"
