"""Calls over the Event Socket, against a real ``softswitch`` process (issue #15).

The process loads the default conf tree plus mod_loopback (``null``, ``loopback``) and
mod_dptools (``park``, ``answer``, ``hangup``). Clients are a raw socket ESL client written here
(so that header order and repeated headers are seen exactly as sent) and greenswitch from PyPI.
The golden sequence of ``originate null/1000 &park`` + ``uuid_kill`` (spec/sessions.md §3.3) is
in ``golden/originate_null_park.json``, written from the spec, compared header by header.
"""

from __future__ import annotations

import json
import pathlib
import queue
import re
import socket
import threading
import time
import urllib.parse
import uuid as uuid_mod

import pytest

GOLDEN = pathlib.Path(__file__).parent / "golden" / "originate_null_park.json"
STANDARD = ("Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname",
            "FreeSWITCH-IPv4", "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT",
            "Event-Date-Timestamp", "Event-Calling-File", "Event-Calling-Function",
            "Event-Calling-Line-Number", "Event-Sequence")
TIMEOUT = 20.0


class ESL:
    """A small inbound ESL client: replies in order, events on a queue (plain, decoded, as a
    list of ``(name, value)`` pairs so that order and repeats are kept)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.replies: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()
        self.closed = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        head, _ = self.replies.get(timeout=TIMEOUT)
        assert head.get("Content-Type") == "auth/request"
        head, _ = self.command("auth ClueCon")
        assert head["Reply-Text"] == "+OK accepted"

    def _message(self):
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError
            self.buf += chunk
        raw, _, rest = self.buf.partition(b"\n\n")
        head = dict(line.split(": ", 1) for line in raw.decode().split("\n") if ": " in line)
        n = int(head.get("Content-Length", 0))
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError
            rest += chunk
        self.buf = rest[n:]
        return head, rest[:n].decode()

    def _read(self) -> None:
        self.sock.settimeout(None)
        try:
            while True:
                head, body = self._message()
                if head.get("Content-Type") == "text/event-plain":
                    self.events.put(parse_plain(body))
                else:
                    self.replies.put((head, body))
        except (ConnectionError, OSError):
            self.closed.set()

    def command(self, text: str):
        self.sock.sendall(text.encode() + b"\n\n")
        return self.replies.get(timeout=TIMEOUT)

    def api(self, text: str) -> str:
        head, body = self.command(f"api {text}")
        assert head["Content-Type"] == "api/response"
        return body

    def wait_event(self, pred, timeout: float = TIMEOUT, seen: list | None = None):
        """The first queued event for which ``pred(headers_dict)`` holds (earlier ones go to
        ``seen``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching event in {timeout} s; seen "
                                     f"{[dict(e).get('Event-Name') for e in (seen or [])][-20:]}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if seen is not None:
                seen.append(ev)
            if pred(dict(ev)):
                return ev

    def close(self) -> None:
        try:
            self.sock.sendall(b"exit\n\n")
        except OSError:
            pass
        self.sock.close()


def parse_plain(body: str) -> list[tuple[str, str]]:
    """The headers, decoded, in order; an event body (after Content-Length) as ``_body``."""
    head, _, rest = body.partition("\n\n")
    out = []
    for line in head.split("\n"):
        if ": " in line:
            name, value = line.split(": ", 1)
            out.append((name, urllib.parse.unquote(value)))
    if any(n == "Content-Length" for n, _ in out):
        out = [(n, v) for n, v in out if n != "Content-Length"] + [("_body", rest)]
    return out


@pytest.fixture
def esl(calls_system):
    clients = []

    def connect() -> ESL:
        c = ESL(calls_system.port)
        clients.append(c)
        return c
    yield connect
    for c in clients:
        c.close()


def wait_channels(c: ESL, n: int, timeout: float = TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = c.api("show channels count")
        if out == f"\n{n} total.\n" or time.monotonic() > deadline:
            return out
        time.sleep(0.02)  # polling a count until it matches, bounded by the deadline


def originate_uuid(reply: str) -> str:
    m = re.fullmatch(r"\+OK ([0-9a-f-]{36})\n", reply)
    assert m, reply
    return m.group(1)


# ---------------------------------------------------------------------------------------------
# the golden sequence
# ---------------------------------------------------------------------------------------------


def _match(expected: str, actual: str, uuid: str, old: str | None = None) -> bool:
    if expected == "<uuid>":
        return actual == uuid
    if expected == "<old-uuid>":
        return actual == old
    if expected == "<time>":
        return actual.isdigit() and int(actual) > 0
    if expected == "<any>":
        return True
    return expected == actual


def compare_event(i: int, expected: dict, event: list[tuple[str, str]], uuid: str,
                  old: str | None = None) -> list[str]:
    """Differences between one golden event and one received event, as readable lines."""
    problems = []
    names = [n for n, _ in event]
    std = [n for n in names if n in STANDARD]
    if std[:1] != ["Event-Name"] or [n for n in STANDARD if n in std] != std:
        problems.append(f"event {i + 1}: standard headers out of order: {std}")
    rest = [(n, v) for n, v in event if n not in STANDARD]
    headers = [(n, v) for n, v in rest if not n.startswith("variable_")]
    variables = [n[len("variable_"):] for n, _ in rest if n.startswith("variable_")]
    if dict(event).get("Event-Name") != expected["Event-Name"]:
        problems.append(f"event {i + 1}: {dict(event).get('Event-Name')} instead of {expected['Event-Name']}")
        return problems
    want = expected["headers"]
    for k in range(max(len(want), len(headers))):
        w = want[k] if k < len(want) else None
        h = headers[k] if k < len(headers) else None
        if w is None or h is None or w[0] != h[0] or not _match(w[1], h[1], uuid, old):
            problems.append(f"event {i + 1} {expected['Event-Name']} header {k + 1}: expected "
                            f"{w and tuple(w)}, got {h}")
            break
    if "variables" in expected and variables != expected["variables"]:
        problems.append(f"event {i + 1} {expected['Event-Name']}: variables {variables} != "
                        f"{expected['variables']}")
    if rest and headers != [h for h in rest if not h[0].startswith("variable_")][:len(headers)]:
        problems.append(f"event {i + 1}: variable_* headers are not last")
    return problems


def test_originate_null_park_then_kill_matches_the_golden_sequence(esl):
    golden = json.loads(GOLDEN.read_text())["events"]
    watch, ctl = esl(), esl()
    assert watch.command("event plain ALL")[0]["Reply-Text"] == "+OK event listener enabled plain"
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    seen: list = []
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_PARK" and e.get("Unique-ID") == uuid,
                     seen=seen)
    assert ctl.api(f"uuid_kill {uuid}") == "+OK\n"
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_STATE" and e.get("Unique-ID") == uuid
                     and e.get("Channel-State") == "CS_DESTROY", seen=seen)
    mine = [e for e in seen if dict(e).get("Unique-ID") == uuid
            and dict(e).get("Event-Name") not in ("API", "BACKGROUND_JOB", "HEARTBEAT", "RE_SCHEDULE")]
    names = [dict(e)["Event-Name"] for e in mine]
    assert names == [g["Event-Name"] for g in golden], names
    problems = [p for i, (g, e) in enumerate(zip(golden, mine, strict=True))
                for p in compare_event(i, g, e, uuid)]
    assert not problems, "\n".join(problems)
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def golden_with_origination_uuid(golden: list[dict]) -> list[dict]:
    """The §3.3 sequence when ``{origination_uuid=U}`` is given, derived from the golden file by
    the spec's rules: CHANNEL_UUID between events 2 and 3 (§3.3) with ``Old-Unique-ID`` before
    the channel data (§3.2); the two CODEC events still carry the old uuid; ``uuid`` and
    ``call_uuid`` are re-set when the uuid changes (§6.4), which moves them to the end of the
    variables (§1). ``origination_uuid`` itself is not left as a variable (FreeSWITCH's
    ``switch_core_session_outgoing_channel`` deletes it from the originate variables once
    applied)."""
    import copy

    g = copy.deepcopy(golden)
    for ev in g[:2]:
        ev["headers"] = [[n, "<old-uuid>" if v == "<uuid>" else v] for n, v in ev["headers"]]
    base = ["direction", "is_outbound", "session_id", "read_codec", "read_rate", "write_codec",
            "write_rate", "channel_name", "uuid", "call_uuid"]
    uuid_ev = {"Event-Name": "CHANNEL_UUID",
               "headers": [["Old-Unique-ID", "<old-uuid>"]] + copy.deepcopy(g[2]["headers"]),
               "variables": base}
    g.insert(2, uuid_ev)
    create = base + ["originate_early_media", "originate_endpoint"]
    flipped = create + ["endpoint_disposition", "pre_transfer_caller_id_number", "channel_cid_flipped"]
    for ev in g:
        if ev["Event-Name"] == "CHANNEL_CREATE":
            ev["variables"] = create
        elif ev["Event-Name"] == "CALL_UPDATE":
            ev["variables"] = flipped
        elif ev["Event-Name"] == "CHANNEL_EXECUTE":
            ev["variables"] = [v for v in flipped if v != "call_uuid"] + ["call_uuid", "current_application"]
    return g


