"""String, time and host commands."""

from __future__ import annotations

import re
import time

import pytest

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_md5(api):
    assert api("md5 hello") == "5d41402abc4b2a76b9719d911017c592"
    assert api("md5") == "!err!"


def test_create_uuid(api, kernel_factory):
    a, b = api("create_uuid"), api("create_uuid")
    assert re.fullmatch(UUID4, a) and a != b
    assert re.fullmatch(UUID4, api("uuid"))
    core7 = kernel_factory(modules=["mod_commands"], settings={"uuid-version": "7"})
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        core7.api("create_uuid"))


def test_strftime(api, monkeypatch):
    assert api("strftime 0|%Y-%m-%d") == time.strftime("%Y-%m-%d", time.localtime(0))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", api("strftime"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", api("strftime 86400|"))
    assert api("strftime %Y") == time.strftime("%Y")
    assert api("strftime %Q") == ""  # a conversion FreeSWITCH does not accept: nothing
    assert api("strftime 100%") == ""
    assert api("strftime %%") == "%"
    assert api("strftime " + "x" * 80) == ""  # does not fit FreeSWITCH's buffer


def test_strftime_tz(api):
    assert api("strftime_tz UTC 86400|%Y-%m-%d %H:%M") == "1970-01-02 00:00"
    assert api("strftime_tz UTC 0|%Y") == time.strftime("%Y", time.gmtime())  # 0 is now
    assert api("strftime_tz Asia/Tokyo 86400|%H") == "09"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", api("strftime_tz UTC"))
    assert api("strftime_tz No/Such_Zone") == "-ERR Invalid timezone/format\n"


def test_strepoch(api):
    assert api("strepoch 1970-01-02 00:00:00") == str(int(time.mktime((1970, 1, 2, 0, 0, 0, 0, 0, -1))))
    assert api("strepoch 2020-06-01") == str(int(time.mktime((2020, 6, 1, 0, 0, 0, 0, 0, -1))))
    assert api("strepoch 20200601123000") == str(int(time.mktime((2020, 6, 1, 12, 30, 0, 0, 0, -1))))
    assert api("strepoch garbage") == "0"
    assert abs(int(api("strepoch")) - time.time()) < 5


def test_url_encode_decode(api):
    assert api("url_encode a b&c=d/é") == "a%20b%26c%3Dd/%C3%A9"
    assert api("url_encode") == ""
    assert api("url_decode a%20b%26c%3Dd%2F%C3%A9") == "a b&c=d/é"
    assert api("url_decode 100%") == "100%"
    assert api("url_decode a+b") == "a+b"
    assert api("url_decode") == ""


def test_case_and_escapes(api):
    assert api("toupper abc-é") == "ABC-é"
    assert api("tolower ABC-É") == "abc-É"
    assert api("escape a b$c") == "a\\sb\\$c"
    assert api("escape") == ""
    assert api("sql_escape it's") == "it''s"
    assert api("sql_escape") == "-USAGE: <string>\n"


def test_replace(api):
    assert api("replace a b c|b|x") == "a x c"
    assert api("replace m:~a|b~|~-") == "a-b"
    assert api("replace abc|b") == "-ERR"
    assert api("replace") == "-ERR"


@pytest.mark.parametrize(("line", "expected"), [
    ("regex abc123|\\d+", "true"),
    ("regex abc|\\d+", "false"),
    ("regex abc123|(\\d+)|n=$1", "n=123"),
    ("regex abc123|(\\d+)|n=%1", "n=123"),
    ("regex abc123|(\\d+)|n=${1}x", "n=123x"),
    ("regex abc|(\\d+)|n=$1", "abc"),
    ("regex abc|(\\d+)|n=$1|n", ""),
    ("regex abc|(\\d+)|n=$1|b", "false"),
    ("regex ABC|/abc/i", "true"),
    ("regex m:~a|b~a\\|b", "true"),
    ("regex abc|(", "false"),
    ("regex abc", "-ERR"),
    ("regex", "-ERR"),
])
def test_regex(api, line, expected):
    assert api(line) == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("cond 1 == 1 ? yes : no", "yes"),
    ("cond 1 == 2 ? yes : no", "no"),
    ("cond 2 > 1 ? yes : no", "yes"),
    ("cond 2 >= 3 ? yes : no", "no"),
    ("cond 1 < 2 ? yes : no", "yes"),
    ("cond 3 <= 2 ? yes : no", "no"),
    ("cond abc == abc ? yes : no", "yes"),
    ("cond abc != abd ? yes : no", "yes"),
    ("cond abc > ab ? yes : no", "yes"),  # strings compare by length
    ("cond 'a b' == 'a b' ? yes : no", "yes"),
    ("cond '1' == 1 ? yes : no", "yes"),
    ("cond 1 == 2 ? yes", ""),
    ("cond 1 == 1 ? yes", "yes"),
    ("cond 1 = 1 ? yes : no", "-ERR"),
    ("cond 1 == 1 yes : no", "-ERR"),
    ("cond 'open == 1 ? y : n", "-ERR"),
    ("cond", "-ERR"),
])
def test_cond(api, line, expected):
    assert api(line) == expected


def test_coalesce(api):
    assert api("coalesce ,,a,b") == "a"
    assert api("coalesce ^^;;;x;y") == "x"
    assert api("coalesce ,,") == ""
    assert api("coalesce") == "-USAGE: [^^<delim>]<value1>,<value2>,...\n"


def test_acl(api):
    assert api("acl 127.0.0.1 loopback.auto") == "true"
    assert api("acl 8.8.8.8 loopback.auto") == "false"
    assert api("acl 10.1.2.3 10.0.0.0/8") == "true"
    assert api("acl 127.0.0.1 no_such_list") == "false"
    assert api("acl notanip loopback.auto") == "false"
    assert api("acl 127.0.0.1") == "false"


def test_host_lookups(api):
    assert api("gethost localhost") == "127.0.0.1"
    assert api("gethost") == "-ERR"
    assert api("host_lookup localhost") in ("127.0.0.1", "::1")
    assert api("host_lookup") == "parameter missing\n"


def test_file_exists(api, tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("x")
    assert api(f"file_exists {f}") == "true"
    assert api(f"file_exists {tmp_path}") == "true"
    assert api(f"file_exists {tmp_path}/nope") == "false"
    assert api("file_exists") == "false"


def test_event_channel_broadcast(api):
    assert api("event_channel_broadcast") == "-ERR parsing channel\n"
    assert api("event_channel_broadcast {nope") == "-ERR parsing json\n"
    assert api('event_channel_broadcast {"data": 1}') == ""
    assert api('event_channel_broadcast {"eventChannel": "conference", "data": 1}') == (
        "+OK message sent\n")


def test_getcputime(api):
    assert re.fullmatch(r"\d+, \d+", api("getcputime"))
    api("getcputime reset")
    user, kernel = (int(x) for x in api("getcputime").split(", "))
    assert user < 1000 and kernel < 1000
