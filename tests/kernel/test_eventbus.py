"""Bind, fire, dispatch (spec events.md §4–6) and the scheduler (§7)."""

from __future__ import annotations

import logging
import re
import time

import gevent
import gevent.event
import pytest

from softswitch import eventbus
from softswitch.event import Event, EventError, EventType
from softswitch.eventbus import EventSystem
from softswitch.scheduler import Scheduler
from softswitch.testing import _wait_for as wait_for


@pytest.fixture
def es():
    system = EventSystem(cpu_count=4)
    system.start()
    yield system
    system.stop()


def custom(n, sub=None, **headers):
    ev = Event(EventType.CUSTOM, sub)
    ev.add_header("N", str(n))
    for k, v in headers.items():
        ev.add_header(k, v)
    return ev


def test_max_dispatch_follows_cpu_count():
    assert EventSystem(cpu_count=1).max_dispatch == 2
    assert EventSystem(cpu_count=2).max_dispatch == 2
    assert EventSystem(cpu_count=8).max_dispatch == 5
    assert EventSystem(cpu_count=8).capacity == 50000


def test_fire_before_start_and_after_stop_is_dropped_and_counted():
    system = EventSystem()
    got = []
    system.bind("t", EventType.ALL, None, got.append)
    assert system.fire(custom(1)) is False
    system.start()
    assert system.fire(custom(2)) is True
    wait_for(lambda: len(got) == 1)
    system.stop()
    assert system.fire(custom(3)) is False
    assert system.stats.dropped_not_running == 2
    assert [e["N"] for e in got] == ["2"]


def test_type_nodes_then_all_nodes_newest_first(es):
    order = []
    es.bind("a", EventType.ALL, None, lambda e: order.append("all-old"))
    es.bind("b", EventType.CUSTOM, None, lambda e: order.append("custom-old"))
    es.bind("c", EventType.CUSTOM, None, lambda e: order.append("custom-new"))
    es.bind("d", EventType.ALL, None, lambda e: order.append("all-new"))
    es.bind("e", EventType.HEARTBEAT, None, lambda e: order.append("heartbeat"))
    es.fire(custom(1))
    wait_for(lambda: len(order) == 4)
    assert order == ["custom-new", "custom-old", "all-new", "all-old"]


def test_subclass_matching(es):
    got = {"sub": [], "any": [], "file": [], "other": []}
    es.bind("t", EventType.CUSTOM, "my::sub", lambda e: got["sub"].append(e["N"]))
    es.bind("t", EventType.CUSTOM, None, lambda e: got["any"].append(e["N"]))
    es.bind("t", EventType.CUSTOM, "file:x.c", lambda e: got["file"].append(e["N"]))
    es.bind("t", EventType.CUSTOM, "other::sub", lambda e: got["other"].append(e["N"]))
    es.fire(custom(1, "my::sub"))
    es.fire(custom(2))
    es.fire(custom(3, "zzz", file="x.c"))
    wait_for(lambda: len(got["any"]) == 3)
    assert got == {"sub": ["1"], "any": ["1", "2", "3"], "file": ["3"], "other": []}


def test_user_data_is_passed(es):
    got = []
    es.bind("t", EventType.CUSTOM, None, lambda e, data: got.append(data), user_data="ud")
    es.fire(custom(1))
    wait_for(lambda: got == ["ud"])


def test_binding_a_subclass_reserves_it_for_listeners():
    system = EventSystem()
    system.bind("listener", EventType.CUSTOM, "app::x", lambda e: None)
    assert system.subclasses["app::x"] == ["listener", True]
    assert system.reserve_subclass("mod_app", "app::x") is True  # owner takes it over
    assert system.reserve_subclass("mod_other", "app::x") is False  # INUSE
    assert system.reserve_subclass("mod_app", "app::x") is True
    assert system.free_subclass("mod_other", "app::x") is False
    assert system.subclasses["app::x"] == ["mod_app", True]
    assert system.free_subclass("mod_app", "app::x") is True
    assert "app::x" not in system.subclasses
    with pytest.raises(EventError, match="only CUSTOM"):
        system.bind("t", EventType.HEARTBEAT, "sub", lambda e: None)


def test_order_per_subscriber_under_many_producers(es):
    seen: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    es.bind("a", EventType.CUSTOM, None, lambda e: seen["a"].append((int(e["P"]), int(e["N"]))))
    es.bind("b", EventType.ALL, None, lambda e: seen["b"].append((int(e["P"]), int(e["N"]))))
    fired: list[tuple[int, int]] = []

    def producer(p):
        for n in range(2000):
            es.fire(custom(n, P=str(p)))
            fired.append((p, n))
            if n % 97 == 0:
                gevent.sleep(0)

    gevent.joinall([gevent.spawn(producer, p) for p in range(8)])
    wait_for(lambda: len(seen["a"]) == 16000 and len(seen["b"]) == 16000, timeout=30)
    assert seen["a"] == fired  # exactly the global fire order
    assert seen["b"] == fired


