"""Helpers shared by bench/events.py, bench/modules.py and bench/esl.py.

Benchmarks are standalone scripts, not tests: each prints ONE JSON line (every figure, the
targets and pass/fail per target), then a short human summary.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

__all__ = ["median", "series", "Targets", "environment", "vm_status", "emit"]


def median(values):
    """Median of the non-None values (None when there are none)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _round(v: float | None, nd: int = 1):
    if v is None:
        return None
    return round(v, nd) if abs(v) < 1000 else round(v)


def series(values, nd: int = 1) -> dict:
    """``{"median", "min", "max", "runs"}`` for a list of per-run figures."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": _round(statistics.median(values), nd), "min": _round(min(values), nd),
            "max": _round(max(values), nd), "runs": [_round(v, nd) for v in values]}


class Targets:
    """Targets of an issue and whether the measured medians meet them."""

    def __init__(self) -> None:
        self.items: dict[str, dict] = {}

    def check(self, name: str, value, op: str, limit, unit: str = "") -> bool | None:
        """Record ``value op limit`` (``op`` is ``">="`` or ``"<="``); None when not measured."""
        if value is None:
            ok = None
        elif op == ">=":
            ok = value >= limit
        elif op == "<=":
            ok = value <= limit
        else:  # pragma: no cover
            raise ValueError(op)
        self.items[name] = {"value": value, "target": f"{op} {limit}{(' ' + unit) if unit else ''}",
                            "pass": ok}
        return ok

    def as_dict(self) -> dict:
        return self.items

    @property
    def all_pass(self) -> bool:
        return all(t["pass"] for t in self.items.values())

    def lines(self) -> list[str]:
        out = []
        for name, t in self.items.items():
            verdict = {True: "pass", False: "MISS", None: "not measured"}[t["pass"]]
            out.append(f"  {verdict:5} {name}: {t['value']} (target {t['target']})")
        return out


def environment() -> dict:
    """What a reader needs to judge the figures: Python, cores, load average."""
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (None, None, None)
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "loadavg_1m_at_start": load[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def vm_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS / VmHWM of ``pid`` in MB (empty when the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for row in f:
                key, _, rest = row.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = round(int(rest.split()[0]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return out


def emit(report: dict, summary: list[str]) -> None:
    """The JSON line, then the human summary."""
    try:
        report.setdefault("env", {})["loadavg_1m_at_end"] = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        pass
    sys.stdout.write(json.dumps(report, sort_keys=False) + "\n")
    sys.stdout.write("\n".join(summary) + "\n")
    sys.stdout.flush()
