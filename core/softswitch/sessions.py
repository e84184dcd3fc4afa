"""``core.sessions``: the session table, limits and counters, originate and bridge entry points.

FreeSWITCH's ``switch_core_session_request`` limits (spec sessions.md §9) with its CRIT lines and
the counters ``status`` shows; the table is keyed by UUID. See docs/calls.md §1, §8, §12.
"""

from __future__ import annotations

import logging
from array import array
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event

from . import bridge as _bridge
from . import memory
from . import originate as _originate
from .calldb import CallDB
from .causes import Cause
from .channel import CF, ChannelState
from .core import _uuid7
from .event import EventType, new_uuid
from .session import Session

if TYPE_CHECKING:
    from .callif import EndpointInterface, StateHandlers
    from .core import Core

log = logging.getLogger(__name__)

__all__ = ["SessionManager", "SessionRefused"]

CS = ChannelState
F = CF

#: sessions at once after which the table emptying triggers :meth:`SessionManager.reclaim_memory`
RECLAIM_AFTER = 100
#: seconds the table must stay empty before it does (bursts in a row reclaim once)
RECLAIM_DELAY = 1.0


class SessionRefused(Exception):
    """``core.sessions.request`` said no (limits, pause, shutdown, duplicate uuid); ``cause``
    is what the endpoint returns (FreeSWITCH's null/loopback: DESTINATION_OUT_OF_ORDER)."""

    def __init__(self, message: str, cause: int = Cause.DESTINATION_OUT_OF_ORDER) -> None:
        super().__init__(message)
        self.cause = cause


