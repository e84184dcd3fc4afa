"""Fixtures for mod_softtimer's tests: a kernel with only this module loaded.

``kernel_factory`` and ``wait_for`` come from the kernel's pytest plugin (``softswitch.testing``).
Every test runs twice: with the C hot path of the kernel's pacing (``softswitch._pacing``,
skipped where it is not built) and with its Python code, the reference
(``SOFTSWITCH_PURE_PYTHON=1``).
"""

from __future__ import annotations

import pytest

import softswitch


@pytest.fixture(autouse=True, params=["C", "Python"])
def implementation(request, monkeypatch):
    """Which hot path the engines made during the test use (``SoftTimer.implementation``)."""
    if request.param == "C":
        if softswitch.pure_python():
            pytest.skip("SOFTSWITCH_PURE_PYTHON=1: the Python paths only")
        if softswitch.pacing_implementation() != "C":
            pytest.skip("the kernel's C extension softswitch._pacing is not built")
    monkeypatch.setenv("SOFTSWITCH_PURE_PYTHON", "1" if request.param == "Python" else "0")
    return request.param


@pytest.fixture
def core(kernel_factory):
    """A running in-process kernel with mod_softtimer (the installed distribution) loaded."""
    return kernel_factory(modules=["mod_softtimer"])


@pytest.fixture
def engine(core, wait_for):
    """The module's :class:`mod_softtimer.engine.SoftTimer`, its clock loop running."""
    engine = core.modules.modules["mod_softtimer"].state.softtimer
    wait_for(lambda: engine.running, message="the clock loop (module_runtime) did not start")
    return engine


@pytest.fixture
def spawn():
    """``spawn(fn, *args)``: a greenlet killed at teardown if the test left it running."""
    import gevent

    greenlets = []

    def _spawn(fn, *args, **kwargs):
        g = gevent.spawn(fn, *args, **kwargs)
        greenlets.append(g)
        return g

    yield _spawn
    gevent.killall([g for g in greenlets if not g.dead], timeout=5)
