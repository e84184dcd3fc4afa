"""A third-party module written against softswitch 0.1's documented API keeps working.

``tests/thirdparty/softswitch-mod-kv`` (its own conf file, CUSTOM events, a runtime greenlet,
sqlite persistence) is built and installed by pip as a real distribution next to this kernel,
and its own tests run unchanged, with every DeprecationWarning an error: it uses nothing but
the documented API.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

DIST = pathlib.Path(__file__).resolve().parents[1] / "thirdparty" / "softswitch-mod-kv"


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kw)


def test_mod_kv_installs_next_to_this_kernel_and_passes_its_tests(tmp_path):
    site = tmp_path / "site"
    proc = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
               str(site), str(DIST))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "mod_kv" / "__init__.py").is_file()
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_mod_kv.py").write_text((DIST / "tests" / "test_mod_kv.py").read_text())
    proc = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-W", "error::DeprecationWarning:mod_kv", str(tests), cwd=tmp_path,
               env=dict(os.environ, PYTHONPATH=str(site)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 passed" in proc.stdout, proc.stdout
