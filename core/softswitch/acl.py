"""Network lists (ACLs) as FreeSWITCH's core builds them (``switch_load_network_lists``).

Automatic lists (built first, in FreeSWITCH's order): ``rfc6598.auto``, ``rfc1918.auto``,
``wan.auto``, ``wan_v6.auto``, ``wan_v4.auto``, ``any_v6.auto``, ``any_v4.auto``, ``nat.auto``,
``loopback.auto``, ``localnet.auto``; then the named lists of ``acl.conf.xml``::

    <configuration name="acl.conf">
      <network-lists>
        <list name="trusted" default="deny">
          <node type="allow" cidr="192.0.2.0/24,198.51.100.7/32"/>
          <node type="deny" host="192.0.2.10" mask="255.255.255.255"/>
        </list>
      </network-lists>
    </configuration>

Matching: the most specific matching node decides (longest prefix); on a tie the node added
first wins; no match → the list's default. A "list name" containing ``/`` that is not a list is
taken as a literal CIDR (or a comma-separated list of them), as FreeSWITCH does.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from .config import switch_true

log = logging.getLogger(__name__)

__all__ = ["NetworkList", "NetworkLists", "UnknownListError"]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnknownListError(LookupError):
    """Raised by :meth:`NetworkLists.check` for a list name that does not exist."""


@dataclass(slots=True)
class _Node:
    net: _Net | None  # None for a host/mask node of the other family
    allow: bool
    bits: int
    token: str = ""


@dataclass
class NetworkList:
    name: str
    default_allow: bool
    nodes: list[_Node] = field(default_factory=list)

    def add_cidr(self, cidr: str, allow: bool, token: str = "") -> None:
        """Add one CIDR (``10.0.0.0/8``, ``::1/128``, or a bare address)."""
        net = ipaddress.ip_network(cidr.strip(), strict=False)
        self.nodes.append(_Node(net, allow, net.prefixlen, token))

    def add_host_mask(self, host: str, mask: str, allow: bool) -> None:
        net = ipaddress.IPv4Network(f"{host}/{mask}", strict=False)
        self.nodes.append(_Node(net, allow, net.prefixlen))

    def match(self, addr: _Addr) -> tuple[bool, str]:
        """``(allowed, token)`` for ``addr``: the longest matching prefix decides."""
        ok, bits, token = self.default_allow, -1, ""
        for node in self.nodes:
            net = node.net
            if net is None or net.version != addr.version:
                continue
            if node.bits > bits and addr in net:
                ok, bits, token = node.allow, node.bits, node.token
        return ok, token

    def allows(self, addr: _Addr) -> bool:
        return self.match(addr)[0]


@functools.lru_cache(maxsize=4096)  # every ESL connection asks about its peer: parse it once
def _parse_addr(ip: str) -> _Addr:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:a.b.c.d is checked as IPv4, as FreeSWITCH does
    return addr


_PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


class NetworkLists:
    """All network lists of a running core. :meth:`check` is the one question callers ask."""

    def __init__(self) -> None:
        self.lists: dict[str, NetworkList] = {}

    # -- building -------------------------------------------------------------------------------
    def load(self, local_ip_v4: str, local_mask_v4: str, acl_cfg: Element | None = None) -> None:
        """(Re)build the automatic lists and the lists of ``acl.conf``."""
        lists: dict[str, NetworkList] = {}

        def new(name: str, allow: bool, *cidrs: tuple[str, bool]) -> NetworkList:
            nl = NetworkList(name, allow)
            for cidr, ok in cidrs:
                nl.add_cidr(cidr, ok)
            lists[name.lower()] = nl
            log.debug("Created ip list %s default (%s)", name, "allow" if allow else "deny")
            return nl

        new("rfc6598.auto", False, ("100.64.0.0/10", True))
        new("rfc1918.auto", False, *((c, True) for c in (*_PRIVATE_V4, "fe80::/10")))
        wan_v4_deny = ("0.0.0.0/8", *_PRIVATE_V4, "169.254.0.0/16", "100.64.0.0/10")
        new("wan.auto", True, *((c, False) for c in (*wan_v4_deny, "fe80::/10")))
        new("wan_v6.auto", True, ("0.0.0.0/0", False), ("fe80::/10", False))
        new("wan_v4.auto", True, *((c, False) for c in (*wan_v4_deny, "::/0")))
        new("any_v6.auto", True, ("0.0.0.0/0", False))
        new("any_v4.auto", True, ("::/0", False))
        nat = new("nat.auto", False)
        localnet = new("localnet.auto", False)
        try:
            nat.add_host_mask(local_ip_v4, local_mask_v4, False)
            localnet.add_host_mask(local_ip_v4, local_mask_v4, True)
        except ValueError:
            log.warning("cannot use local address %s/%s for nat.auto/localnet.auto", local_ip_v4, local_mask_v4)
        for cidr in (*_PRIVATE_V4, "100.64.0.0/10"):
            nat.add_cidr(cidr, True)
        new("loopback.auto", False, ("127.0.0.0/8", True), ("::1/128", True))
        # FreeSWITCH creates localnet.auto last; keep that order in the dict.
        lists["localnet.auto"] = lists.pop("localnet.auto")

        if acl_cfg is not None:
            self._load_xml(acl_cfg, lists)
        self.lists = lists

    def _load_xml(self, cfg: Element, lists: dict[str, NetworkList]) -> None:
        for nls in cfg.findall("network-lists"):
            for lst in nls.findall("list"):
                name = lst.get("name") or ""
                if not name:
                    log.warning("acl.conf: a <list> without a name is skipped")
                    continue
                default = lst.get("default")
                nl = NetworkList(name, switch_true(default) if default is not None else True)
                for node in lst.findall("node"):
                    t = node.get("type")
                    allow = switch_true(t) if t else nl.default_allow
                    cidr, host, mask = node.get("cidr"), node.get("host"), node.get("mask")
                    try:
                        if node.get("domain"):
                            log.warning(
                                "acl.conf list %s: domain=%s nodes need a user directory, which "
                                "softswitch does not have yet; node skipped", name, node.get("domain"),
                            )
                        elif cidr:
                            for one in cidr.split(",")[:32]:
                                if one.strip():
                                    nl.add_cidr(one, allow)
                        elif host and mask:
                            nl.add_host_mask(host, mask, allow)
                    except ValueError as e:
                        log.error(
                            "Error Adding %s (%s) to list %s: %s",
                            cidr or f"{host}/{mask}", "allow" if allow else "deny", name, e,
                        )
                lists[name.lower()] = nl
                log.info("Created ip list %s default (%s)", name, "allow" if nl.default_allow else "deny")

    # -- asking ---------------------------------------------------------------------------------
    def __contains__(self, name: str) -> bool:
        return name.lower() in self.lists

    def check(self, ip: str, list_name: str) -> bool:
        """Is ``ip`` allowed by ``list_name``?

        ``list_name`` is a list's name, or literal CIDRs (``"10.0.0.0/8,::1/128"``).

        :raises UnknownListError: no such list (and not a CIDR) — the caller says which.
        :raises ValueError: ``ip`` is not an address.
        """
        addr = _parse_addr(ip)
        nl = self.lists.get(list_name.lower())
        if nl is not None:
            return nl.allows(addr)
        if "/" in list_name:
            for cidr in list_name.split(",")[:100]:
                try:
                    net = ipaddress.ip_network(cidr.strip(), strict=False)
                except ValueError:
                    continue
                if net.version == addr.version and addr in net:
                    return True
            return False
        raise UnknownListError(f"no network list named {list_name!r}")

    def names(self) -> list[str]:
        return [nl.name for nl in self.lists.values()]
