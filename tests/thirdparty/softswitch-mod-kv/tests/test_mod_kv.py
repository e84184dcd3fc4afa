import importlib_metadata
import mod_kv
import pytest

from softswitch import EventType, Status

CONF = ('<configuration name="kv.conf"><settings>'
        '<param name="db-file" value="{path}"/>'
        '<param name="sweep-interval" value="0.05"/>'
        "</settings></configuration>")


@pytest.fixture
def db_file(tmp_path):
    return str(tmp_path / "kv.db")


@pytest.fixture
def kv(kernel_factory, db_file):
    return kernel_factory(modules=[mod_kv], conf={"kv.conf.xml": CONF.format(path=db_file)})


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="softswitch.modules")}
    assert eps["mod_kv"].value == "mod_kv"


def test_set_get_delete(kv):
    assert kv.api("kv_set colour blue") == "+OK\n"
    assert kv.api("kv_get colour") == "blue"
    assert kv.api("kv_count") == "1"
    assert kv.api("kv_del colour") == "+OK\n"
    assert kv.api("kv_get colour") == "-ERR no such key\n"
    assert kv.api("kv_set only-a-key") == "-USAGE: <key> <value> [ttl]\n"
    assert kv.api("kv_set a b soon") == "-ERR ttl must be a number of seconds\n"


def test_changes_fire_custom_events(kv, wait_for):
    seen = []
    kv.events.bind("test", EventType.CUSTOM, "kv::change", seen.append)
    kv.api("kv_set fruit apple")
    kv.api("kv_del fruit")
    wait_for(lambda: len(seen) == 2)
    assert [(e["KV-Action"], e["KV-Key"]) for e in seen] == [("set", "fruit"), ("delete", "fruit")]
    assert seen[0]["KV-Value"] == "apple"
    assert seen[0]["Event-Subclass"] == "kv::change"
    assert seen[0]["Core-UUID"] == kv.uuid


def test_runtime_expires_keys(kv, wait_for):
    seen = []
    kv.events.bind("test", EventType.CUSTOM, "kv::change", seen.append)
    kv.api("kv_set short lived 0.1")
    kv.api("kv_set long lived")
    wait_for(lambda: any(e["KV-Action"] == "expire" for e in seen), timeout=5)
    assert kv.api("kv_get short") == "-ERR no such key\n"
    assert kv.api("kv_get long") == "lived"


def test_values_survive_a_restart(kernel_factory, db_file):
    conf = {"kv.conf.xml": CONF.format(path=db_file)}
    first = kernel_factory(modules=[mod_kv], conf=conf)
    first.api("kv_set kept yes")
    first.shutdown()
    second = kernel_factory(modules=[mod_kv], conf=conf)
    assert second.api("kv_get kept") == "yes"


def test_unload_stops_the_runtime(kv, wait_for):
    assert kv.modules.unload("mod_kv") == (Status.SUCCESS, "")
    assert kv.api("kv_get x").startswith("-ERR kv_get Command not found!")
