"""mod_pcm: FreeSWITCH's CORE_PCM_MODULE — the PCMU, PCMA and L16 codecs — for softswitch.

The kernel loads this module first, as a core module, whenever the distribution
``softswitch-mod-pcm`` is installed (entry point ``mod_pcm`` in ``softswitch.modules``). Its
load hook registers the interfaces of FreeSWITCH's ``src/switch_pcm.c``, with every
implementation FreeSWITCH registers, in the same order (:mod:`mod_pcm.implementations`):

``PROXY VIDEO PASS-THROUGH`` (PROXY-VID), ``PROXY PASS-THROUGH`` (PROXY),
``RAW Signed Linear (16 bit)`` (L16), ``G.711 ulaw`` (PCMU), ``G.711 alaw`` (PCMA).

Use them through the kernel::

    codec = core.codec_open("PCMU")              # = PCMU@8000h@20i
    ulaw = codec.encode(linear)                   # 16-bit host-order samples -> codes
    linear = codec.decode(ulaw)                   # any whole number of samples

or without one, through :mod:`mod_pcm.g711` (``ulaw_encode``, ``ulaw_decode``,
``alaw_encode``, ``alaw_decode``), which is bit-exact with FreeSWITCH's ``g711.h``.

Like FreeSWITCH's module, this one cannot be unloaded: its shutdown hook answers
``Status.NOUNLOAD``.
"""

from __future__ import annotations

import logging

import softswitch

from .implementations import INTERFACE_NAMES, build_interfaces, raw_status

_G711 = ("alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode")


def __getattr__(name: str):
    # The G.711 functions import numpy and build tables: only when first used (PEP 562).
    if name in _G711:
        from . import g711

        return getattr(g711, name)
    raise AttributeError(f"module 'mod_pcm' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "module_load",
    "module_shutdown",
    "ulaw_encode",
    "ulaw_decode",
    "alaw_encode",
    "alaw_decode",
    "raw_status",
    "INTERFACE_NAMES",
]

log = logging.getLogger(__name__)


@softswitch.hookimpl
def module_load(module: softswitch.ModuleInterface, core: object) -> None:
    """Add the five codec interfaces; the kernel registers them when this returns."""
    interfaces = build_interfaces()
    for iface in interfaces:
        module.add_codec(iface)
    module.state.interfaces = interfaces
    log.debug("mod_pcm: %d codec interfaces, %d implementations", len(interfaces),
              sum(len(i.implementations) for i in interfaces))


@softswitch.hookimpl
def module_shutdown(module: softswitch.ModuleInterface) -> softswitch.Status:
    """``core_pcm_shutdown``: the codecs stay (open codecs still use their functions)."""
    return softswitch.Status.NOUNLOAD
