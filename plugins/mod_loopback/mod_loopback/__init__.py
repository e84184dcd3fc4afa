"""mod_loopback: FreeSWITCH's ``null`` and ``loopback`` endpoints, for softswitch.

* ``null/<dest>`` (:mod:`mod_loopback.null`): an outbound leg that answers by itself, reads
  paced near-silence and discards what is written: ``originate null/1000 &park``.
* ``loopback/<dest>[/<context>[/<dialplan>]]`` and ``loopback/app=<app>[:<arg>]``
  (:mod:`mod_loopback.loopback`): an A leg for the originator and a B leg that runs the dialplan
  (or the app), media passed across.

Both are built on the kernel's public call API (docs/calls.md): ``module.add_endpoint``,
``core.sessions.request`` and the :class:`softswitch.Session` primitives.
"""

from __future__ import annotations

import softswitch

__version__ = "0.1.0"

__all__ = ["module_load", "__version__"]


@softswitch.hookimpl
def module_load(module, core):
    """Add the ``null`` and ``loopback`` endpoints."""
    from . import loopback, null

    null.add_to(module)
    loopback.add_to(module)
