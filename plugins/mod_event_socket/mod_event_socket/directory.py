"""User lookup in the configuration's ``directory`` section, for ESL's ``userauth``.

The same shape as FreeSWITCH's user directory::

    <section name="directory">
      <domain name="example.com">
        <params><param name="esl-allowed-log" value="false"/></params>
        <groups><group name="ops"><users>
          <user id="alice">
            <params>
              <param name="esl-password" value="secret"/>
              <param name="esl-allowed-events" value="HEARTBEAT,CUSTOM my::sub"/>
              <param name="esl-allowed-api" value="status,version"/>
            </params>
          </user>
        </users></group></groups>
      </domain>
    </section>

Params are read from the domain, then the group, then the user; later ones win.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

__all__ = ["locate_user_params"]


def _params(el: Element | None) -> list[tuple[str, str]]:
    if el is None:
        return []
    out = []
    for params in el.findall("params"):
        for p in params.findall("param"):
            out.append((p.get("name") or "", p.get("value") or ""))
    return out


def locate_user_params(directory: Element | None, user: str, domain: str) -> dict[str, str] | None:
    """The merged params (lower-cased names) of ``user@domain``, or None when not found."""
    if directory is None:
        return None
    dom = next((d for d in directory.iter("domain")
                if (d.get("name") or "").lower() == domain.lower()), None)
    if dom is None:
        return None
    found_user = found_group = None
    for users in dom.findall("users"):
        found_user = next((u for u in users.findall("user") if u.get("id") == user), None)
        if found_user is not None:
            break
    if found_user is None:
        for groups in dom.findall("groups"):
            for group in groups.findall("group"):
                for users in group.findall("users"):
                    u = next((u for u in users.findall("user") if u.get("id") == user), None)
                    if u is not None:
                        found_user, found_group = u, group
                        break
                if found_user is not None:
                    break
    if found_user is None:
        return None
    merged: dict[str, str] = {}
    for el in (dom, found_group, found_user):
        for name, value in _params(el):
            merged[name.lower()] = value
    return merged
