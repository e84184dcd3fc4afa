"""Every first-party plugin uses only the kernel's public API (issue #13).

An AST scan of each plugin package under ``plugins/*/`` (found by walking the directory, so a
new plugin is covered without editing this file). It fails on:

* an import of a kernel module other than ``softswitch`` itself and the documented
  :data:`PUBLIC_MODULES` (``from softswitch.core import ...``, ``import softswitch.event``);
* ``from softswitch import X`` where ``X`` is not in ``softswitch.__all__``, and
  ``softswitch.X`` attribute reads of such names;
* any ``_name`` imported from (or read as an attribute of) softswitch, gevent or greenlet,
  including their private submodules (``gevent._socket3``);
* reads of gevent socket internals (``sock._sock``, ``._read_event``, ``._write_event``,
  ``._wait``, also through ``getattr``).

Plugin tests are not scanned: they may use ``softswitch.testing`` and the kernel's internals to
check behaviour.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
KERNEL_INIT = ROOT / "core" / "softswitch" / "__init__.py"

#: Kernel modules a plugin may import besides ``softswitch``: the documented hook
#: specifications and the service Protocols (for type annotations).
PUBLIC_MODULES = {"softswitch", "softswitch.hookspecs", "softswitch.services"}
GUARDED = ("softswitch", "gevent", "greenlet")
#: Attributes of gevent's sockets that are its internals (read on anything but ``self``, or
#: through ``getattr(obj, "_sock")``).
GEVENT_INTERNALS = {"_sock", "_read_event", "_write_event", "_wait"}


def public_names() -> set[str]:
    tree = ast.parse(KERNEL_INIT.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value)) | {"hookimpl"}
    raise AssertionError(f"no __all__ in {KERNEL_INIT}")


def plugin_packages() -> list[pathlib.Path]:
    """Each plugin's import packages: directories with an ``__init__.py`` right under
    ``plugins/<distribution>/`` (not its tests)."""
    found = []
    for dist in sorted(p for p in PLUGINS.iterdir() if p.is_dir()):
        for pkg in sorted(p for p in dist.iterdir() if p.is_dir()):
            if pkg.name != "tests" and (pkg / "__init__.py").is_file():
                found.append(pkg)
    return found


def _private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def violations(path: pathlib.Path, public: set[str], root: pathlib.Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> guarded module it stands for

    def bad(node: ast.AST, what: str) -> None:
        found.append(f"{path.relative_to(root)}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                if top not in GUARDED:
                    continue
                if top == "softswitch" and a.name not in PUBLIC_MODULES:
                    bad(node, f"import {a.name}: not the public API (import softswitch)")
                elif _private(a.name):
                    bad(node, f"import {a.name}: a private module of {top}")
                aliases[a.asname or top] = a.asname and a.name or top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            if top not in GUARDED:
                continue
            if top == "softswitch" and node.module not in PUBLIC_MODULES:
                bad(node, f"from {node.module} import ...: not the public API "
                          "(from softswitch import ...)")
            elif _private(node.module):
                bad(node, f"from {node.module} import ...: a private module of {top}")
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    bad(node, f"from {node.module} import {a.name}: a private name")
                elif node.module == "softswitch" and a.name not in public and a.name != "*":
                    bad(node, f"from softswitch import {a.name}: not in softswitch.__all__")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in GEVENT_INTERNALS):
            bad(node, f"{node.func.id}(..., {node.args[1].value!r}): gevent's socket internals")
        if not isinstance(node, ast.Attribute):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in aliases:
            module = aliases[node.value.id]
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                bad(node, f"{module}.{node.attr}: a private name of {module}")
            elif module == "softswitch" and node.attr not in public and node.attr not in (
                    "hookspecs", "services"):
                bad(node, f"softswitch.{node.attr}: not in softswitch.__all__")
        elif node.attr in GEVENT_INTERNALS and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"):
            bad(node, f".{node.attr}: gevent's socket internals")
    return found


def test_plugins_are_found():
    names = {p.name for p in plugin_packages()}
    assert {"mod_commands", "mod_pcm", "mod_softtimer"} <= names


@pytest.mark.parametrize("package", plugin_packages(), ids=lambda p: p.name)
def test_plugin_uses_only_the_public_api(package):
    public = public_names()
    problems = [v for f in sorted(package.rglob("*.py")) for v in violations(f, public)]
    assert not problems, (f"{package.name} reaches past softswitch's public API "
                          "(docs/writing-modules.md):\n" + "\n".join(problems))


def test_the_scan_catches_private_imports(tmp_path):
    """The scan itself: every rule fires on a plugin that breaks it."""
    src = tmp_path / "mod_bad.py"
    src.write_text(
        "import softswitch\n"
        "import gevent\n"
        "from softswitch.core import version_full\n"
        "from softswitch import _LAZY, Status, NotExported\n"
        "from gevent._socket3 import socket\n"
        "from greenlet import _C_API\n"
        "x = softswitch.event\n"
        "y = gevent._threading\n"
        "def f(sock):\n"
        "    sock._wait(getattr(sock, '_read_event'))\n"
        "    return sock._sock, sock._read_event\n")
    problems = violations(src, public_names(), tmp_path)
    text = "\n".join(problems)
    for expected in ("from softswitch.core import", "import _LAZY", "NotExported",
                     "gevent._socket3", "import _C_API", "softswitch.event",
                     "gevent._threading", "._sock", "._read_event", "._wait",
                     "getattr(..., '_read_event')"):
        assert expected in text, f"{expected!r} not reported:\n{text}"
    assert "Status" not in text
