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
from .event import EventType, new_uuid
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
        if src.run_queued():
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
    # as switch_ivr_bridge.c's audio_bridge_thread: an answered B answers an unanswered A (an
    # inbound SIP caller gets its 200 OK here); early media on B pre-answers A
    fa, fb = a.channel.flags, b.channel.flags
    if fb & F.CF_ANSWERED and not fa & F.CF_ANSWERED:
        a.answer()
    elif fb & F.CF_EARLY_MEDIA and not fa & (F.CF_ANSWERED | F.CF_EARLY_MEDIA):
        a.pre_answer()
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


def _ub_peer(session: Session) -> tuple[Session | None, bool]:
    priv = session.channel.private or {}
    return priv.get("uuid_bridge_peer"), priv.get("uuid_bridge_a", False)


def _ub_on_hibernate(session: Session) -> Status:
    if session.channel.state == CS.CS_HIBERNATE:
        session.set_state(CS.CS_RESET)
    return Status.FALSE


def _ub_on_reset(session: Session) -> Status:
    if session.channel.state == CS.CS_RESET:
        session.set_state(CS.CS_SOFT_EXECUTE)
    return Status.FALSE


def _ub_on_soft_execute(session: Session) -> Status:
    peer, is_a = _ub_peer(session)
    ch = session.channel
    session.remove_state_handler(_UB_HANDLERS)
    if peer is None:
        return Status.FALSE
    ch.set_variable("current_application_data", peer.uuid)
    ch.set_variable("current_application", "uuid_bridge")
    session.fire_event(EventType.CHANNEL_EXECUTE, after=(
        ("Application", "uuid_bridge"), ("Application-Data", peer.uuid),
        ("Application-UUID", new_uuid())))
    session.manager.db.execute(session, "uuid_bridge", peer.uuid)
    if not is_a:
        peer.wake()  # A waits for B to be here
        return Status.FALSE
    pch = peer.channel
    while pch.running_state != CS.CS_SOFT_EXECUTE and pch.state < CS.CS_HANGUP \
            and ch.state == CS.CS_SOFT_EXECUTE:
        session.wait_state_change(0.02)
    if ch.state != CS.CS_SOFT_EXECUTE or pch.state >= CS.CS_HANGUP:
        if pch.state >= CS.CS_HANGUP and ch.state < CS.CS_HANGUP:
            session.hangup(Cause.NORMAL_CLEARING)
        return Status.FALSE
    bridge(session, peer)
    if ch.state < CS.CS_HANGUP and pch.state >= CS.CS_HANGUP:
        session.hangup(Cause.NORMAL_CLEARING)
    return Status.FALSE


_UB_HANDLERS = StateHandlers(on_hibernate=_ub_on_hibernate, on_reset=_ub_on_reset,
                             on_soft_execute=_ub_on_soft_execute, name="uuid_bridge")


def uuid_bridge(mgr: SessionManager, a_uuid: str, b_uuid: str) -> bool:
    """``uuid_bridge`` (``switch_ivr_uuid_bridge``): both legs leave what they do through
    CS_HIBERNATE → CS_RESET → CS_SOFT_EXECUTE with a new caller profile (transfer source
    ``<epoch>:<uuid>:uuid_br:<other>``) and an EXECUTE ``uuid_bridge`` event; A then bridges
    (CHANNEL_BRIDGE) and B goes CS_EXCHANGE_MEDIA (spec §3.4). False when either leg is
    missing or hung up. When one side hangs up the other is hung up NORMAL_CLEARING."""
    a = mgr.locate(a_uuid)
    b = mgr.locate(b_uuid)
    if a is None or b is None or a is b:
        return False
    if a.channel.state >= CS.CS_HANGUP or b.channel.state >= CS.CS_HANGUP:
        return False
    now = micro_time_now()
    for s, other, is_a in ((a, b, True), (b, a, False)):
        ch = s.channel
        if ch.private is None:
            ch.private = {}
        ch.private["uuid_bridge_peer"] = other
        ch.private["uuid_bridge_a"] = is_a
        p = ch.caller_profile
        if p is not None:
            np = p.clone()
            np.transfer_source = f"{now // 1_000_000}:{np.uuid}:uuid_br:{other.uuid}"
            ch.set_caller_profile(np)
            np.times.transferred = now
            ch.set_variable("transfer_source", np.transfer_source)
        s.remove_state_handler(_UB_HANDLERS)
        s.add_state_handler(_UB_HANDLERS)
    for s in (a, b):
        s.unpark()
        if s.set_state(CS.CS_HIBERNATE) != CS.CS_HIBERNATE:
            # already hibernating/resetting: go on from there
            s.set_state(CS.CS_RESET)
    return True
