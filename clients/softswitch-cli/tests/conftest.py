"""Real softswitch processes with mod_event_socket, for the client's tests: the kernel's
Event Socket test server (:func:`softswitch.testing.start_esl_server`, the same server that
mod_event_socket's own tests talk to), on a free loopback port unless a test gives
``listen-port``.

Its test module (:data:`softswitch.testing.ESL_TEST_MODULE`) gives the tests APIs to drive
the server: ``t_echo``, ``t_empty``, ``t_fail``, ``t_raise``, ``t_sleep MS``,
``t_log LEVEL TEXT``, ``t_fire N [SUBCLASS]``, ``t_logch CHANNEL TEXT``, ``t_spin SECONDS``.
"""

from __future__ import annotations

import pytest

from softswitch.testing import start_esl_server


@pytest.fixture
def server_factory(esl_server_factory):
    """``server_factory(settings=None, host="127.0.0.1", wait=True, extra_modules="",
    name=None)``: softswitch.testing's ``esl_server_factory``."""
    return esl_server_factory


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_esl_server(tmp_path_factory.mktemp("esl"))
    yield s
    code, out = s.stop()
    assert code == 0, out[-5000:]
