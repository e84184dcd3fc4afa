"""A test module for the call model: a ``tnull`` endpoint that behaves like FreeSWITCH's
``null`` (spec sessions.md §5.2), an L16 / toy "ULAW" codec pair, a 20 ms test timer, and
the applications the tests need (``park``, ``answer``, ``hangup``, ``boom`` …).

Loaded in-process through ``kernel_factory(modules=[("mod_calltest", calltest.module())])``.
Not a test file itself (no ``test_`` prefix).
"""

from __future__ import annotations

import types

import gevent

import softswitch
from softswitch import (
    AppFlag,
    Cause,
    ChannelFlag,
    ChannelState,
    CodecInterface,
    EventType,
    Frame,
    SessionRefused,
    StateHandlers,
    Status,
    TimerInterface,
    str2cause,
)

CHANNEL_EVENTS = {
    EventType.CODEC, EventType.CALL_UPDATE, EventType.COMMAND,
    *[t for t in EventType if t.name.startswith("CHANNEL_")],
}


def _ident(data: bytes) -> bytes:
    return bytes(data)


def _ulaw_enc(data: bytes) -> bytes:
    """A toy 'encoder': the high byte of each 16-bit sample (half the size)."""
    return bytes(data[1::2])


def _ulaw_dec(data: bytes) -> bytes:
    out = bytearray(len(data) * 2)
    out[1::2] = data
    return bytes(out)


def codecs() -> list[CodecInterface]:
    l16 = CodecInterface("codec", "RAW Signed Linear (16 bit)")
    l16.add_implementation(iananame="L16", ianacode=10, samples_per_second=8000,
                           bits_per_second=128000, microseconds_per_packet=20000,
                           samples_per_packet=160, decoded_bytes_per_packet=320,
                           encoded_bytes_per_packet=320, encode=_ident, decode=_ident)
    tu = CodecInterface("codec", "toy ulaw")
    tu.add_implementation(iananame="TOYU", ianacode=0, samples_per_second=8000,
                          bits_per_second=64000, microseconds_per_packet=20000,
                          samples_per_packet=160, decoded_bytes_per_packet=320,
                          encoded_bytes_per_packet=160, encode=_ulaw_enc, decode=_ulaw_dec)
    return [l16, tu]


def _timer_init(timer):
    timer.private = None


def _timer_next(timer):
    gevent.sleep(timer.interval / 1000.0)
    timer.tick += 1
    timer.samplecount += timer.samples


def test_timer() -> TimerInterface:
    return TimerInterface("timer", "ttimer", init=_timer_init, next=_timer_next)


test_timer.__test__ = False  # not a pytest test


class TNull:
    """Per-session private data of a tnull leg."""

    __slots__ = ("auto_answer", "pre_answer", "frame", "written", "dtmf", "answer_delay")

    def __init__(self) -> None:
        self.auto_answer = True
        self.pre_answer = False
        self.frame = Frame(bytes(320), 160, 8000)
        self.written: list[bytes] = []
        self.dtmf = ""
        self.answer_delay = 0


