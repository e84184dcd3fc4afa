"""mod_tone_stream in a kernel: installed, registered, opened through core.file_open."""

from __future__ import annotations

import importlib.metadata

import pytest

import mod_tone_stream
from mod_tone_stream.teletone import generate
from softswitch import FileError


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="softswitch.modules")}
    assert eps["mod_tone_stream"].value == "mod_tone_stream"


@pytest.fixture
def core(kernel_factory):
    core = kernel_factory(modules=[mod_tone_stream], start=False)
    core.modules.index = lambda refresh=False: {}  # only this module, whatever else is installed
    core.start()
    return core


def test_file_open_tone_stream_at_the_sessions_rate(core):
    fh = core.file_open("tone_stream://%(100,0,440);loops=2", rate=16000)
    assert (fh.samplerate, fh.channels) == (16000, 1)
    pieces = []
    while (p := fh.read(320)) is not None:
        pieces.append(p)
    assert b"".join(pieces) == generate("%(100,0,440)", 16000) * 2
    fh.close()


def test_every_call_gets_its_own_position_in_the_tone(core):
    a = core.file_open("tone_stream://%(100,0,440)")
    b = core.file_open("tone_stream://%(100,0,440)")
    first = a.read(160)
    assert a.read(160) != first or first == bytes(320)
    assert b.read(160) == first  # b starts at the beginning, whatever a has read


def test_a_bad_path_file_is_a_file_error_naming_it(core, tmp_path):
    with pytest.raises(FileError, match="nosuch"):
        core.file_open(f"tone_stream://path={tmp_path}/nosuch")


def test_unload_removes_the_interface(core):
    from softswitch import Status
    assert core.modules.unload("mod_tone_stream")[0] == Status.SUCCESS
    with pytest.raises(FileError, match="no file interface for tone_stream"):
        core.file_open("tone_stream://%(100,0,440)")


def test_generating_a_long_tone_leaves_the_hub_running(core):
    import gevent

    ran = []

    def other_call():
        while True:
            ran.append(1)
            gevent.sleep(0)

    g = gevent.spawn(other_call)
    gevent.sleep(0)
    before = len(ran)
    core.file_open("tone_stream://%(20000,0,440,480)")  # 160,000 samples, two oscillators
    during = len(ran) - before  # counted before this greenlet yields again
    g.kill()
    assert during > 5
