"""``echo``, ``eval``, ``expand``, ``global_getvar``, ``global_setvar``, ``getenv``, ``setenv``."""

from __future__ import annotations


def test_echo(api):
    assert api("echo") == ""
    assert api("echo  spaced   words ") == "spaced   words"
    assert api("echo $${hostname}") == "$${hostname}"  # echo does not expand


def test_eval(api, core):
    assert api("eval") == ""
    assert api("eval $${test_var}/${test_var}") == "test_value/test_value"
    assert api("eval ${nope}x") == "x"
    assert api("eval ${Event-Name}") == "CHANNEL_DATA"
    assert api("eval ${Core-UUID}") == core.uuid
    assert api("eval ${FreeSWITCH-Hostname}") == core.hostname
    assert api("eval uuid:abcd ${test_var}") == "test_value"
    assert api("eval uuid:abcd") == ""
    assert api("eval ${md5 abc}") == "900150983cd24fb0d6963f7d28e17f72"
    assert api("eval ${test_var:0:4}") == "test"
    assert api("eval \\${test_var}") == "${test_var}"


def test_expand(api, core):
    assert api("expand") == "-ERR No input\n"
    assert api("expand uuid:abcd") == "-ERR No input\n"
    assert api("expand echo ${test_var}") == "test_value"
    assert api("expand uuid:abcd echo $${test_var}") == "test_value"
    assert api("expand echo ${API-Command}") == "expand"
    assert api("expand echo ${API-Command-Argument}") == "echo ${API-Command-Argument}"
    assert api("expand status").startswith("UP ")
    assert api("expand nosuch x") == "INVALID COMMAND!\n-ERR Cannot execute command\n"
    assert api("expand fix_fail") == "COMMAND RETURNED ERROR!\n-ERR Cannot execute command\n"


def test_global_setvar_and_getvar(api, core):
    usage = "-USAGE: <var>=<value> [=<value2>]\n"
    assert api("global_setvar") == usage
    assert api("global_setvar =x") == usage
    assert api("global_setvar mc_a=b") == "+OK"
    assert api("global_getvar mc_a") == "b"
    assert api("global_getvar MC_A") == "b"  # names are case-insensitive
    assert api("global_setvar mc_a") == "+OK"  # no value: deleted
    assert api("global_getvar mc_a") == ""
    assert "mc_a" not in core.vars
    assert api("global_setvar mc_b = spaced value ") == "+OK"
    assert api("global_getvar mc_b") == "spaced value"
    assert api("global_setvar mc_b='quoted=kept'") == "+OK"
    assert api("global_getvar mc_b") == "quoted=kept"


def test_global_setvar_conditional(api):
    api("global_setvar mc_c=1")
    assert api("global_setvar mc_c=2=5") == "+OK"
    assert api("global_getvar mc_c") == "1"
    assert api("global_setvar mc_c=2=1") == "+OK"
    assert api("global_getvar mc_c") == "2"
    assert api("global_setvar mc_new=3=1") == "+OK"  # not set: nothing to compare with
    assert api("global_getvar mc_new") == ""
    assert api("global_setvar mc_c==2") == "+OK"  # empty value with the right expectation: deleted
    assert api("global_getvar mc_c") == ""


def test_global_getvar_all(api, core):
    out = api("global_getvar")
    lines = out.splitlines()
    assert out.endswith("\n")
    assert "test_var=test_value" in lines
    assert f"core_uuid={core.uuid}" in lines
    assert len(lines) == len(core.vars)


def test_getenv_setenv(api, monkeypatch):
    monkeypatch.delenv("MC_TEST_ENV", raising=False)
    assert api("getenv MC_TEST_ENV") == "_undef_"
    assert api("getenv") == "_undef_"
    assert api("setenv MC_TEST_ENV=hello") == "+OK\n"
    assert api("getenv MC_TEST_ENV") == "hello"
    assert api("setenv MC_TEST_ENV=_undef_") == "+OK\n"
    assert api("getenv MC_TEST_ENV") == "_undef_"
    assert api("setenv") == "-ERR\n"
    assert api("setenv MC_TEST_ENV") == "-ERR\n"
    assert api("setenv MC_TEST_ENV=") == "-ERR\n"
