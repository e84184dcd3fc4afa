"""Which implementation the kernel's hot paths run: C / gevent internals, or pure Python.

Every fast path of the kernel (the C extensions built by setup.py, code that reads gevent's
internals) has a pure-Python path that gives the same results. A fast path is chosen once, at
import, after checking what it depends on; :func:`choose` logs once at DEBUG which path runs.
``SOFTSWITCH_PURE_PYTHON=1`` in the environment forces every pure-Python path (the kernel's
and, through :func:`pure_python`, the modules' own speed-ups).
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

__all__ = ["pure_python", "load_extension", "choose", "implementations"]

log = logging.getLogger(__name__)

#: what each fast path runs: name -> "C" / "gevent internals" / "Python" (for status and tests)
_CHOSEN: dict[str, str] = {}


def pure_python() -> bool:
    """True when ``SOFTSWITCH_PURE_PYTHON=1`` asks for every pure-Python path."""
    return os.environ.get("SOFTSWITCH_PURE_PYTHON") == "1"


def choose(name: str, implementation: str, why: str = "") -> None:
    """Record (and log once, at DEBUG) which implementation the fast path ``name`` runs."""
    if _CHOSEN.get(name) != implementation:
        _CHOSEN[name] = implementation
        log.debug("%s: %s%s", name, implementation, f" ({why})" if why else "")


def implementations() -> dict[str, str]:
    """Every fast path chosen so far and its implementation."""
    return dict(_CHOSEN)


def load_extension(module: str, name: str, check: tuple[str, ...] = ()) -> Any:
    """Import the optional C extension ``module`` for the fast path ``name``, or None.

    None when ``SOFTSWITCH_PURE_PYTHON=1``, when it was not built (no C compiler at install),
    or when it lacks one of the functions in ``check`` (an older build): the caller then runs
    its Python code.
    """
    if pure_python():
        choose(name, "Python", "SOFTSWITCH_PURE_PYTHON=1")
        return None
    try:
        ext = importlib.import_module(module)
    except ImportError as e:
        choose(name, "Python", f"{module} is not built: {e}")
        return None
    missing = [f for f in check if not hasattr(ext, f)]
    if missing:
        choose(name, "Python", f"{module} lacks {', '.join(missing)}")
        return None
    choose(name, "C", module)
    return ext
