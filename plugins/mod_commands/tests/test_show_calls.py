"""``show channels|calls|detailed_calls|bridged_calls`` over rows of the real core database,
byte for byte as FreeSWITCH's (spec/sessions.md §7, switch_core_sqldb.c's views)."""

from __future__ import annotations

import json

import pytest

CHANNEL_COLS = (
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,"
    "application_data,dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,"
    "write_bit_rate,secure,hostname,presence_id,presence_data,accountcode,callstate,callee_name,"
    "callee_num,callee_direction,call_uuid,sent_callee_name,sent_callee_num,initial_cid_name,"
    "initial_cid_num,initial_ip_addr,initial_dest,initial_dialplan,initial_context"
).split(",")
BASIC = (
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,presence_id,"
    "presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,hostname,"
    "sent_callee_name,sent_callee_num"
).split(",")
BASIC_COLS = BASIC + ["b_" + c for c in BASIC if c not in ("call_uuid", "hostname")] + ["call_created_epoch"]
DETAILED = CHANNEL_COLS[:CHANNEL_COLS.index("initial_cid_name")]
DETAILED_COLS = DETAILED + ["b_" + c for c in DETAILED] + ["call_created_epoch"]


def add_channel(core, uuid, epoch, **cols):
    row = dict.fromkeys(CHANNEL_COLS)
    row.update(uuid=uuid, direction="outbound", created=f"2026-12-06 10:00:0{epoch % 10}",
               created_epoch=epoch, name=f"null/{uuid}", state="CS_EXECUTE",
               cid_name="Outbound Call", cid_num="1000", dest="1000", application="park",
               dialplan="", context="default", read_codec="L16", read_rate="8000",
               read_bit_rate="128000", write_codec="L16", write_rate="8000",
               write_bit_rate="128000", hostname=core.switchname, callstate="ACTIVE",
               callee_num="0000000000", callee_direction="RECV", initial_cid_num="0000000000",
               initial_dest="1000", initial_context="default")
    row.update(cols)
    core.db.execute(f"insert into channels ({','.join(row)}) values ({','.join('?' * len(row))})",
                    list(row.values()))
    return row


def csv_line(values):
    return ",".join("" if v is None else str(v) for v in values) + "\n"


def test_no_channels_every_format(api):
    assert api("show channels") == "\n0 total.\n"
    assert api("show channels count") == "\n0 total.\n"
    assert api("show calls") == "\n0 total.\n"
    assert api("show calls count") == "\n0 total.\n"
    assert api("show detailed_calls") == "\n0 total.\n"
    assert api("show bridged_calls") == "\n0 total.\n"
    assert api("show channels as json") == '{"row_count": 0}\n'
    assert api("show channels as xml") == '<result row_count="0"/>\n'
    assert api("show calls as json") == '{"row_count": 0}\n'


def test_show_channels_csv_header_and_rows(core, api):
    a = add_channel(core, "aaaa", 1)
    b = add_channel(core, "bbbb", 2, accountcode="acct", cid_name="x,y")
    out = api("show channels")
    assert out == (csv_line(CHANNEL_COLS) + csv_line(a.values()) + csv_line(b.values()) + "\n2 total.\n")
    assert api("show channels count") == "\n2 total.\n"
    assert api("show channels as delim |") == (
        "|".join(CHANNEL_COLS) + "\n" + "|".join("" if v is None else str(v) for v in a.values())
        + "\n" + "|".join("" if v is None else str(v) for v in b.values()) + "\n\n2 total.\n")


def test_show_channels_json_and_xml(core, api):
    a = add_channel(core, "aaaa", 1)
    out = api("show channels as json")
    assert out.startswith('{"row_count":1,"rows":[{"uuid":"aaaa","direction":"outbound",')
    assert not out.endswith("\n")
    doc = json.loads(out)
    assert list(doc["rows"][0]) == CHANNEL_COLS
    assert doc["rows"][0]["ip_addr"] == "" and doc["rows"][0]["created_epoch"] == "1"
    xml = api("show channels as xml")
    lines = xml.split("\n")
    assert lines[0] == '<result row_count="1">'
    assert lines[1] == '  <row row_id="1">'
    assert lines[2] == "    <uuid>aaaa</uuid>"
    assert "    <ip_addr></ip_addr>" in lines
    assert xml.endswith("  </row>\n</result>\n")
    assert len(lines) == 2 + len(CHANNEL_COLS) + 3
    assert a["name"] == "null/aaaa"
    assert api("show channels count as json") == '{"row_count":1,"rows":[]}'


def test_show_channels_like(core, api):
    add_channel(core, "aaaa", 1, cid_name="Alice")
    add_channel(core, "bbbb", 2, cid_name="Bob")
    out = api("show channels like Ali")
    assert out.splitlines()[1].startswith("aaaa,") and out.endswith("\n1 total.\n")
    assert api("show channels like %ob") .endswith("\n1 total.\n")
    assert api("show channels like nobody") == "\n0 total.\n"


def test_show_calls_one_row_per_bridged_pair(core, api):
    a = add_channel(core, "aaaa", 1, call_uuid="aaaa")
    b = add_channel(core, "bbbb", 2, call_uuid="aaaa", direction="inbound")
    c = add_channel(core, "cccc", 3)  # not bridged
    core.db.execute("insert into calls values (?,?,?,?,?,?)",
                    ("aaaa", "2026-12-06 10:00:05", 5, "aaaa", "bbbb", core.switchname))
    out = api("show calls")
    lines = out.split("\n")
    assert lines[0] == ",".join(BASIC_COLS)
    # ordered by call_created_epoch, NULLs first: the unbridged leg, then the pair
    row_c = [c[k] for k in BASIC] + [None] * (len(BASIC) - 2) + [None]
    row_ab = [a[k] for k in BASIC] + [b[k] for k in BASIC if k not in ("call_uuid", "hostname")] + [5]
    assert out == (csv_line(BASIC_COLS) + csv_line(row_c) + csv_line(row_ab) + "\n2 total.\n")
    assert api("show calls count") == "\n2 total.\n"
    assert api("show bridged_calls") == csv_line(BASIC_COLS) + csv_line(row_ab) + "\n1 total.\n"
    det = api("show detailed_calls").split("\n")
    assert det[0] == ",".join(DETAILED_COLS)
    assert api("show detailed_calls").endswith("\n2 total.\n")
    assert api("show detailed_bridged_calls").endswith("\n1 total.\n")
    doc = json.loads(api("show bridged_calls as json"))
    assert doc["row_count"] == 1 and doc["rows"][0]["b_uuid"] == "bbbb"


@pytest.mark.parametrize("cmd", ["show detailed_calls as xml", "show bridged_calls as xml"])
def test_show_calls_as_xml_none(api, cmd):
    assert api(cmd) == '<result row_count="0"/>\n'
