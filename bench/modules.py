"""Benchmark: discovering and loading 50 trivial module distributions; load+unload cycles.

    python bench/modules.py [--quick] [--runs N] [--modules 50]

Setup (not timed): 50 wheels ``softswitch-mod-bench-NN`` built with
:func:`softswitch.testing.build_module_wheel` (each module adds one API, ``bench_api_NN``),
installed by pip (:func:`softswitch.testing.pip_install`) into a temp dir put on ``sys.path``,
and one core from :func:`softswitch.testing.make_core` (the core modules installed in the venv,
mod_softtimer and mod_pcm, load at its start-up; modules.conf names only mod_pcm, so the core
does not "load all").

Timed in this process, per run (median of ``--runs``, default 5, after one warm-up run):

* ``discovery_ms``: ``core.modules.index(refresh=True)`` (entry points of every distribution
  on sys.path; ``importlib.invalidate_caches()`` included);
* ``import_ms``: ``importlib.import_module`` of the 50 packages (purged from sys.modules first);
* ``load_excl_import_ms``: ``core.modules.load(name)`` × 50 with the packages already imported;
* ``load_incl_import_ms``: ``core.modules.load(name)`` × 50 right after an unload (the unload
  purges the package from sys.modules, so each load imports it);
* ``unload_ms``: ``core.modules.unload(name)`` × 50.

Then ``load_unload_cycles_per_s`` of one module (each load re-imports, since unload purges),
and ``import_purge_cycles_per_s`` of the same package alone, to show the import's share.

Target (issue): 50 modules discovered and loaded in < 150 ms beyond import time, i.e.
``discovery_ms + load_excl_import_ms`` < 150.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile
import time

import gevent
from _common import Targets, emit, environment, series

from softswitch.status import Status
from softswitch.testing import build_module_wheel, make_core, pip_install

TARGET_MS = 150.0

MODULE_SRC = '''"""Benchmark fixture module {name}: one API."""
import softswitch


def _api(cmd, session, stream):
    stream.write("{name} " + cmd)


@softswitch.hookimpl
def module_load(module, core):
    module.add_api("bench_api_{nn}", "benchmark api {nn}", "<text>", _api)
'''

MODULES_CONF = ('<configuration name="modules.conf"><modules>\n'
                '  <!-- one load element, so the core does not "load all" -->\n'
                '  <load module="mod_pcm"/>\n'
                '</modules></configuration>\n')


def names(n: int) -> list[str]:
    return [f"mod_bench_{i:02d}" for i in range(n)]


def build(tmp: str, n: int) -> str:
    wheels = [build_module_wheel(os.path.join(tmp, "wheels"), name,
                                 {"__init__.py": MODULE_SRC.format(name=name, nn=name[-2:])})
              for name in names(n)]
    site = os.path.join(tmp, "site")
    pip_install(wheels, site)
    return site


def purge(name: str) -> None:
    for k in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[k]


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def one_run(core, mods: list[str]) -> dict[str, float]:
    loader = core.modules
    out = {}
    # discovery
    t0 = time.perf_counter()
    idx = loader.index(refresh=True)
    out["discovery_ms"] = ms_since(t0)
    missing = [m for m in mods if m not in idx]
    if missing:
        raise RuntimeError(f"entry points not found for {missing[:3]}…")
    # import alone
    for m in mods:
        purge(m)
    t0 = time.perf_counter()
    for m in mods:
        importlib.import_module(m)
    out["import_ms"] = ms_since(t0)
    # load, packages already imported
    t0 = time.perf_counter()
    for m in mods:
        status, err = loader.load(m)
        if status != Status.SUCCESS:
            raise RuntimeError(f"load {m}: {status} {err}")
    out["load_excl_import_ms"] = ms_since(t0)
    # unload (purges sys.modules)
    t0 = time.perf_counter()
    for m in mods:
        status, err = loader.unload(m)
        if status != Status.SUCCESS:
            raise RuntimeError(f"unload {m}: {status} {err}")
    out["unload_ms"] = ms_since(t0)
    # load including the import
    t0 = time.perf_counter()
    for m in mods:
        loader.load(m)
    out["load_incl_import_ms"] = ms_since(t0)
    for m in mods:
        loader.unload(m)
    gevent.sleep(0)  # let the dispatcher deliver the MODULE_LOAD/UNLOAD events (not timed)
    out["discover_and_load_excl_import_ms"] = out["discovery_ms"] + out["load_excl_import_ms"]
    return out


def cycles(core, name: str, seconds: float) -> tuple[float, float]:
    """(load+unload cycles/s, import+purge cycles/s) of one module over ``seconds`` each."""
    loader = core.modules
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        loader.load(name)
        loader.unload(name)
        n += 1
        if not n % 50:
            gevent.sleep(0)
    lu = n / (time.perf_counter() - t0)
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        importlib.import_module(name)
        purge(name)
        n += 1
    return lu, n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    ap.add_argument("--runs", type=int, default=None, help="runs (median; default 5, quick 5)")
    ap.add_argument("--modules", type=int, default=50, help="number of fixture modules (50)")
    ap.add_argument("--loglevel", default="debug",
                    help="switch.conf loglevel of the core (default debug, as the test kernels)")
    args = ap.parse_args(argv)
    runs = args.runs or 5
    cycle_s = 0.3 if args.quick else 1.0
    t_start = time.monotonic()
    env = environment()
    with tempfile.TemporaryDirectory(prefix="softswitch-bench-mod-") as tmp:
        t0 = time.perf_counter()
        site = build(tmp, args.modules)
        setup_s = time.perf_counter() - t0
        sys.path.insert(0, site)
        importlib.invalidate_caches()
        mods = names(args.modules)
        core = make_core(os.path.join(tmp, "core"), conf={"modules.conf.xml": MODULES_CONF},
                         settings={"loglevel": args.loglevel})
        logging.getLogger().setLevel(logging.WARNING)  # nothing of ours on stderr
        try:
            preloaded = sorted(core.modules.modules)
            first = one_run(core, mods)  # warm-up: first reads of metadata and .pyc files
            per_run = [one_run(core, mods) for _ in range(runs)]
            lu, ip = zip(*(cycles(core, mods[0], cycle_s / 2 if args.quick else cycle_s)
                           for _ in range(runs)), strict=True)
            dists = len(list(__import__("importlib_metadata").distributions()))
        finally:
            core.shutdown()
            sys.path.remove(site)
    results = {k: series([r[k] for r in per_run], 2) for k in per_run[0]}
    results["load_unload_cycles_per_s"] = series(lu, 0)
    results["import_purge_cycles_per_s"] = series(ip, 0)
    med = {k: v["median"] for k, v in results.items()}
    per_module_us = med["load_excl_import_ms"] * 1000 / args.modules
    t = Targets()
    t.check(f"discover_and_load_{args.modules}_excl_import_ms",
            med["discover_and_load_excl_import_ms"], "<=", TARGET_MS, "ms")
    report = {
        "bench": "modules",
        "mode": "quick" if args.quick else "full",
        "env": env,
        "params": {"runs": runs, "modules": args.modules, "cycle_window_s": cycle_s,
                   "distributions_on_path": dists, "loaded_at_startup": preloaded,
                   "loglevel": args.loglevel, "setup_s": round(setup_s, 1)},
        "results": results,
        "load_excl_import_us_per_module": round(per_module_us),
        "first_run_not_in_medians": {k: round(v, 2) for k, v in first.items()},
        "targets": t.as_dict(),
        "all_targets_pass": t.all_pass,
        "seconds": round(time.monotonic() - t_start, 1),
    }
    summary = [
        f"modules: {args.modules} fixture module distributions, median of {runs} runs "
        f"({report['seconds']} s, {report['mode']}; setup {setup_s:.1f} s untimed)",
        f"  discovery (index refresh, {dists} dists): {med['discovery_ms']:8.1f} ms",
        f"  import of the {args.modules} packages:          {med['import_ms']:8.1f} ms",
        f"  load, already imported:            {med['load_excl_import_ms']:8.1f} ms "
        f"({per_module_us:.0f} us/module)",
        f"  load, importing:                   {med['load_incl_import_ms']:8.1f} ms",
        f"  unload:                            {med['unload_ms']:8.1f} ms",
        f"  load+unload cycles of one module:  {med['load_unload_cycles_per_s']:8.0f} /s "
        f"(import+purge alone: {med['import_purge_cycles_per_s']:.0f} /s)",
        "targets:",
        *t.lines(),
    ]
    emit(report, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
