"""originate: the dial-string grammar and the leg race (spec sessions.md §6).

::

    dialstring := ('<' vars '>')* ('{' vars '}')* leglist ('|' leglist)*   # '|' sequential
    leglist    := leg (',' leg)*                                           # ',' simultaneous
    leg        := ('[' vars ']')* endpoint '/' data
    vars       := name=value (',' name=value)*   # '^^X' prefix: separator X; quotes; '\\,'

and ``:_:`` between whole dial strings (enterprise originate: all in parallel, first answer
wins). ``originate_timeout`` is honoured to the millisecond (FreeSWITCH ends at the N-th
whole-second boundary, spec §13; a precise timeout is the better behaviour).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event

from .callif import StateHandlers
from .causes import Cause, cause2str
from .channel import CF, CallerProfile, ChannelState
from .config import switch_true
from .event import EventType
from .log import NOTICE
from .status import Status

if TYPE_CHECKING:
    from .session import Session
    from .sessions import SessionManager

log = logging.getLogger(__name__)

__all__ = ["DialString", "Leg", "parse_dialstring", "parse_vars", "originate",
           "route_originated", "DialStringError"]

CS = ChannelState
F = CF


class DialStringError(ValueError):
    """A dial string that cannot be parsed; the message says where."""


@dataclass
class Leg:
    endpoint: str
    data: str
    vars: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.endpoint}/{self.data}"


@dataclass
class DialString:
    """A parsed dial string: ``global_vars`` (``<>``), ``vars`` (``{}``), ``groups`` (tried
    one after the other, ``|``) of simultaneous legs (``,``); ``enterprise`` holds the
    ``:_:`` parts (each a DialString) when there are several."""

    global_vars: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    groups: list[list[Leg]] = field(default_factory=list)
    group_vars: list[dict[str, str]] = field(default_factory=list)
    enterprise: list[DialString] | None = None


_CLOSE = {"{": "}", "[": "]", "<": ">"}


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside brackets and single quotes, not after a backslash."""
    out: list[str] = []
    depth = 0
    quote = False
    cur: list[str] = []
    i = 0
    n = len(text)
    ls = len(sep)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == "'":
            quote = not quote
        elif not quote:
            if c in "{[<":
                depth += 1
            elif c in "}]>" and depth:
                depth -= 1
            elif depth == 0 and text.startswith(sep, i):
                out.append("".join(cur))
                cur = []
                i += ls
                continue
        cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _block(text: str, pos: int, open_: str, where: str) -> tuple[str, int]:
    """The inside of the bracket block starting at ``pos`` and the index after it."""
    close = _CLOSE[open_]
    depth = 0
    quote = False
    i = pos
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            quote = not quote
        elif not quote:
            if c == open_:
                depth += 1
            elif c == close:
                depth -= 1
                if depth == 0:
                    return text[pos + 1:i], i + 1
        i += 1
    raise DialStringError(f"unterminated {open_!r} at offset {pos} in {where!r} "
                          f"(add the closing {close!r})")


def parse_vars(text: str) -> dict[str, str]:
    """``a=1,b='x,y',c=z\\,w`` / ``^^:a=1:b=2`` → ordered dict (later names win)."""
    sep = ","
    if text.startswith("^^") and len(text) > 2:
        sep = text[2]
        text = text[3:]
    out: dict[str, str] = {}
    for part in _split_top(text, sep):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name:
            continue
        value = value.replace("\\" + sep, sep) if sep == "," else value
        if len(value) >= 2 and value[0] == "'" and value[-1] == "'":
            value = value[1:-1]
        out.pop(name, None)
        out[name] = value
    return out


def _parse_leg(text: str, where: str) -> Leg:
    text = text.strip()
    lv: dict[str, str] = {}
    while text.startswith("["):
        inner, end = _block(text, 0, "[", where)
        lv.update(parse_vars(inner))
        text = text[end:].lstrip()
    ep, _, data = text.partition("/")
    return Leg(ep.strip(), data, lv)


