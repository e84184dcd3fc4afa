"""docs/writing-modules.md's example module is real: install it and run its tests."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from softswitch.testing import build_module_wheel, pip_install

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "writing-modules.md"


def section_code(text: str, heading: str) -> str:
    start = text.index(heading)
    m = re.search(r"```(?:python|xml|toml)\n(.*?)```", text[start:], re.S)
    assert m, f"no code block after {heading}"
    return m.group(1)


@pytest.mark.skipif(not DOC.exists(), reason="docs not in this checkout")
def test_writing_modules_example_works(tmp_path):
    text = DOC.read_text()
    module_src = section_code(text, "### `mod_weather/__init__.py`")
    test_src = section_code(text, "### `tests/test_mod_weather.py`")
    wheel = build_module_wheel(str(tmp_path / "wheels"), "mod_weather", {"__init__.py": module_src},
                               dist_name="softswitch-mod-weather")
    site = tmp_path / "site"
    pip_install([wheel], str(site))
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_mod_weather.py").write_text(test_src)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(site)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


@pytest.mark.skipif(not DOC.exists(), reason="docs not in this checkout")
def test_event_testing_example_works(tmp_path):
    test_src = section_code(DOC.read_text(), "Checking that a module fires an event")
    (tmp_path / "test_announce.py").write_text(test_src)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


@pytest.mark.skipif(not DOC.exists(), reason="docs not in this checkout")
def test_runtime_example_is_woken_by_shutdown(kernel_factory, wait_for, caplog):
    import logging
    import types

    from softswitch import Status

    mod = types.ModuleType("mod_ticker")
    exec(section_code(DOC.read_text(), "### A runtime that shutdown wakes"), mod.__dict__)
    core = kernel_factory(modules=[mod])
    state = core.modules.modules["mod_ticker"].state
    wait_for(lambda: state.ticks >= 2)
    with caplog.at_level(logging.INFO):
        assert core.modules.unload("mod_ticker") == (Status.SUCCESS, "")
    assert "Thread ended for mod_ticker" in caplog.text
    assert "did not return" not in caplog.text  # woken, not killed