def test_raising_callback_is_logged_and_others_still_get_it(es, caplog):
    got = []

    def bad(e):
        raise RuntimeError("boom")

    es.bind("mod_bad", EventType.CUSTOM, None, bad)
    es.bind("mod_good", EventType.CUSTOM, None, got.append)
    with caplog.at_level(logging.ERROR, logger="softswitch.eventbus"):
        es.fire(custom(1))
        es.fire(custom(2))
        wait_for(lambda: len(got) == 2)
    assert es.stats.callback_errors == 2
    assert "mod_bad" in caplog.text and "boom" in caplog.text


def test_unbind_during_delivery(es):
    got_a, got_b = [], []
    nodes = {}

    def a(e):
        got_a.append(e["N"])
        if e["N"] == "1":
            es.unbind(nodes["b"])

    nodes["a"] = es.bind("a", EventType.CUSTOM, None, a)  # newest first: a runs before b
    nodes["b"] = es.bind("b", EventType.ALL, None, lambda e: got_b.append(e["N"]))
    for n in range(3):
        es.fire(custom(n))
    wait_for(lambda: len(got_a) == 3)
    es.drain(2)
    assert got_a == ["0", "1", "2"]
    assert got_b == ["0"]  # unbound while event 1 was being delivered


def test_unbind_owner_and_callback(es):
    got = []
    es.bind("mod_x", EventType.CUSTOM, None, got.append)
    es.bind("mod_x", EventType.ALL, None, got.append)
    cb = got.append
    es.bind("mod_y", EventType.CUSTOM, None, cb)
    assert es.unbind_owner("mod_x") == 2
    assert es.unbind_callback(cb) == 1
    assert es.nodes() == []


def test_blocking_callback_delays_only_itself_and_keeps_its_order(es, caplog):
    slow_seen, fast_seen = [], []
    release = gevent.event.Event()

    def slow(e):
        if e["N"] == "0":
            release.wait(10)
        slow_seen.append(e["N"])

    es.bind("mod_slow", EventType.CUSTOM, None, slow)  # runs first: type list before ALL
    es.bind("fast", EventType.ALL, None, lambda e: fast_seen.append(e["N"]))
    with caplog.at_level(logging.WARNING, logger="softswitch.eventbus"):
        es.fire(custom(0))
        # the dispatcher is stuck inside slow(); the watchdog starts another one
        wait_for(lambda: fast_seen == ["0"])
    assert "mod_slow" in caplog.text
    for n in range(1, 500):
        es.fire(custom(n))
    wait_for(lambda: len(fast_seen) == 500, timeout=30)
    assert slow_seen == []
    release.set()
    wait_for(lambda: len(slow_seen) == 500, timeout=30)
    assert slow_seen == [str(n) for n in range(500)]
    assert fast_seen == [str(n) for n in range(500)]


def test_queue_past_threshold_starts_another_dispatcher(monkeypatch):
    monkeypatch.setattr(eventbus, "DISPATCH_QUEUE_LEN", 10)
    system = EventSystem(cpu_count=8)
    system.start()
    try:
        got = []
        system.bind("t", EventType.CUSTOM, None, got.append)
        for n in range(100):  # no yield: the queue grows past 10 x 1 dispatcher
            system.fire(custom(n))
        assert system.snapshot().dispatchers >= 2
        wait_for(lambda: len(got) == 100)
        assert [e["N"] for e in got] == [str(n) for n in range(100)]
    finally:
        system.stop()


def test_callback_firing_into_a_full_queue_does_not_deadlock(monkeypatch):
    monkeypatch.setattr(eventbus, "DISPATCH_QUEUE_LEN", 5)
    system = EventSystem(cpu_count=2)  # max 2 dispatchers: one may be added
    system.capacity = 10
    system.start()
    try:
        got = []

        def echo(e):
            got.append(e["N"])
            if e.subclass is None and int(e["N"]) < 200:
                for i in range(20):  # far more than the queue holds
                    system.fire(custom(f"{e['N']}.{i}", "echo"))

        system.bind("t", EventType.CUSTOM, None, echo)
        t0 = time.monotonic()
        for n in range(50):  # the producer itself must wait for room, not fail
            system.fire(custom(n))
        wait_for(lambda: len(got) == 50 + 50 * 20, timeout=20)
        assert time.monotonic() - t0 < 20
        assert system.stats.overflow_puts > 0
    finally:
        system.stop()


def test_stop_with_blocked_callback_returns():
    system = EventSystem()
    system.start()
    blocker = gevent.event.Event()
    system.bind("t", EventType.CUSTOM, None, lambda e: blocker.wait())
    system.fire(custom(1))
    system.drain(0.05)
    t0 = time.monotonic()
    system.stop()
    assert time.monotonic() - t0 < 5


