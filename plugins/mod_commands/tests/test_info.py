"""``status``, ``version``, ``uptime``, ``hostname``, ``switchname``: the exact shapes."""

from __future__ import annotations

import re

import pytest

from softswitch import FREESWITCH_COMPAT
from softswitch.core import version_full, version_revision

STATUS = re.compile(
    r"UP \d+ years?, \d+ days?, \d+ hours?, \d+ minutes?, \d+ seconds?, \d+ milliseconds?, "
    r"\d+ microseconds?\n"
    r"FreeSWITCH \(Version (?P<version>[^)]+)\) is ready\n"
    r"0 session\(s\) since startup\n"
    r"0 session\(s\) - peak 0, last 5min 0 \n"
    r"0 session\(s\) per Sec out of max 30, peak 0, last 5min 0 \n"
    r"1000 session\(s\) max\n"
    r"min idle cpu 0\.00/\d+\.\d\d\n"
    r"Current Stack Size/Max \d+K/\d+K\n"
)


def test_status_shape(api):
    m = STATUS.fullmatch(api("status"))
    assert m, api("status")
    assert m.group("version") == version_full()


@pytest.mark.parametrize(("parts", "line"), [
    ((1, 1, 1, 1, 1, 1, 1),
     "UP 1 year, 1 day, 1 hour, 1 minute, 1 second, 1 millisecond, 1 microsecond\n"),
    ((0, 2, 3, 4, 5, 6, 7),
     "UP 0 years, 2 days, 3 hours, 4 minutes, 5 seconds, 6 milliseconds, 7 microseconds\n"),
])
def test_status_plurals(api, core, monkeypatch, parts, line):
    monkeypatch.setattr(core, "uptime_parts", lambda: parts)
    assert api("status").startswith(line)


def test_status_counts_follow_the_core(api, core):
    core.sessions_since_startup, core.session_count, core.session_peak = 12, 3, 7
    core.session_peak_fivemin, core.sps_last, core.sps_peak, core.sps_peak_fivemin = 5, 2, 9, 4
    out = api("status")
    assert "12 session(s) since startup\n3 session(s) - peak 7, last 5min 5 \n" in out
    assert "2 session(s) per Sec out of max 30, peak 9, last 5min 4 \n" in out


def test_version(api):
    full = f"FreeSWITCH Version {version_full()} ({version_revision()})\n"
    assert api("version") == full
    assert api("version short") == f"{FREESWITCH_COMPAT}\n"
    assert api("version SHORT") == f"{FREESWITCH_COMPAT}\n"
    assert api("version long") == full


@pytest.mark.parametrize(("unit", "value"), [
    ("", "90061\n"), ("s", "90061\n"), ("seconds", "90061\n"), ("m", "1501\n"),
    ("minutes", "1501\n"), ("h", "25\n"), ("hours", "25\n"), ("d", "1\n"), ("days", "1\n"),
    ("ms", "90061500\n"), ("MS", "90061500\n"), ("milliseconds", "90061500\n"),
    ("us", "90061500000\n"), ("microseconds", "90061500000\n"),
])
def test_uptime_units(api, core, monkeypatch, unit, value):
    monkeypatch.setattr(core, "uptime", lambda: 90061.5)
    assert api(f"uptime {unit}".strip()) == value


def test_uptime_usage(api):
    assert api("uptime fortnights") == (
        "-USAGE: [us|ms|s|m|h|d|microseconds|milliseconds|seconds|minutes|hours|days]\n")


def test_names(api, core, kernel_factory):
    assert api("hostname") == core.hostname
    assert api("switchname") == core.hostname  # defaults to the host name
    other = kernel_factory(modules=["mod_commands"], settings={"switchname": "fsbox"})
    assert other.api("switchname") == "fsbox"
    assert other.api("hostname") == other.hostname
