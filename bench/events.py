"""Benchmark: the kernel's event system in-process — fire→deliver rate and serialization rate.

    python bench/events.py [--quick] [--runs N]

Everything runs in this process on gevent's hub with :class:`softswitch.eventbus.EventSystem`
(``start()``, ``bind()``, ``fire()``); no sockets. Deliveries happen in the dispatcher
greenlet, so the producer yields (``gevent.sleep(0)``) every ``--yield-every`` fires and, at
the end, until every callback has run: a figure is *delivered* events per second of wall time,
from the first fire to the last delivery.

Figures (median of ``--runs`` runs, 5 by default, after one warm-up run):

* ``fire_deliver_1cb``: pre-created events (a pool of 1,000 distinct stamped CUSTOM events,
  fired round-robin) to one bound callback;
* ``fire_deliver_10cb``: the same to 10 callbacks (events fired/s and callbacks run/s);
* ``create_fire_deliver_1cb``: ``Event(EventType.CUSTOM)`` inside the loop (stamps the 13
  standard headers), fire, deliver to one callback;
* ``serialize_plain`` / ``serialize_json`` / ``serialize_xml``: a real serialization of a fresh
  25-header event each time (13 standard + 12 channel-like headers, three of them unique per
  event); events are built in untimed chunks and are not frozen, so nothing is cached on them.
  ``url_encode``'s process-wide LRU cache stays on, as in the server (repeated values such as
  the host name or the date hit it);
* ``serialize_plain_no_url_cache``: the same with ``url_encode``'s LRU bypassed (worst case);
* ``serialize_cached_hit``: ``serialize("plain")`` on a fired (frozen) event whose plain form
  is already cached — what every subscriber after the first costs ("serialize once, share").

Targets (issue): ≥ 200,000 fire→deliver/s to one callback; ≥ 100,000 plain serializations/s.
"""

from __future__ import annotations

import argparse
import sys
import time

import gevent
from _common import Targets, emit, environment, series

from softswitch import event as event_mod
from softswitch.event import Event, EventType, set_identity
from softswitch.eventbus import EventSystem

TARGET_FIRE_DELIVER = 200_000
TARGET_PLAIN = 100_000
POOL = 1000

CHANNEL_HEADERS = (  # 12 headers a channel event carries; values chosen to need URL-encoding
    ("Channel-State", "CS_EXECUTE"),
    ("Channel-Name", "sofia/internal/1000@example.com"),
    ("Answer-State", "answered"),
    ("Call-Direction", "inbound"),
    ("Caller-Caller-ID-Name", "Alice Smith"),
    ("Caller-Caller-ID-Number", "1000"),
    ("Caller-Destination-Number", "+1 (555) 010-2000"),
    ("Caller-Network-Addr", "10.0.0.21"),
    ("variable_sip_from_uri", "sip:1000@10.0.0.1:5060;transport=udp"),
    ("variable_sip_user_agent", "Zoiper rv2.10.2 (Linux)"),
)


def set_bench_identity() -> None:
    set_identity("0c1d7c1c-5d2e-4c41-9a3b-0123456789ab", "bench-host.example.com",
                 "bench-host.example.com", "10.0.0.1", "::1")


def event25(n: int) -> Event:
    """A fresh 25-header CUSTOM event; Unique-ID, Channel-Call-UUID, Event-Date-Timestamp and
    Event-Sequence differ per event."""
    ev = Event(EventType.CUSTOM)  # 13 standard headers
    uid = f"{n:08x}-7d1c-4f3e-9a55-{n * 2654435761 % (1 << 48):012x}"
    ev.add_header("Unique-ID", uid)
    ev.add_header("Channel-Call-UUID", uid)
    for k, v in CHANNEL_HEADERS:
        ev.add_header(k, v)
    assert len(ev.headers) == 25, len(ev.headers)
    return ev


# --------------------------------------------------------------------------------------------
# fire → deliver
# --------------------------------------------------------------------------------------------


def fire_deliver(es: EventSystem, n: int, callbacks: int, yield_every: int, create: bool) -> float:
    """Events delivered per second (each to ``callbacks`` callbacks)."""
    count = [0]

    def cb(ev: Event) -> None:
        count[0] += 1

    nodes = [es.bind("bench", EventType.CUSTOM, None, cb) for _ in range(callbacks)]
    pool = [] if create else [Event(EventType.CUSTOM) for _ in range(POOL)]
    fire = es.fire
    sleep = gevent.sleep
    want = n * callbacks
    try:
        t0 = time.perf_counter()
        if create:
            custom = EventType.CUSTOM
            for i in range(1, n + 1):
                fire(Event(custom))
                if not i % yield_every:
                    sleep(0)
        else:
            for i in range(1, n + 1):
                fire(pool[i % POOL])
                if not i % yield_every:
                    sleep(0)
        deadline = t0 + 60
        while count[0] < want:
            sleep(0)
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {count[0]} of {want} deliveries within 60 s")
        dt = time.perf_counter() - t0
    finally:
        for node in nodes:
            es.unbind(node)
    return n / dt


# --------------------------------------------------------------------------------------------
# serialization
# --------------------------------------------------------------------------------------------


