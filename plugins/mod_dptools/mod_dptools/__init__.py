"""mod_dptools: the everyday dialplan applications, the ``inline`` dialplan and the ``error``
endpoint (FreeSWITCH's ``mod_dptools.c``).

Applications: answer, pre_answer, ring_ready, hangup, park, sleep, set, unset, multiset,
export, set_global, log, info, event, echo, playback, bridge, transfer, execute_extension,
send_dtmf, respond. Each reads its argument as FreeSWITCH does (:mod:`mod_dptools.args`) and
writes FreeSWITCH's log lines; the envelope around every application (CHANNEL_EXECUTE /
_COMPLETE, ``${}`` expansion, an application that raises) is the kernel's
(``session.execute_application``).

The ``socket`` application is mod_event_socket's, as in FreeSWITCH.
"""

from __future__ import annotations

import logging

import softswitch
from softswitch import Status

from . import apps

log = logging.getLogger(__name__)


@softswitch.hookimpl
def module_load(module, core):
    apps.register(module, core)
    return Status.SUCCESS
