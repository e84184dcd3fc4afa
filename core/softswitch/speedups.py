"""The kernel's optional C extensions, and the one switch that turns them all off.

Every hot path that has a C implementation (in the kernel or in a module) keeps a tested
pure-Python one. ``SOFTSWITCH_PURE_PYTHON=1`` in the environment forces the Python code
everywhere; modules ask :func:`pure_python` (``softswitch.pure_python()``) rather than reading
the environment themselves. Which implementation each hot path runs is logged once, at DEBUG.

Kernel extensions are listed in the kernel's ``setup.py`` (``optional=True``: an install without a
C compiler goes on without them).
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger(__name__)

__all__ = ["PURE_PYTHON_ENV", "pure_python", "load_extension", "report"]

#: The environment variable that forces every pure-Python path.
PURE_PYTHON_ENV = "SOFTSWITCH_PURE_PYTHON"

_reported: set = set()


def pure_python() -> bool:
    """True when ``SOFTSWITCH_PURE_PYTHON`` is set to anything but ``""``/``0``/``false``/``no``:
    every C fast path (kernel and modules) must then run its Python code. Read each time, so a
    test can change it before making what it tests."""
    return os.environ.get(PURE_PYTHON_ENV, "").strip().lower() not in ("", "0", "false", "no")


def report(what: str, implementation: str, why: str = "", key: object = None) -> None:
    """Log once per process (per ``key``, default ``what``), at DEBUG, which implementation a
    hot path runs and why."""
    key = what if key is None else key
    if key in _reported:
        return
    _reported.add(key)
    log.debug("%s: %s implementation%s", what, implementation, f" ({why})" if why else "")


def load_extension(name: str, what: str) -> ModuleType | None:
    """Import the C extension ``name`` for the hot path ``what``, or None: switched off by
    :func:`pure_python`, or not built (its ImportError is logged at DEBUG)."""
    if pure_python():
        report(what, "Python", f"{PURE_PYTHON_ENV}=1")
        return None
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        report(what, "Python", f"{name} is not available: {e}")
        return None
    report(what, "C", name)
    return module
