"""mod_NAME's tests: the installed entry point, and the module in an in-process kernel.

``kernel_factory`` comes from softswitch's pytest plugin (installed with softswitch).
"""

import importlib_metadata

import mod_NAME


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="softswitch.modules")}
    assert eps["mod_NAME"].value == "mod_NAME"


def test_greets_with_the_configured_greeting(kernel_factory):
    core = kernel_factory(modules=[mod_NAME], conf={
        "NAME.conf.xml": '<configuration name="NAME.conf"><settings>'
                         '<param name="greeting" value="Hi"/></settings></configuration>'})
    assert core.api("NAME Ada") == "Hi, Ada!\n"
    assert core.api("NAME") == "Hi, world!\n"


def test_unload_removes_the_api(kernel_factory):
    core = kernel_factory(modules=[mod_NAME])
    assert core.api("NAME") == "Hello, world!\n"
    status, err = core.modules.unload("mod_NAME")
    assert err == ""
    assert core.api_execute("NAME").found is False
