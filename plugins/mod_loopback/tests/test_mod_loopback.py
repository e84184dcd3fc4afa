"""The distribution as a whole: installed under its entry point."""

from __future__ import annotations

import importlib_metadata

import mod_loopback


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="softswitch.modules")}
    assert "mod_loopback" in eps
    ep = eps["mod_loopback"]
    assert ep.value == "mod_loopback"
    assert ep.dist.name == "softswitch-mod-loopback"
    assert ep.load() is mod_loopback