def module(record: dict | None = None) -> types.ModuleType:
    """The module object; ``record`` (a dict) collects what the apps saw."""
    rec = record if record is not None else {}
    mod = types.ModuleType("mod_calltest")

    def load(module, core):
        for c in codecs():
            module.add_codec(c)
        module.add_timer(test_timer())

        def outgoing(core_, originator, var_event, profile, flags):
            dest = profile.destination_number
            cause_text = var_event.get("tnull_hangup_cause") or (
                dest[6:] if dest.startswith("cause-") else "")
            try:
                s = core_.sessions.request(endpoint, "outbound", originator=originator)
            except SessionRefused as e:
                return e.cause, None
            s.set_read_codec(core_.codec_open("L16@8000h@20i"))
            s.set_write_codec(core_.codec_open(var_event.get("tnull_write_codec", "L16@8000h@20i")))
            s.channel.set_name(f"tnull/{dest}")
            if cause_text:
                s.destroy()
                return str2cause(cause_text), None
            priv = s.private = TNull()
            priv.frame.codec = s.read_codec
            priv.auto_answer = var_event.get("tnull_enable_auto_answer", "true") != "false"
            priv.pre_answer = var_event.get("tnull_pre_answer", "") == "true"
            if var_event.get("tnull_timer") == "true":
                s.timer = core_.timer_open("ttimer", 20, 160)
            profile.source = "mod_loopback"
            s.channel.set_caller_profile(profile)
            s.channel.set_state(ChannelState.CS_INIT)
            return Cause.SUCCESS, s

        def on_init(session):
            session.channel.set_flag(ChannelFlag.CF_ACCEPT_CNG)
            session.set_state(ChannelState.CS_ROUTING)

        def on_consume_media(session):
            priv = session.private
            if priv.pre_answer:
                session.mark_pre_answered()
            if priv.auto_answer:
                session.mark_answered()

        def read_frame(session, flags):
            if not session.channel.up():
                return Status.FALSE, None
            t = session.timer
            if t is not None:
                t.next()
            return Status.SUCCESS, session.private.frame

        def write_frame(session, frame, flags):
            w = session.private.written
            w.append(frame.data)
            if len(w) > 50:
                del w[:25]
            return Status.SUCCESS

        def send_dtmf(session, digit, duration):
            session.private.dtmf += digit
            session.set_variable("null_channel_dtmf_queued", session.private.dtmf)
            return Status.SUCCESS

        def kill(session, sig):
            rec.setdefault("kills", []).append((session.uuid, int(sig)))

        endpoint = module.add_endpoint(
            "tnull", outgoing_channel=outgoing, read_frame=read_frame, write_frame=write_frame,
            kill_channel=kill, send_dtmf=send_dtmf,
            state_handlers=StateHandlers(on_init=on_init, on_consume_media=on_consume_media))

        nomedia = AppFlag.SAF_SUPPORT_NOMEDIA

        @module.add_application("park", "Park", flags=nomedia)
        def park(session, data):
            session.park()

        @module.add_application("answer", "Answer", flags=nomedia)
        def answer(session, data):
            session.answer()

        @module.add_application("hangup", "Hangup", flags=nomedia)
        def hangup(session, data):
            session.hangup(str2cause(data))

        @module.add_application("set", "Set a variable", flags=nomedia)
        def set_(session, data):
            name, _, value = data.partition("=")
            session.set_variable(name, value)

        @module.add_application("respond", "Set the response")
        def respond(session, data):
            session.set_variable("current_application_response", data)

        @module.add_application("boom", "Raise")
        def boom(session, data):
            raise RuntimeError("boom goes the app")

        @module.add_application("sleep", "Sleep")
        def sleep(session, data):
            session.sleep(int(data or "0"))

        @module.add_application("echo", "Echo frames")
        def echo(session, data):
            n = int(data or "0")
            count = 0
            while session.channel.up() and (not n or count < n):
                st, f = session.read_frame()
                if st != Status.SUCCESS:
                    break
                session.write_frame(f)
                count += 1
            rec["echoed"] = count

        @module.add_application("getvar", "Record a variable", flags=nomedia)
        def getvar(session, data):
            rec.setdefault("getvar", []).append((data, session.get_variable(data)))

        @module.add_application("record_vars", "Record the variables", flags=nomedia)
        def record_vars(session, data):
            rec["vars"] = session.channel.variables()

        @module.add_dialplan("tdp")
        def hunt(session, arg):
            dest = session.channel.caller_profile.destination_number
            rec.setdefault("hunts", []).append((dest, arg))
            table = {"1000": [("answer", ""), ("park", "")],
                     "media": [("echo", "1")],
                     "echo": [("answer", ""), ("echo", "")],
                     "set": [("set", "x=${uuid}"), ("respond", "fine"), ("record_vars", "")],
                     "boom": [("boom", "")],
                     "nosuch": [("nosuchapp", "arg")],
                     "last": [("answer", "")]}
            return table.get(dest)

    mod.module_load = softswitch.hookimpl(load)
    return mod
