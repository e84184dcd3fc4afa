"""Users of the XML ``directory`` section (FreeSWITCH's user directory), for digest auth.

Domain, then group, then user params and variables merge (later ones win). A realm that
names no domain falls back to the only domain when there is exactly one (a single-domain
switch reached by IP address, as the default configuration is), else to nothing.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

__all__ = ["User", "find_user"]


class User:
    __slots__ = ("id", "domain", "params", "variables")

    def __init__(self, uid: str, domain: str, params: dict[str, str], variables: dict[str, str]) -> None:
        self.id = uid
        self.domain = domain
        self.params = params
        self.variables = variables


def _pairs(el: Element | None, outer: str, inner: str) -> list[tuple[str, str]]:
    if el is None:
        return []
    out = []
    for group in el.findall(outer):
        for p in group.findall(inner):
            out.append((p.get("name") or "", p.get("value") or ""))
    return out


def _domain(directory: Element, realm: str) -> Element | None:
    domains = list(directory.iter("domain"))
    for d in domains:
        if (d.get("name") or "").lower() == realm.lower():
            return d
    return domains[0] if len(domains) == 1 else None


def find_user(directory: Element | None, user: str, realm: str) -> User | None:
    if directory is None or not user:
        return None
    dom = _domain(directory, realm)
    if dom is None:
        return None
    found = group = None
    for users in dom.iter("users"):
        for u in users.findall("user"):
            if u.get("id") == user or (u.get("number-alias") or "") == user:
                found = u
                break
        if found is not None:
            break
    if found is None:
        return None
    for g in dom.iter("group"):
        if any(u is found for u in g.iter("user")):
            group = g
            break
    params: dict[str, str] = {}
    variables: dict[str, str] = {}
    for el in (dom, group, found):
        for name, value in _pairs(el, "params", "param"):
            params[name.lower()] = value
        for name, value in _pairs(el, "variables", "variable"):
            variables[name] = value
    return User(found.get("id") or user, dom.get("name") or realm, params, variables)