# -- scheduler -----------------------------------------------------------------------------------


def test_scheduler_runs_repeats_cancels_and_fires_events():
    events = []
    sched = Scheduler(events.append)
    sched.start()
    try:
        runs = []
        once = sched.add_task(time.time() + 0.05, lambda t: runs.append("once"), "once", "g1")
        rep = sched.add_task(time.time(), lambda t: runs.append("rep"), "rep", "g2", interval=0.05)
        nodel = sched.add_task(time.time() + 3600, lambda t: None, "keep", "core", no_del=True)
        wait_for(lambda: runs.count("rep") >= 3 and "once" in runs, timeout=10)
        assert once.id not in sched.tasks  # ran once, then destroyed
        assert sched.del_task_group("g2") == 1
        n = runs.count("rep")
        assert sched.del_task_id(nodel.id) is False and nodel.id in sched.tasks
        assert sched.del_task_id(12345) is False
        names = [e.name for e in events]
        assert names.count("ADD_SCHEDULE") == 3
        assert "RE_SCHEDULE" in names and "DEL_SCHEDULE" in names
        re_ev = next(e for e in events if e.name == "RE_SCHEDULE")
        assert [k for k, _ in re_ev.items()][-4:] == ["Task-ID", "Task-Desc", "Task-Group", "Task-Runtime"]
        later = sched.add_task(time.time() + 0.1, lambda t: runs.append("later"), "later", "g3")
        wait_for(lambda: "later" in runs, timeout=10)
        assert runs.count("rep") == n and rep.destroyed and later.destroyed
    finally:
        sched.stop()


def test_scheduler_callback_moves_runtime_to_repeat():
    sched = Scheduler()
    sched.start()
    try:
        runs = []

        def again(task):
            runs.append(time.time())
            if len(runs) < 3:
                task.runtime = time.time() + 0.02

        sched.add_task(time.time(), again, "again")
        wait_for(lambda: len(runs) == 3, timeout=10)
    finally:
        sched.stop()


def test_past_runtime_means_repeat_interval():
    sched = Scheduler()
    task = sched.add_task(30, lambda t: None, "every 30 s")
    assert task.interval == 30 and abs(task.runtime - time.time()) < 5


def test_raising_task_is_logged_and_scheduler_keeps_going(caplog):
    sched = Scheduler()
    sched.start()
    try:
        runs = []

        def bad(task):
            raise ValueError("task broke")

        with caplog.at_level(logging.ERROR, logger="softswitch.scheduler"):
            sched.add_task(time.time(), bad, "bad")
            sched.add_task(time.time() + 0.01, lambda t: runs.append(1), "good")
            wait_for(lambda: runs == [1], timeout=10)
        assert "task broke" in caplog.text
    finally:
        sched.stop()


# -- the core's events ---------------------------------------------------------------------------


def test_heartbeat_interval_and_headers(kernel_factory):
    core = kernel_factory(settings={"event-heartbeat-interval": 1})
    beats = []
    core.events.bind("test", EventType.HEARTBEAT, None, beats.append)
    wait_for(lambda: len(beats) >= 2, timeout=10)
    hb = beats[0]
    names = [k for k, _ in hb.items()]
    assert names[names.index("Event-Sequence") + 1:] == [
        "Event-Info", "Up-Time", "FreeSWITCH-Version", "Uptime-msec", "Session-Count",
        "Max-Sessions", "Session-Per-Sec", "Session-Per-Sec-Last", "Session-Per-Sec-Max",
        "Session-Per-Sec-FiveMin", "Session-Since-Startup", "Session-Peak-Max",
        "Session-Peak-FiveMin", "Idle-CPU",
    ]
    assert hb["Event-Info"] == "System Ready"
    assert re.fullmatch(r"0 years, 0 days, 0 hours, 0 minutes, \d+ seconds?, \d+ milliseconds?, "
                        r"\d+ microseconds?", hb["Up-Time"])
    assert hb["Max-Sessions"] == "1000" and re.fullmatch(r"\d+\.\d{6}", hb["Idle-CPU"])
    gap = int(beats[1]["Event-Date-Timestamp"]) - int(beats[0]["Event-Date-Timestamp"])
    assert 0.5e6 < gap < 3e6


def test_startup_and_shutdown_events(kernel_factory):
    core = kernel_factory(start=False)
    seen = []
    core.init()
    core.events.bind("test", EventType.ALL, None, seen.append)
    core.load_modules()
    wait_for(lambda: any(e.name == "STARTUP" for e in seen))
    core.shutdown()
    names = [e.name for e in seen]
    assert names.index("STARTUP") < names.index("SHUTDOWN")
    assert next(e for e in seen if e.name == "SHUTDOWN")["Event-Info"] == "System Shutting Down"