def parse_dialstring(text: str) -> DialString:
    """Parse a dial string (module docstring). :raises DialStringError: unbalanced brackets,
    no leg at all."""
    where = text
    parts = _split_top(text, ":_:")
    if len(parts) > 1:
        subs = [parse_dialstring(p) for p in parts if p.strip()]
        ds = DialString(enterprise=subs)
        return ds
    ds = DialString()
    rest = text.strip()
    while rest.startswith("<"):
        inner, end = _block(rest, 0, "<", where)
        ds.global_vars.update(parse_vars(inner))
        rest = rest[end:].lstrip()
    while rest.startswith("{"):
        inner, end = _block(rest, 0, "{", where)
        ds.vars.update(parse_vars(inner))
        rest = rest[end:].lstrip()
    for group in _split_top(rest, "|"):
        group = group.strip()
        gv: dict[str, str] = {}
        while group.startswith("{"):
            inner, end = _block(group, 0, "{", where)
            gv.update(parse_vars(inner))
            group = group[end:].lstrip()
        legs = [_parse_leg(p, where) for p in _split_top(group, ",") if p.strip()]
        if legs:
            ds.groups.append(legs)
            ds.group_vars.append(gv)
    if not ds.groups:
        raise DialStringError(f"no endpoint in dial string {where!r} (expected <type>/<data>, "
                              "e.g. null/1000)")
    return ds


# ----------------------------------------------------------------------------------------------
# originate
# ----------------------------------------------------------------------------------------------


def _on_routing(session: Session) -> Status:
    """The originate handler: a leg being originated skips the dialplan (CONSUME_MEDIA)."""
    session.set_state(CS.CS_CONSUME_MEDIA)
    return Status.FALSE


_ORIGINATE_HANDLERS = StateHandlers(on_routing=_on_routing, name="originate")


def _callee_number(dest: str) -> str:
    cut = max(dest.rfind("/"), dest.rfind(":"))
    num = dest[cut + 1:] if cut >= 0 else dest
    return num.split("@", 1)[0]


def _profile(lv: dict[str, str], dest: str, originator: Session | None,
             cid_name: str | None, cid_num: str | None) -> CallerProfile:
    op = originator.channel.caller_profile if originator is not None else None
    name = lv.get("origination_caller_id_name") or cid_name
    num = lv.get("origination_caller_id_number") or cid_num
    if name is None:
        name = op.caller_id_name if op is not None else ""
    if num is None:
        num = op.caller_id_number if op is not None else "0000000000"
    dest = dest or "service"
    p = CallerProfile(caller_id_name=name, caller_id_number=num or "0000000000",
                      destination_number=dest, callee_id_name="Outbound Call",
                      callee_id_number=_callee_number(dest), direction="outbound",
                      context=op.context if op is not None else "default",
                      ani=lv.get("origination_ani", ""))
    if "origination_callee_id_name" in lv:
        p.callee_id_name = lv["origination_callee_id_name"]
    if "origination_callee_id_number" in lv:
        p.callee_id_number = lv["origination_callee_id_number"]
    return p


