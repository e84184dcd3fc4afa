"""mod_loopback: FreeSWITCH's ``null`` and ``loopback`` endpoints, for softswitch."""

from __future__ import annotations

__version__ = "0.1.0"
