"""softswitch.testing's real-process helpers (start_softswitch, SoftswitchProcess)."""

from __future__ import annotations

import pytest

from softswitch.testing import free_port, start_softswitch, write_conf


def _conf(tmp_path) -> str:
    # one <load> of a module that is not installed: no "load all" of what this venv has
    return write_conf(str(tmp_path), modules=["mod_testing_tests_absent"])


def test_start_softswitch_waits_for_ready_and_stops_cleanly(tmp_path):
    conf = _conf(tmp_path)
    p = start_softswitch(tmp_path, conf, ready=") Started.")
    try:
        assert p.proc.poll() is None
        assert "Started." in p.wait_log("ready in", timeout=5)
    finally:
        code, _ = p.stop()
    assert code == 0
    assert p.stop()[0] == 0  # a second stop is harmless


def test_start_softswitch_reports_a_process_that_exits(tmp_path):
    # no conf tree: the process exits; the helper says so with its output, leaving nothing
    with pytest.raises(AssertionError, match="softswitch exited with"):
        start_softswitch(tmp_path, str(tmp_path / "missing"), ready="never logged")


def test_wait_log_fails_with_the_log_tail(tmp_path):
    conf = _conf(tmp_path)
    p = start_softswitch(tmp_path, conf, ready=") Started.")
    try:
        with pytest.raises(AssertionError, match="(?s)not logged within 0.1 s; log:\n.*Started"):
            p.wait_log("a line nobody writes", timeout=0.1)
    finally:
        p.stop()


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