def originate(mgr: SessionManager, dialstring: str, *, originator: Session | None = None,
              timeout: float | None = None, caller_id_name: str | None = None,
              caller_id_number: str | None = None, variables: dict[str, str] | None = None,
              flags: int = 0, cancel: gevent.event.Event | None = None) -> tuple[int, Session | None]:
    """Create the legs of ``dialstring``, wait for one to win; ``(Cause.SUCCESS, session)`` or
    ``(cause, None)``. Blocks the calling greenlet (``bgapi`` for a non-blocking one)."""
    try:
        ds = parse_dialstring(dialstring)
    except DialStringError as e:
        log.error("originate: %s", e)
        return Cause.INVALID_NUMBER_FORMAT, None
    if ds.enterprise is not None:
        return _enterprise(mgr, ds, originator=originator, timeout=timeout,
                           caller_id_name=caller_id_name, caller_id_number=caller_id_number,
                           variables=variables, flags=flags)
    base: dict[str, str] = dict(variables or {})
    base.update(ds.global_vars)
    base.update(ds.vars)
    cause: int = Cause.NONE
    retries = 1
    try:
        retries = max(1, int(base.get("originate_retries", "0")) + 1)
    except ValueError:
        pass
    retry_sleep = 0.0
    try:
        retry_sleep = int(base.get("originate_retry_sleep_ms", "0")) / 1000.0
    except ValueError:
        pass
    for attempt in range(retries):
        if attempt and retry_sleep:
            gevent.sleep(retry_sleep)
        for legs, gv in zip(ds.groups, ds.group_vars, strict=True):
            gvars = dict(base)
            gvars.update(gv)
            cause, s = _originate_group(mgr, legs, gvars, originator, timeout, caller_id_name,
                                        caller_id_number, flags, cancel)
            if s is not None:
                return Cause.SUCCESS, s
            if cause in (Cause.ORIGINATOR_CANCEL,):
                return cause, None
    return cause or Cause.ORIGINATOR_CANCEL, None


def _enterprise(mgr: SessionManager, ds: DialString, **kw: Any) -> tuple[int, Session | None]:
    cancel = gevent.event.Event()
    results: list = []
    done = gevent.event.Event()

    def run(sub: DialString) -> None:
        text = _unparse(sub)
        v = dict(kw.get("variables") or {})
        v["ignore_early_media"] = "true"
        kw2 = dict(kw, variables=v)
        r = originate(mgr, text, cancel=cancel, **kw2)
        results.append(r)
        if r[1] is not None:
            if cancel.is_set():
                r[1].hangup(Cause.LOSE_RACE)
            cancel.set()
        done.set()

    gs = [gevent.spawn(run, sub) for sub in ds.enterprise or ()]
    gevent.joinall(gs)
    winner = None
    cause: int = Cause.NO_ANSWER
    for c, s in results:
        if s is not None and winner is None and s.channel.state < CS.CS_HANGUP:
            winner = s
        elif s is not None and s is not winner:
            s.hangup(Cause.LOSE_RACE)
        elif s is None:
            cause = c
    if winner is not None:
        return Cause.SUCCESS, winner
    return cause, None


def _unparse(ds: DialString) -> str:
    def vs(d: dict[str, str]) -> str:
        return ",".join(f"{k}='{v}'" if "," in v else f"{k}={v}" for k, v in d.items())
    out = ""
    if ds.global_vars:
        out += "<" + vs(ds.global_vars) + ">"
    if ds.vars:
        out += "{" + vs(ds.vars) + "}"
    groups = []
    for legs, gv in zip(ds.groups, ds.group_vars, strict=True):
        g = ("{" + vs(gv) + "}") if gv else ""
        g += ",".join((("[" + vs(leg.vars) + "]") if leg.vars else "") + str(leg) for leg in legs)
        groups.append(g)
    return out + "|".join(groups)


def _float(v: str | None, default: float) -> float:
    try:
        return float(v) if v not in (None, "") else default
    except ValueError:
        return default


