"""The scheduler (``switch_scheduler.c``): run callbacks at absolute times, optionally repeating.

A task runs at ``runtime`` (epoch seconds). Its callback may move ``task.runtime`` forward to run
again (the heartbeat does); a task added with ``interval`` repeats every ``interval`` seconds.
ADD_SCHEDULE, RE_SCHEDULE and DEL_SCHEDULE events follow FreeSWITCH (``Task-ID``, ``Task-Desc``,
``Task-Group``, ``Task-Runtime``). Tasks are cancelled by id or by group; tasks flagged
``no_del`` (the core's heartbeat) refuse deletion, as in FreeSWITCH.

Callbacks run in the scheduler's greenlet one after another; a callback that needs to block
should spawn its own greenlet (``own_thread=True`` does that for it).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import gevent.event

from .event import Event, EventType

log = logging.getLogger(__name__)

__all__ = ["Scheduler", "Task"]


@dataclass(eq=False)
class Task:
    id: int
    runtime: float
    callback: Callable[[Task], None]
    desc: str = "none"
    group: str = "none"
    interval: float = 0.0
    no_del: bool = False
    own_thread: bool = False
    owner: str = ""
    args: object = None
    destroyed: bool = False
    runs: int = 0
    created: float = field(default_factory=time.time)


class Scheduler:
    def __init__(self, fire: Callable[[Event], object] | None = None) -> None:
        self._heap: list[tuple[float, int, Task]] = []
        self.tasks: dict[int, Task] = {}
        self._ids = itertools.count(1)
        self._wake = gevent.event.Event()
        self._greenlet: gevent.Greenlet | None = None
        self._fire = fire
        self.running = False

    def start(self) -> None:
        if self._greenlet is None:
            self.running = True
            self._greenlet = gevent.spawn(self._loop)
            self._greenlet.name = "scheduler"

    def stop(self) -> None:
        self.running = False
        if self._greenlet is not None:
            self._wake.set()
            self._greenlet.join(timeout=2)
            if not self._greenlet.dead:
                self._greenlet.kill(block=False)
            self._greenlet = None

    # -- tasks ----------------------------------------------------------------------------------
    def add_task(
        self,
        runtime: float,
        callback: Callable[[Task], None],
        desc: str = "none",
        group: str = "none",
        *,
        interval: float = 0.0,
        no_del: bool = False,
        own_thread: bool = False,
        owner: str = "",
        args: object = None,
    ) -> Task:
        """Schedule ``callback(task)`` at epoch ``runtime``.

        As in FreeSWITCH, a ``runtime`` in the past (smaller than now) that is not 0 is read as a
        repeat interval in seconds: the task runs now and then every ``runtime`` seconds.
        """
        now = time.time()
        # whole seconds, as FreeSWITCH compares them: a "now" computed a moment ago is not
        # mistaken for a repeat interval
        if 0 < runtime and int(runtime) < int(now) and not interval:
            interval = runtime
            runtime = now
        task = Task(next(self._ids), runtime or now, callback, desc or "none", group or "none",
                    interval, no_del, own_thread, owner, args)
        self.tasks[task.id] = task
        heapq.heappush(self._heap, (task.runtime, task.id, task))
        self._event(EventType.ADD_SCHEDULE, task)
        self._wake.set()
        return task

    def del_task_id(self, task_id: int) -> bool:
        task = self.tasks.get(task_id)
        if task is None:
            return False
        if task.no_del:
            log.warning("Attempt made to delete undeletable task #%d (group %s)", task.id, task.group)
            return False
        self._destroy(task)
        return True

    def del_task_group(self, group: str) -> int:
        count = 0
        for task in list(self.tasks.values()):
            if task.group == group:
                if task.no_del:
                    log.warning("Attempt made to delete undeletable task #%d (group %s)", task.id, task.group)
                    continue
                self._destroy(task)
                count += 1
        return count

    def del_owner(self, owner: str) -> int:
        """Cancel every task added by ``owner`` (a module's unload does this)."""
        tasks = [t for t in self.tasks.values() if t.owner == owner]
        for t in tasks:
            self._destroy(t)
        return len(tasks)

    def _destroy(self, task: Task) -> None:
        task.destroyed = True
        self.tasks.pop(task.id, None)
        self._event(EventType.DEL_SCHEDULE, task)

    def _event(self, etype: EventType, task: Task) -> None:
        if self._fire is None:
            return
        ev = Event(etype, _depth=2)
        ev.add_header("Task-ID", str(task.id))
        ev.add_header("Task-Desc", task.desc)
        ev.add_header("Task-Group", task.group)
        ev.add_header("Task-Runtime", str(int(task.runtime)))
        self._fire(ev)

    # -- loop -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        heap = self._heap
        while self.running:
            now = time.time()
            while heap and (heap[0][2].destroyed or heap[0][0] <= now):
                runtime, _, task = heapq.heappop(heap)
                if task.destroyed or task.runtime != runtime:
                    continue
                self._run(task)
            delay = (heap[0][0] - time.time()) if heap else 3600.0
            self._wake.clear()
            if delay > 0:
                self._wake.wait(min(delay, 3600.0))

    def _run(self, task: Task) -> None:
        executed = task.runtime
        task.runs += 1
        if task.interval:
            task.runtime = executed + task.interval
            if task.runtime <= time.time():  # fell behind (a long pause): skip, don't burst
                task.runtime = time.time() + task.interval
        if task.own_thread:
            gevent.spawn(self._call, task)
        else:
            self._call(task)
        if task.destroyed:
            return
        if task.runtime > executed:
            heapq.heappush(self._heap, (task.runtime, task.id, task))
            self._event(EventType.RE_SCHEDULE, task)
        else:
            self._destroy(task)

    @staticmethod
    def _call(task: Task) -> None:
        try:
            task.callback(task)
        except gevent.GreenletExit:
            raise
        except Exception:
            log.exception("scheduled task #%d %s (group %s) raised", task.id, task.desc, task.group)
