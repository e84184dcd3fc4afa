"""SDP (RFC 4566) offer/answer (RFC 3264) for one audio stream: PCMU/PCMA + telephone-event."""

from __future__ import annotations

import random

__all__ = ["Offer", "parse_sdp", "build_sdp", "negotiate", "STATIC_PT", "SdpError"]

#: static payload types (RFC 3551) of the codecs we carry
STATIC_PT = {"PCMU": 0, "PCMA": 8}


class SdpError(ValueError):
    pass


class Offer:
    """What the remote side's SDP says about its audio stream."""

    __slots__ = ("ip", "port", "codecs", "te_pt", "ptime", "direction")

    def __init__(self) -> None:
        self.ip = ""
        self.port = 0
        self.codecs: list[tuple[int, str, int]] = []   # (pt, name upper, rate) in offer order
        self.te_pt = 0
        self.ptime = 20
        self.direction = "sendrecv"


def parse_sdp(body: bytes) -> Offer:
    """:raises SdpError: no audio stream or no connection address."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SdpError(f"SDP is not UTF-8: {e}") from e
    offer = Offer()
    session_ip = ""
    in_audio = seen_audio = False
    fmts: list[int] = []
    rtpmap: dict[int, tuple[str, int]] = {}
    for line in text.splitlines():
        line = line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            in_audio = bool(parts) and parts[0] == "audio" and not seen_audio
            if in_audio:
                seen_audio = True
                if len(parts) < 4:
                    raise SdpError(f"bad media line {line!r}")
                try:
                    offer.port = int(parts[1].split("/")[0])
                    fmts = [int(p) for p in parts[3:]]
                except ValueError as e:
                    raise SdpError(f"bad media line {line!r}") from e
        elif kind == "c":
            parts = value.split()
            ip = parts[2].split("/")[0] if len(parts) >= 3 else ""
            if in_audio:
                offer.ip = ip
            elif not seen_audio:
                session_ip = ip
        elif kind == "a" and in_audio:
            name, _, rest = value.partition(":")
            if name == "rtpmap":
                pt, _, enc = rest.partition(" ")
                codec, _, rate = enc.partition("/")
                try:
                    rtpmap[int(pt)] = (codec.upper(), int(rate.split("/")[0] or 8000))
                except ValueError:
                    continue
            elif name == "ptime":
                try:
                    offer.ptime = int(rest)
                except ValueError:
                    pass
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                offer.direction = name
    if not seen_audio:
        raise SdpError("no audio stream in the SDP")
    offer.ip = offer.ip or session_ip
    if not offer.ip:
        raise SdpError("no connection address (c=) for the audio stream")
    for pt in fmts:
        name, rate = rtpmap.get(pt, ({0: "PCMU", 8: "PCMA"}.get(pt, ""), 8000))
        if name == "TELEPHONE-EVENT":
            offer.te_pt = offer.te_pt or pt
        elif name:
            offer.codecs.append((pt, name, rate))
    return offer


def negotiate(offer: Offer, prefs: list[str]) -> tuple[int, str] | None:
    """The first of our preferred codecs the offer has (``(pt, name)``), or None."""
    for want in prefs:
        for pt, name, rate in offer.codecs:
            if name == want and rate == 8000:
                return pt, name
    return None


def build_sdp(ip: str, port: int, codecs: list[tuple[int, str]], te_pt: int, *,
              session_id: int | None = None, version: int = 1, ptime: int = 20) -> bytes:
    """Our SDP: one audio stream with ``codecs`` (and telephone-event when ``te_pt``)."""
    sid = session_id if session_id is not None else random.randint(1, 2 ** 31)
    family = "IP6" if ":" in ip else "IP4"
    fmts = [str(pt) for pt, _ in codecs] + ([str(te_pt)] if te_pt else [])
    lines = [
        "v=0",
        f"o=FreeSWITCH {sid} {sid + version} IN {family} {ip}",
        "s=FreeSWITCH",
        f"c=IN {family} {ip}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(fmts)}",
    ]
    for pt, name in codecs:
        lines.append(f"a=rtpmap:{pt} {name}/8000")
    if te_pt:
        lines.append(f"a=rtpmap:{te_pt} telephone-event/8000")
        lines.append(f"a=fmtp:{te_pt} 0-16")
    lines.append(f"a=ptime:{ptime}")
    lines.append("a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()
