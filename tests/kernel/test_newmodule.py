"""``softswitch new-module``: the skeleton is a working distribution whose own tests pass."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args, cwd=None, env=None, timeout=300):
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_new_module_skeleton_installs_and_its_tests_pass(tmp_path):
    proc = run(sys.executable, "-m", "softswitch", "new-module", "hello_world", str(tmp_path / "skel"))
    assert proc.returncode == 0, proc.stderr
    skel = tmp_path / "skel"
    assert (skel / "mod_hello_world" / "__init__.py").is_file()
    pyproject = (skel / "pyproject.toml").read_text()
    assert 'name = "softswitch-mod-hello-world"' in pyproject
    assert 'mod_hello_world = "mod_hello_world"' in pyproject
    site = tmp_path / "site"
    proc = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(skel))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=skel, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_new_module_refuses_bad_names_and_non_empty_dirs(tmp_path):
    proc = run(sys.executable, "-m", "softswitch", "new-module", "Bad-Name", str(tmp_path / "x"))
    assert proc.returncode == 1 and "not a valid module name" in proc.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    proc = run(sys.executable, "-m", "softswitch", "new-module", "ok", str(tmp_path / "full"))
    assert proc.returncode == 1 and "not empty" in proc.stderr
    proc = run(sys.executable, "-m", "softswitch", "new-module")
    assert proc.returncode == 1 and "Usage: softswitch new-module NAME [DIR]" in proc.stderr


def test_new_module_help_says_what_dir_is(tmp_path):
    for flag in ("--help", "-h"):
        proc = run(sys.executable, "-m", "softswitch", "new-module", flag, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "Usage: softswitch new-module NAME [DIR]" in proc.stdout
        assert "DIR   the directory to create" in proc.stdout
        assert "./softswitch-mod-NAME" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # --help wrote nothing


def test_skeleton_has_a_gitignore_and_no_placeholder_urls(tmp_path):
    proc = run(sys.executable, "-m", "softswitch", "new-module", "tidy", str(tmp_path / "skel"))
    assert proc.returncode == 0, proc.stderr
    skel = tmp_path / "skel"
    assert "__pycache__/" in (skel / ".gitignore").read_text()
    for path in skel.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "github.com/)" not in text and "example.com" not in text, path
