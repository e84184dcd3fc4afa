"""Fixtures: an in-process kernel with mod_loopback and a small fixture module of applications.

``mod_lbfixture`` gives the tests what mod_dptools would, without depending on it:

* ``pre_answer`` (mod_dptools' application, which ``loopback/app=`` runs first);
* ``t_park``: ``session.park()`` (answers first with ``t_park answer``);
* ``t_read <n>``: read ``n`` frames, put ``(status, data, samples, flags)`` of each on the
  session's ``reads`` queue, then park;
* ``t_collect <n>``: read frames until ``n`` non-CNG ones arrived, put their data on the queue;
* ``t_send <n>``: ``n`` times: read one frame (the pacing), write a frame of byte ``i + 1``;
* the dialplan ``t_dp``: records ``(destination, context, dialplan)`` of the hunted channel and
  runs ``t_park answer``.
Queues are per uuid in ``core.lbfixture`` (a dict), so a test can wait on them.
"""

from __future__ import annotations

import types

import gevent.queue
import pytest

import softswitch
from softswitch import Frame, Status


def make_fixture_module() -> types.ModuleType:
    mod = types.ModuleType("mod_lbfixture")

    @softswitch.hookimpl
    def module_load(module, core):
        state = core.lbfixture = {"queues": {}, "hunts": gevent.queue.Queue()}

        def q(session):
            return state["queues"].setdefault(session.uuid, gevent.queue.Queue())

        def t_park(session, data):
            if data == "answer":
                session.answer()
            session.park()

        def t_read(session, data):
            for _ in range(int(data or 1)):
                st, frame = session.read_frame()
                q(session).put((st, None if frame is None else bytes(frame.data),
                                None if frame is None else frame.samples,
                                None if frame is None else int(frame.flags)))
            session.park()

        def t_collect(session, data):
            want, got = int(data or 1), []
            while len(got) < want and session.ready():
                st, frame = session.read_frame()
                if st != Status.SUCCESS:
                    break
                if frame is not None and not frame.flags & softswitch.FrameFlag.CNG:
                    got.append(bytes(frame.data))
            q(session).put(got)
            session.park()

        def t_send(session, data):
            for i in range(int(data or 1)):
                session.read_frame()
                impl = session.write_codec.implementation
                session.write_frame(Frame(data=bytes([i + 1]) * impl.decoded_bytes_per_packet,
                                          samples=impl.samples_per_packet,
                                          rate=impl.samples_per_second, codec=session.write_codec))
            session.park()

        def pre_answer(session, data):  # mod_dptools' app of that name, which loopback/app= runs
            session.pre_answer()

        for name, fn in (("pre_answer", pre_answer), ("t_park", t_park), ("t_read", t_read), ("t_collect", t_collect),
                         ("t_send", t_send)):
            module.add_application(name, name, "", "", fn)

        def hunt(session, arg):
            p = session.channel.caller_profile
            state["hunts"].put((session.uuid, p.destination_number, p.context, p.dialplan))
            return [("t_park", "answer")]

        module.add_dialplan("t_dp", hunt)

    mod.module_load = module_load
    return mod


@pytest.fixture
def core(kernel_factory):
    """A running kernel with mod_loopback and the fixture module, after mod_softtimer and mod_pcm
    (kernel_factory loads only what it is given; null and loopback legs need L16 and the soft
    timer)."""
    return kernel_factory(modules=["mod_softtimer", "mod_pcm", "mod_loopback", make_fixture_module()],
                          settings={"sessions-per-second": 1000})


@pytest.fixture
def reads(core):
    """``reads(uuid, timeout=5)`` → the next item the fixture apps put for that session."""
    def get(uuid, timeout=5.0):
        return core.lbfixture["queues"].setdefault(uuid, gevent.queue.Queue()).get(timeout=timeout)
    return get
