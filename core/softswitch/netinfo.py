"""Local network facts: the guessed local addresses and every interface's networks.

FreeSWITCH guesses its local address by asking the routing table which source address it would
use towards a public address (a UDP "connect", which sends no packet); we do the same, and fall
back to loopback when there is no route (a sandbox, a laptop offline).
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


def _route_source(family: int, target: str) -> str | None:
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.connect((target, 53))  # UDP connect: a routing-table lookup, nothing is sent
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()


def guess_local_ip_v4() -> str:
    return _route_source(socket.AF_INET, "8.8.8.8") or "127.0.0.1"


def guess_local_ip_v6() -> str:
    """The local IPv6 address, or "" when there is none (FreeSWITCH then omits the header)."""
    addr = _route_source(socket.AF_INET6, "2001:4860:4860::8888")
    return addr.split("%", 1)[0] if addr else ""


def ipv4_interfaces() -> list[tuple[str, ipaddress.IPv4Interface]]:
    """Each interface's IPv4 address with its netmask, loopback included."""
    out = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return [("lo", ipaddress.IPv4Interface("127.0.0.1/8"))]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for name in names:
            req = struct.pack("256s", name.encode()[:15])
            try:
                addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)[20:24])
                mask = socket.inet_ntoa(fcntl.ioctl(s.fileno(), _SIOCGIFNETMASK, req)[20:24])
            except OSError:
                continue
            out.append((name, ipaddress.IPv4Interface(f"{addr}/{mask}")))
    finally:
        s.close()
    return out


def ipv6_interfaces() -> list[tuple[str, ipaddress.IPv6Interface]]:
    """Each interface's IPv6 addresses with prefix length (from /proc/net/if_inet6)."""
    out = []
    try:
        with open("/proc/net/if_inet6") as f:
            for row in f:
                parts = row.split()
                if len(parts) < 6:
                    continue
                hexaddr, _idx, plen, _scope, _flags, name = parts[:6]
                addr = ipaddress.IPv6Address(int(hexaddr, 16))
                out.append((name, ipaddress.IPv6Interface(f"{addr}/{int(plen, 16)}")))
    except (OSError, ValueError):
        pass
    return out


def local_mask_v4(ip: str) -> str:
    for _, iface in ipv4_interfaces():
        if str(iface.ip) == ip:
            return str(iface.netmask)
    return "255.255.255.255" if ip != "127.0.0.1" else "255.0.0.0"
