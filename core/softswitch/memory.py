"""Giving memory back to the system once the calls it held have gone.

CPython frees an object at once, but the memory does not all go back to the system: pymalloc
keeps a 1 MiB arena as long as one object in it lives, and glibc's ``free`` gives back only the
top of its heap (and whole mmap'd chunks). After a burst of calls, what the calls freed below a
live block stays in RSS until it is reused. Two things return it:

* a full garbage collection: besides cycles, it empties CPython's free lists (tuples, lists,
  dicts, floats…), which keep up to thousands of freed objects each, scattered in the arenas;
* glibc's ``malloc_trim(0)``: it releases the free pages inside the heap (``MADV_DONTNEED``),
  not only its top: the greenlet stacks, big dicts and lists and sqlite's pages the calls used.
  No portable Python call does this, hence ctypes; with another C library (musl, macOS) or
  ``SOFTSWITCH_PURE_PYTHON=1`` the pure path is the collection alone.

What neither can return is a pymalloc arena pinned by a long-lived object born during the burst.
The kernel avoids creating those (preallocated statistics rings, one cursor for the channels
batches, statements compiled at startup, caches that do not take per-call values), but some
are out of its reach: a dict's or list's internal table reallocated while the calls were up,
gevent's and sqlite's own objects. A few dozen such blocks in 1 MiB arenas kept +20 % of RSS
after 1,000 calls. So the server (``softswitch`` / ``python -m softswitch``) runs on the C
library's allocator (``PYTHONMALLOC=malloc``, :func:`exec_with_system_malloc`), whose free
pages ``malloc_trim`` gives back one by one: RSS comes back within 5 % of its start. The price
is CPU: about 15 % fewer calls/s per core in-process (bench/sessions.py). ``PYTHONMALLOC`` set
in the environment (``PYTHONMALLOC=pymalloc``) keeps Python's allocator.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
from collections.abc import Callable

from .accel import choose, pure_python

__all__ = ["reclaim", "exec_with_system_malloc", "allocator"]

log = logging.getLogger(__name__)


def _load_malloc_trim() -> Callable[[int], int] | None:
    if pure_python():
        choose("malloc_trim", "Python", "SOFTSWITCH_PURE_PYTHON=1: garbage collection only")
        return None
    try:
        # the process's own symbols (libc is loaded): ctypes.util.find_library would run
        # `ldconfig -p` in a subprocess
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        fn = None
    if fn is None:
        choose("malloc_trim", "Python", "no malloc_trim in the C library: garbage collection only")
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    choose("malloc_trim", "C", "glibc malloc_trim")
    return fn


_malloc_trim = _load_malloc_trim()


def reclaim() -> bool:
    """Collect garbage (emptying the free lists), then trim the C heap where the C library can.

    Takes milliseconds to tens of milliseconds on a big heap: call it when idle, not per call.
    Returns True when the C heap was trimmed (memory was given back to the system).
    """
    gc.collect()
    if _malloc_trim is None:
        return False
    return bool(_malloc_trim(0))


def allocator() -> str:
    """``"malloc"`` or ``"pymalloc"`` (what ``PYTHONMALLOC`` chose for this process), for
    reports."""
    env = os.environ.get("PYTHONMALLOC", "")
    return "malloc" if env.startswith("malloc") else "pymalloc"


def exec_with_system_malloc() -> None:
    """Re-run this process (same pid, command line and interpreter options) on the C
    library's allocator, unless ``PYTHONMALLOC`` is already set or the C library cannot trim
    (then the arenas could not be given back anyway). Call it before starting anything: it
    does not return when it re-runs the process."""
    if "PYTHONMALLOC" in os.environ or _malloc_trim is None:
        return
    os.environ["PYTHONMALLOC"] = "malloc"
    try:
        os.execv(sys.executable, sys.orig_argv)
    except OSError as e:  # (no executable to re-run: keep going on pymalloc)
        log.warning("could not re-run on the C allocator (%s): memory after peaks is kept", e)
