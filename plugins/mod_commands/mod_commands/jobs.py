"""Work in the background and over time: ``bgapi``, ``msleep``, ``sleep``, ``sched_api``,
``unsched_api``, ``sched_del``, ``timer_test``, ``time_test``.

Everything waits cooperatively (gevent): ``msleep 1000`` holds only the greenlet that runs it,
``bgapi`` runs its command in a greenlet of its own (killed if the module is ever stopped).
"""

from __future__ import annotations

import struct
import time
import uuid

import gevent

from softswitch import CONSOLE, Event, EventType, TimerError

from ._api import CommandTable
from ._text import atoi, separate_string
from .variables import split_uuid_prefix

commands = CommandTable()


def _mono_us() -> int:
    return time.monotonic_ns() // 1000


# ---------------------------------------------------------------------------------------------
# bgapi
# ---------------------------------------------------------------------------------------------


def run_job(module, job_uuid: str, line: str) -> None:
    """Run ``line`` (``cmd [args]``) and fire its BACKGROUND_JOB (``bgapi_exec``)."""
    core = module.core
    cmd, blank, arg = line.partition(" ")
    try:
        result = core.api_execute(cmd, arg)
        # FreeSWITCH's BACKGROUND_JOB body: "<cmd>: Command not found!" and no "-ERR no reply"
        reply = result.reply(cmd, not_found="{cmd}: Command not found!\n", empty="")
        ev = Event(EventType.BACKGROUND_JOB)
        ev.add_header("Job-UUID", job_uuid)
        ev.add_header("Job-Command", cmd)
        if blank:
            ev.add_header("Job-Command-Arg", arg)
        ev.body = reply
        core.events.fire(ev)
    except Exception:  # nobody waits for this greenlet: say it here, once
        module.log.exception("bgapi job %s (%s) failed", job_uuid, line)


@commands("bgapi", "Execute an api command in a thread", "<command>[ <arg>]")
def bgapi(module, cmd, session, stream):
    if not cmd:
        stream.write("-ERR Invalid syntax\n")
        return
    job_uuid, line = split_uuid_prefix(cmd)
    if not line:
        stream.write("-ERR Invalid syntax\n")
        return
    job_uuid = job_uuid or str(uuid.uuid4())
    stream.write(f"+OK Job-UUID: {job_uuid}\n")
    module.spawn(run_job, module, job_uuid, line)


# ---------------------------------------------------------------------------------------------
# sleeping
# ---------------------------------------------------------------------------------------------


def _sleep_ms(module, cmd, session, stream):
    if cmd:
        ms = atoi(cmd)
        if ms > 0:
            gevent.sleep(ms / 1000.0)
    stream.write("+OK")


commands("msleep", "Sleep N milliseconds", "<milliseconds>")(_sleep_ms)
#: softswitch's own: FreeSWITCH has ``sleep`` only as a dialplan application.
commands("sleep", "Sleep N milliseconds", "<milliseconds>")(_sleep_ms)


# ---------------------------------------------------------------------------------------------
# the scheduler
# ---------------------------------------------------------------------------------------------

SCHED_SYNTAX = "[+@]<time> <group_name> <command_string>[&]"


def _sched_api_callback(module, line: str, recur: int):
    def callback(task) -> None:
        cmd, _, arg = line.partition(" ")
        result = module.core.api_execute(cmd, arg)
        module.log.debug("Command %s(%s):\n%s\n", cmd, arg, result.output)
        if recur:
            task.runtime = time.time() + recur
    return callback


@commands("sched_api", "Schedule an api command", SCHED_SYNTAX)
def sched_api(module, cmd, session, stream):
    tm, blank, rest = cmd.partition(" ")
    group, blank2, line = rest.partition(" ")
    if not (cmd and blank and blank2):
        stream.write(f"-ERR Invalid syntax. USAGE: {SCHED_SYNTAX}\n")
        return
    recur = 0
    if tm[:1] in ("+", "@"):
        offset = atoi(tm[1:])
        recur = offset if tm[0] == "@" else 0
        # relative times are kept exact; "now or earlier" is 0 (= now) for the scheduler, which
        # reads any other time in the past as a repeat interval (as FreeSWITCH's does for
        # absolute times, whose seconds it compares)
        when = time.time() + offset if offset > 0 else 0
    else:
        when = atoi(tm)
    own_thread = line.endswith("&")
    if own_thread:
        line = line[:-1]
    task = module.add_task(when, _sched_api_callback(module, line, recur), "sched_api_function",
                           group, own_thread=own_thread)
    stream.write(f"+OK Added: {task.id}\n")


