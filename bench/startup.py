"""Start-up benchmark: time from exec to the kernel's ready line, and peak RSS.

    python bench/startup.py [--runs N] [--json-only]

Each run spawns ``python -m softswitch -nc -nf -base <tmp>`` with the default configuration
(the tree shipped with the kernel; ``HOME`` and ``XDG_*`` point into the temp dir so no
per-user configuration is picked up), waits for the line the kernel logs when every start-up
phase has run (``softswitch Version … Started. … ready in N ms``), reads the process's peak
RSS (``VmHWM`` in ``/proc/<pid>/status``) right then, and stops it with SIGTERM.

Prints one JSON line (every run, medians, the installed modules) and then a short summary.
Target (issue #2): ready in under 0.5 s and under 60 MB RSS on a 2-core machine with the four
first-party modules installed. The whole run is bounded (about 50 s at most); runs that would
not fit are skipped and said so. Not part of the test suite's pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

READY_RE = re.compile(rb"softswitch Version \S+ .*Started\..* ready in (\d+) ms")
TARGET_READY_S = 0.5
TARGET_RSS_MB = 60.0
RUN_TIMEOUT_S = 15.0
TOTAL_BUDGET_S = 50.0
FIRST_PARTY = ("mod_softtimer", "mod_pcm", "mod_commands", "mod_event_socket")


def installed_modules() -> dict[str, str]:
    """Entry points in group ``softswitch.modules``: name -> "distribution version"."""
    try:
        from importlib.metadata import entry_points
    except ImportError:  # pragma: no cover
        return {}
    out = {}
    for ep in entry_points(group="softswitch.modules"):
        dist = getattr(ep, "dist", None)
        out[ep.name] = f"{dist.metadata['Name']} {dist.version}" if dist else "?"
    return dict(sorted(out.items()))


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS of ``pid`` in kB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for row in f:
                key, _, rest = row.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return out


def one_run(tmp: str, n: int, timeout: float) -> dict:
    root = os.path.join(tmp, f"run{n}")
    home = os.path.join(root, "home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOFTSWITCH_", "XDG_"))}
    env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_STATE_HOME=os.path.join(home, ".state"),
               XDG_DATA_HOME=os.path.join(home, ".share"),
               XDG_RUNTIME_DIR=os.path.join(root, "rt"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "softswitch", "-nc", "-nf", "-base", os.path.join(root, "base")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=tmp)
    buf = b""
    ready_s = None
    kernel_ms = None
    status: dict[str, int] = {}
    deadline = t0 + timeout
    try:
        fd = proc.stdout.fileno()
        while ready_s is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # exited
            buf += chunk
            m = READY_RE.search(buf)
            if m:
                ready_s = time.perf_counter() - t0
                kernel_ms = int(m.group(1))
                status = proc_status(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=10)
            buf += rest or b""
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    result = {
        "ready_s": None if ready_s is None else round(ready_s, 4),
        "kernel_ms": kernel_ms,  # the kernel's own figure (from its init, not from exec)
        "peak_rss_mb": round(status["VmHWM"] / 1024, 1) if "VmHWM" in status else None,
        "rss_mb": round(status["VmRSS"] / 1024, 1) if "VmRSS" in status else None,
        "exit_code": proc.returncode,
    }
    if ready_s is None:
        result["error"] = "no ready line within %.0f s" % timeout
        result["output_tail"] = buf[-2000:].decode(errors="replace")
    return result


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="number of runs (default 7)")
    ap.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)
    runs = max(1, args.runs)
    modules = installed_modules()
    start = time.monotonic()
    results = []
    skipped = 0
    with tempfile.TemporaryDirectory(prefix="softswitch-bench-") as tmp:
        for n in range(runs):
            left = TOTAL_BUDGET_S - (time.monotonic() - start)
            if left < 2:
                skipped = runs - n
                break
            results.append(one_run(tmp, n, min(RUN_TIMEOUT_S, left)))
    ok = [r for r in results if r["ready_s"] is not None]
    summary = {
        "benchmark": "startup",
        "command": f"{os.path.basename(sys.executable)} -m softswitch -nc -nf -base <tmp> "
                   "(default conf)",
        "runs": len(results),
        "failed_runs": len(results) - len(ok),
        "skipped_runs": skipped,
        "median_ready_s": median([r["ready_s"] for r in ok]),
        "median_kernel_ms": median([r["kernel_ms"] for r in ok]),
        "median_peak_rss_mb": median([r["peak_rss_mb"] for r in ok]),
        "max_peak_rss_mb": max((r["peak_rss_mb"] for r in ok if r["peak_rss_mb"]), default=None),
        "modules_installed": modules,
        "first_party_installed": [m for m in FIRST_PARTY if m in modules],
        "target": {"ready_s": TARGET_READY_S, "peak_rss_mb": TARGET_RSS_MB},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": results,
    }
    print(json.dumps(summary, sort_keys=False))
    if not args.json_only:
        def fmt(v, unit):
            return "n/a" if v is None else f"{v}{unit}"

        rs, rss = summary["median_ready_s"], summary["median_peak_rss_mb"]
        verdict = ""
        if rs is not None and rss is not None:
            hit = rs < TARGET_READY_S and rss < TARGET_RSS_MB
            verdict = "within target" if hit else "OUTSIDE target"
        print()
        print(f"startup: {len(ok)}/{len(results)} runs ready"
              + (f", {skipped} skipped (time budget)" if skipped else ""))
        print(f"  median exec->ready  {fmt(rs, ' s')}   (kernel's own figure "
              f"{fmt(summary['median_kernel_ms'], ' ms')})")
        print(f"  median peak RSS     {fmt(rss, ' MB')}   (max {fmt(summary['max_peak_rss_mb'], ' MB')})")
        print(f"  target              < {TARGET_READY_S} s, < {TARGET_RSS_MB:.0f} MB: {verdict}")
        print(f"  modules installed   {', '.join(modules) or 'none (bare kernel)'}")
        for r in results:
            if "error" in r:
                print(f"  failed run: {r['error']}\n{r['output_tail']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
