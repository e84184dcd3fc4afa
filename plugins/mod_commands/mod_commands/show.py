"""``show`` and ``help``: reports from the core database, as text, JSON or XML.

The text writers reproduce FreeSWITCH's byte for byte: the delimited form (``show_callback``),
``as json`` (cJSON unformatted) and ``as xml`` (``switch_xml_toxml``: two-space indent, one
element per line, ``&#xNN;`` for non-ASCII). The SQL is FreeSWITCH's own; the views
FreeSWITCH's core database has (``basic_calls``, ``detailed_calls``) and the tables our core
database does not keep (``registrations``, ``nat``) are written as sub-selects here, and
``show tasks`` reads the scheduler itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ._api import CommandTable, execute_into
from ._text import separate_string

commands = CommandTable()

SHOW_SYNTAX = (
    "codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like "
    "<match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|"
    "chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status"
)

_CHANNEL_COLS = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec",
    "read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure",
    "hostname", "presence_id", "presence_data", "accountcode", "callstate", "callee_name",
    "callee_num", "callee_direction", "call_uuid", "sent_callee_name", "sent_callee_num",
)
_BASIC_COLS = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate", "callee_name",
    "callee_num", "callee_direction", "call_uuid", "hostname", "sent_callee_name", "sent_callee_num",
)
_BASIC_B_COLS = tuple(c for c in _BASIC_COLS if c not in ("call_uuid", "hostname"))


def _view(a_cols: Sequence[str], b_cols: Sequence[str]) -> str:
    cols = [f"a.{c} as {c}" for c in a_cols] + [f"b.{c} as b_{c}" for c in b_cols]
    return (
        "(select " + ",".join(cols) + ",c.call_created_epoch as call_created_epoch "
        "from channels a "
        "left join calls c on a.uuid = c.caller_uuid and a.hostname = c.hostname "
        "left join channels b on b.uuid = c.callee_uuid and b.hostname = c.hostname "
        "where a.uuid = c.caller_uuid or a.uuid not in (select callee_uuid from calls))"
    )


#: FreeSWITCH's ``basic_calls`` and ``detailed_calls`` views (switch_core_sqldb.c).
BASIC_CALLS = _view(_BASIC_COLS, _BASIC_B_COLS)
DETAILED_CALLS = _view(_CHANNEL_COLS, _CHANNEL_COLS)
#: Tables FreeSWITCH's core database has and ours does not (no registrar, no NAT mapper yet).
REGISTRATIONS = (
    "(select NULL as reg_user, NULL as realm, NULL as token, NULL as url, NULL as expires, "
    "NULL as network_ip, NULL as network_port, NULL as network_proto, NULL as hostname, "
    "NULL as metadata where 0)"
)
NAT = "(select NULL as sticky, NULL as port, NULL as proto, NULL as hostname where 0)"
TASK_COLS = ["task_id", "task_desc", "task_group", "task_runtime", "task_sql_manager", "hostname"]

_TYPE_WORDS = ("codec", "dialplan", "file", "timer", "chat", "limit", "say", "management", "endpoint")


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _json_str(text: str) -> str:
    # cJSON escapes exactly what json.dumps does without ensure_ascii: " \\ and controls
    return json.dumps(text, ensure_ascii=False)


def render_json(cols: Sequence[str], rows: Sequence[Sequence], count: int | None = None) -> str:
    """cJSON_PrintUnformatted of ``{"row_count":N,"rows":[...]}`` (``count`` for ``... count``)."""
    body = ",".join(
        "{" + ",".join(f"{_json_str(c)}:{_json_str(_str(v))}" for c, v in zip(cols, row, strict=False)) + "}"
        for row in rows
    )
    n = len(rows) if count is None else count
    return f'{{"row_count":{n},"rows":[{body}]}}'


def xml_text(text: str) -> str:
    """``switch_xml_ampencode`` for element text: ``& < >``, ``\\r``, non-ASCII as ``&#xNN;``;
    from ``<!`` on, the rest is copied as it is."""
    out = []
    for i, c in enumerate(text):
        if c == "&":
            out.append("&amp;")
        elif c == "<":
            if text[i + 1:i + 2] == "!":
                out.append(text[i:])
                break
            out.append("&lt;")
        elif c == ">":
            out.append("&gt;")
        elif c == "\r":
            out.append("&#xD;")
        elif c == "\0":
            break
        elif ord(c) >= 0x80:
            out.append(f"&#x{ord(c):X};")
        else:
            out.append(c)
    return "".join(out)


def render_xml(cols: Sequence[str], rows: Sequence[Sequence], count: int | None = None) -> str:
    """``switch_xml_toxml`` of ``<result row_count="N"><row row_id="1"><col>…`` (indented)."""
    n = len(rows) if count is None else count
    if not rows:
        return f'<result row_count="{n}"></result>\n'
    parts = [f'<result row_count="{n}">\n']
    for i, row in enumerate(rows, 1):
        parts.append(f'  <row row_id="{i}">\n')
        for c, v in zip(cols, row, strict=False):
            name = c or "undefined"
            parts.append(f"    <{name}>{xml_text(_str(v))}</{name}>\n")
        parts.append("  </row>\n")
    parts.append("</result>\n")
    return "".join(parts)


def render_delim(cols: Sequence[str], rows: Sequence[Sequence], delim: str, title: bool = True) -> str:
    """``show_callback``: a header line (when there are rows), then one line per row."""
    if not rows:
        return ""
    lines = [delim.join(c or "undefined" for c in cols) + "\n"] if title else []
    lines.extend(delim.join(_str(v) for v in row) + "\n" for row in rows)
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# show
# ---------------------------------------------------------------------------------------------


def _query(module, sql: str, params: Sequence) -> tuple[list[str], list[tuple]]:
    sessions = getattr(module.core, "sessions", None)
    if sessions is not None:
        # the channels/calls rows are written in batches: make every accepted event visible
        sessions.flush_db()
    if sql == "tasks":
        core = module.core
        return TASK_COLS, [(t.id, t.desc, t.group, int(t.runtime), 0, core.hostname)
                           for t in core.tasks.list()]
    return module.core.db.query(sql, params)


def show_report(module, cmd: str, session, stream) -> None:
    """``show_function`` (also what ``help`` runs)."""
    core = module.core
    if core.db is None:
        stream.write("-ERR SQL disabled, no data available!\n")
        return
    argv = separate_string(cmd, " ", 6) if cmd else []
    argv += [None] * (6 - len(argv))
    command = argv[0]
    fmt = argv[2] if argv[2] is not None and (argv[1] or "").lower() == "as" else None
    host, switch = core.hostname, core.switchname
    help_ = justcount = False
    title = True
    delim = None
    sql: str
    params: tuple = ()
    if not command:
        stream.write(f"-USAGE: {SHOW_SYNTAX}\n")
        return
    lc = command.lower()
    if lc.startswith("status"):
        # "show status" for those who keep typing it: run the API named by the word
        execute_into(module, command, fmt if fmt is not None else (argv[1] or ""), None, stream)
        return
    if any(lc.startswith(w) for w in _TYPE_WORDS):
        if command.endswith("s"):
            command = command[:-1]
        sql = ("select type, name, ikey from interfaces where hostname=? and type = ? "
               "order by type,name")
        params = (host, command)
    elif lc.startswith("module"):
        if argv[1] and argv[1].lower() != "as":
            sql = ("select distinct type, name, ikey, filename from interfaces where hostname=? "
                   "and ikey = ? order by type,name")
            params = (host, argv[1])
        else:
            sql = ("select distinct type, name, ikey, filename from interfaces where hostname=? "
                   "order by type,name")
            params = (host,)
    elif lc == "interfaces":
        sql = "select type, name, ikey from interfaces where hostname=? order by type,name"
        params = (host,)
    elif lc == "interface_types":
        # FreeSWITCH compares hostname with the *switchname* here (a bug that hides every row
        # when switch.conf sets a switchname); the rows are the host's, so we use the hostname.
        sql = ("select type,count(type) as total from interfaces where hostname=? group by type "
               "order by type")
        params = (host,)
    elif lc == "tasks":
        sql = "tasks"
    elif lc in ("application", "api"):
        if argv[1] and argv[1].lower() != "as":
            sql = ("select name, description, syntax, ikey from interfaces where hostname=? and "
                   "type = ? and description != '' and name = ? order by type,name")
            params = (host, command, argv[1])
        else:
            sql = ("select name, description, syntax, ikey from interfaces where hostname=? and "
                   "type = ? and description != '' order by type,name")
            params = (host, command)
    elif lc == "aliases":
        sql = "select * from aliases where hostname=? order by alias"
        params = (switch,)
    elif lc == "complete":
        sql = "select * from complete where hostname=? order by a1,a2,a3,a4,a5,a6,a7,a8,a9,a10"
        params = (switch,)
    elif lc.startswith("help"):
        # FreeSWITCH looks for "help <name>" in the first word only, which never has a space:
        # "help <name>" therefore lists every API, as in FreeSWITCH.
        help_ = True
        title = False
        sql = ("select name, syntax, description, ikey from interfaces where hostname=? and "
               "type = 'api' order by name")
        params = (host,)
    elif lc == "nat_map":
        sql = ("SELECT port, CASE proto WHEN 0 THEN 'udp' WHEN 1 THEN 'tcp' ELSE 'unknown' END AS "
               f"proto, proto AS proto_num, sticky FROM {NAT} where hostname=? ORDER BY port, proto")
        params = (host,)
    elif lc == "calls":
        sql = f"select * from {BASIC_CALLS} where hostname=? order by call_created_epoch"
        params = (switch,)
        if argv[1] and argv[1].lower() == "count":
            sql = f"select count(*) from {BASIC_CALLS} where hostname=?"
            justcount = True
            if argv[2] and argv[3] and argv[2].lower() == "as":
                fmt = argv[3]
    elif lc == "registrations":
        sql = f"select * from {REGISTRATIONS} where hostname=?"
        params = (switch,)
        if argv[1] and argv[1].lower() == "count":
            sql = f"select count(*) from {REGISTRATIONS} where hostname=?"
            justcount = True
            if argv[2] and argv[3] and argv[2].lower() == "as":
                fmt = argv[3]
    elif lc == "channels" and argv[1] and argv[1].lower() == "like":
        if argv[2]:
            match = argv[2].replace("'", " ").replace(";", " ")
            if "%" not in match:
                match = f"%{match}%"
            # FreeSWITCH's SQL, precedence and all: "hostname and uuid" or any of the others
            sql = ("select * from channels where hostname=? and uuid like ? or name like ? or "
                   "cid_name like ? or cid_num like ? or presence_data like ? or accountcode "
                   "like ? order by created_epoch")
            params = (switch,) + (match,) * 6
            if argv[4] and (argv[3] or "").lower() == "as":
                fmt = argv[4]
        else:
            sql = "select * from channels where hostname=? order by created_epoch"
            params = (switch,)
    elif lc == "channels":
        sql = "select * from channels where hostname=? order by created_epoch"
        params = (switch,)
        if argv[1] and argv[1].lower() == "count":
            sql = "select count(*) from channels where hostname=?"
            justcount = True
            if argv[2] and argv[3] and argv[2].lower() == "as":
                fmt = argv[3]
    elif lc in ("detailed_calls", "bridged_calls", "detailed_bridged_calls"):
        view = BASIC_CALLS if lc == "bridged_calls" else DETAILED_CALLS
        bridged = "b_uuid is not null and " if "bridged" in lc else ""
        sql = f"select * from {view} where {bridged}hostname=? order by created_epoch"
        params = (switch,)
    else:
        stream.write(f"-USAGE: {SHOW_SYNTAX}\n")
        return

    if fmt is None:
        fmt, delim = "delim", ","
    lf = fmt.lower()
    if lf not in ("delim", "csv", "xml", "json"):
        stream.write(f"-ERR Cannot find format {fmt}\n")
        return
    try:
        cols, rows = _query(module, sql, params)
        error = None
    except sqlite3.Error as e:
        cols, rows, error = [], [], str(e)
    count = None
    if justcount:
        count = int(rows[0][0] or 0) if rows else 0
    if lf in ("delim", "csv"):
        if not delim:
            delim = argv[3] or ","
        if not justcount:
            stream.write(render_delim(cols, rows, delim, title))
        n = count if justcount else len(rows)
        if error is not None:
            stream.write(f"-ERR SQL error [{error}]\n")
        elif help_:
            if n == 0:
                stream.write("-ERR No such command\n")
        else:
            stream.write(f"\n{n} total.\n")
    elif lf == "xml":
        if error is not None:
            stream.write(f"-ERR SQL error [{error}]\n")
        if rows:  # the callback ran at least once: a document, even for "count"
            stream.write(render_xml(cols, [] if justcount else rows, count))
        else:
            stream.write('<result row_count="0"/>\n')
    else:
        if error is not None:
            stream.write(f"-ERR SQL Error [{error}]\n")
        if rows:
            stream.write(render_json(cols, [] if justcount else rows, count))
        else:
            stream.write('{"row_count": 0}\n')


@commands("show", "Show various reports", SHOW_SYNTAX)
def show(module, cmd, session, stream):
    show_report(module, cmd, session, stream)


@commands("help", "Show help for all the api commands", "")
def help_(module, cmd, session, stream):
    if not cmd:
        stream.write("\nValid Commands:\n\n")
        show_report(module, "help", session, stream)
    else:
        show_report(module, f"help {cmd}", session, stream)
