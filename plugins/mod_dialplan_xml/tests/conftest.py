"""Fixtures: an in-process kernel with mod_dialplan_xml, a test endpoint and a few test
applications (the real ones are mod_dptools', another distribution).

``tnull/<dest>`` is a null-like outbound leg: it answers in CS_CONSUME_MEDIA and reads 20 ms
frames of silence paced by a ``soft`` timer. Test applications: ``park`` (the kernel's park),
``set`` (``name=value``, may run inline), ``noinline`` (may not), ``boom`` (raises).
"""

from __future__ import annotations

import os
import types

import pytest

import softswitch
from softswitch import AppFlag, Cause, ChannelState, Frame, StateHandlers, Status

REPO_CONF = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf")

ROOT_XML = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="include" data="vars.xml"/>
  <section name="configuration" description="Various Configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
  <section name="dialplan" description="Regex/XML Dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
</document>
"""


def make_test_module() -> types.ModuleType:
    mod = types.ModuleType("mod_testcalls")

    @softswitch.hookimpl
    def module_load(module, core):
        def outgoing(core_, originator, var_event, profile, flags):
            endpoint = core.registry.get("endpoint", "tnull")
            session = core.sessions.request(endpoint, "outbound", originator=originator)
            session.private = Frame(bytes(320), 160, 8000)
            session.channel.set_name(f"tnull/{profile.destination_number}")
            session.set_read_codec(core.codec_open("L16@8000h@20i"))
            session.set_write_codec(core.codec_open("L16@8000h@20i"))
            session.timer = core.timer_open("soft", 20, 160)
            session.private.codec = session.read_codec
            session.channel.set_caller_profile(profile)
            session.channel.set_state(ChannelState.CS_INIT)
            return Cause.SUCCESS, session

        def read_frame(session, flags):
            if not session.channel.ready():
                return Status.FALSE, None
            session.timer.next()
            return Status.SUCCESS, session.private

        def on_destroy(session):
            if session.timer is not None:
                session.timer.destroy()

        module.add_endpoint(
            "tnull", outgoing_channel=outgoing, read_frame=read_frame,
            write_frame=lambda session, frame, flags: Status.SUCCESS,
            state_handlers=StateHandlers(
                on_init=lambda s: s.channel.set_state(ChannelState.CS_ROUTING),
                on_consume_media=lambda s: s.mark_answered(), on_destroy=on_destroy))

        def set_app(session, data):
            name, _, value = data.partition("=")
            session.channel.set_variable(name, value or None)

        def boom(session, data):
            raise RuntimeError("boom")

        module.add_application("park", "Park", "", "", lambda s, d: s.park(), int(AppFlag.SAF_SUPPORT_NOMEDIA))
        module.add_application("set", "Set", "", "", set_app,
                               int(AppFlag.SAF_SUPPORT_NOMEDIA | AppFlag.SAF_ROUTING_EXEC))
        module.add_application("noinline", "Not inline", "", "", lambda s, d: None, 0)
        module.add_application("boom", "Raises", "", "", boom, int(AppFlag.SAF_SUPPORT_NOMEDIA))

    mod.module_load = module_load
    return mod


@pytest.fixture
def log_lines():
    """Every log line of the kernels ``make_core`` starts."""
    return []


@pytest.fixture
def make_core(kernel_factory, log_lines):
    """``make_core(dialplan_xml)`` → a running kernel whose dialplan section holds that text
    (``None``: the repository's own conf/dialplan/default.xml)."""
    import mod_dialplan_xml
    import mod_pcm
    import mod_softtimer

    def make(dialplan: str | None = None):
        if dialplan is None:
            with open(os.path.join(REPO_CONF, "dialplan", "default.xml"), encoding="utf-8") as f:
                dialplan = f.read()
        core = kernel_factory(
            modules=[mod_softtimer, mod_pcm, mod_dialplan_xml, make_test_module()],
            conf={"softswitch.xml": ROOT_XML, "dialplan/default.xml": dialplan})
        core.logbus.bind(log_lines.append, 7, owner="test")
        return core
    return make


@pytest.fixture
def route():
    """``route(core, "1000")`` → a tnull leg routed to that extension of XML/default."""
    def start(core, dest: str, context: str = "default", dialplan: str = "XML", vars: str = ""):
        cause, session = core.sessions.originate(f"{vars}tnull/{dest}")
        assert session is not None, cause
        core.sessions.route_originated(session, dest, dialplan, context)
        return session
    return start
