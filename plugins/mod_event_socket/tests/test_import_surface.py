"""mod_event_socket uses only the kernel's public API: names from ``softswitch.__all__``,
nothing starting with ``_`` from softswitch, gevent or greenlet (imported or reached as an
attribute of them), no kernel submodule."""

from __future__ import annotations

import ast
import pathlib

import mod_event_socket
import softswitch

PACKAGE = pathlib.Path(mod_event_socket.__file__).parent
GUARDED = ("softswitch", "gevent", "greenlet")


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(source: str, filename: str) -> list[str]:
    out = []
    tree = ast.parse(source, filename)
    guarded_names: set[str] = set()  # local names bound to guarded modules or their objects
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "softswitch" and alias.name != "softswitch":
                    out.append(f"{where}: import {alias.name} (a kernel submodule)")
                if top in GUARDED and any(private(p) for p in alias.name.split(".")):
                    out.append(f"{where}: import {alias.name} (private)")
                if top in GUARDED:
                    guarded_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top not in GUARDED:
                continue
            if top == "softswitch" and node.module != "softswitch":
                out.append(f"{where}: from {node.module} import ... (a kernel submodule)")
            if any(private(p) for p in node.module.split(".")):
                out.append(f"{where}: from {node.module} (private)")
            for alias in node.names:
                if private(alias.name):
                    out.append(f"{where}: from {node.module} import {alias.name} (private)")
                elif node.module == "softswitch" and alias.name not in softswitch.__all__ \
                        and alias.name != "hookimpl":
                    out.append(f"{where}: softswitch.{alias.name} is not in softswitch.__all__")
                guarded_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in guarded_names:
                out.append(f"{filename}:{node.lineno}: {ast.unparse(node)} (private)")
        if isinstance(node, ast.Attribute) and node.attr in ("_sock", "_read_event", "_wait"):
            out.append(f"{filename}:{node.lineno}: {ast.unparse(node)} (gevent socket internals)")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "softswitch" and node.attr not in softswitch.__all__ \
                and node.attr != "hookimpl":
            out.append(f"{filename}:{node.lineno}: softswitch.{node.attr} is not public")
    return out


def test_only_public_kernel_names():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        found += violations(path.read_text(encoding="utf-8"), path.name)
    assert found == []


def test_the_scan_catches_each_kind():
    bad = """
import softswitch
import softswitch.event
import gevent._socket3
from softswitch.event import new_uuid
from softswitch import _LAZY, Event, not_public_name
from gevent import _semaphore
import gevent
x = gevent._config
y = sock._read_event
z = softswitch.core
"""
    got = violations(bad, "bad.py")
    assert len(got) == 9, got
