"""XML configuration: the pre-processor, parsing, open_cfg, run-time expansion, broken trees.

Units run the pre-processor and parser in this process; the broken-tree tests start a real
``softswitch`` and check the one line it prints.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from softswitch import config
from softswitch.config import (
    ConfigError,
    GlobalVars,
    Preprocessor,
    expand,
    load_xml,
    params,
    switch_true,
)
from softswitch.dirs import DEFAULT_CONF

ROOT_HEAD = '<?xml version="1.0"?>\n<document type="freeswitch/xml">\n'


def preprocess(tmp_path, files: dict[str, str | bytes], variables: GlobalVars | None = None,
               root: str = "softswitch.xml") -> tuple[list[str], Preprocessor]:
    """Pre-process ``files`` (written under tmp_path/conf); returns the non-blank output lines."""
    conf = tmp_path / "conf"
    for name, text in files.items():
        p = conf / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
    pp = Preprocessor(variables if variables is not None else GlobalVars(), str(conf))
    out = pp.run(str(conf / root))
    return [ln.strip() for ln in out.splitlines() if ln.strip()], pp


def load(tmp_path, files: dict[str, str], variables: GlobalVars | None = None, **kw):
    conf = tmp_path / "conf"
    for name, text in files.items():
        p = conf / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return load_xml(str(conf), variables if variables is not None else GlobalVars(), **kw)


# ----------------------------------------------------------------------------------------------
# switch_true, GlobalVars
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "on", "true", "t", "enabled", "active", "allow",
                                   "TRUE", "Yes", "1", "-1", "42", True])
def test_switch_true_true(value):
    assert switch_true(value) is True


@pytest.mark.parametrize("value", ["no", "off", "false", "f", "0", "", "disabled", "y", "nope",
                                   None, False, "1.5x"])
def test_switch_true_false(value):
    assert switch_true(value) is False


def test_global_vars_case_insensitive_and_replace():
    v = GlobalVars()
    v.set("Domain", "a")
    v.set("DOMAIN", "b")
    assert v.get("domain") == "b" and v["DoMaIn"] == "b" and "domain" in v and len(v) == 1
    v.set("domain", "")
    assert "domain" not in v and v.get("domain", "dflt") == "dflt"


def test_global_vars_dollar_brace_stored_as_percent():
    # switch_core_set_variable: "$" followed by "{" (or "\{") becomes "%"; values never
    # re-expand. A quirk users can see: set foo=${bar} stores %{bar}.
    v = GlobalVars()
    v.set("foo", "${bar} $\\{baz} $plain ${")
    assert v.get("foo") == "%{bar} %\\{baz} $plain %{"


# ----------------------------------------------------------------------------------------------
# Pre-processor
# ----------------------------------------------------------------------------------------------


def test_set_then_expand_in_later_lines_values_taken_at_read_time(tmp_path):
    v = GlobalVars()
    lines, _ = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<a v="$${x}"/>\n'
        + '<X-PRE-PROCESS cmd="set" data="x=one"/>\n'
        + '<b v="$${x}"/>\n'
        + '<X-PRE-PROCESS cmd="set" data=" x = two "/>\n'
        + '<c v="$${x}" w="$${X}" u="$${unset}"/>\n'
        + "</document>\n")}, v)
    assert '<a v=""/>' in lines
    assert '<b v="one"/>' in lines
    assert '<c v="two" w="two" u=""/>' in lines
    assert v.get("x") == "two"  # spaces around the first "=" are trimmed


def test_set_chains_and_nested_braces(tmp_path):
    v = GlobalVars()
    v.set("local_ip_v4", "192.0.2.1")
    v.set("which", "domain")
    lines, _ = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<X-PRE-PROCESS cmd="set" data="domain=$${local_ip_v4}"/>\n'
        + '<X-PRE-PROCESS cmd="set" data="domain_name=$${domain}"/>\n'
        + '<X-PRE-PROCESS cmd="set" data="novalue"/>\n'
        + '<x a="$${domain_name}" b="$${$${which}}"/>\n'
        + "</document>\n")}, v)
    assert '<x a="192.0.2.1" b="192.0.2.1"/>' in lines
    assert "novalue" not in v


def test_xpp_line_dropped_with_trailing_text_and_case_insensitive(tmp_path):
    lines, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<x-pre-process cmd="SET" data="a=1"/> <lost/>\n'
        + '<y a="$${a}"/>\n'
        + "</document>\n")})
    assert '<y a="1"/>' in lines
    assert not any("lost" in ln for ln in lines)
    assert pp.vars.get("a") == "1"


def test_xpp_inside_comment_still_runs(tmp_path):
    # FreeSWITCH's pre-processor does not understand comments.
    lines, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<!-- <X-PRE-PROCESS cmd="set" data="incomment=yes"/> -->\n'
        + "</document>\n")})
    assert pp.vars.get("incomment") == "yes"


def test_disabled_xx_pre_process_drops_the_line(tmp_path):
    lines, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<XX-PRE-PROCESS cmd="set" data="disabled=yes"/>\n'
        + '<Z-PRE-PROCESS cmd="set" data="z=yes"/>\n'
        + "</document>\n")})
    assert "disabled" not in pp.vars and "z" not in pp.vars
    # <XX-…> drops the line; <Z-PRE-PROCESS> is not a match at all: an unknown element, kept
    assert lines == ['<document type="freeswitch/xml">', '<Z-PRE-PROCESS cmd="set" data="z=yes"/>',
                     "</document>"]


def test_comment_and_unknown_commands_do_nothing(tmp_path):
    lines, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<X-PRE-PROCESS cmd="comment" data="x=1"/>\n'
        + '<X-PRE-PROCESS cmd="frobnicate" data="x=1"/>\n'
        + "</document>\n")})
    assert len(pp.vars) == 0
    assert lines == ['<document type="freeswitch/xml">', "</document>"]


def test_include_xml_decl_and_include_wrapper_lines_dropped(tmp_path):
    lines, _ = preprocess(tmp_path, {
        "softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="inc.xml"/>\n</document>\n',
        "inc.xml": '<?xml version="1.0"?>\n<include>\n  <kept/>\n</include>\n',
    })
    assert lines == ['<document type="freeswitch/xml">', "<kept/>", "</document>"]


def test_nested_includes_relative_to_including_file(tmp_path):
    lines, pp = preprocess(tmp_path, {
        "softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="sub/a.xml"/>\n</document>\n',
        # relative to sub/, not to the conf dir
        "sub/a.xml": '<include>\n<a/>\n<X-PRE-PROCESS cmd="include" data="deeper/b.xml"/>\n</include>\n',
        "sub/deeper/b.xml": '<include>\n<b/>\n<X-PRE-PROCESS cmd="include" data="../c.xml"/>\n</include>\n',
        "sub/c.xml": "<c/>\n",
        "c.xml": "<wrong/>\n",
    })
    assert lines == ['<document type="freeswitch/xml">', "<a/>", "<b/>", "<c/>", "</document>"]
    assert [os.path.relpath(f, pp.conf_dir) for f in pp.files] == [
        "softswitch.xml", "sub/a.xml", "sub/deeper/b.xml", "sub/c.xml"]


def test_include_glob_sorted_and_empty_glob_is_fine(tmp_path, caplog):
    files = {"softswitch.xml": ROOT_HEAD
             + '<X-PRE-PROCESS cmd="include" data="d/*.xml"/>\n'
             + '<X-PRE-PROCESS cmd="include" data="none/*.xml"/>\n</document>\n'}
    for name in ("b", "a", "c", "10", "2"):
        files[f"d/{name}.xml"] = f"<{'n' + name}/>\n"
    files["d/skip.txt"] = "<skip/>\n"
    with caplog.at_level("INFO", logger="softswitch.config"):
        lines, _ = preprocess(tmp_path, files)
    assert lines[1:-1] == ["<n10/>", "<n2/>", "<na/>", "<nb/>", "<nc/>"]
    assert "No files to include at" in caplog.text


def test_include_absolute_path(tmp_path):
    other = tmp_path / "elsewhere.xml"
    other.write_text("<abs/>\n")
    lines, _ = preprocess(tmp_path, {
        "softswitch.xml": ROOT_HEAD + f'<X-PRE-PROCESS cmd="include" data="{other}"/>\n</document>\n'})
    assert "<abs/>" in lines


def test_include_missing_file_is_an_error_naming_file_and_line(tmp_path):
    with pytest.raises(ConfigError) as ei:
        preprocess(tmp_path, {
            "softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="vars.xml"/>\n</document>\n',
            "vars.xml": '<include>\n\n  <X-PRE-PROCESS cmd="include" data="nothere.xml"/>\n</include>\n'})
    e = ei.value
    assert e.file.endswith("vars.xml") and e.line == 3
    assert "nothere.xml" in str(e) and str(e).startswith(f"{e.file}:3: ")


def test_include_cycle_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as ei:
        preprocess(tmp_path, {
            "softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="a.xml"/>\n</document>\n',
            "a.xml": '<X-PRE-PROCESS cmd="include" data="b.xml"/>\n',
            "b.xml": '\n<X-PRE-PROCESS cmd="include" data="a.xml"/>\n'})
    assert ei.value.file.endswith("b.xml") and ei.value.line == 2
    assert "include cycle: softswitch.xml -> a.xml -> b.xml -> a.xml" in str(ei.value)


def test_glob_that_matches_the_including_file_is_a_cycle(tmp_path):
    with pytest.raises(ConfigError, match="include cycle"):
        preprocess(tmp_path, {
            "softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="d/*.xml"/>\n</document>\n',
            "d/self.xml": '<X-PRE-PROCESS cmd="include" data="*.xml"/>\n'})


def test_include_depth_limit(tmp_path):
    files = {"softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="f0.xml"/>\n</document>\n'}
    for i in range(120):
        files[f"f{i}.xml"] = f'<X-PRE-PROCESS cmd="include" data="f{i + 1}.xml"/>\n'
    files["f120.xml"] = "<deep/>\n"
    with pytest.raises(ConfigError, match="nested deeper than 100"):
        preprocess(tmp_path, files)


def test_exponential_includes_are_refused(tmp_path):
    # Not a cycle, but 2**40 file reads: a pre-processor bomb.
    files = {"softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="f0.xml"/>\n</document>\n'}
    for i in range(40):
        files[f"f{i}.xml"] = (f'<X-PRE-PROCESS cmd="include" data="f{i + 1}.xml"/>\n'
                              f'<X-PRE-PROCESS cmd="include" data="f{i + 1}.xml"/>\n')
    files["f40.xml"] = "<leaf/>\n"
    with pytest.raises(ConfigError, match="more than"):
        preprocess(tmp_path, files)


def test_variable_doubling_bomb_is_refused(tmp_path):
    body = '<X-PRE-PROCESS cmd="set" data="v0=xxxxxxxxxxxxxxxx"/>\n'
    for i in range(40):
        body += f'<X-PRE-PROCESS cmd="set" data="v{i + 1}=$${{v{i}}}$${{v{i}}}"/>\n'
    with pytest.raises(ConfigError) as ei:
        preprocess(tmp_path, {"softswitch.xml": ROOT_HEAD + body + "</document>\n"})
    assert "longer than" in str(ei.value) and ei.value.line is not None


def test_unterminated_var_logged_and_kept(tmp_path, caplog):
    with caplog.at_level("ERROR", logger="softswitch.config"):
        lines, _ = preprocess(tmp_path, {"softswitch.xml": ROOT_HEAD + '<x a="$${oops"/>\n</document>\n'})
    assert '<x a="$${oops"/>' in lines
    assert re.search(r"Error \[unterminated \$\{var\}\] in file \S+softswitch\.xml line 3", caplog.text)


def test_core_uuid_is_empty_at_preprocess_time(tmp_path):
    """The core UUID is made after the XML load (FreeSWITCH order)."""
    from softswitch.testing import make_core

    core = make_core(str(tmp_path / "k"), conf={"u.conf.xml": (
        '<configuration name="u.conf"><settings><param name="u" value="[$${core_uuid}]"/>'
        "</settings></configuration>\n")})
    try:
        assert params(core.xml.open_cfg("u.conf")) == [("u", "[]")]
        assert core.vars.get("core_uuid") == core.uuid and len(core.uuid) == 36
    finally:
        core.shutdown()


def test_exec_set_and_exec(tmp_path):
    lines, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<X-PRE-PROCESS cmd="exec-set" data="who=printf \'hello world  \\n\\n\'"/>\n'
        + '<X-PRE-PROCESS cmd="exec-set" data="empty=true"/>\n'
        + '<w v="$${who}"/>\n'
        + "</document>\n")})
    assert pp.vars.get("who") == "hello world"  # trailing spaces and newlines trimmed
    assert "empty" not in pp.vars  # empty output sets nothing
    assert '<w v="hello world"/>' in lines


def test_exec_output_inserted(tmp_path):
    lines, _ = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD + '<X-PRE-PROCESS cmd="exec" data="echo \'&lt;from-exec/&gt;\'"/>\n</document>\n')})
    # the data attribute is taken raw (no XML unescaping), so the shell printed the entities
    assert any("from-exec" in ln for ln in lines)


def test_exec_set_failure_is_logged(tmp_path, caplog):
    with caplog.at_level("ERROR", logger="softswitch.config"):
        _, pp = preprocess(tmp_path, {"softswitch.xml": (
            ROOT_HEAD + '<X-PRE-PROCESS cmd="exec-set" data="x=exit 3"/>\n</document>\n')})
    assert "x" not in pp.vars
    assert "exited with 3" in caplog.text


def test_env_set(tmp_path, monkeypatch):
    monkeypatch.setenv("SS_TEST_ENV", " spaced value ")
    monkeypatch.delenv("SS_TEST_UNSET", raising=False)
    _, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<X-PRE-PROCESS cmd="env-set" data="e=$SS_TEST_ENV"/>\n'
        + '<X-PRE-PROCESS cmd="env-set" data="u=$SS_TEST_UNSET"/>\n'
        + '<X-PRE-PROCESS cmd="env-set" data="n=SS_TEST_ENV"/>\n'
        + "</document>\n")})
    assert pp.vars.get("e") == " spaced value "  # no trimming
    assert "u" not in pp.vars and "n" not in pp.vars


def test_stun_set_uses_local_address_without_network(tmp_path, monkeypatch):
    import socket

    def no_network(*a, **kw):
        raise AssertionError("stun-set must not use the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    v = GlobalVars()
    v.set("local_ip_v4", "192.0.2.55")
    _, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD + '<X-PRE-PROCESS cmd="stun-set" data="external_rtp_ip=stun.example.org"/>\n'
        "</document>\n")}, v)
    assert pp.vars.get("external_rtp_ip") == "192.0.2.55"


def test_comment_directive(tmp_path):
    lines, pp = preprocess(tmp_path, {"softswitch.xml": (
        ROOT_HEAD
        + '<kept/><!--#set "a=b"-->\n'
        + '<!--#include "inc.xml"-->\n'
        + '<!--#env-set "e=$HOME"-->\n'
        + '<x v="$${a}"/>\n'
        + '<!--#comment "multi\n'
        + "<skipped/>\n"
        + "-->\n"
        + "<after/>\n"
        + "</document>\n"),
        "inc.xml": "<included/>\n"})
    assert pp.vars.get("a") == "b"
    assert "e" not in pp.vars  # env-set is not a directive command
    assert "<kept/>" in lines and "<included/>" in lines and '<x v="b"/>' in lines
    assert "<skipped/>" not in lines and "<after/>" in lines


def test_origin_maps_every_output_line(tmp_path):
    _, pp = preprocess(tmp_path, {
        "softswitch.xml": ROOT_HEAD + '<X-PRE-PROCESS cmd="include" data="i.xml"/>\n<r/>\n</document>\n',
        "i.xml": "<include>\n\n<i/>\n</include>\n"})
    got = [(os.path.basename(f), n, ln.strip()) for (f, n), ln in zip(pp.origin, pp.lines, strict=True)]
    assert ("i.xml", 3, "<i/>") in got and ("softswitch.xml", 4, "<r/>") in got


def test_value_with_newline_keeps_line_numbers_right(tmp_path):
    """A variable whose value has a newline must not shift later error positions."""
    conf_files = {
        "softswitch.xml": ROOT_HEAD
        + '<X-PRE-PROCESS cmd="exec-set" data="two=printf \'a\\nb\'"/>\n'
        + "<x>$${two}</x>\n"
        + '<X-PRE-PROCESS cmd="include" data="bad.xml"/>\n</document>\n',
        "bad.xml": "<ok/>\n<a b=c/>\n",
    }
    with pytest.raises(ConfigError) as ei:
        load(tmp_path, conf_files)
    assert ei.value.file.endswith("bad.xml") and ei.value.line == 2, str(ei.value)


# ----------------------------------------------------------------------------------------------
# Parsing, open_cfg, params
# ----------------------------------------------------------------------------------------------

FS_TREE = {
    "freeswitch.xml": (
        '<?xml version="1.0"?>\n<document type="freeswitch/xml">\n'
        '  <X-PRE-PROCESS cmd="include" data="vars.xml"/>\n'
        '  <section name="Configuration" description="Various Configuration">\n'
        '    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>\n'
        "  </section>\n"
        '  <section name="dialplan"><context name="default"><extension name="x"/></context></section>\n'
        '  <section name="directory"><domain name="$${domain}"/></section>\n'
        '  <section name="phrases"><macros/></section>\n'
        '  <section name="languages"/>\n'
        "  <unknown-element foo=\"bar\"><nested/></unknown-element>\n"
        "</document>\n"),
    "vars.xml": '<include>\n  <X-PRE-PROCESS cmd="set" data="domain=example.org"/>\n'
                '  <X-PRE-PROCESS cmd="set" data="event_socket_port=8021"/>\n</include>\n',
    "autoload_configs/event_socket.conf.xml": (
        '<configuration name="event_socket.conf" description="Socket Client">\n'
        "  <settings>\n"
        '    <param name="nat-map" value="false"/>\n'
        '    <param name="listen-ip" value="127.0.0.1"/>\n'
        '    <param name="listen-port" value="$${event_socket_port}"/>\n'
        '    <param name="password" value="ClueCon"/>\n'
        "    <unknown-child/>\n"
        "  </settings>\n"
        '  <other><param name="o" value="1"/></other>\n'
        "</configuration>\n"),
    "autoload_configs/second.conf.xml": (
        '<configuration name="EVENT_SOCKET.CONF"><settings><param name="dup" value="1"/>'
        "</settings></configuration>\n"),
}


def test_freeswitch_tree_open_cfg_and_params(tmp_path):
    x = load(tmp_path, FS_TREE)
    assert x.root_file.endswith("freeswitch.xml")
    cfg = x.open_cfg("event_socket.conf")
    assert cfg is not None and cfg.get("description") == "Socket Client"  # first match wins
    assert params(cfg) == [("nat-map", "false"), ("listen-ip", "127.0.0.1"),
                           ("listen-port", "8021"), ("password", "ClueCon")]
    assert params(cfg, "other") == [("o", "1")]
    assert params(None) == []
    # names and section names case-insensitive; missing → None
    assert x.open_cfg("Event_Socket.CONF") is cfg
    assert x.section("CONFIGURATION") is not None and x.section("dialplan") is not None
    assert x.open_cfg("nope.conf") is None
    assert x.section("directory").find("domain").get("name") == "example.org"


def test_softswitch_xml_preferred_over_freeswitch_xml(tmp_path):
    files = dict(FS_TREE)
    files["softswitch.xml"] = ROOT_HEAD + '<section name="configuration"><configuration name="only.conf"/>' \
        "</section>\n</document>\n"
    x = load(tmp_path, files)
    assert x.root_file.endswith("softswitch.xml") and x.open_cfg("only.conf") is not None
    x2 = load_xml(str(tmp_path / "conf"), GlobalVars(), cfgname="freeswitch.xml")
    assert x2.open_cfg("event_socket.conf") is not None


def test_where_names_file_and_line(tmp_path):
    x = load(tmp_path, FS_TREE)
    p = x.open_cfg("event_socket.conf").find("settings").findall("param")[2]
    where = x.where(p)
    assert where.endswith(os.path.join("autoload_configs", "event_socket.conf.xml") + ":5")


def test_no_root_file(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(ConfigError) as ei:
        load_xml(str(tmp_path / "conf"), GlobalVars())
    assert "softswitch.xml or freeswitch.xml" in str(ei.value) and "-copyconf" in str(ei.value)


def test_fsxml_written_to_log_dir(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    load(tmp_path, FS_TREE, log_dir=str(log_dir))
    text = (log_dir / "freeswitch.xml.fsxml").read_text()
    assert "X-PRE-PROCESS" not in text and "example.org" in text
    assert not (log_dir / "freeswitch.xml.fsxml.tmp").exists()


def _bad(name: str, files: dict[str, str | bytes], where: str, words: tuple[str, ...]):
    return pytest.param(files, where, words, id=name)


BAD_TREES = [
    _bad("malformed", {"autoload_configs/bad.conf.xml": (
        '<configuration name="bad.conf">\n  <settings>\n    <param name="x" value="1"/\n'
        "  </settings>\n</configuration>\n")},
        "autoload_configs/bad.conf.xml:3", ("XML error",)),
    _bad("mismatched-tag", {"autoload_configs/bad.conf.xml": (
        '<configuration name="bad.conf">\n  <settings>\n  </setting>\n</configuration>\n')},
        "autoload_configs/bad.conf.xml:3", ("mismatched tag",)),
    _bad("include-cycle", {
        "autoload_configs/loop.xml": '<include>\n<X-PRE-PROCESS cmd="include" data="loop2.inc"/>\n</include>\n',
        "autoload_configs/loop2.inc": '\n\n<X-PRE-PROCESS cmd="include" data="loop.xml"/>\n'},
        "autoload_configs/loop2.inc:3", ("include cycle",)),
    _bad("missing-include", {
        "vars.xml": '<include>\n  <X-PRE-PROCESS cmd="include" data="nothere.xml"/>\n</include>\n'},
        "vars.xml:2", ("nothere.xml",)),
    _bad("entity-bomb", {"softswitch.xml": (
        '<?xml version="1.0"?>\n<!DOCTYPE document [\n <!ENTITY lol "lol">\n'
        ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        ' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n'
        '<document type="freeswitch/xml" x="&lol3;">\n'
        '  <X-PRE-PROCESS cmd="include" data="vars.xml"/>\n</document>\n')},
        "softswitch.xml:3", ("ENTITY lol",)),
    _bad("external-entity", {"vars.xml": (
        '<include>\n<X-PRE-PROCESS cmd="set" data="x=1"/>\n</include>\n'), "softswitch.xml": (
        '<?xml version="1.0"?>\n<!DOCTYPE document [\n'
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
        '<document type="freeswitch/xml" x="&xxe;">\n</document>\n')},
        "softswitch.xml:3", ("ENTITY xxe",)),
    _bad("external-dtd", {"softswitch.xml": (
        '<?xml version="1.0"?>\n\n<!DOCTYPE document SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
        '<document type="freeswitch/xml">\n</document>\n')},
        "softswitch.xml:3", ("evil.dtd",)),
    _bad("undefined-entity", {"vars.xml": '<include>\n<x a="&nope;"/>\n</include>\n'},
         "vars.xml:2", ("undefined entity",)),
    _bad("not-utf8", {"vars.xml": b'<include>\n<!-- ok -->\n<!-- caf\xe9 -->\n</include>\n'},
         "vars.xml:3", ("UTF-8",)),
    _bad("preprocess-bomb", {"vars.xml": (
        '<include>\n<X-PRE-PROCESS cmd="set" data="a=0123456789abcdef0123456789abcdef"/>\n'
        + "".join('<X-PRE-PROCESS cmd="set" data="a=$${a}$${a}"/>\n' for _ in range(40))
        + "</include>\n")},
        "vars.xml:", ("longer than",)),
]


@pytest.mark.parametrize("files,where,words", BAD_TREES)
def test_broken_tree_in_process(tmp_path, kt, files, where, words):
    conf = kt.small_conf(tmp_path / "conf", files)
    with pytest.raises(ConfigError) as ei:
        load_xml(str(conf), GlobalVars())
    text = str(ei.value)
    assert "\n" not in text
    assert text.startswith(str(conf / where)), text
    for w in words:
        assert w in text


@pytest.mark.parametrize("files,where,words", BAD_TREES)
def test_broken_tree_refuses_to_start(tmp_path, kernels, kt, files, where, words):
    """A real process: non-zero exit, exactly one line on stderr naming file and line."""
    conf = kt.small_conf(tmp_path / "conf", files)
    r = kernels.run("-nc", "-nf", *kernels.dirs(tmp_path / "k", conf))
    detail = f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.returncode != 0, detail
    line = kt.one_line(r.stderr)
    assert str(conf / where) in line, detail
    assert line.startswith("softswitch: cannot start: "), detail
    for w in words:
        assert w in line, detail
    assert "Traceback" not in r.stdout + r.stderr, detail
    assert not (tmp_path / "k" / "run" / "softswitch.pid").exists()


def test_conf_dir_without_root_refuses_to_start(tmp_path, kernels, kt):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = kernels.run("-nc", "-nf", *kernels.dirs(tmp_path / "k", empty))
    assert r.returncode != 0
    line = kt.one_line(r.stderr)
    assert str(empty) in line and "softswitch.xml" in line, r.stderr


def test_freeswitch_conf_dir_starts(tmp_path, kernels, kt):
    """An existing FreeSWITCH-style tree (freeswitch.xml root, sections and elements softswitch
    does not know) runs as it is."""
    files = dict(FS_TREE)
    files["autoload_configs/modules.conf.xml"] = kt.modules_conf(kt.ABSENT_MODULE)
    files["autoload_configs/switch.conf.xml"] = kt.switch_conf(switchname="fs-tree",
                                                               **{"some-unknown-param": "x"})
    files["autoload_configs/sofia.conf.xml"] = (
        '<configuration name="sofia.conf"><global_settings><param name="log-level" value="0"/>'
        "</global_settings><profiles/></configuration>\n")
    conf = kt.write_tree(tmp_path / "fsconf", files)
    k = kernels.start(*kernels.dirs(tmp_path / "k", conf))
    k.wait_ready()
    assert (tmp_path / "k" / "log" / "freeswitch.xml.fsxml").exists()
    k.terminate_and_check()
    assert "Traceback" not in k.stdout + k.stderr


# ----------------------------------------------------------------------------------------------
# The default tree and the default global variables
# ----------------------------------------------------------------------------------------------


def test_default_conf_tree_layout():
    for rel in ("softswitch.xml", "vars.xml", "autoload_configs/switch.conf.xml",
                "autoload_configs/pre_load_modules.conf.xml", "autoload_configs/modules.conf.xml",
                "autoload_configs/post_load_modules.conf.xml",
                "autoload_configs/event_socket.conf.xml", "autoload_configs/acl.conf.xml"):
        assert os.path.isfile(os.path.join(DEFAULT_CONF, rel)), rel


def test_default_conf_tree_parses(tmp_path):
    v = GlobalVars()
    v.set("local_ip_v4", "192.0.2.9")
    x = load_xml(DEFAULT_CONF, v)
    es = dict(params(x.open_cfg("event_socket.conf")))
    assert es["listen-ip"] == "127.0.0.1" and es["listen-port"] == "8021"
    assert es["password"] == "ClueCon"
    assert v.get("domain") == "192.0.2.9" and v.get("domain_name") == "192.0.2.9"
    mods = [el.get("module") for el in x.open_cfg("modules.conf").iter("load")]
    assert mods == ["mod_event_socket", "mod_loopback", "mod_commands", "mod_dptools",
                    "mod_dialplan_xml", "mod_tone_stream"]
    assert dict(params(x.open_cfg("switch.conf")))["loglevel"] == "debug"


def test_default_global_variables(kernel_factory):
    core = kernel_factory()
    v = core.vars
    d = core.dirs
    expected = {
        "base_dir": d.base_dir, "conf_dir": d.conf_dir, "log_dir": d.log_dir,
        "run_dir": d.run_dir, "db_dir": d.db_dir, "mod_dir": d.mod_dir,
        "recordings_dir": d.recordings_dir, "sounds_dir": d.sounds_dir,
        "sound_prefix": d.sounds_dir, "htdocs_dir": d.htdocs_dir, "script_dir": d.script_dir,
        "temp_dir": d.temp_dir, "grammar_dir": d.grammar_dir, "fonts_dir": d.fonts_dir,
        "images_dir": d.images_dir, "certs_dir": d.certs_dir, "storage_dir": d.storage_dir,
        "cache_dir": d.cache_dir, "data_dir": d.data_dir, "localstate_dir": d.localstate_dir,
        "hostname": core.hostname, "local_ip_v4": core.local_ip_v4, "core_uuid": core.uuid,
    }
    for name, value in expected.items():
        assert v.get(name) == value, name
    assert re.fullmatch(r"[0-9a-f]{12}", v.get("switch_serial") or "")
    assert v.get("local_mask_v4")
    assert "local_ip_v6" in v or core.local_ip_v6 == ""
    assert v.get("test_var") == "test_value"  # from the factory's vars.xml


def test_default_vars_usable_at_preprocess_time(kernel_factory):
    core = kernel_factory(conf={"x.conf.xml": (
        '<configuration name="x.conf"><settings>'
        '<param name="conf" value="$${conf_dir}"/><param name="host" value="$${hostname}"/>'
        '<param name="ip" value="$${local_ip_v4}"/><param name="log" value="$${log_dir}"/>'
        "</settings></configuration>\n")})
    got = dict(params(core.xml.open_cfg("x.conf")))
    assert got == {"conf": core.dirs.conf_dir, "host": core.hostname, "ip": core.local_ip_v4,
                   "log": core.dirs.log_dir}


def test_switch_conf_variables_become_globals(kernel_factory):
    core = kernel_factory(conf={"switch.conf.xml": (
        '<configuration name="switch.conf"><settings><param name="loglevel" value="info"/>'
        '</settings><variables><variable name="answer" value="42"/></variables></configuration>\n')})
    assert core.vars.get("answer") == "42"


# ----------------------------------------------------------------------------------------------
# Run-time expansion
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def gv():
    v = GlobalVars()
    v.set("g", "global")
    v.set("both", "from-global")
    v.set("word", "abcdef")
    v.set("arr", "ARRAY::zero|:one|:two")
    return v


def test_expand_variables(gv):
    chan = {"both": "from-channel", "chan": "c"}

    def lookup(name):
        return chan.get(name.lower())

    assert expand("${g} ${both} ${chan} [${unset}]", gv, lookup) == "global from-channel c []"
    assert expand("$${both} $${chan}", gv, lookup) == "from-global "
    assert expand("no dollars", gv) == "no dollars"
    assert expand("$ alone, ${unterminated", gv) == "$ alone, ${unterminated"
    assert expand(r"\${g} costs \$5", gv) == "${g} costs $5"


@pytest.mark.parametrize("expr,want", [
    ("${word:1:2}", "bc"), ("${word:2}", "cdef"), ("${word:-2}", "ef"),
    ("${word:-3:2}", "de"), ("${word:0:-1}", "abcde"), ("${word:10}", ""),
    ("${arr[0]}", "zero"), ("${arr[2]}", "two"), ("${arr[5]}", ""),
])
def test_expand_substrings_and_arrays(gv, expr, want):
    assert expand(expr, gv) == want


def test_expand_nested(gv):
    gv.set("which", "g")
    assert expand("${${which}}", gv) == "global"


def test_expand_api(gv):
    calls = []

    def api(cmd, arg):
        calls.append((cmd, arg))
        return f"<{cmd}|{arg}>"

    assert expand("x ${upper hello world} y", gv, api=api) == "x <upper|hello world> y"
    assert expand("${upper(a b)}", gv, api=api) == "<upper|a b>"
    assert expand("${echo ${g}}", gv, api=api) == "<echo|global>"
    assert calls == [("upper", "hello world"), ("upper", "a b"), ("echo", "global")]
    assert expand("${upper x}", gv, api=api, api_expansion=False) == "<API execute Permission Denied>"


def test_core_expand_with_api_expansion_setting(kernel_factory):
    core = kernel_factory(settings={"api-expansion": "false"})
    assert core.expand("${nosuchapi arg}") == "<API execute Permission Denied>"
    core2 = kernel_factory()
    assert core2.expand("[${test_var}]") == "[test_value]"
    assert "Command not found" in core2.expand("${nosuchapi arg}")


def test_expand_recursion_is_bounded(gv):
    text = "${" * 300 + "g" + "}" * 300
    assert isinstance(expand(text, gv), str)


def test_module_reexports():
    assert config.ROOT_FILES == ("softswitch.xml", "freeswitch.xml")
    assert sys.modules["softswitch"].params is params