def test_originate_with_origination_uuid_matches_the_golden_sequence(esl):
    golden = golden_with_origination_uuid(json.loads(GOLDEN.read_text())["events"])
    watch, ctl = esl(), esl()
    watch.command("event plain ALL")
    u = str(uuid_mod.uuid4())
    assert ctl.api(f"originate {{origination_uuid={u}}}null/1000 &park") == f"+OK {u}\n"
    seen: list = []
    first = dict(watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_UUID" and e.get("Unique-ID") == u,
                                  seen=seen))
    old = first["Old-Unique-ID"]
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_PARK" and e.get("Unique-ID") == u, seen=seen)
    assert ctl.api(f"uuid_kill {u}") == "+OK\n"
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_STATE" and e.get("Unique-ID") == u
                     and e.get("Channel-State") == "CS_DESTROY", seen=seen)
    mine = [e for e in seen if dict(e).get("Unique-ID") in (u, old)
            and dict(e).get("Event-Name") not in ("API", "BACKGROUND_JOB", "HEARTBEAT", "RE_SCHEDULE")]
    names = [dict(e)["Event-Name"] for e in mine]
    assert names == [g["Event-Name"] for g in golden], names
    problems = [p for i, (g, e) in enumerate(zip(golden, mine, strict=True))
                for p in compare_event(i, g, e, u, old)]
    assert not problems, "\n".join(problems)
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_origination_uuid_events_filtered_on_unique_id(esl):
    watch, ctl = esl(), esl()
    u = str(uuid_mod.uuid4())
    assert watch.command(f"filter Unique-ID {u}")[0]["Reply-Text"] == f"+OK filter added. [Unique-ID]=[{u}]"
    watch.command("event plain CHANNEL_UUID CHANNEL_CREATE CHANNEL_PARK CHANNEL_HANGUP CHANNEL_DESTROY")
    other = originate_uuid(ctl.api("originate null/2000 &park"))  # filtered out
    assert ctl.api(f"originate {{origination_uuid={u}}}null/1000 &park") == f"+OK {u}\n"
    seen: list = []
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_PARK", seen=seen)
    assert [dict(e)["Event-Name"] for e in seen] == ["CHANNEL_UUID", "CHANNEL_CREATE", "CHANNEL_PARK"]
    uuid_ev = dict(seen[0])
    assert uuid_ev["Unique-ID"] == u and uuid_ev["Old-Unique-ID"] != u
    assert ctl.api(f"uuid_getvar {u} uuid") == u
    assert ctl.api(f"uuid_kill {u} USER_BUSY") == "+OK\n"
    hang = dict(watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_HANGUP"))
    assert hang["Hangup-Cause"] == "USER_BUSY"
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_DESTROY")
    assert all(dict(e).get("Unique-ID") == u for e in seen)
    assert ctl.api(f"uuid_kill {other}") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_show_channels_of_a_parked_null_leg(esl):
    ctl = esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    try:
        out = ctl.api("show channels")
        header, row, blank, total = out.split("\n")[:4]
        cols = header.split(",")
        assert cols[:6] == ["uuid", "direction", "created", "created_epoch", "name", "state"]
        values = dict(zip(cols, row.split(","), strict=True))
        # spec §7: the parked null leg's row as FreeSWITCH shows it
        assert values["uuid"] == uuid and values["name"] == "null/1000"
        assert (values["state"], values["cid_name"], values["cid_num"], values["application"],
                values["dialplan"], values["callstate"], values["callee_num"],
                values["callee_direction"], values["initial_cid_num"]) == (
            "CS_EXECUTE", "Outbound Call", "1000", "park", "", "ACTIVE", "0000000000", "RECV",
            "0000000000")
        assert (blank, total) == ("", "1 total.")
        assert ctl.api("show channels count") == "\n1 total.\n"
        doc = json.loads(ctl.api("show channels as json"))
        assert doc["row_count"] == 1 and doc["rows"][0]["uuid"] == uuid
        assert ctl.api("show calls count") == "\n1 total.\n"
        assert ctl.api(f"show channels like {uuid[:8]}").endswith("\n1 total.\n")
    finally:
        ctl.api(f"uuid_kill {uuid}")
    assert wait_channels(ctl, 0) == "\n0 total.\n"


# ---------------------------------------------------------------------------------------------
# the commands' replies, byte for byte (spec §8, §11)
# ---------------------------------------------------------------------------------------------

UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("cmd, reply", [
    ("originate", "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] "
                  "[<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"),
    ("originate null/1000", "-USAGE: <call url> <exten>|&<application_name>(<app_args>) "
                            "[<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"),
    ("originate null/cause-USER_BUSY &park", "-ERR USER_BUSY\n"),
    ("originate {null_hangup_cause=CALL_REJECTED}null/1 &park", "-ERR CALL_REJECTED\n"),
    ("originate nosuch/1 &park", "-ERR CHAN_NOT_IMPLEMENTED\n"),
    ("uuid_kill", "-USAGE: <uuid> [cause]\n"),
    (f"uuid_kill {UNKNOWN}", "-ERR No such channel!\n"),
    (f"uuid_exists {UNKNOWN}", "false"),
    ("uuid_exists", "false"),
    ("uuid_getvar", "-USAGE: <uuid> <var>\n"),
    (f"uuid_getvar {UNKNOWN}", "-USAGE: <uuid> <var>\n"),
    (f"uuid_getvar {UNKNOWN} x", "-ERR No such channel!\n"),
    ("uuid_setvar", "-USAGE: <uuid> <var> [value]\n"),
    (f"uuid_setvar {UNKNOWN} x y", "-ERR No such channel!\n"),
    (f"uuid_setvar_multi {UNKNOWN} a=1", "-ERR No such channel!\n-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"),
    (f"uuid_setvar_multi {UNKNOWN}", "-ERR no reply\n"),
    ("uuid_dump", "-USAGE: <uuid> [format]\n"),
    (f"uuid_dump {UNKNOWN}", "-ERR No such channel!\n"),
    ("uuid_park", "-ERR No such channel!\n"),
    (f"uuid_park {UNKNOWN}", "-ERR No such channel!\n"),
    ("uuid_transfer", "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"),
    (f"uuid_transfer {UNKNOWN}", "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"),
    (f"uuid_transfer {UNKNOWN} 1000", "-ERR No such channel!\n"),
    ("uuid_broadcast", "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"),
    (f"uuid_broadcast {UNKNOWN} /tmp/x.wav", "-ERR invalid uuid\n"),
    ("uuid_bridge", "-USAGE: <uuid> <other_uuid>\n"),
    (f"uuid_bridge {UNKNOWN} {UNKNOWN[:-1]}1", "-ERR Invalid uuid\n"),
    ("uuid_hold", "-USAGE: [off|toggle] <uuid> [<display>]\n-ERR Operation failed\n"),
    (f"uuid_hold {UNKNOWN}", "+OK Success\n"),
    (f"uuid_hold off {UNKNOWN}", "+OK Success\n"),
    ("uuid_answer", "-ERROR\n"),
    (f"uuid_answer {UNKNOWN}", "-ERROR\n"),
    (f"uuid_pre_answer {UNKNOWN}", "-ERROR\n"),
    ("uuid_send_dtmf", "-USAGE: <uuid> <dtmf_data>\n"),
    (f"uuid_send_dtmf {UNKNOWN} 123", "-ERR Cannot locate session!\n"),
    ("uuid_break", "-USAGE: <uuid> [all]\n"),
    (f"uuid_break {UNKNOWN}", "-ERR No such channel!\n"),
    ("hupall", "+OK hangup all channels with cause MANAGER_REQUEST\n"),
    ("hupall 0", "+OK hangup all channels with cause MANAGER_REQUEST\n"),
    ("hupall bogus", "+OK hangup all channels with cause NORMAL_CLEARING\n"),
    ("hupall USER_BUSY foo bar", "+OK hangup all channels matching [foo]=[bar] with cause: USER_BUSY\n"),
    ("hupall USER_BUSY foo bar a b", "+OK hangup all channels matching [foo]=[bar]... with cause: USER_BUSY\n"),
    ("fsctl pause_check", "false"),
])
def test_replies_without_a_call(esl, cmd, reply):
    assert esl().api(cmd) == reply


def test_replies_on_a_parked_leg(esl):
    ctl = esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    try:
        assert ctl.api(f"uuid_exists {uuid}") == "true"
        assert ctl.api(f"uuid_getvar {uuid} channel_name") == "null/1000"
        assert ctl.api(f"uuid_getvar {uuid} nosuch") == "_undef_"
        assert ctl.api(f"uuid_setvar {uuid} greeting hello big world") == "+OK\n"
        assert ctl.api(f"uuid_getvar {uuid} greeting") == "hello big world"
        assert ctl.api(f"uuid_setvar {uuid} greeting") == "+OK\n"
        assert ctl.api(f"uuid_getvar {uuid} greeting") == "_undef_"
        assert ctl.api(f"uuid_setvar_multi {uuid} a=1;b=2") == "+OK\n"
        assert (ctl.api(f"uuid_getvar {uuid} a"), ctl.api(f"uuid_getvar {uuid} b")) == ("1", "2")
        assert ctl.api(f"uuid_setvar_multi {uuid} a;b=3") == "+OK\n"
        assert ctl.api(f"uuid_getvar {uuid} a") == "_undef_"
        assert ctl.api(f"uuid_setvar_multi {uuid} ;") == (
            "-ERR No variable specified\n-USAGE: <uuid> <var>=<value>;<var>=<value>...\n")
        dump = ctl.api(f"uuid_dump {uuid}")
        assert dump.startswith("Event-Name: CHANNEL_DATA\n") and dump.endswith("\n\n")
        assert f"Unique-ID: {uuid}\n" in dump and "Channel-Name: null/1000\n" in dump
        plain = ctl.api(f"uuid_dump {uuid} plain")
        assert "Channel-Name: [null/1000]\n" in plain
        assert json.loads(ctl.api(f"uuid_dump {uuid} json"))["Channel-Name"] == "null/1000"
        xml = ctl.api(f"uuid_dump {uuid} xml")
        assert xml.startswith("<event>\n  <headers>\n") and "<Channel-Name>null/1000</Channel-Name>" in xml
        assert ctl.api(f"uuid_answer {uuid}") == "+OK\n"      # a no-op on an outbound leg
        assert ctl.api(f"uuid_pre_answer {uuid}") == "+OK\n"
        assert ctl.api(f"uuid_outgoing_answer {uuid}") == "+OK\n"
        assert ctl.api(f"uuid_send_dtmf {uuid} 12") == f"+OK {uuid} sent DTMF 12.\n"
        assert ctl.api(f"uuid_break {uuid}") == "+OK\n"
        assert ctl.api(f"uuid_hold {uuid}") == "+OK Success\n"
        # null legs never reach HELD: "off" fails, as in FreeSWITCH
        assert ctl.api(f"uuid_hold off {uuid}") == "-ERR Operation failed\n"
        assert ctl.api(f"uuid_park {uuid}") == "+OK\n"
        assert ctl.api(f"uuid_exists {uuid}") == "true"
    finally:
        assert ctl.api(f"uuid_kill {uuid}") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"
    assert ctl.api(f"uuid_exists {uuid}") == "false"


def test_uuid_park_moves_the_leg_to_cs_park(esl):
    watch, ctl = esl(), esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    watch.command(f"filter Unique-ID {uuid}")
    watch.command("event plain CHANNEL_UNPARK CHANNEL_EXECUTE_COMPLETE CHANNEL_STATE CHANNEL_PARK")
    assert ctl.api(f"uuid_park {uuid}") == "+OK\n"
    seen: list = []
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_PARK", seen=seen)
    got = [(dict(e)["Event-Name"], dict(e).get("Channel-State")) for e in seen]
    assert got == [("CHANNEL_UNPARK", "CS_EXECUTE"), ("CHANNEL_EXECUTE_COMPLETE", "CS_EXECUTE"),
                   ("CHANNEL_STATE", "CS_PARK"), ("CHANNEL_PARK", "CS_PARK")]
    assert dict(seen[2])["Channel-State-Number"] == "6"
    assert ctl.api(f"uuid_kill {uuid}") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_bgapi_originate_background_job(esl):
    watch, ctl = esl(), esl()
    watch.command("event plain BACKGROUND_JOB")
    head, _ = ctl.command("bgapi originate null/1000 &park")
    job = head["Job-UUID"]
    ev = watch.wait_event(lambda e: e.get("Job-UUID") == job)
    assert dict(ev)["Job-Command"] == "originate"
    assert dict(ev)["Job-Command-Arg"] == "null/1000 &park"
    originate_uuid(dict(ev)["_body"])
    assert ctl.api("hupall") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_hupall_matching_a_variable_and_status_lines(esl):
    ctl = esl()
    a = originate_uuid(ctl.api("originate {team=red}null/1 &park"))
    b = originate_uuid(ctl.api("originate {team=blue}null/2 &park"))
    status = ctl.api("status")
    assert re.search(r"\n\d+ session\(s\) since startup\n2 session\(s\) - peak \d+, last 5min \d+ \n", status)
    assert ctl.api("hupall USER_BUSY team red") == (
        "+OK hangup all channels matching [team]=[red] with cause: USER_BUSY\n")
    assert wait_channels(ctl, 1) == "\n1 total.\n"
    assert ctl.api(f"uuid_exists {a}") == "false" and ctl.api(f"uuid_exists {b}") == "true"
    assert ctl.api("hupall") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"
    assert "\n0 session(s) - peak " in ctl.api("status")


def test_limits_refuse_with_destination_out_of_order(esl):
    ctl = esl()
    assert ctl.api("fsctl pause outbound") == "+OK\n"
    try:
        assert ctl.api("fsctl pause_check outbound") == "true"
        assert ctl.api("originate null/1000 &park") == "-ERR DESTINATION_OUT_OF_ORDER\n"
    finally:
        assert ctl.api("fsctl resume outbound") == "+OK\n"
    assert ctl.api("fsctl max_sessions 1") == "+OK max sessions: 1\n"
    try:
        a = originate_uuid(ctl.api("originate null/1000 &park"))
        assert ctl.api("originate null/1001 &park") == "-ERR DESTINATION_OUT_OF_ORDER\n"
        ctl.api(f"uuid_kill {a}")
        assert wait_channels(ctl, 0) == "\n0 total.\n"
        # a loopback call needs two sessions: the B leg is refused, and (unlike FreeSWITCH, which
        # waits out the originate timeout for NO_ANSWER) the call fails at once
        t0 = time.monotonic()
        assert ctl.api("originate loopback/app=park &park") == "-ERR DESTINATION_OUT_OF_ORDER\n"
        assert time.monotonic() - t0 < 10
    finally:
        assert ctl.api("fsctl max_sessions 1000") == "+OK max sessions: 1000\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_loopback_app_pair(esl):
    watch, ctl = esl(), esl()
    watch.command("event plain CHANNEL_CREATE CHANNEL_PARK")
    a = originate_uuid(ctl.api("originate loopback/app=park &park"))
    seen: list = []
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_PARK" and e.get("Unique-ID") == a, seen=seen)
    names = {dict(e)["Channel-Name"] for e in seen if dict(e)["Event-Name"] == "CHANNEL_CREATE"}
    assert names == {"loopback/park-a", "loopback/park-b"}
    assert ctl.api(f"uuid_getvar {a} loopback_leg") == "A"
    b = ctl.api(f"uuid_getvar {a} other_loopback_leg_uuid")
    assert ctl.api(f"uuid_getvar {b} loopback_leg") == "B"
    assert ctl.api(f"uuid_getvar {b} direction") == "inbound"
    assert ctl.api("show channels count") == "\n2 total.\n"
    # hanging up one leg hangs up the other with the same cause
    assert ctl.api(f"uuid_kill {b} USER_BUSY") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


# ---------------------------------------------------------------------------------------------
# greenswitch (PyPI) drives calls
# ---------------------------------------------------------------------------------------------


def test_greenswitch_originates_watches_queries_and_kills(calls_system):
    greenswitch = pytest.importorskip("greenswitch")
    import gevent

    fs = greenswitch.InboundESL(host="127.0.0.1", port=calls_system.port, password="ClueCon")
    fs.connect()
    try:
        parked, destroyed = gevent.event.Event(), gevent.event.Event()
        u = str(uuid_mod.uuid4())

        def on_park(event):
            if event.headers.get("Unique-ID") == u:
                parked.set()

        def on_destroy(event):
            if event.headers.get("Unique-ID") == u:
                destroyed.set()
        fs.register_handle("CHANNEL_PARK", on_park)
        fs.register_handle("CHANNEL_DESTROY", on_destroy)
        fs.send("event plain CHANNEL_PARK CHANNEL_DESTROY")
        r = fs.send(f"api originate {{origination_uuid={u}}}null/1000 &park")
        assert r.data == f"+OK {u}\n"
        assert parked.wait(TIMEOUT)
        assert fs.send(f"api uuid_exists {u}").data == "true"
        assert fs.send(f"api uuid_getvar {u} channel_name").data == "null/1000"
        rows = json.loads(fs.send("api show channels as json").data)["rows"]
        assert [r["uuid"] for r in rows] == [u]
        assert fs.send(f"api uuid_kill {u}").data == "+OK\n"
        assert destroyed.wait(TIMEOUT)
        assert fs.send(f"api uuid_exists {u}").data == "false"
    finally:
        fs.stop()


# ---------------------------------------------------------------------------------------------
# broadcast, transfer, bridge
# ---------------------------------------------------------------------------------------------


def test_uuid_broadcast_queues_an_app_and_a_hangup(esl):
    watch, ctl = esl(), esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    watch.command(f"filter Unique-ID {uuid}")
    watch.command("event plain CHANNEL_EXECUTE CHANNEL_HANGUP")
    # "app::args": the app runs on the leg; "!cause" after the app name hangs up after it
    assert ctl.api(f"uuid_broadcast {uuid} set!user_busy::x=1") == "+OK Message sent\n"
    ex = dict(watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_EXECUTE"
                               and e.get("Application") == "set"))
    assert ex["Application-Data"] == "x=1"
    hang = dict(watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_HANGUP"))
    assert hang["Hangup-Cause"] == "USER_BUSY"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_uuid_transfer_to_an_inline_extension(esl):
    watch, ctl = esl(), esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    watch.command(f"filter Unique-ID {uuid}")
    watch.command("event plain CHANNEL_EXECUTE")
    assert ctl.api(f"uuid_transfer {uuid} set:after=yes,park inline") == "+OK\n"
    ex = dict(watch.wait_event(lambda e: e.get("Application") == "set"))
    assert ex["Channel-State"] == "CS_EXECUTE"
    watch.wait_event(lambda e: e.get("Application") == "park")
    assert ctl.api(f"uuid_getvar {uuid} after") == "yes"
    assert ctl.api(f"uuid_kill {uuid}") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_uuid_bridge_two_parked_legs_one_call_row(esl):
    watch, ctl = esl(), esl()
    a = originate_uuid(ctl.api("originate null/1000 &park"))
    b = originate_uuid(ctl.api("originate null/2000 &park"))
    watch.command("event plain CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE")
    assert ctl.api(f"uuid_bridge {a} {b}") == f"+OK {b}\n"
    br = dict(watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_BRIDGE"))
    assert (br["Bridge-A-Unique-ID"], br["Bridge-B-Unique-ID"]) == (a, b)
    assert ctl.api("show channels count") == "\n2 total.\n"
    assert ctl.api("show calls count") == "\n1 total.\n"  # a bridged pair is one row
    doc = json.loads(ctl.api("show bridged_calls as json"))
    assert doc["row_count"] == 1 and (doc["rows"][0]["uuid"], doc["rows"][0]["b_uuid"]) == (a, b)
    # "bleg": the partner runs the app, not the leg named
    watch.command("event plain CHANNEL_EXECUTE_COMPLETE")
    assert ctl.api(f"uuid_broadcast {a} set::who=partner bleg") == "+OK Message sent\n"
    watch.wait_event(lambda e: e.get("Application") == "set" and e.get("Unique-ID") == b)
    assert ctl.api(f"uuid_getvar {b} who") == "partner"
    assert ctl.api(f"uuid_getvar {a} who") == "_undef_"
    assert ctl.api(f"uuid_kill {a} USER_BUSY") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"
    assert ctl.api("show calls") == "\n0 total.\n"


def test_loopback_through_the_xml_dialplan_sequence(esl):
    """spec §3.4 (with §13's allowances): ``originate loopback/9196/default &park``, 9196 =
    answer, echo in the default context."""
    watch, ctl = esl(), esl()
    watch.command("event plain ALL")
    a = originate_uuid(ctl.api("originate loopback/9196/default &park"))
    seen: list = []
    watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_PARK" and e.get("Unique-ID") == a, seen=seen)
    b = ctl.api(f"uuid_getvar {a} other_loopback_leg_uuid")

    def leg(u):
        out = []
        for e in seen:
            d = dict(e)
            if d.get("Unique-ID") != u or d["Event-Name"] in ("API", "HEARTBEAT", "RE_SCHEDULE"):
                continue
            name = d["Event-Name"].replace("CHANNEL_", "")
            detail = {"STATE": d.get("Channel-State"), "CALLSTATE": d.get("Channel-Call-State"),
                      "EXECUTE": d.get("Application"), "EXECUTE_COMPLETE": d.get("Application")}
            out.append(f"{name} {detail[name]}" if name in detail else name)
        return out
    a_seq, b_seq = leg(a), leg(b)
    a_names = [dict(e)["Channel-Name"] for e in seen if dict(e).get("Unique-ID") == a]
    assert a_names[0] == "loopback/9196/default-a" and a_names[-1] == "loopback/9196-a"
    middle = a_seq[7:9]
    assert a_seq[:7] == ["CODEC", "CODEC", "OUTGOING", "STATE CS_INIT", "CREATE", "ORIGINATE",
                         "STATE CS_ROUTING"], a_seq
    assert sorted(middle) == ["ANSWER", "STATE CS_CONSUME_MEDIA"], a_seq  # either order (§13)
    assert a_seq[9:] == ["CALLSTATE ACTIVE", "CALL_UPDATE", "STATE CS_EXECUTE", "EXECUTE park",
                         "PARK"], a_seq
    assert b_seq[:12] == ["CODEC", "CODEC", "STATE CS_INIT", "CREATE", "CALLSTATE RINGING",
                          "STATE CS_ROUTING", "STATE CS_EXECUTE", "EXECUTE answer", "ANSWER",
                          "CALLSTATE ACTIVE", "EXECUTE_COMPLETE answer", "EXECUTE echo"], b_seq
    # B's answer answers A: A's ANSWER comes before B's
    pos = {(dict(e).get("Unique-ID"), dict(e)["Event-Name"]): i for i, e in reversed(list(enumerate(seen)))}
    assert pos[(a, "CHANNEL_ANSWER")] < pos[(b, "CHANNEL_ANSWER")]
    b_create = next(dict(e) for e in seen if dict(e).get("Unique-ID") == b and dict(e)["Event-Name"] == "CHANNEL_CREATE")
    assert (b_create["Call-Direction"], b_create["Caller-Destination-Number"],
            b_create["Caller-Context"], b_create["Channel-Name"]) == ("inbound", "9196", "default", "loopback/9196-b")
    assert ctl.api("show channels count") == "\n2 total.\n"
    assert ctl.api("hupall") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    causes = {dict(e)["Unique-ID"]: dict(e)["Hangup-Cause"] for e in [
        watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE" and e.get("Unique-ID") in (a, b))
        for _ in range(2)]}
    assert causes == {a: "MANAGER_REQUEST", b: "MANAGER_REQUEST"}
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_originate_dial_string_forms(esl):
    """spec §6.1/§6.4 through the API: duplicate origination_uuid, simultaneous and sequential
    legs, the error endpoint, an unknown app."""
    watch, ctl = esl(), esl()
    watch.command("event plain CHANNEL_HANGUP")
    u = str(uuid_mod.uuid4())
    assert ctl.api(f"originate {{origination_uuid={u}}}null/1 &park") == f"+OK {u}\n"
    # already in use: FreeSWITCH goes on with a random uuid
    other = originate_uuid(ctl.api(f"originate {{origination_uuid={u}}}null/2 &park"))
    assert other != u
    assert ctl.api("originate error/USER_BUSY &park") == "-ERR USER_BUSY\n"
    seq = originate_uuid(ctl.api("originate error/USER_BUSY|null/4002 &park"))
    assert ctl.api(f"uuid_getvar {seq} channel_name") == "null/4002"
    both = originate_uuid(ctl.api("originate null/4000,null/4001 &park"))
    loser = dict(watch.wait_event(lambda e: e.get("Hangup-Cause") == "LOSE_RACE"))
    assert loser["Unique-ID"] != both
    bad = originate_uuid(ctl.api("originate null/1 &nosuchapp"))
    gone = dict(watch.wait_event(lambda e: e.get("Unique-ID") == bad))
    assert gone["Hangup-Cause"] == "DESTINATION_OUT_OF_ORDER"
    cid = originate_uuid(ctl.api("originate {origination_caller_id_number=7}null/1 &park"))
    row = next(r for r in json.loads(ctl.api("show channels as json"))["rows"] if r["uuid"] == cid)
    # the caller id 7 became the callee side when the leg flipped into its extension
    assert (row["cid_name"], row["cid_num"], row["callee_num"]) == ("Outbound Call", "1", "7")
    assert ctl.api("hupall") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_uuid_send_dtmf_string_forms(esl):
    ctl = esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    try:
        # groups joined by '+', each with its own @ms; 'w' pauses; other characters skipped
        assert ctl.api(f"uuid_send_dtmf {uuid} 12@100+x3") == f"+OK {uuid} sent DTMF 12@100+x3.\n"
        assert ctl.api(f"uuid_getvar {uuid} null_channel_dtmf_queued") == "123"
        # the last group: one digit of the default 2000 samples (250 ms) plus a 250 ms pause
        assert ctl.api(f"uuid_getvar {uuid} last_dtmf_duration") == "500"
        assert ctl.api(f"uuid_send_dtmf {uuid} {'1' * 100}") == "-ERR Operation failed\n"
        assert ctl.api(f"uuid_send_dtmf {uuid} xyz") == "-ERR Operation failed\n"
        assert ctl.api(f"uuid_getvar {uuid} null_channel_dtmf_queued") == "123"
    finally:
        ctl.api(f"uuid_kill {uuid}")
    assert wait_channels(ctl, 0) == "\n0 total.\n"


def test_uuid_hold_fires_channel_hold(esl):
    watch, ctl = esl(), esl()
    uuid = originate_uuid(ctl.api("originate null/1000 &park"))
    watch.command(f"filter Unique-ID {uuid}")
    watch.command("event plain CHANNEL_HOLD")
    assert ctl.api(f"uuid_hold {uuid}") == "+OK Success\n"
    ev = dict(watch.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_HOLD"))
    assert ev["Channel-Call-State"] == "ACTIVE" and ev["Caller-Channel-Last-Hold"] != "0"
    # a null leg's call state never becomes HELD: toggle holds again, off is refused
    assert ctl.api(f"uuid_hold toggle {uuid}") == "+OK Success\n"
    assert ctl.api(f"uuid_hold off {uuid}") == "-ERR Operation failed\n"
    assert ctl.api(f"uuid_kill {uuid}") == "+OK\n"
    assert wait_channels(ctl, 0) == "\n0 total.\n"
