"""Fixtures for mod_softtimer's tests: a kernel with only this module loaded.

``kernel_factory`` and ``wait_for`` come from the kernel's pytest plugin (``softswitch.testing``).
"""

from __future__ import annotations

import pytest


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