@commands("unsched_api", "Unschedule an api command", "<task_id>")
def unsched_api(module, cmd, session, stream):
    if not cmd:
        stream.write("-ERR Invalid syntax. USAGE: <task_id>\n")
        return
    task_id = atoi(cmd)
    if task_id:
        ok = module.core.tasks.cancel(task_id)
        stream.write("+OK\n" if ok else "-ERR No such id\n")


@commands("sched_del", "Delete a scheduled task", "<task_id>|<group_id>")
def sched_del(module, cmd, session, stream):
    if not cmd:
        stream.write("-ERR Invalid syntax\n")
        return
    tasks = module.core.tasks
    if cmd.isdigit() and cmd.isascii():
        task_id = atoi(cmd) & 0xFFFFFFFF
        count = 1 if task_id > 0 and tasks.cancel(task_id) else 0
    else:
        count = tasks.cancel_group(cmd)
    stream.write(f"+OK Deleted: {count}\n")


# ---------------------------------------------------------------------------------------------
# timer_test / time_test
# ---------------------------------------------------------------------------------------------

TIMER_TEST_SYNTAX = "<10|20|40|60|120> [<1..200>] [<timer_name>]"
_TIMER_TEST_MS = (10, 20, 30, 32, 40, 60, 120)


def _f32(x: float) -> float:
    """A C ``float``: FreeSWITCH computes the averages in single precision."""
    return struct.unpack("f", struct.pack("f", x))[0]


@commands("timer_test", "Exercise FS timer", TIMER_TEST_SYNTAX)
def timer_test(module, cmd, session, stream):
    argv = separate_string(cmd, " ", 5)
    mss = atoi(argv[0]) if argv else 20
    count = 50
    if len(argv) > 1:
        n = atoi(argv[1])
        if 0 < n <= 400:
            count = n
    name = argv[2] if len(argv) > 2 else "soft"
    if mss not in _TIMER_TEST_MS:
        stream.write(f"parameter missing: {TIMER_TEST_SYNTAX}\n")
        return
    try:
        timer = module.core.timer_open(name, mss, 1)
    except TimerError as e:
        module.log.debug("timer_test: %s", e)
        stream.write("Timer Error!\n")
        return
    try:
        timer.next()  # one step first, so that the first measured interval is a whole one
        start = then = _mono_us()
        total = 0
        for x in range(1, count + 1):
            timer.next()
            now = _mono_us()
            diff = now - then
            total += diff
            then = now
            module.log.log(CONSOLE, "Timer Test: %d sleep %d %d", x, mss, diff)
        end = then
    except TimerError as e:
        module.log.error("timer_test: %s", e)
        stream.write("Timer Error!\n")
        return
    finally:
        timer.destroy()
    gevent.sleep(0.25)
    avg = _f32(_f32(total // count) / 1000)
    stream.write("Avg: %0.3fms Total Time: %0.3fms\n" % (avg, _f32(_f32(end - start) / 1000)))


@commands("time_test", "Show time jitter", "<mss> [count]")
def time_test(module, cmd, session, stream):
    if not cmd:
        stream.write("parameter missing\n")
        return
    mss = min(atoi(cmd), 1_000_000)
    count = 10
    _, blank, rest = cmd.partition(" ")
    if blank:
        n = atoi(rest)
        if n > 0:
            count = min(n, 100)
    total = 0
    for x in range(1, count + 1):
        then = _mono_us()
        gevent.sleep(max(mss, 0) / 1_000_000)
        diff = _mono_us() - then
        stream.write(f"test {x} sleep {mss} {diff}\n")
        total += diff
    stream.write(f"avg {total // count}\n")
