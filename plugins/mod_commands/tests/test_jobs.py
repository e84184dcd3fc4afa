"""``bgapi``, ``msleep``, ``sleep``, ``sched_api``, ``unsched_api``, ``sched_del``,
``timer_test``, ``time_test``."""

from __future__ import annotations

import re

import gevent
import pytest

from softswitch import EventType


def _job_uuid(reply: str) -> str:
    m = re.fullmatch(r"\+OK Job-UUID: ([0-9a-f-]{36})\n", reply)
    assert m, reply
    return m.group(1)


def test_bgapi_runs_in_the_background(api, events, wait_for):
    jobs = events(EventType.BACKGROUND_JOB)
    job = _job_uuid(api("bgapi status"))
    ev = wait_for(lambda: jobs and jobs[0])
    assert ev.get_header("Job-UUID") == job
    assert ev.get_header("Job-Command") == "status"
    assert ev.get_header("Job-Command-Arg") is None
    assert ev.body.startswith("UP ")


def test_bgapi_arguments_and_errors(api, events, wait_for):
    jobs = events(EventType.BACKGROUND_JOB)
    a = _job_uuid(api("bgapi echo hi there"))
    b = _job_uuid(api("bgapi nosuch x"))
    c = _job_uuid(api("bgapi fix_fail"))
    assert api("bgapi uuid:my-own-id echo x") == "+OK Job-UUID: my-own-id\n"
    wait_for(lambda: len(jobs) == 4)
    by_id = {ev.get_header("Job-UUID"): ev for ev in jobs}
    assert by_id[a].get_header("Job-Command-Arg") == "hi there"
    assert by_id[a].body == "hi there"
    assert by_id[b].body == "nosuch: Command not found!\n"
    assert by_id[c].body == "fix_fail: Command not found!\n"
    assert by_id["my-own-id"].body == "x"
    assert by_id["my-own-id"].get_header("Job-Command") == "echo"


@pytest.mark.parametrize("line", ["bgapi", "bgapi uuid:abc"])
def test_bgapi_syntax(api, line):
    assert api(line) == "-ERR Invalid syntax\n"


def test_bgapi_answers_before_the_job_ends(api, events, wait_for):
    jobs = events(EventType.BACKGROUND_JOB)
    with gevent.Timeout(0.2):
        _job_uuid(api("bgapi msleep 300"))
    assert not jobs
    wait_for(lambda: jobs)
    assert jobs[0].body == "+OK"


@pytest.mark.parametrize("cmd", ["msleep", "sleep"])
def test_sleep_is_cooperative(api, cmd):
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0.01) for _ in range(5)])
    assert api(f"{cmd} 100") == "+OK"
    ticker.join()
    assert len(ticks) == 5
    assert api(f"{cmd}") == "+OK"
    assert api(f"{cmd} -5") == "+OK"


def test_sched_api(api, core, wait_for):
    reply = api("sched_api +3600 mc_group echo later")
    task_id = int(re.fullmatch(r"\+OK Added: (\d+)\n", reply).group(1))
    assert core.scheduler.tasks[task_id].group == "mc_group"
    assert f"{task_id},sched_api_function,mc_group," in api("show tasks")
    now_id = int(api("sched_api +0 mc_now global_setvar mc_sched=done").split(": ")[1])
    wait_for(lambda: core.vars.get("mc_sched") == "done")
    wait_for(lambda: now_id not in core.scheduler.tasks)  # ran once, gone
    assert api(f"unsched_api {task_id}") == "+OK\n"
    assert api(f"unsched_api {task_id}") == "-ERR No such id\n"
    assert api("unsched_api 0") == ""
    assert api("unsched_api") == "-ERR Invalid syntax. USAGE: <task_id>\n"


def test_sched_api_recurring(api, core, wait_for):
    reply = api("sched_api @1 mc_rec global_setvar mc_rec=x")
    task_id = int(reply.split(": ")[1])
    task = core.scheduler.tasks[task_id]
    first = task.runtime
    assert first > 0
    wait_for(lambda: core.vars.get("mc_rec") == "x", timeout=5)
    wait_for(lambda: task.runtime > first)
    assert task_id in core.scheduler.tasks  # still there: it recurs
    assert api("sched_del mc_rec") == "+OK Deleted: 1\n"
    assert task_id not in core.scheduler.tasks


def test_sched_api_syntax_and_sched_del(api, core):
    usage = "-ERR Invalid syntax. USAGE: [+@]<time> <group_name> <command_string>[&]\n"
    assert api("sched_api") == usage
    assert api("sched_api +5 grouponly") == usage
    a = int(api("sched_api +3600 mc_del echo a").split(": ")[1])
    api("sched_api +3600 mc_del echo b&")
    assert api(f"sched_del {a}") == "+OK Deleted: 1\n"
    assert api("sched_del mc_del") == "+OK Deleted: 1\n"
    assert api("sched_del mc_del") == "+OK Deleted: 0\n"
    assert api("sched_del") == "-ERR Invalid syntax\n"
    heartbeat = next(t.id for t in core.scheduler.tasks.values() if t.desc == "heartbeat")
    assert api(f"unsched_api {heartbeat}") == "-ERR No such id\n"  # undeletable


def test_timer_test_with_a_fake_timer(api, log_lines):
    out = api("timer_test 20 3 fake")
    assert re.fullmatch(r"Avg: \d+\.\d{3}ms Total Time: \d+\.\d{3}ms\n", out), out
    tests = [line for line in log_lines if line.message.startswith("Timer Test:")]
    assert [line.level for line in tests] == [0, 0, 0]  # CONSOLE
    assert [re.match(r"Timer Test: (\d+) sleep 20 \d+\n", line.message).group(1)
            for line in tests] == ["1", "2", "3"]


def test_timer_test_defaults_to_fifty_runs(api, log_lines):
    api("timer_test 10 0 fake")
    assert len([line for line in log_lines if line.message.startswith("Timer Test:")]) == 50
    log_lines.clear()
    api("timer_test 10 401 fake")
    assert len([line for line in log_lines if line.message.startswith("Timer Test:")]) == 50


def test_timer_test_errors(api):
    usage = "parameter missing: <10|20|40|60|120> [<1..200>] [<timer_name>]\n"
    assert api("timer_test 15") == usage
    assert api("timer_test abc") == usage
    assert api("timer_test 20 3 nosuch") == "Timer Error!\n"
    assert api("timer_test 20 3 fake_fail") == "Timer Error!\n"
    assert api("timer_test 32 1") == "Timer Error!\n"  # the default "soft" timer is not loaded
    assert api("timer_test") == "Timer Error!\n"  # no argument: 20 ms on "soft"


def test_time_test(api):
    out = api("time_test 1000 3")
    lines = out.splitlines()
    assert [re.fullmatch(r"test (\d) sleep 1000 \d+", line).group(1) for line in lines[:3]] == ["1", "2", "3"]
    assert re.fullmatch(r"avg \d+", lines[3])
    assert api("time_test") == "parameter missing\n"