def _originate_group(mgr: SessionManager, legs: list[Leg], gvars: dict[str, str],
                     originator: Session | None, timeout: float | None, cid_name: str | None,
                     cid_num: str | None, flags: int,
                     cancel: gevent.event.Event | None) -> tuple[int, Session | None]:
    core = mgr.core
    nested_ok = switch_true(gvars.get("origination_nested_vars", ""))
    clobber = switch_true(gvars.get("local_var_clobber", ""))
    ign = gvars.get("ignore_early_media", "")
    ignore_early = switch_true(ign) or ign in ("ring_ready", "consume")
    return_ring_ready = switch_true(gvars.get("return_ring_ready", ""))
    fail_on_single_reject = gvars.get("fail_on_single_reject", "")
    total = _float(gvars.get("originate_timeout"), timeout if timeout else 60.0)
    progress_timeout = _float(gvars.get("progress_timeout"), 0.0)
    wake = gevent.event.Event()
    live: list[tuple[Session, float]] = []
    cause: int = Cause.NONE
    for leg in legs:
        lv = dict(gvars)
        if clobber:
            for k, val in leg.vars.items():
                lv.setdefault(k, val)
        else:
            lv.update(leg.vars)
        if not nested_ok and any("${" in val for val in lv.values()):
            log.critical("Invalid data (${ in an originate variable; set origination_nested_vars=true to allow it)")
            cause = Cause.INVALID_NUMBER_FORMAT
            continue
        ep = core.registry.get("endpoint", leg.endpoint)
        if ep is None or getattr(ep, "outgoing_channel", None) is None:
            log.error("Could not locate channel type %s", leg.endpoint)
            cause = Cause.CHAN_NOT_IMPLEMENTED
            continue
        if originator is not None:
            mf = originator.channel.vars.get("max_forwards")
            if mf:
                try:
                    forwards = int(mf) - 1
                except ValueError:
                    forwards = 69
                if forwards <= 0:
                    log.error("%s: max_forwards reached, not creating %s", originator.channel.name,
                              leg)
                    cause = Cause.EXCHANGE_ROUTING_ERROR
                    continue
                lv["max_forwards"] = str(forwards)
        profile = _profile(lv, leg.data, originator, cid_name, cid_num)
        try:
            c, s = ep.outgoing_channel(core, originator, lv, profile, flags)
        except gevent.GreenletExit:
            raise
        except Exception as e:
            log.error("endpoint %s of %s raised %s: %s creating %s", ep.name, ep.module_name,
                      type(e).__name__, e, leg)
            log.debug("traceback", exc_info=True)
            c, s = Cause.DESTINATION_OUT_OF_ORDER, None
        if s is None:
            c = c or Cause.DESTINATION_OUT_OF_ORDER
            log.log(NOTICE, "Cannot create outgoing channel of type [%s] cause: [%s]", leg.endpoint,
                    cause2str(c))
            cause = c
            continue
        ch = s.channel
        ou = lv.get("origination_uuid")
        if ou and ou != s.uuid:
            mgr.rekey(s, ou)
        for k, val in lv.items():
            if k != "origination_uuid":
                ch.set_variable(k, val)
        ch.set_variable("originate_early_media", "false" if ignore_early else "true")
        ch.set_variable("originate_endpoint", ep.name)
        if "origination_channel_name" in lv:
            ch.set_name(lv["origination_channel_name"])
        if originator is not None:
            och = originator.channel
            ch.set_variable("originator", originator.uuid)
            ch.set_variable("signal_bond", originator.uuid)
            och.set_variable("signal_bond", s.uuid)
            ch.originator_profile = och.caller_profile
            och.originatee_profile = ch.caller_profile
            och.flags |= F.CF_ORIGINATOR
        ch.flags |= F.CF_ORIGINATING
        s.add_state_handler(_ORIGINATE_HANDLERS)
        s.watchers = [wake]
        s.fire_event(EventType.CHANNEL_OUTGOING)
        s.launch()
        leg_timeout = _float(lv.get("leg_timeout"), 0.0)
        live.append((s, time.monotonic() + leg_timeout if leg_timeout else 0.0))
    if not live:
        return cause or Cause.DESTINATION_OUT_OF_ORDER, None
    start = time.monotonic()
    deadline = start + total
    if originator is not None:
        w = originator.watchers
        if w is None:
            originator.watchers = [wake]
        else:
            w.append(wake)
    winner: Session | None = None
    rejected = False
    try:
        while True:
            now = time.monotonic()
            alive = []
            for s, leg_deadline in live:
                ch = s.channel
                if ch.state >= CS.CS_HANGUP:
                    cause = ch.hangup_cause or cause
                    if fail_on_single_reject and _rejects(fail_on_single_reject, ch.hangup_cause):
                        rejected = True
                    continue
                if leg_deadline and now >= leg_deadline:
                    s.hangup(Cause.ALLOTTED_TIMEOUT)
                    cause = Cause.ALLOTTED_TIMEOUT
                    continue
                alive.append((s, leg_deadline))
                if winner is None:
                    fl = ch.flags
                    if (fl & F.CF_ANSWERED or (fl & F.CF_EARLY_MEDIA and not ignore_early)
                            or (fl & F.CF_RING_READY and return_ring_ready)):
                        winner = s
            live = alive
            if winner is not None:
                break
            if rejected:
                for s, _ in live:
                    s.hangup(Cause.LOSE_RACE)
                return cause, None
            if not live:
                return cause or Cause.ORIGINATOR_CANCEL, None
            if cancel is not None and cancel.is_set():
                for s, _ in live:
                    s.hangup(Cause.LOSE_RACE)
                return Cause.LOSE_RACE, None
            if originator is not None and originator.channel.state >= CS.CS_HANGUP:
                for s, _ in live:
                    s.hangup(Cause.ORIGINATOR_CANCEL)
                return Cause.ORIGINATOR_CANCEL, None
            if progress_timeout and now - start >= progress_timeout and not any(
                    s.channel.flags & (F.CF_RING_READY | F.CF_EARLY_MEDIA | F.CF_ANSWERED)
                    for s, _ in live):
                for s, _ in live:
                    s.hangup(Cause.PROGRESS_TIMEOUT)
                return Cause.PROGRESS_TIMEOUT, None
            if now >= deadline:
                for s, _ in live:
                    s.hangup(Cause.NO_ANSWER)
                return Cause.NO_ANSWER, None
            waits = [deadline - now]
            waits += [d - now for _, d in live if d]
            if progress_timeout:
                waits.append(start + progress_timeout - now)
            if cancel is not None:
                waits.append(0.05)
            wake.wait(max(0.0, min(waits)))
            wake.clear()
    finally:
        for s, _ in live:
            if s.watchers and wake in s.watchers:
                s.watchers.remove(wake)
        if originator is not None and originator.watchers and wake in originator.watchers:
            originator.watchers.remove(wake)
    for s, _ in live:
        if s is not winner:
            s.hangup(Cause.LOSE_RACE)
    winner.remove_state_handler(_ORIGINATE_HANDLERS)
    winner.channel.flags &= ~F.CF_ORIGINATING
    return Cause.SUCCESS, winner


