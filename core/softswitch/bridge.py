"""Bridging two sessions' media (``switch_ivr_multi_threaded_bridge``, ``uuid_bridge``).

Each leg's greenlet moves its own direction: A's runs A→B where ``bridge`` was called, B is
put in CS_EXCHANGE_MEDIA whose handler runs B→A. Either side hanging up ends both loops; the
other leg is then hung up with NORMAL_CLEARING unless it was transferred meanwhile (spec §3.4).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .callif import StateHandlers
from .causes import Cause
from .channel import CF, ChannelState
from .event import EventType
from .status import Status
from .timer import micro_time_now

if TYPE_CHECKING:
    from .session import Session
    from .sessions import SessionManager

log = logging.getLogger(__name__)

__all__ = ["bridge", "uuid_bridge"]

CS = ChannelState
F = CF
_SUCCESS = Status.SUCCESS


def _pump(src: Session, dst: Session) -> None:
    """Read ``src``, write ``dst`` until either is down or ``src`` leaves its state."""
    sch = src.channel
    dch = dst.channel
    state = sch.state
    read = src.read_frame
    write = dst.write_frame
    while sch.state == state and dch.state < CS.CS_HANGUP and src.bridge_partner is dst:
        if sch.flags & F.CF_BREAK:
            sch.flags &= ~F.CF_BREAK
        if src._queue:
            src._run_queued()
            continue
        st, frame = read()
        if st != _SUCCESS or frame is None:
            if sch.state >= CS.CS_HANGUP:
                break
            src.wait_state_change(0.02)
            continue
        write(frame)


def _b_exchange(session: Session) -> Status:
    partner = session.bridge_partner
    if partner is not None:
        _pump(session, partner)
    return _SUCCESS


_B_HANDLERS = StateHandlers(on_exchange_media=_b_exchange, name="bridge")


def _start(a: Session, b: Session) -> None:
    a.bridge_partner = b
    b.bridge_partner = a
    now = micro_time_now()
    for s in (a, b):
        s.channel.flags |= F.CF_BRIDGED
        p = s.channel.caller_profile
        if p is not None:
            p.times.bridged = now
    a.channel.flags |= F.CF_BRIDGE_ORIGINATOR
    a.channel.set_variable("bridge_uuid", b.uuid)
    b.channel.set_variable("bridge_uuid", a.uuid)
    a.channel.originatee_profile = b.channel.caller_profile
    b.channel.originator_profile = a.channel.caller_profile
    a.fire_event(EventType.CHANNEL_BRIDGE, before=(("Bridge-A-Unique-ID", a.uuid),
                                                   ("Bridge-B-Unique-ID", b.uuid)))
    a.manager.db.bridge(a, b)


def _end(a: Session, b: Session) -> None:
    if a.bridge_partner is b:
        a.bridge_partner = None
    if b.bridge_partner is a:
        b.bridge_partner = None
    for s in (a, b):
        s.channel.flags &= ~F.CF_BRIDGED
    a.channel.flags &= ~F.CF_BRIDGE_ORIGINATOR
    a.fire_event(EventType.CHANNEL_UNBRIDGE, before=(("Bridge-A-Unique-ID", a.uuid),
                                                     ("Bridge-B-Unique-ID", b.uuid)))
    a.manager.db.unbridge(a, b)


def bridge(a: Session, b: Session) -> int:
    """Bridge ``a`` (the caller's greenlet must be A's) with ``b`` until one side ends.
    Returns B's hangup cause (0 when B is still up)."""
    if a.channel.state >= CS.CS_HANGUP or b.channel.state >= CS.CS_HANGUP:
        return int(b.channel.hangup_cause or Cause.NORMAL_CLEARING)
    _start(a, b)
    b.add_state_handler(_B_HANDLERS)
    b.set_state(CS.CS_EXCHANGE_MEDIA)
    try:
        _pump(a, b)
    finally:
        b.remove_state_handler(_B_HANDLERS)
        _end(a, b)
        b.wake()
    if a.channel.state >= CS.CS_HANGUP and b.channel.state < CS.CS_HANGUP:
        b.hangup(Cause.NORMAL_CLEARING)
    return int(b.channel.hangup_cause)


def uuid_bridge(mgr: SessionManager, a_uuid: str, b_uuid: str) -> bool:
    """``uuid_bridge``: both sessions leave what they do; A runs the bridge in its greenlet.
    False when either is missing or hung up."""
    a = mgr.locate(a_uuid)
    b = mgr.locate(b_uuid)
    if a is None or b is None or a is b:
        return False
    if a.channel.state >= CS.CS_HANGUP or b.channel.state >= CS.CS_HANGUP:
        return False

    def run(sess: Session) -> None:
        bridge(a, b)
        if a.channel.state < CS.CS_HANGUP and b.channel.state >= CS.CS_HANGUP:
            a.hangup(Cause.NORMAL_CLEARING)

    for s in (a, b):
        s.channel.set_variable("current_application", "uuid_bridge")
    a.queue_callable(run)
    a.unpark()
    if a.channel.state in (CS.CS_PARK, CS.CS_EXECUTE, CS.CS_CONSUME_MEDIA, CS.CS_ROUTING):
        a.set_state(CS.CS_SOFT_EXECUTE)
    return True