def serialize_rate(fmt: str, n: int, chunk: int = 2000, url_cache: bool = True) -> float:
    """Serializations per second of fresh (unfrozen, uncached) 25-header events."""
    base = getattr(serialize_rate, "seq", 0)
    done = 0
    spent = 0.0
    saved = event_mod.url_encode
    if not url_cache:
        event_mod.url_encode = saved.__wrapped__  # _plain/_xml look the global up per call
    try:
        while done < n:
            k = min(chunk, n - done)
            evs = [event25(base + done + j) for j in range(k)]  # untimed
            t0 = time.perf_counter()
            for ev in evs:
                ev.serialize(fmt)
            spent += time.perf_counter() - t0
            done += k
    finally:
        event_mod.url_encode = saved
        serialize_rate.seq = base + done  # type: ignore[attr-defined]
    return done / spent


def cached_hit_rate(n: int) -> float:
    ev = event25(0)
    ev.freeze()
    ev.serialize("plain")
    ser = ev.serialize
    t0 = time.perf_counter()
    for _ in range(n):
        ser("plain")
    return n / (time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (a few seconds)")
    ap.add_argument("--runs", type=int, default=5, help="runs per figure (median; default 5)")
    ap.add_argument("--yield-every", type=int, default=256,
                    help="producer does gevent.sleep(0) every N fires (default 256)")
    args = ap.parse_args(argv)
    runs = max(1, args.runs)
    scale = 0.2 if args.quick else 1.0
    sizes = {  # events per run
        "fire_deliver_1cb": int(300_000 * scale),
        "fire_deliver_10cb": int(100_000 * scale),
        "create_fire_deliver_1cb": int(100_000 * scale),
        "serialize": int(30_000 * scale),
        "cached": int(1_000_000 * scale),
    }
    t_start = time.monotonic()
    env = environment()
    set_bench_identity()
    es = EventSystem()
    es.start()
    ye = args.yield_every
    results: dict[str, dict] = {}

    def measure(name: str, fn, *a) -> None:
        fn(*a)  # warm-up
        results[name] = series([fn(*a) for _ in range(runs)], 0)

    try:
        measure("fire_deliver_1cb", fire_deliver, es, sizes["fire_deliver_1cb"], 1, ye, False)
        measure("fire_deliver_10cb", fire_deliver, es, sizes["fire_deliver_10cb"], 10, ye, False)
        measure("create_fire_deliver_1cb", fire_deliver, es, sizes["create_fire_deliver_1cb"],
                1, ye, True)
        measure("serialize_plain", serialize_rate, "plain", sizes["serialize"])
        measure("serialize_plain_no_url_cache", serialize_rate, "plain", sizes["serialize"],
                2000, False)
        measure("serialize_json", serialize_rate, "json", sizes["serialize"])
        measure("serialize_xml", serialize_rate, "xml", sizes["serialize"])
        measure("serialize_cached_hit", cached_hit_rate, sizes["cached"])
        stats = es.snapshot()
    finally:
        es.stop()
    ten = results["fire_deliver_10cb"]
    ten["callbacks_run_per_s_median"] = ten["median"] * 10

    t = Targets()
    t.check("fire_deliver_1cb_per_s", results["fire_deliver_1cb"]["median"], ">=",
            TARGET_FIRE_DELIVER, "/s")
    t.check("serialize_plain_per_s", results["serialize_plain"]["median"], ">=", TARGET_PLAIN, "/s")

    sample = event25(0)
    report = {
        "bench": "events",
        "mode": "quick" if args.quick else "full",
        "env": env,
        "params": {"runs": runs, "yield_every": ye, "pool": POOL, "events_per_run": sizes,
                   "max_dispatch": es.max_dispatch, "dispatchers_used": stats.dispatchers,
                   "queue_peak": stats.queue_peak,
                   "event25_plain_bytes": len(sample.serialize("plain").encode()),
                   "event25_json_bytes": len(sample.serialize("json").encode()),
                   "event25_xml_bytes": len(sample.serialize("xml").encode())},
        "unit": "per second (median of runs)",
        "results": results,
        "targets": t.as_dict(),
        "all_targets_pass": t.all_pass,
        "seconds": round(time.monotonic() - t_start, 1),
    }
    r = results
    summary = [
        f"events: EventSystem in-process, median of {runs} runs ({report['seconds']} s, "
        f"{report['mode']})",
        f"  fire->deliver, 1 callback (pre-created): {r['fire_deliver_1cb']['median']:>12,.0f} /s",
        f"  fire->deliver, 10 callbacks:             {ten['median']:>12,.0f} events/s "
        f"({ten['callbacks_run_per_s_median']:,.0f} callbacks/s)",
        f"  create+fire+deliver, 1 callback:         "
        f"{r['create_fire_deliver_1cb']['median']:>12,.0f} /s",
        f"  serialize 25 headers: plain {r['serialize_plain']['median']:,.0f}/s "
        f"(no url cache {r['serialize_plain_no_url_cache']['median']:,.0f}/s), "
        f"json {r['serialize_json']['median']:,.0f}/s, xml {r['serialize_xml']['median']:,.0f}/s, "
        f"cached hit {r['serialize_cached_hit']['median']:,.0f}/s",
        "targets:",
        *t.lines(),
    ]
    emit(report, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
