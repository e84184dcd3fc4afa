"""Network lists (ACLs): the automatic lists, acl.conf lists, matching rules (spec: FreeSWITCH's
``switch_load_network_lists`` / ``switch_check_network_list_ip_token``)."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.acl import NetworkList, NetworkLists, UnknownListError

LOCAL_IP = "192.168.1.20"
LOCAL_MASK = "255.255.255.0"


def lists(acl_xml: str | None = None, ip: str = LOCAL_IP, mask: str = LOCAL_MASK) -> NetworkLists:
    nl = NetworkLists()
    nl.load(ip, mask, ET.fromstring(acl_xml) if acl_xml else None)
    return nl


@pytest.fixture(scope="module")
def auto():
    return lists()


AUTO_CASES = {
    "loopback.auto": {
        "127.0.0.1": True, "127.255.1.2": True, "::1": True, "10.0.0.1": False,
        "8.8.8.8": False, "::2": False, "2001:db8::1": False,
    },
    "rfc1918.auto": {
        "10.1.2.3": True, "172.16.0.1": True, "172.31.255.255": True, "172.32.0.1": False,
        "192.168.0.1": True, "fe80::1": True, "8.8.8.8": False, "100.64.0.1": False,
        "2001:db8::1": False, "127.0.0.1": False,
    },
    "rfc6598.auto": {
        "100.64.0.1": True, "100.127.255.254": True, "100.128.0.1": False, "10.0.0.1": False,
        "::1": False,
    },
    "wan.auto": {
        "8.8.8.8": True, "0.1.2.3": False, "10.0.0.1": False, "172.20.0.1": False,
        "192.168.9.9": False, "169.254.1.1": False, "100.64.1.1": False, "fe80::1": False,
        "2001:db8::1": True, "::1": True,
    },
    "wan_v4.auto": {
        "8.8.8.8": True, "10.0.0.1": False, "169.254.1.1": False, "100.100.0.1": False,
        "2001:db8::1": False, "::1": False,
    },
    "wan_v6.auto": {
        "8.8.8.8": False, "10.0.0.1": False, "2001:db8::1": True, "fe80::1": False,
        "::1": True,
    },
    "any_v4.auto": {"8.8.8.8": True, "10.0.0.1": True, "::1": False, "2001:db8::1": False},
    "any_v6.auto": {"8.8.8.8": False, "10.0.0.1": False, "::1": True, "2001:db8::1": True},
    "nat.auto": {
        # own network 192.168.1.0/24 is denied (a tie with nothing: deny comes first and is
        # more specific than 192.168/16), other private ranges allowed
        "192.168.1.7": False, "192.168.1.20": False, "192.168.2.7": True, "10.0.0.1": True,
        "172.16.5.5": True, "100.64.0.1": True, "8.8.8.8": False, "::1": False,
    },
    "localnet.auto": {
        "192.168.1.7": True, "192.168.1.255": True, "192.168.2.7": False, "10.0.0.1": False,
        "::1": False,
    },
}


@pytest.mark.parametrize("name,ip,want", [
    (name, ip, want) for name, cases in AUTO_CASES.items() for ip, want in cases.items()])
def test_automatic_lists(auto, name, ip, want):
    assert auto.check(ip, name) is want


def test_automatic_list_names_and_order(auto):
    assert auto.names() == [
        "rfc6598.auto", "rfc1918.auto", "wan.auto", "wan_v6.auto", "wan_v4.auto", "any_v6.auto",
        "any_v4.auto", "nat.auto", "loopback.auto", "localnet.auto"]


def test_nat_auto_own_net_inside_a_private_range_tie_first_wins():
    # own host/mask 10.0.0.5/255.0.0.0 is exactly 10/8: deny (added first) beats allow 10/8
    nl = lists(ip="10.0.0.5", mask="255.0.0.0")
    assert nl.check("10.9.9.9", "nat.auto") is False
    assert nl.check("192.168.1.1", "nat.auto") is True
    assert nl.check("10.9.9.9", "localnet.auto") is True


def test_bad_local_address_still_builds_lists(caplog):
    nl = lists(ip="not-an-ip", mask="255.255.255.0")
    assert nl.check("10.0.0.1", "nat.auto") is True
    assert nl.check("10.0.0.1", "localnet.auto") is False
    assert "cannot use local address" in caplog.text


def test_ipv4_mapped_ipv6_is_checked_as_ipv4(auto):
    assert auto.check("::ffff:127.0.0.1", "loopback.auto") is True
    assert auto.check("::ffff:10.1.1.1", "rfc1918.auto") is True
    assert auto.check("::ffff:8.8.8.8", "any_v4.auto") is True
    assert auto.check("::ffff:8.8.8.8", "any_v6.auto") is False


def test_scoped_ipv6_address(auto):
    assert auto.check("fe80::1%eth0", "rfc1918.auto") is True


def test_list_names_case_insensitive(auto):
    assert auto.check("127.0.0.1", "LOOPBACK.AUTO") is True
    assert "Loopback.Auto" in auto


def test_unknown_list_raises(auto):
    with pytest.raises(UnknownListError, match="nope"):
        auto.check("127.0.0.1", "nope")
    assert issubclass(UnknownListError, LookupError)


def test_bad_ip_raises_value_error(auto):
    with pytest.raises(ValueError):
        auto.check("300.1.1.1", "loopback.auto")


def test_cidr_as_list_name(auto):
    assert auto.check("10.1.2.3", "10.0.0.0/8") is True
    assert auto.check("11.1.2.3", "10.0.0.0/8") is False
    assert auto.check("192.0.2.9", "10.0.0.0/8, 192.0.2.0/24") is True
    assert auto.check("2001:db8::5", "10.0.0.0/8,2001:db8::/32") is True
    assert auto.check("10.0.0.1", "garbage/xx,10.0.0.0/8") is True
    assert auto.check("10.0.0.1", "::/0") is False  # other family never matches


ACL_XML = """
<configuration name="acl.conf">
  <network-lists>
    <list name="lan" default="allow">
      <node type="deny" cidr="192.168.42.0/24"/>
      <node type="allow" cidr="192.168.42.42/32"/>
    </list>
    <list name="Trusted" default="deny">
      <node type="allow" cidr="192.0.2.0/24, 198.51.100.7/32"/>
      <node type="deny" host="192.0.2.10" mask="255.255.255.255"/>
      <node type="allow" cidr="2001:db8::/32"/>
      <node type="deny" cidr="2001:db8:bad::/48"/>
    </list>
    <list name="tie" default="allow">
      <node type="deny" cidr="203.0.113.0/24"/>
      <node type="allow" cidr="203.0.113.0/24"/>
      <node type="allow" cidr="198.51.100.0/24"/>
      <node type="deny" cidr="198.51.100.0/24"/>
    </list>
    <list name="nodefault">
      <node type="deny" cidr="10.0.0.0/8"/>
      <node cidr="10.1.0.0/16"/>
    </list>
    <list name="bad-entries" default="deny">
      <node type="allow" cidr="not-a-cidr"/>
      <node type="allow" cidr="192.0.2.0/24"/>
      <node type="allow" domain="example.org"/>
    </list>
    <list default="allow"><node type="deny" cidr="0.0.0.0/0"/></list>
    <list name="wan.auto" default="deny"/>
  </network-lists>