class SessionManager:
    """One per core (``core.sessions``)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.table: dict[str, Session] = {}
        self.global_handlers: list[StateHandlers] = []
        self.paused_inbound = False
        self.paused_outbound = False
        self.db = CallDB(core)
        self._greenlets: dict[gevent.Greenlet, Session] = {}
        self._sps_budget = core.settings.sessions_per_second
        self._sps_count = 0
        self._tick = None
        # the last 300 once-a-second samples, in preallocated rings: a deque of ints made one
        # int object a second (counts above 256 are not cached) living five minutes, born
        # among the calls' objects, which kept pymalloc arenas from being given back
        self._peaks = array("q", bytes(8 * 300))
        self._sps_peaks = array("q", bytes(8 * 300))
        self._sample = 0
        self._empty = gevent.event.Event()
        self._empty.set()
        self._burst = 0  # the most sessions at once since memory was last reclaimed
        self._reclaim_timer = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the once-a-second sps budget reset (the soft-timer loop's job in FreeSWITCH)."""
        if self._tick is None:
            self._sps_budget = self.core.settings.sessions_per_second
            t = self._tick = gevent.get_hub().loop.timer(1.0, 1.0)
            t.start(self._every_second)

    def _every_second(self) -> None:
        core = self.core
        if core.settings.min_idle_cpu > 0:
            core.logbus.idle_cpu.sample()
        max_sps = core.settings.sessions_per_second
        if self._sps_count > max_sps:
            log.critical("Over Session Rate of %d!", max_sps)
        core.sps_last = self._sps_count
        if self._sps_count > core.sps_peak:
            core.sps_peak = self._sps_count
        i = self._sample = (self._sample + 1) % 300
        self._sps_peaks[i] = self._sps_count
        core.sps_peak_fivemin = max(self._sps_peaks)
        self._peaks[i] = core.session_count
        core.session_peak_fivemin = max(self._peaks)
        self._sps_count = 0
        self._sps_budget = max_sps

    def shutdown(self, timeout: float = 5.0) -> None:
        """Hang up every call (SYSTEM_SHUTDOWN), wait for them to go, write the database."""
        if self.table:
            self.hupall(Cause.SYSTEM_SHUTDOWN)
            self._empty.wait(timeout)
        me = gevent.getcurrent()
        for g in list(self._greenlets):
            if g is not me:
                g.kill(block=True, timeout=1)
        if self._tick is not None:
            self._tick.stop()
            self._tick = None
        if self._reclaim_timer is not None:
            self._reclaim_timer.stop()
            self._reclaim_timer = None
        try:
            self.db.flush()
        except Exception:
            log.exception("core database: the last channels batch failed")

    # -- the table ------------------------------------------------------------------------------
    def request(self, endpoint: EndpointInterface | None, direction: str = "outbound", *,
                originator: Session | None = None, uuid: str | None = None,
                no_limits: bool = False) -> Session:
        """A new session (``switch_core_session_request``), counted; limits of spec §9.

        :raises SessionRefused: paused, shutting down, duplicate uuid, over the sps or the
            session limit (the CRIT line is logged here).
        """
        core = self.core
        if direction not in ("inbound", "outbound"):
            raise ValueError(f"direction must be 'inbound' or 'outbound', not {direction!r}")
        if not no_limits:
            if (self.paused_inbound if direction == "inbound" else self.paused_outbound):
                log.critical("The system cannot create any %s sessions at this time.", direction)
                raise SessionRefused(f"{direction} sessions are paused")
            if core.no_new_sessions or core.shutting_down:
                log.critical("The system cannot create any sessions at this time.")
                raise SessionRefused("the system is not accepting sessions")
            min_idle = core.settings.min_idle_cpu
            if min_idle > 0 and core.logbus.idle_cpu.value < min_idle:
                # FreeSWITCH refuses silently; say why
                log.warning("refusing a new session: idle CPU %.1f%% is below switch.conf "
                            "min-idle-cpu %.1f%%", core.logbus.idle_cpu.value, min_idle)
                raise SessionRefused("idle CPU below min-idle-cpu")
        if uuid is not None and uuid in self.table:
            log.critical("Duplicate UUID!")
            raise SessionRefused(f"duplicate uuid {uuid}")
        if not no_limits:
            self._sps_count += 1
            self._sps_budget -= 1
            if self._sps_budget <= 0:
                log.critical("Throttle Error! %d", self._sps_count)
                raise SessionRefused("over the sessions-per-second limit")
            if core.session_count + 1 > core.settings.max_sessions:
                log.critical("Over Session Limit! %d", core.settings.max_sessions)
                raise SessionRefused("over the session limit")
        core.sessions_since_startup += 1
        sid = core.sessions_since_startup
        u = uuid or (_uuid7() if core.settings.uuid_version == 7 else new_uuid())
        s = Session(self, endpoint, u, sid, direction)
        self.table[u] = s
        core.session_count += 1
        if core.session_count > self._burst:
            self._burst = core.session_count
        if core.session_count > core.session_peak:
            core.session_peak = core.session_count
        if core.session_count > core.session_peak_fivemin:
            core.session_peak_fivemin = core.session_count
        self._empty.clear()
        return s

    def _remove(self, s: Session) -> None:
        table = self.table
        emptied = False
        if table.get(s.uuid) is s:
            del table[s.uuid]
            self.core.session_count -= 1
            if not table:
                self._empty.set()
                emptied = True
        g = s._greenlet
        if g is not None:
            self._greenlets.pop(g, None)
        if emptied:
            self._emptied()

    def _emptied(self) -> None:
        """The last session has gone: drop what the peak left behind.

        A dict never shrinks when keys are deleted: the table (and the greenlet map) that held
        a thousand sessions kept their 36 KB hash tables; fresh ones are empty. After a peak
        of at least :data:`RECLAIM_AFTER` sessions, :meth:`reclaim_memory` runs once the
        system has been idle :data:`RECLAIM_DELAY` seconds (a new call before then defers it
        to the next time the table empties).
        """
        self.table = {}
        if not self._greenlets:
            self._greenlets = {}
        if self._burst >= RECLAIM_AFTER and self._reclaim_timer is None:
            t = self._reclaim_timer = gevent.get_hub().loop.timer(RECLAIM_DELAY)
            t.start(self._reclaim_when_idle)

    def _reclaim_when_idle(self) -> None:
        self._reclaim_timer = None
        if self.table or self.core.shutting_down:
            return  # calls again: the next time the table empties
        try:
            self.reclaim_memory()
        except Exception:
            log.exception("reclaiming memory after the calls had gone failed")

    def reclaim_memory(self) -> None:
        """Give back what the calls since the last reclaim left: commit the channels batch,
        shrink the core database's page cache (its rows are gone), collect garbage and trim
        the C heap (:func:`softswitch.memory.reclaim`). Runs by itself when the session table
        empties after a peak; ``fsctl reclaim_mem`` does the same on demand."""
        self._burst = 0
        self.db.flush()
        db = self.core.db
        if db is not None:
            db.shrink_memory()
        memory.reclaim()

    def rekey(self, s: Session, new: str) -> bool:
        """Give ``s`` the uuid ``new`` (``origination_uuid``): CHANNEL_UUID, vars, table, row.
        False (CRIT ``Duplicate UUID!``) when it is taken."""
        if new in self.table:
            log.critical("Duplicate UUID!")
            log.critical("%s set UUID=%s FAILED", s.channel.name, new)
            return False
        old = s.uuid
        del self.table[old]
        s.uuid = new
        ch = s.channel
        ch.uuid = new
        self.table[new] = s
        if ch.caller_profile is not None:
            ch.caller_profile.uuid = new
        ch.set_variable("uuid", new)
        ch.set_variable("call_uuid", new)
        s.fire_event(EventType.CHANNEL_UUID, before=(("Old-Unique-ID", old),))
        self.db.rename(old, new)
        return True

    def locate(self, uuid: str) -> Session | None:
        """The live session with this uuid, or None (also once its destroy began)."""
        s = self.table.get(uuid) if uuid else None
        return s if s is not None and not s.destroyed else None

    def exists(self, uuid: str) -> bool:
        return self.locate(uuid) is not None

    def __iter__(self):
        return iter(list(self.table.values()))

    def __len__(self) -> int:
        return len(self.table)

    @property
    def count(self) -> int:
        return len(self.table)

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until no session is left (shutdown, tests)."""
        return self._empty.wait(timeout)

    def hupall(self, cause: int = Cause.MANAGER_REQUEST, match: dict[str, str] | None = None) -> int:
        """Hang up every session (whose variables match ``match``); returns how many."""
        n = 0
        for s in list(self.table.values()):
            if match:
                v = s.channel.vars
                if any(v.get(k) != val for k, val in match.items()):
                    continue
            if s.channel.state < CS.CS_HANGUP:
                s.hangup(cause)
                n += 1
        return n

    # -- pause / handlers -----------------------------------------------------------------------
    def pause(self, direction: str | None, value: bool = True) -> None:
        """``fsctl pause|resume [inbound|outbound]`` (None: both)."""
        if direction in (None, "", "inbound"):
            self.paused_inbound = value
        if direction in (None, "", "outbound"):
            self.paused_outbound = value

    def paused(self, direction: str | None = None) -> bool:
        if direction == "inbound":
            return self.paused_inbound
        if direction == "outbound":
            return self.paused_outbound
        return self.paused_inbound and self.paused_outbound

    def add_state_handler(self, table: StateHandlers) -> None:
        self.global_handlers.append(table)

    def remove_state_handler(self, table: StateHandlers) -> None:
        if table in self.global_handlers:
            self.global_handlers.remove(table)

    def remove_owner(self, module: Any) -> None:
        self.global_handlers = [t for t in self.global_handlers if t.module is not module]

    def flush_db(self) -> None:
        """Commit the queued channels/calls writes (call before reading those tables)."""
        self.db.flush()

    # -- originate and bridge -------------------------------------------------------------------
    def originate(self, dialstring: str, **kw: Any) -> tuple[int, Session | None]:
        """See :func:`softswitch.originate.originate`."""
        return _originate.originate(self, dialstring, **kw)

    def route_originated(self, session: Session, target: str, dialplan: str | None = None,
                         context: str | None = None) -> None:
        """After originate: ``&app(args)`` / ``&app args`` as a one-app extension, or transfer
        to the extension ``target`` in ``dialplan``/``context``."""
        _originate.route_originated(session, target, dialplan, context)

    def bridge(self, a: Session, b: Session) -> int:
        return _bridge.bridge(a, b)

    def uuid_bridge(self, a_uuid: str, b_uuid: str) -> bool:
        return _bridge.uuid_bridge(self, a_uuid, b_uuid)
