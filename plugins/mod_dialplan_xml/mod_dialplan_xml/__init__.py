"""mod_dialplan_xml: the ``XML`` dialplan (contexts, extensions, conditions, actions).

The hunt itself is :mod:`mod_dialplan_xml.engine`, a function over a small channel view; this
package adapts a live session to that view and registers the dialplan interface.

Where the dialplan comes from (``dialplan_hunt`` of FreeSWITCH): the argument of ``XML:<file>``
(a file with a ``<section name="dialplan">``), else the ``dialplan`` section of the current
configuration, so ``reloadxml`` affects the next call routed. (FreeSWITCH first asks XML
bindings such as mod_xml_curl with the channel data; softswitch has no such bindings yet.)
"""

from __future__ import annotations

import logging

import defusedxml.ElementTree as SafeET

import softswitch
from softswitch import AppFlag, Cause, Status

from .engine import Extension, hunt

log = logging.getLogger(__name__)

__all__ = ["SessionView", "dialplan_hunt"]


class SessionView:
    """A live session as :class:`mod_dialplan_xml.engine.ChannelView`."""

    __slots__ = ("session", "channel", "profile", "name")

    def __init__(self, session, profile) -> None:
        self.session = session
        self.channel = session.channel
        self.profile = profile
        self.name = session.channel.name

    def get_variable(self, name: str) -> str | None:
        return self.channel.get_variable(name)

    def set_variable(self, name: str, value: str | None) -> None:
        self.channel.set_variable(name, value)

    def push_variable(self, name: str, value: str) -> None:
        # switch_channel_add_variable_var_check(..., SWITCH_STACK_PUSH): ARRAY::a|:b
        # the channel's own value: get_variable would fall back to profile fields and globals
        old = next((v for k, v in self.channel.variables() if k == name), None)
        if old is None:
            self.channel.set_variable(name, value)
        elif old.startswith("ARRAY::"):
            self.channel.set_variable(name, f"{old}|:{value}")
        else:
            self.channel.set_variable(name, f"ARRAY::{old}|:{value}")

    def del_variable_prefix(self, prefix: str) -> None:
        for name, _ in self.channel.variables():
            if name.startswith(prefix):
                self.channel.del_variable(name)

    def caller_field(self, name: str) -> str | None:
        return self.profile.field(name)

    def expand(self, text: str) -> str:
        return self.channel.expand(text) if "$" in text else text

    def log(self, level: int, message: str) -> None:
        # FreeSWITCH writes these as "clean" session lines: the message only (Text-Channel 1)
        if log.isEnabledFor(level):
            log.log(level, "%s", message, extra={"fs_channel": 1, "fs_user_data": self.session.uuid})


def _tag(session) -> dict:
    """``extra`` of a session log line: Text-Channel 3 (SESSION) and the call's uuid."""
    return {"fs_channel": 3, "fs_user_data": session.uuid}


def _exec_inline(core, session):
    """``exec_app`` of mod_dialplan_xml: run an action marked ``inline="true"`` now."""
    def run(app: str, data: str) -> None:
        iface = core.registry.get("application", app)
        if iface is None or getattr(iface, "function", None) is None:
            log.error("Invalid Application %s", app, extra=_tag(session))
            session.hangup(Cause.DESTINATION_OUT_OF_ORDER)
            return
        if not iface.flags & AppFlag.SAF_ROUTING_EXEC:
            log.error("This application cannot be executed inline", extra=_tag(session))
            return
        session.execute_application(app, data)
    return run


def _dialplan_section(core, session, alt_path: str):
    """The element holding the contexts, or None after logging why."""
    tag = _tag(session)
    if alt_path:
        try:
            root = SafeET.parse(alt_path).getroot()
        except (OSError, SafeET.ParseError, ValueError) as e:
            log.error("Open of [%s] failed", alt_path, extra=tag)
            log.debug("%s: %s", alt_path, e)
            return None
        for sec in ([root] if root.tag == "section" else []) + root.findall("section"):
            if (sec.get("name") or "").lower() == "dialplan":
                log.debug("Getting dialplan from alternate path: %s", alt_path, extra=tag)
                inner = sec.find("dialplan")
                return inner if inner is not None else sec
        log.error("Open of dialplan failed", extra=tag)
        return None
    cfg = core.xml.section("dialplan") if core.xml is not None else None
    if cfg is None:
        log.error("Open of dialplan failed", extra=tag)
    return cfg


def dialplan_hunt(core, session, arg: str, profile=None) -> list[tuple[str, str]] | None:
    """The ``XML`` dialplan: ``[(app, data), …]`` for the call, or None (no route)."""
    if profile is None:
        profile = session.channel.caller_profile
    if profile is None:
        log.error("Error Obtaining Profile!", extra=_tag(session))
        return None
    if not profile.context:
        profile.context = "default"
    log.info("Processing %s <%s>->%s in context %s", profile.caller_id_name, profile.caller_id_number,
             profile.destination_number, profile.context, extra=_tag(session))
    cfg = _dialplan_section(core, session, arg)
    if cfg is None:
        return None
    ext: Extension | None = hunt(SessionView(session, profile), cfg, _exec_inline(core, session))
    return list(ext.applications) if ext is not None else None


@softswitch.hookimpl
def module_load(module, core):
    def xml_hunt(session, arg, profile=None):
        return dialplan_hunt(core, session, arg, profile)

    # execute_extension (mod_dptools) hunts with a cloned caller profile
    xml_hunt.accepts_profile = True
    module.add_dialplan("XML", xml_hunt, "the XML dialplan")
    return Status.SUCCESS