</configuration>
"""


@pytest.fixture(scope="module")
def conf_lists():
    return lists(ACL_XML)


@pytest.mark.parametrize("ip,name,want", [
    ("192.168.42.1", "lan", False), ("192.168.42.42", "lan", True), ("192.168.43.1", "lan", True),
    ("8.8.8.8", "lan", True), ("::1", "lan", True),
    ("192.0.2.1", "trusted", True), ("192.0.2.10", "trusted", False),
    ("198.51.100.7", "trusted", True), ("198.51.100.8", "trusted", False),
    ("2001:db8:1::1", "trusted", True), ("2001:db8:bad::1", "trusted", False),
    ("2001:db9::1", "trusted", False), ("::ffff:192.0.2.1", "trusted", True),
    # same prefix length: the node added first wins
    ("203.0.113.5", "tie", False), ("198.51.100.5", "tie", True), ("8.8.8.8", "tie", True),
    # no default attribute: allow; a node without type takes the list's default
    ("8.8.8.8", "nodefault", True), ("10.9.9.9", "nodefault", False),
    ("10.1.9.9", "nodefault", True),
    ("192.0.2.3", "bad-entries", True), ("8.8.8.8", "bad-entries", False),
])
def test_conf_lists(conf_lists, ip, name, want):
    assert conf_lists.check(ip, name) is want


def test_conf_lists_logging_and_replacing_auto(caplog):
    caplog.set_level("INFO", logger="softswitch.acl")
    nl = lists(ACL_XML)
    assert "Error Adding not-a-cidr (allow) to list bad-entries" in caplog.text
    assert "domain=example.org" in caplog.text
    assert "without a name" in caplog.text
    assert "Created ip list Trusted default (deny)" in caplog.text
    assert nl.check("8.8.8.8", "wan.auto") is False  # an acl.conf list replaces an automatic one
    assert "Trusted" in nl.names()


def test_reload_replaces_lists():
    nl = lists(ACL_XML)
    assert "lan" in nl
    nl.load(LOCAL_IP, LOCAL_MASK, None)
    assert "lan" not in nl and "loopback.auto" in nl
    with pytest.raises(UnknownListError):
        nl.check("1.2.3.4", "lan")


def test_network_list_token():
    nl = NetworkList("x", False)
    nl.add_cidr("10.0.0.0/8", True, token="ten")
    nl.add_cidr("10.1.0.0/16", False, token="ten-one")
    assert nl.match(ipaddress.ip_address("10.2.0.1")) == (True, "ten")
    assert nl.match(ipaddress.ip_address("10.1.0.1")) == (False, "ten-one")
    assert nl.match(ipaddress.ip_address("11.0.0.1")) == (False, "")


@given(st.ip_addresses(v=4))
def test_any_v4_and_loopback_agree_with_ipaddress(addr):
    nl = _AUTO
    assert nl.check(str(addr), "any_v4.auto") is True
    assert nl.check(str(addr), "any_v6.auto") is False
    assert nl.check(str(addr), "loopback.auto") is addr.is_loopback
    private = any(addr in ipaddress.ip_network(c) for c in
                  ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    assert nl.check(str(addr), "rfc1918.auto") is private


@given(st.ip_addresses(v=6))
def test_v6_lists_agree_with_ipaddress(addr):
    nl = _AUTO
    if addr.ipv4_mapped is not None:
        return
    assert nl.check(str(addr), "any_v6.auto") is True
    assert nl.check(str(addr), "wan_v6.auto") is (addr not in ipaddress.ip_network("fe80::/10"))
    assert nl.check(str(addr), "loopback.auto") is (addr == ipaddress.ip_address("::1"))


_AUTO = lists()


def test_core_loads_acl_conf(kernel_factory):
    core = kernel_factory(conf={"acl.conf.xml": ACL_XML})
    assert core.acl.check("192.168.42.1", "lan") is False
    assert core.acl.check("127.0.0.1", "loopback.auto") is True
