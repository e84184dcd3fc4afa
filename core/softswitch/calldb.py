"""The core database's ``channels`` and ``calls`` tables, kept in step with the calls.

FreeSWITCH's SQL thread reacts to CHANNEL_* events and writes in batched transactions
(``switch_core_sqldb.c``, spec sessions.md §7). Here the kernel queues the same statements at the
same points (without building the events) and one timer callback commits each batch in one
transaction; a call created and destroyed within one batch is dropped from it. Readers call
:meth:`CallDB.flush` first, so they see everything already queued.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING

import gevent

from .channel import callstate_name, state_name

if TYPE_CHECKING:
    from .core import Core
    from .session import Session

log = logging.getLogger(__name__)

__all__ = ["CallDB", "VIEWS"]

_A_COLS = ("uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
           "ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate",
           "callee_name", "callee_num", "callee_direction", "call_uuid", "hostname",
           "sent_callee_name", "sent_callee_num")
_B_BASIC = [c for c in _A_COLS if c not in ("call_uuid", "hostname")]
_D_COLS = ("uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
           "ip_addr", "dest", "application", "application_data", "dialplan", "context",
           "read_codec", "read_rate", "read_bit_rate", "write_codec", "write_rate",
           "write_bit_rate", "secure", "hostname", "presence_id", "presence_data", "accountcode",
           "callstate", "callee_name", "callee_num", "callee_direction", "call_uuid",
           "sent_callee_name", "sent_callee_num")
_JOIN = ("from channels a left join calls c on a.uuid = c.caller_uuid and a.hostname = c.hostname "
         "left join channels b on b.uuid = c.callee_uuid and b.hostname = c.hostname "
         "where a.uuid = c.caller_uuid or a.uuid not in (select callee_uuid from calls)")
VIEWS = [
    "CREATE VIEW IF NOT EXISTS basic_calls AS SELECT "
    + ", ".join(f"a.{c} AS {c}" for c in _A_COLS) + ", "
    + ", ".join(f"b.{c} AS b_{c}" for c in _B_BASIC)
    + ", c.call_created_epoch AS call_created_epoch " + _JOIN,
    "CREATE VIEW IF NOT EXISTS detailed_calls AS SELECT "
    + ", ".join(f"a.{c} AS {c}" for c in _D_COLS) + ", "
    + ", ".join(f"b.{c} AS b_{c}" for c in _D_COLS)
    + ", c.call_created_epoch AS call_created_epoch " + _JOIN,
]

_INSERT = ("INSERT INTO channels (uuid, direction, created, created_epoch, name, state, callstate, "
           "dialplan, context, hostname, initial_cid_name, initial_cid_num, initial_ip_addr, "
           "initial_dest, initial_dialplan, initial_context) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_STATE = "UPDATE channels SET state = ? WHERE uuid = ?"
_STATE_ROUTING = ("UPDATE channels SET state = ?, cid_name = ?, cid_num = ?, callee_name = ?, "
                  "callee_num = ?, sent_callee_name = ?, sent_callee_num = ?, ip_addr = ?, "
                  "dest = ?, dialplan = ?, context = ?, presence_id = ?, presence_data = ?, "
                  "accountcode = ? WHERE uuid = ?")
_CALLSTATE = "UPDATE channels SET callstate = ? WHERE uuid = ?"
_CODEC = ("UPDATE channels SET read_codec = ?, read_rate = ?, read_bit_rate = ?, write_codec = ?, "
          "write_rate = ?, write_bit_rate = ? WHERE uuid = ?")
_EXECUTE = ("UPDATE channels SET application = ?, application_data = ?, presence_id = ?, "
            "presence_data = ?, accountcode = ? WHERE uuid = ?")
_ORIGINATE = ("UPDATE channels SET presence_id = ?, presence_data = ?, accountcode = ?, "
              "call_uuid = ? WHERE uuid = ?")
_CALL_UPDATE = ("UPDATE channels SET callee_name = ?, callee_num = ?, sent_callee_name = ?, "
                "sent_callee_num = ?, callee_direction = ?, cid_name = ?, cid_num = ? "
                "WHERE uuid = ?")
_RENAME = "UPDATE channels SET uuid = ? WHERE uuid = ?"
_DELETE = "DELETE FROM channels WHERE uuid = ?"
_DELETE_CALLS = "DELETE FROM calls WHERE caller_uuid = ? OR callee_uuid = ?"
_CALL_UUID = "UPDATE channels SET call_uuid = ? WHERE uuid = ?"
_INSERT_CALL = ("INSERT INTO calls (call_uuid, call_created, call_created_epoch, caller_uuid, "
                "callee_uuid, hostname) VALUES (?, ?, ?, ?, ?, ?)")

_ALL_SQL = (_INSERT, _STATE, _STATE_ROUTING, _CALLSTATE, _CODEC, _EXECUTE, _ORIGINATE, _CALL_UPDATE,
            _RENAME, _DELETE, _DELETE_CALLS, _CALL_UUID, _INSERT_CALL)
_LAST_WINS = frozenset((_STATE, _CALLSTATE, _CODEC, _EXECUTE, _ORIGINATE, _CALL_UPDATE))


class CallDB:
    """The batched writer. Every method queues; :meth:`flush` commits."""

    __slots__ = ("core", "_ops", "_new", "_dropped", "_timer", "batch_delay", "commits",
                 "statements", "_views", "_cursor", "_spare")

    def __init__(self, core: Core, batch_delay: float = 0.01) -> None:
        self.core = core
        self._ops: list[tuple] = []
        self._spare: list[tuple] = []  # the other list: flush() swaps them
        self._new: set[str] = set()       # uuids inserted in the current batch
        self._dropped: set[str] = set()   # ... and destroyed in it: their ops are skipped
        self._timer = None
        self.batch_delay = batch_delay
        self.commits = 0
        self.statements = 0
        self._views = False
        #: one cursor for every batch: ``Connection.execute`` makes a cursor per statement and
        #: the connection keeps a weak reference to each (pruned only every 200 cursors), so a
        #: burst of calls left up to 200 dead weakrefs, born among the calls' objects, that
        #: kept pymalloc arenas alive after the calls had gone
        self._cursor: tuple[sqlite3.Connection, sqlite3.Cursor] | None = None

    def _queue(self, uuid: str, sql: str, params: tuple) -> None:
        if self.core.db is None:
            return
        ops = self._ops
        ops.append((uuid, sql, params))
        if self._timer is None:
            t = self._timer = gevent.get_hub().loop.timer(self.batch_delay)
            t.start(self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception:
            log.exception("core database: writing the channels batch failed")

    def flush(self) -> None:
        """Commit everything queued, in one transaction."""
        t = self._timer
        if t is not None:
            t.stop()
            self._timer = None
        ops = self._ops
        if not ops:
            return
        # The containers live as long as the CallDB and are emptied, not replaced: a new set
        # or list per batch, born among the calls' objects and kept until the next batch (the
        # last one of a burst: until the next call), held a pymalloc arena each.
        self._ops = self._spare
        self._spare = ops
        try:
            self._commit(ops)
        finally:
            ops.clear()
            self._new.clear()
            self._dropped.clear()

    def _commit(self, ops: list[tuple]) -> None:
        dropped = self._dropped
        db = self.core.db
        if db is None:
            return
        # An update that a later one of the same statement for the same channel overwrites
        # (same columns) changes nothing the later one does not: only the last one runs.
        keep: list[tuple] = []
        seen: set[tuple[str, str]] = set()
        for op in reversed(ops):
            uuid, sql, _ = op
            if uuid in dropped:
                continue
            if sql in _LAST_WINS:
                key = (uuid, sql)
                if key in seen:
                    continue
                seen.add(key)
            keep.append(op)
        keep.reverse()
        conn = db.conn
        held = self._cursor
        if held is None or held[0] is not conn:  # (a reopened database: a new connection)
            held = self._cursor = (conn, conn.cursor())
        execute = held[1].execute
        with conn:
            for _, sql, params in keep:
                execute(sql, params)
        n = len(keep)
        self.commits += 1
        self.statements += n

    def prepare(self) -> None:
        """Compile every statement of the batches now, with the kernel, in a transaction
        rolled back.

        sqlite3 compiles a statement on its first use and keeps it (its statement cache):
        compiled during the first burst of calls, those objects sat among the calls' ones and
        kept pymalloc arenas from being given back when the calls had gone.
        """
        db = self.core.db
        if db is None or not isinstance(db.conn, sqlite3.Connection):
            return
        conn = db.conn
        if conn.in_transaction:
            return  # (never at startup) not ours to roll back
        held = self._cursor = (conn, conn.cursor())
        try:
            for sql in _ALL_SQL:
                held[1].execute(sql, ("",) * sql.count("?"))
        finally:
            conn.rollback()

    def ensure_views(self) -> None:
        db = self.core.db
        if db is None or self._views:
            return
        with db.conn:
            for v in VIEWS:
                db.conn.execute(v)
        self._views = True

    # -- the points FreeSWITCH's SQL thread reacts to (spec §7) -------------------------------------
    def create(self, s: Session) -> None:
        if self.core.db is None:
            return
        ch = s.channel
        p = ch.caller_profile
        now = time.time()
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        host = self.core.hostname
        if p is not None:
            init = (p.caller_id_name, p.caller_id_number, p.network_addr, p.destination_number,
                    p.dialplan, p.context)
            dp, ctx = p.dialplan, p.context
        else:
            init = ("", "", "", "", "", "")
            dp = ctx = ""
        self._new.add(s.uuid)
        self._queue(s.uuid, _INSERT, (s.uuid, ch.direction, created, int(now), ch.name,
                                      state_name(ch.running_state), callstate_name(ch.callstate),
                                      dp, ctx, host, *init))

    def state(self, s: Session) -> None:
        if self.core.db is None:
            return
        ch = s.channel
        n = ch.state
        if n in (0, 1, 10, 11, 12):
            return
        if n == 2:
            p = ch.caller_profile
            v = ch.vars
            if p is not None:
                self._queue(s.uuid, _STATE_ROUTING, (
                    state_name(ch.running_state), p.caller_id_name, p.caller_id_number,
                    p.callee_id_name, p.callee_id_number, p.callee_id_name, p.callee_id_number,
                    p.network_addr, p.destination_number, p.dialplan, p.context,
                    v.get("presence_id", ""), v.get("presence_data", ""),
                    v.get("accountcode", ""), s.uuid))
                return
        self._queue(s.uuid, _STATE, (state_name(ch.running_state), s.uuid))

    def callstate(self, s: Session) -> None:
        if self.core.db is not None:
            self._queue(s.uuid, _CALLSTATE, (callstate_name(s.channel.callstate), s.uuid))

    def codec(self, s: Session) -> None:
        if self.core.db is None:
            return
        rc, wc = s.read_codec, s.write_codec
        r = rc.implementation if rc is not None else None
        w = wc.implementation if wc is not None else None
        self._queue(s.uuid, _CODEC, (
            r.iananame if r else "", str(r.actual_samples_per_second) if r else "",
            str(r.bits_per_second) if r else "", w.iananame if w else "",
            str(w.actual_samples_per_second) if w else "", str(w.bits_per_second) if w else "",
            s.uuid))

    def execute(self, s: Session, app: str, data: str) -> None:
        if self.core.db is None:
            return
        v = s.channel.vars
        self._queue(s.uuid, _EXECUTE, (app, data, v.get("presence_id", ""),
                                       v.get("presence_data", ""), v.get("accountcode", ""),
                                       s.uuid))

    def originate(self, s: Session) -> None:
        if self.core.db is None:
            return
        v = s.channel.vars
        self._queue(s.uuid, _ORIGINATE, (v.get("presence_id", ""), v.get("presence_data", ""),
                                         v.get("accountcode", ""), v.get("call_uuid", s.uuid),
                                         s.uuid))

    def call_update(self, s: Session, direction: str) -> None:
        if self.core.db is None:
            return
        p = s.channel.caller_profile
        self._queue(s.uuid, _CALL_UPDATE, (p.callee_id_name, p.callee_id_number,
                                           p.callee_id_name, p.callee_id_number, direction,
                                           p.caller_id_name, p.caller_id_number, s.uuid))

    def rename(self, old: str, new: str) -> None:
        if self.core.db is None:
            return
        if old in self._new:  # re-key its queued ops, so a drop finds them all
            self._new.discard(old)
            self._new.add(new)
            self._ops = [(new if u == old else u, q, p) for u, q, p in self._ops]
        self._queue(new, _RENAME, (new, old))

    def bridge(self, a: Session, b: Session) -> None:
        if self.core.db is None:
            return
        now = time.time()
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        self._queue(a.uuid, _CALL_UUID, (a.uuid, a.uuid))
        self._queue(b.uuid, _CALL_UUID, (a.uuid, b.uuid))
        self._queue(a.uuid, _INSERT_CALL, (a.uuid, created, int(now), a.uuid, b.uuid,
                                           self.core.hostname))

    def unbridge(self, a: Session, b: Session) -> None:
        if self.core.db is None:
            return
        self._queue(a.uuid, _CALL_UUID, (a.uuid, a.uuid))
        self._queue(b.uuid, _CALL_UUID, (b.uuid, b.uuid))
        self._queue(a.uuid, _DELETE_CALLS, (a.uuid, a.uuid))

    def destroy(self, s: Session) -> None:
        if self.core.db is None:
            return
        u = s.uuid
        if u in self._new:
            self._dropped.add(u)  # born and gone within this batch: write nothing
            return
        self._queue(u, _DELETE, (u,))
        self._queue(u, _DELETE_CALLS, (u, u))
