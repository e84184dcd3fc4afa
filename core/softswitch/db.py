"""The core database: the tables FreeSWITCH's ``show`` commands read.

sqlite3 by default (``<db_dir>/core.db``, switch.conf ``core-db-name``; ``:memory:`` for tests).
Callers only use :class:`CoreDB` (``execute`` / ``query``); another backend (say PostgreSQL for
``core-db-dsn pgsql://…``) plugs in with :func:`register_backend` without touching them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Sequence

from .config import ConfigError

log = logging.getLogger(__name__)

__all__ = ["CoreDB", "open_core_db", "register_backend"]

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS interfaces (
        type VARCHAR(128), name VARCHAR(1024), description VARCHAR(8192), ikey VARCHAR(1024),
        filename VARCHAR(4096), syntax VARCHAR(4096), hostname VARCHAR(256))""",
    """CREATE TABLE IF NOT EXISTS tasks (
        task_id INTEGER, task_desc VARCHAR(4096), task_group VARCHAR(1024), task_runtime BIGINT,
        task_sql_manager INTEGER, hostname VARCHAR(256))""",
    """CREATE TABLE IF NOT EXISTS aliases (
        sticky INTEGER, alias VARCHAR(128), command VARCHAR(4096), hostname VARCHAR(256))""",
    """CREATE TABLE IF NOT EXISTS complete (
        sticky INTEGER, a1 VARCHAR(128), a2 VARCHAR(128), a3 VARCHAR(128), a4 VARCHAR(128),
        a5 VARCHAR(128), a6 VARCHAR(128), a7 VARCHAR(128), a8 VARCHAR(128), a9 VARCHAR(128),
        a10 VARCHAR(128), hostname VARCHAR(256))""",
    """CREATE TABLE IF NOT EXISTS channels (
        uuid VARCHAR(256), direction VARCHAR(32), created VARCHAR(128), created_epoch INTEGER,
        name VARCHAR(1024), state VARCHAR(64), cid_name VARCHAR(1024), cid_num VARCHAR(256),
        ip_addr VARCHAR(256), dest VARCHAR(1024), application VARCHAR(128),
        application_data VARCHAR(4096), dialplan VARCHAR(128), context VARCHAR(128),
        read_codec VARCHAR(128), read_rate VARCHAR(32), read_bit_rate VARCHAR(32),
        write_codec VARCHAR(128), write_rate VARCHAR(32), write_bit_rate VARCHAR(32),
        secure VARCHAR(64), hostname VARCHAR(256), presence_id VARCHAR(4096),
        presence_data VARCHAR(4096), accountcode VARCHAR(256), callstate VARCHAR(64),
        callee_name VARCHAR(1024), callee_num VARCHAR(256), callee_direction VARCHAR(5),
        call_uuid VARCHAR(256), sent_callee_name VARCHAR(1024), sent_callee_num VARCHAR(256),
        initial_cid_name VARCHAR(1024), initial_cid_num VARCHAR(256), initial_ip_addr VARCHAR(256),
        initial_dest VARCHAR(1024), initial_dialplan VARCHAR(128), initial_context VARCHAR(128))""",
    """CREATE TABLE IF NOT EXISTS calls (
        call_uuid VARCHAR(255), call_created VARCHAR(128), call_created_epoch INTEGER,
        caller_uuid VARCHAR(256), callee_uuid VARCHAR(256), hostname VARCHAR(256))""",
]
_HOST_TABLES = ("interfaces", "tasks", "channels", "calls")


class CoreDB:
    """A connection to the core database. sqlite3 calls are short; they run on the hub."""

    def __init__(self, conn: sqlite3.Connection, description: str) -> None:
        self.conn = conn
        self.description = description
        #: called before each query: the call model commits its queued channels/calls writes
        #: there, so a reader (``show channels``) sees every call already accepted
        self.before_read: Callable[[], None] | None = None

    def execute(self, sql: str, params: Sequence = ()) -> None:
        with self.conn:
            self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        with self.conn:
            self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence = ()) -> tuple[list[str], list[tuple]]:
        """``(column names, rows)``."""
        if self.before_read is not None:
            self.before_read()
        cur = self.conn.execute(sql, params)
        cols = [d[0] for d in cur.description or ()]
        return cols, cur.fetchall()

    def create_schema(self, hostname: str, clear: bool = True) -> None:
        with self.conn:
            for stmt in SCHEMA:
                self.conn.execute(stmt)
            if clear:  # auto-clear-sql: rows a previous run of this host left behind
                for table in _HOST_TABLES:
                    self.conn.execute(f"DELETE FROM {table} WHERE hostname = ?", (hostname,))

    def shrink_memory(self) -> None:
        """Free the connection's page cache (sqlite's ``PRAGMA shrink_memory``): the pages of
        the channel rows of calls that have gone, kept until the cache is reused otherwise.
        Other backends: nothing to do."""
        if isinstance(self.conn, sqlite3.Connection):
            self.conn.execute("PRAGMA shrink_memory")

    def close(self) -> None:
        self.conn.close()


_BACKENDS: dict[str, Callable[[str], CoreDB]] = {}


def register_backend(scheme: str, opener: Callable[[str], CoreDB]) -> None:
    """Let ``core-db-dsn`` values starting with ``scheme://`` open with ``opener(dsn)``."""
    _BACKENDS[scheme.lower()] = opener


def _sqlite(path: str) -> CoreDB:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
    conn.execute("PRAGMA journal_mode = WAL" if path != ":memory:" else "PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")
    return CoreDB(conn, f"sqlite {path}")


def open_core_db(db_dir: str, name: str = "core", dsn: str | None = None) -> CoreDB:
    """Open the core database as switch.conf says (``core-db-name`` / ``core-db-dsn``).

    :raises ConfigError: a DSN nobody can open (the message says what to install).
    """
    if dsn:
        scheme, sep, rest = dsn.partition("://")
        if sep and scheme.lower() == "sqlite":
            path = ":memory:" if rest.startswith("memory://") else rest
            return _sqlite(path)
        opener = _BACKENDS.get(scheme.lower()) if sep else None
        if opener is None:
            raise ConfigError(
                f"switch.conf core-db-dsn {dsn!r}: no database backend for "
                f"'{scheme if sep else 'odbc'}' is installed; use sqlite (remove core-db-dsn) or "
                "install a module that registers that backend"
            )
        return opener(dsn)
    if name == ":memory:":
        return _sqlite(":memory:")
    path = name if os.path.isabs(name) else os.path.join(db_dir, name + ".db")
    try:
        return _sqlite(path)
    except sqlite3.Error as e:
        raise ConfigError(f"cannot open the core database {path}: {e}") from e
