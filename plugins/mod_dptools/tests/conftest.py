"""Fixtures: an in-process kernel with mod_dptools and a small test endpoint.

``tnull/<dest>`` is a null-like outbound leg defined here (the real ``null`` endpoint is
mod_loopback's, another distribution): it answers in CS_CONSUME_MEDIA, reads 20 ms frames of
silence paced by a ``soft`` timer, keeps what is written (``frames_written``) and records DTMF and
RESPOND messages, so the applications can be tested on whole calls without other modules.
"""

from __future__ import annotations

import types

import pytest

import softswitch
from softswitch import Cause, ChannelState, Frame, StateHandlers, Status


class Leg:
    __slots__ = ("frame", "written", "dtmf", "messages")

    def __init__(self) -> None:
        self.frame = Frame(bytes(320), 160, 8000)
        self.written = 0
        self.dtmf: list[str] = []
        self.messages: list = []


def make_test_endpoint() -> types.ModuleType:
    mod = types.ModuleType("mod_testcalls")

    @softswitch.hookimpl
    def module_load(module, core):
        def outgoing(core_, originator, var_event, profile, flags):
            endpoint = core.registry.get("endpoint", "tnull")
            try:
                session = core.sessions.request(endpoint, "outbound", originator=originator)
            except softswitch.SessionRefused as e:
                return e.cause, None
            leg = Leg()
            session.private = leg
            session.channel.set_name(f"tnull/{profile.destination_number}")
            session.set_read_codec(core.codec_open("L16@8000h@20i"))
            session.set_write_codec(core.codec_open("L16@8000h@20i"))
            session.timer = core.timer_open("soft", 20, 160)
            leg.frame.codec = session.read_codec
            profile.source = "mod_testcalls"
            session.channel.set_caller_profile(profile)
            session.channel.set_state(ChannelState.CS_INIT)
            return Cause.SUCCESS, session

        def on_init(session):
            session.channel.set_state(ChannelState.CS_ROUTING)

        def on_consume_media(session):
            session.mark_answered()

        def on_destroy(session):
            if session.timer is not None:
                session.timer.destroy()

        def read_frame(session, flags):
            if not session.channel.ready():
                return Status.FALSE, None
            session.timer.next()
            return Status.SUCCESS, session.private.frame

        def write_frame(session, frame, flags):
            session.private.written += 1
            return Status.SUCCESS

        def send_dtmf(session, digit, duration):
            session.private.dtmf.append(digit)
            return Status.SUCCESS

        def receive_message(session, msg):
            session.private.messages.append(msg)
            return Status.SUCCESS

        def kill_channel(session, sig):
            return Status.SUCCESS

        module.add_endpoint("tnull", outgoing_channel=outgoing, read_frame=read_frame,
                            write_frame=write_frame, send_dtmf=send_dtmf,
                            receive_message=receive_message, kill_channel=kill_channel,
                            state_handlers=StateHandlers(on_init=on_init,
                                                         on_consume_media=on_consume_media,
                                                         on_destroy=on_destroy))

    mod.module_load = module_load
    return mod


DIALPLAN = """<include>
  <context name="default">
    <extension name="park_1000">
      <condition field="destination_number" expression="^1000$">
        <action application="park"/>
      </condition>
    </extension>
  </context>
</include>
"""


@pytest.fixture
def core(kernel_factory):
    """A running kernel with mod_softtimer, mod_pcm, mod_dptools and the test endpoint."""
    import mod_dptools
    import mod_pcm
    import mod_softtimer

    return kernel_factory(modules=[mod_softtimer, mod_pcm, mod_dptools, make_test_endpoint()])


@pytest.fixture
def tone_core(kernel_factory):
    """The same kernel plus mod_tone_stream."""
    import mod_dptools
    import mod_pcm
    import mod_softtimer
    import mod_tone_stream

    return kernel_factory(modules=[mod_softtimer, mod_pcm, mod_dptools, mod_tone_stream,
                                   make_test_endpoint()])


@pytest.fixture
def log_lines(core):
    lines: list = []
    core.logbus.bind(lines.append, 7, owner="test")
    return lines


@pytest.fixture
def events(core):
    def collect(event_type) -> list:
        got: list = []
        core.events.bind("test", event_type, None, got.append, None)
        return got
    return collect


@pytest.fixture
def call(core):
    """``call("set:x=1,park")`` → an answered tnull leg running that inline dialplan."""
    def start(target: str, dialplan: str = "inline", dest: str = "1000", vars: str = ""):
        cause, session = core.sessions.originate(f"{vars}tnull/{dest}")
        assert session is not None, cause
        core.sessions.route_originated(session, target, dialplan, "default")
        return session
    return start
