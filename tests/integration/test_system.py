"""softswitch with its default configuration and every first-party module, over the Event Socket."""

from __future__ import annotations

import re
import time

import pytest

from softswitch_cli.client import ESLClient, ESLError


@pytest.fixture
def esl(system):
    with ESLClient("127.0.0.1", system.port, "ClueCon") as client:
        yield client


def event(esl: ESLClient, name: str, timeout: float = 20.0, **match):
    deadline = time.monotonic() + timeout
    while True:
        msg = esl.next_event(timeout=max(deadline - time.monotonic(), 0.01))
        if msg.content_type != "text/event-plain":
            continue
        fields = msg.event_headers()
        if fields.get("Event-Name") == name and all(fields.get(k) == v for k, v in match.items()):
            return msg


def test_default_conf_loads_every_first_party_module(esl):
    rows = esl.api("show modules as delim |").splitlines()
    keys = {line.split("|")[2] for line in rows[1:] if line.count("|") >= 3}
    assert {"mod_softtimer", "mod_pcm", "mod_event_socket", "mod_commands"} <= keys
    assert esl.api("module_exists mod_pcm") == "true"
    assert esl.api("module_exists mod_nothere") == "false"


def test_status_and_version(esl):
    status = esl.api("status")
    assert re.match(r"UP 0 years, 0 days, 0 hours, \d+ minutes?, \d+ seconds?, \d+ milliseconds?, "
                    r"\d+ microseconds?\nFreeSWITCH \(Version 1\.10\.12-softswitch-[^)]+\) is ready\n"
                    r"0 session\(s\) since startup\n0 session\(s\) - peak 0, last 5min 0 \n", status)
    assert esl.api("version short") == "1.10.12\n"
    assert esl.api("version").startswith("FreeSWITCH Version 1.10.12-softswitch-")


def test_codecs_and_timers_from_the_core_modules(esl):
    codecs = esl.api("show codec")
    assert codecs.startswith("type,name,ikey\n")
    assert "codec,G.711 alaw,mod_pcm\n" in codecs and "codec,G.711 ulaw,mod_pcm\n" in codecs
    assert "codec,RAW Signed Linear (16 bit),mod_pcm\n" in codecs
    assert esl.api("show timer") == "type,name,ikey\ntimer,soft,mod_softtimer\n\n1 total.\n"
    result = esl.api("timer_test 20 10")
    assert re.fullmatch(r"Avg: \d+\.\d{3}ms Total Time: \d+\.\d{3}ms\n", result)
    avg = float(result.split()[1][:-2])
    assert 10 < avg < 40  # sanity only: the benchmark carries the figure


def test_bgapi_background_job_and_api_events(esl):
    esl.command("event plain BACKGROUND_JOB API")
    job = esl.bgapi("status")
    ev = event(esl, "BACKGROUND_JOB", **{"Job-UUID": job})
    assert ev.event_body().startswith("UP ")
    assert ev.event_headers()["Job-Command"] == "status"
    esl.api("echo hello")
    api_ev = event(esl, "API", **{"API-Command": "echo"})
    assert api_ev.event_headers()["API-Command-Argument"] == "hello"


def test_reloadxml_and_load_errors(esl):
    esl.command("event plain RELOADXML")
    assert esl.api("reloadxml") == "+OK [Success]\n"
    event(esl, "RELOADXML")
    assert esl.api("load mod_nothere") == ("+OK Reloading XML\n"
                                           "-ERR [module load file routine returned an error]\n")
    assert esl.api("load mod_pcm") == "+OK Reloading XML\n-ERR [Module already loaded]\n"
    assert esl.api("unload mod_commands") == "-ERR [Module is not unloadable]\n"


def test_fs_cli_console_execute(esl):
    msg = esl.command("api version short;;hostname", {"console_execute": "true"})
    assert msg.text.startswith("1.10.12\n")


def test_log_stream(esl):
    assert esl.command("log info").reply_text == "+OK log level info [6]"
    esl.api("log notice hello from the test")
    while True:
        msg = esl.next_event(timeout=20)
        if msg.content_type == "log/data" and "hello from the test" in msg.text:
            break
    assert msg.get("Log-Level") == "5"
    assert "[NOTICE]" in msg.text
    # FreeSWITCH's log API logs on the session text channel, session or not
    assert msg.get("Text-Channel") == "3"


def test_unload_event_socket_from_its_own_connection(fresh_system):
    """FreeSWITCH turns this into a bgapi so the connection does not wait on itself."""
    fresh_system.start()
    esl = ESLClient("127.0.0.1", fresh_system.port, "ClueCon")
    reply = esl.api("unload mod_event_socket")
    assert reply.startswith("+OK Job-UUID: ")
    notices = []
    with pytest.raises((ESLError, OSError, TimeoutError)):
        while True:
            msg = esl.recv(timeout=20)
            notices.append(msg)
    assert notices and notices[-1].raw.endswith(b"The system is being shut down.\n")
    fresh_system.wait_log("mod_event_socket unloaded")
    assert fresh_system.proc.poll() is None  # the switch itself keeps running
    assert fresh_system.stop() == 0
