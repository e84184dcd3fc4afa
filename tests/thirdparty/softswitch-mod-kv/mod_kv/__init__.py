"""mod_kv: a key-value store that survives restarts.

APIs: ``kv_set <key> <value> [ttl-seconds]``, ``kv_get <key>``, ``kv_del <key>``,
``kv_count``. Each change fires a CUSTOM ``kv::change`` event (``KV-Action``, ``KV-Key``,
``KV-Value``). Keys with a TTL are removed by the runtime greenlet, which fires
``kv::change`` with ``KV-Action: expire``. Everything is kept in a sqlite file named by
kv.conf's ``db-file``.
"""

import logging
import sqlite3
import time

import gevent
import gevent.event

import softswitch
from softswitch import Event, EventType, Status, params

log = logging.getLogger(__name__)

SUBCLASS = "kv::change"


def _fire(core, action, key, value=""):
    ev = Event(EventType.CUSTOM, SUBCLASS)
    ev.add_header("KV-Action", action)
    ev.add_header("KV-Key", key)
    if value:
        ev.add_header("KV-Value", value)
    core.events.fire(ev)


@softswitch.hookimpl
def module_load(module, core):
    settings = dict(params(module.config("kv.conf")))
    path = settings.get("db-file") or ":memory:"
    try:
        interval = float(settings.get("sweep-interval", "1"))
    except ValueError:
        log.error("kv.conf: sweep-interval %r is not a number; using 1", settings["sweep-interval"])
        interval = 1.0
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT, expires REAL)")
    db.commit()
    module.state.db = db
    module.state.interval = interval
    module.state.stop = gevent.event.Event()
    module.state.sweeps = 0
    if not module.reserve_subclass(SUBCLASS):
        log.warning("%s is reserved by another module", SUBCLASS)

    @module.add_api("kv_set", "Set a key", "<key> <value> [ttl]")
    def kv_set(cmd, session, stream):
        parts = cmd.split()
        if len(parts) not in (2, 3):
            stream.write("-USAGE: <key> <value> [ttl]\n")
            return None
        key, value = parts[0], parts[1]
        expires = None
        if len(parts) == 3:
            try:
                expires = time.time() + float(parts[2])
            except ValueError:
                stream.write("-ERR ttl must be a number of seconds\n")
                return None
        db.execute("INSERT OR REPLACE INTO kv (k, v, expires) VALUES (?, ?, ?)",
                   (key, value, expires))
        db.commit()
        _fire(core, "set", key, value)
        stream.write("+OK\n")

    @module.add_api("kv_get", "Get a key", "<key>")
    def kv_get(cmd, session, stream):
        if not cmd:
            stream.write("-USAGE: <key>\n")
            return None
        row = db.execute("SELECT v FROM kv WHERE k = ?", (cmd,)).fetchone()
        stream.write(row[0] if row else "-ERR no such key\n")

    @module.add_api("kv_del", "Delete a key", "<key>")
    def kv_del(cmd, session, stream):
        gone = db.execute("DELETE FROM kv WHERE k = ?", (cmd,)).rowcount
        db.commit()
        if gone:
            _fire(core, "delete", cmd)
        stream.write("+OK\n" if gone else "-ERR no such key\n")

    @module.add_api("kv_count", "How many keys", "")
    def kv_count(cmd, session, stream):
        stream.write(str(db.execute("SELECT COUNT(*) FROM kv").fetchone()[0]))

    module.state.core = core
    log.info("mod_kv: %s", path)
    return Status.SUCCESS


@softswitch.hookimpl
def module_runtime(module):
    """Sweep expired keys until module_shutdown sets ``stop``."""
    state = module.state
    while not state.stop.wait(state.interval):
        now = time.time()
        expired = [k for (k,) in state.db.execute(
            "SELECT k FROM kv WHERE expires IS NOT NULL AND expires <= ?", (now,))]
        if expired:
            state.db.executemany("DELETE FROM kv WHERE k = ?", [(k,) for k in expired])
            state.db.commit()
            for key in expired:
                _fire(state.core, "expire", key)
        state.sweeps += 1
    return Status.TERM


@softswitch.hookimpl
def module_shutdown(module):
    module.state.stop.set()
    module.state.db.close()
