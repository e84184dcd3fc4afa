"""mod_tone_stream: the ``tone_stream://`` file interface (TGML tones, FreeSWITCH's
``mod_tone_stream.c`` on libteletone).

``playback tone_stream://%(1000,0,440);loops=-1`` plays a 440 Hz tone forever. A spec is
generated once (per sample rate) into a cache shared by every call, so a thousand calls playing
the same tone cost one buffer and no per-frame generation. ``silence_stream://`` is the
kernel's own file interface.
"""

from __future__ import annotations

import logging

import gevent

import softswitch
from softswitch import Status

from .stream import ToneCache, ToneStream, open_tone_stream
from .teletone import generate

log = logging.getLogger(__name__)

__all__ = ["ToneCache", "ToneStream", "open_tone_stream", "generate"]


@softswitch.hookimpl
def module_load(module, core):
    # a spec is generated on the calling session's greenlet; gevent.sleep(0) between slices
    # keeps the hub (every other call's media) running during a long one
    cache = ToneCache(pause=gevent.sleep)
    module.state.cache = cache

    def open_tone(path: str, rate: int = 8000, channels: int = 1) -> ToneStream:
        return open_tone_stream(cache, path, rate)

    module.add_file("tone_stream", open_tone, ("tone_stream",), "TGML tone generator")
    return Status.SUCCESS


@softswitch.hookimpl
def module_shutdown(module):
    cache = getattr(module.state, "cache", None)
    if cache is not None:
        cache.clear()