def _rejects(setting: str, cause: int) -> bool:
    """``fail_on_single_reject``: ``true`` (any cause but the race's own) or a list of cause
    names (``USER_BUSY,CALL_REJECTED``; ``!X`` = any cause but X)."""
    if cause in (Cause.LOSE_RACE, Cause.NO_ANSWER, Cause.ORIGINATOR_CANCEL):
        return False
    if switch_true(setting):
        return True
    names = [n.strip().upper() for n in setting.split(",") if n.strip()]
    name = cause2str(cause)
    if any(n.startswith("!") for n in names):
        return all(n[1:] != name for n in names if n.startswith("!"))
    return name in names


def parse_app_target(target: str) -> tuple[str, str]:
    """``&app(args)`` / ``&app args`` / ``&app`` → ``(app, args)``."""
    t = target[1:] if target.startswith("&") else target
    t = t.strip()
    p = t.find("(")
    sp = t.find(" ")
    if p > 0 and (sp < 0 or p < sp):
        app = t[:p]
        arg = t[p + 1:]
        if arg.endswith(")"):
            arg = arg[:-1]
        return app.strip(), arg
    if sp > 0:
        return t[:sp], t[sp + 1:].strip()
    return t, ""


def route_originated(session: Session, target: str, dialplan: str | None = None,
                     context: str | None = None) -> None:
    """``&app(args)`` → a one-app extension (CALL_UPDATE, CS_EXECUTE); else a transfer to the
    extension ``target`` in ``dialplan`` (default XML) / ``context`` (default ``default``)."""
    if session.channel.state >= CS.CS_HANGUP:
        return
    if target.startswith("&"):
        app, arg = parse_app_target(target)
        session.set_caller_extension([(app, arg)])
    else:
        session.transfer(target, dialplan or "XML", context or "default")
