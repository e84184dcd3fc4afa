"""The distribution as a whole, and the module in an in-process kernel: profiles from
sofia.conf, the registrar with digest auth over a real UDP socket, the sofia API."""

from __future__ import annotations

import hashlib
import re

import gevent
import importlib_metadata
from gevent import socket

import mod_sofia

SOFIA_CONF = """<configuration name="sofia.conf">
  <profiles>
    <profile name="internal">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="0"/>
        <param name="context" value="default"/>
        <param name="codec-prefs" value="PCMA,PCMU"/>
        <param name="auth-calls" value="true"/>
      </settings>
    </profile>
    <profile name="second">
      <settings>
        <param name="sip-ip" value="127.0.0.1"/>
        <param name="sip-port" value="0"/>
        <param name="accept-blind-reg" value="true"/>
      </settings>
    </profile>
  </profiles>
</configuration>"""

DIRECTORY = """<include>
<domain name="example.test"><groups><group name="default"><users>
  <user id="1000"><params><param name="password" value="secret"/></params></user>
  <user id="1001"><params><param name="a1-hash" value="{a1}"/></params></user>
</users></group></groups></domain>
</include>"""


def test_module_is_installed():
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group="softswitch.modules")}
    ep = eps["mod_sofia"]
    assert ep.value == "mod_sofia"
    assert ep.dist.name == "softswitch-mod-sofia"
    assert ep.load() is mod_sofia


def kernel(kernel_factory):
    """A kernel whose root configuration also includes a ``directory`` section."""
    from softswitch.testing import ROOT_XML

    a1 = hashlib.md5(b"1001:example.test:hashed").hexdigest()
    # pre-processor commands run line by line: the include gets its own line
    root = ROOT_XML.replace("</document>", '<section name="directory">\n'
                            '<X-PRE-PROCESS cmd="include" data="directory/*.xml"/>\n</section>\n</document>')
    return kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={
        "softswitch.xml": root, "directory/default.xml": DIRECTORY.format(a1=a1),
        "sofia.conf.xml": SOFIA_CONF})


def profile_port(core, name="internal") -> int:
    status = core.api("sofia status")
    m = re.search(rf"^ +{name}\tprofile\t +sip:mod_sofia@127\.0\.0\.1:(\d+)\tRUNNING", status, re.M)
    assert m, status
    return int(m.group(1))


def test_profiles_start_on_port_zero_and_status(kernel_factory):
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
    out = core.api("sofia status")
    assert out.endswith("2 profiles 0 aliases\n")
    p1, p2 = profile_port(core), profile_port(core, "second")
    assert p1 and p2 and p1 != p2
    detail = core.api("sofia status profile internal")
    assert "CODECS IN        \tPCMA,PCMU\n" in detail
    assert "Context          \tdefault\n" in detail
    assert "DTMF-MODE        \trfc2833\n" in detail
    assert core.api("sofia status profile nope") == "Invalid Profile!\n"
    assert core.api("sofia bogus") == "-ERR Unknown command!\n"


def register(sock, port, user, host, auth=None, expires=60, cseq=1):
    lines = [f"REGISTER sip:{host} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};rport;branch=z9hG4bK-r{cseq}",
             f"From: <sip:{user}@{host}>;tag=ft", f"To: <sip:{user}@{host}>", "Call-ID: reg-1",
             f"CSeq: {cseq} REGISTER", f"Contact: <sip:{user}@127.0.0.1:{sock.getsockname()[1]}>",
             f"Expires: {expires}"]
    if auth:
        lines.append(f"Authorization: {auth}")
    sock.sendto(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
    with gevent.Timeout(5):
        return sock.recv(65535).decode()


def digest(challenge: str, user: str, password: str, realm: str, uri: str, ha1: str | None = None) -> str:
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
    ha1 = ha1 or hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    resp = hashlib.md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}".encode()).hexdigest()
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", qop=auth, nc=00000001, cnonce="abc", algorithm=MD5')


def test_register_digest_password_and_a1_hash(kernel_factory):
    core = kernel(kernel_factory)
    port = profile_port(core)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    res = register(sock, port, "1000", "example.test")
    assert res.startswith("SIP/2.0 401 Unauthorized\r\n")
    chal = re.search(r"^WWW-Authenticate: (.*)$", res, re.M).group(1)
    assert chal.startswith('Digest realm="example.test", nonce="') and 'qop="auth"' in chal
    res = register(sock, port, "1000", "example.test", digest(chal, "1000", "secret", "example.test",
                                                              "sip:example.test"), cseq=2)
    assert res.startswith("SIP/2.0 200 OK\r\n"), res
    assert f"Contact: <sip:1000@127.0.0.1:{sock.getsockname()[1]}>;expires=60" in res
    cols, rows = core.db.query("SELECT sip_user, sip_host, profile_name, status FROM sip_registrations")
    assert rows == [("1000", "example.test", "internal", "Registered(UDP)")]
    # the a1-hash user; and a wrong password: 403
    res = register(sock, port, "1001", "example.test", cseq=3)
    chal = re.search(r"^WWW-Authenticate: (.*)$", res, re.M).group(1)
    a1 = hashlib.md5(b"1001:example.test:hashed").hexdigest()
    res = register(sock, port, "1001", "example.test",
                   digest(chal, "1001", "", "example.test", "sip:example.test", ha1=a1), cseq=4)
    assert res.startswith("SIP/2.0 200 OK\r\n"), res
    res = register(sock, port, "1001", "example.test",
                   digest(chal, "1001", "wrong", "example.test", "sip:example.test"), cseq=5)
    assert res.startswith("SIP/2.0 403 Forbidden\r\n"), res
    assert "Total items returned: 2\n" in core.api("sofia status profile internal reg")
    sock.close()


def test_blind_registration_and_profile_stop(kernel_factory):
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
    port = profile_port(core, "second")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    res = register(sock, port, "anyone", "example.test", expires=30)
    assert res.startswith("SIP/2.0 200 OK\r\n")
    assert "Total items returned: 1\n" in core.api("sofia status profile second reg")
    res = register(sock, port, "anyone", "example.test", expires=0, cseq=2)
    assert res.startswith("SIP/2.0 200 OK\r\n")
    assert "Total items returned: 0\n" in core.api("sofia status profile second reg")
    assert core.api("sofia profile second stop") == "stopping: second"
    assert core.api("sofia status").endswith("1 profile 0 aliases\n")
    sock.close()


# -- calls, in-process, against a raw UDP peer ---------------------------------------------------
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP {fmts}\r\n")


def invite(sock, port, call_id, fmts="0", dest="1000"):
    body = SDP.format(fmts=fmts)
    me = sock.getsockname()[1]
    msg = (f"INVITE sip:{dest}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{call_id}\r\n"
           f"From: <sip:raw@127.0.0.1:{me}>;tag=rt\r\nTo: <sip:{dest}@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
           f"CSeq: 1 INVITE\r\nContact: <sip:raw@127.0.0.1:{me}>\r\nContent-Type: application/sdp\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}")
    sock.sendto(msg.encode(), ("127.0.0.1", port))


def recv_final(sock) -> str:
    with gevent.Timeout(10):
        while True:
            msg = sock.recv(65535).decode()
            if not msg.startswith("SIP/2.0 1"):
                return msg


NO_AUTH = SOFIA_CONF.replace('<param name="auth-calls" value="true"/>', "")


def test_invite_without_a_common_codec_is_488_and_over_the_rate_503(kernel_factory):
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": NO_AUTH},
                          settings={"sessions-per-second": 1})
    port = profile_port(core)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    invite(sock, port, "c-g729", fmts="18")
    assert recv_final(sock).startswith("SIP/2.0 488 Not Acceptable Here\r\n")
    finals = []
    for i in range(3):
        invite(sock, port, f"c-rate-{i}")
    for _ in range(3):
        finals.append(recv_final(sock))
    busy = [f for f in finals if f.startswith("SIP/2.0 503 Maximum Calls In Progress\r\n")]
    assert busy and all("Retry-After: 300\r\n" in f for f in busy)
    # a call let in has no dialplan here: it ends with FreeSWITCH's 404 for NO_ROUTE_DESTINATION
    assert all(f in busy or f.startswith("SIP/2.0 404 Not Found\r\n") for f in finals), finals
    sock.close()


def test_an_unanswered_outbound_leg_is_cancelled(kernel_factory):
    """originate to a peer that only rings: at originate_timeout our CANCEL goes out (same
    top Via as the INVITE), the peer's 487 is ACKed by the INVITE transaction."""
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": NO_AUTH})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    peer = sock.getsockname()[1]
    result = gevent.spawn(core.sessions.originate,
                          f"{{originate_timeout=1}}sofia/internal/ring@127.0.0.1:{peer}")
    seen = []

    def routing(text):
        return [ln for ln in text.split("\r\n") if ln.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]

    with gevent.Timeout(20):
        data, addr = sock.recvfrom(65535)
        inv = data.decode()
        assert inv.startswith("INVITE sip:ring@127.0.0.1:")
        heads = [h + ";tag=rr" if h.startswith("To:") else h for h in routing(inv)]
        sock.sendto(("SIP/2.0 180 Ringing\r\n" + "\r\n".join(heads) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
        while True:
            data, addr = sock.recvfrom(65535)
            text = data.decode()
            seen.append(text.split(" ")[0])
            if text.startswith("CANCEL"):
                assert [ln for ln in text.split("\r\n") if ln.startswith("Via:")] == \
                    [ln for ln in inv.split("\r\n") if ln.startswith("Via:")]
                sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(routing(text)) +
                             "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
                sock.sendto(("SIP/2.0 487 Request Terminated\r\n" + "\r\n".join(heads) +
                             "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
            if text.startswith("ACK"):
                num = re.search(r"CSeq: (\d+) INVITE", inv).group(1)
                assert f"CSeq: {num} ACK" in text and "tag=rr" in text   # §17.1.1.3
                break
    cause, session = result.get(timeout=10)
    assert session is None
    assert "CANCEL" in seen and seen[-1] == "ACK"
    sock.close()


def test_registrations_expire(kernel_factory, wait_for):
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
    port = profile_port(core, "second")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    assert register(sock, port, "brief", "example.test", expires=1).startswith("SIP/2.0 200 OK\r\n")
    assert "Total items returned: 1\n" in core.api("sofia status profile second reg")
    # the profile's sweeper deletes it (and fires sofia::expire) once it is past its expiry
    wait_for(lambda: "Total items returned: 0\n" in core.api("sofia status profile second reg"), timeout=10)
    sock.close()


def test_mutated_messages_never_break_the_profile(kernel_factory, wait_for, caplog):
    """1,500 mutated INVITE/REGISTER/BYE/CANCEL/ACK datagrams (bytes flipped, cut, inserted,
    duplicated) over a real socket: no handler error logged, every session that got in ends,
    and the profile still answers OPTIONS."""
    import logging
    import random

    caplog.set_level(logging.WARNING)
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": NO_AUTH})
    port = profile_port(core)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    me = sock.getsockname()[1]
    body = SDP.format(fmts="0 8 101")
    base = []
    for method in ("INVITE", "REGISTER", "BYE", "CANCEL", "ACK", "OPTIONS"):
        b = body if method == "INVITE" else ""
        base.append((f"{method} sip:1000@127.0.0.1:{port} SIP/2.0\r\n"
                     f"Via: SIP/2.0/UDP 127.0.0.1:{me};rport;branch=z9hG4bK-m\r\n"
                     f"From: \"M\" <sip:m@127.0.0.1:{me}>;tag=mt\r\nTo: <sip:1000@127.0.0.1>;tag=x\r\n"
                     f"Call-ID: mut\r\nCSeq: 1 {method}\r\nContact: <sip:m@127.0.0.1:{me}>;expires=5\r\n"
                     f"Expires: 5\r\nContent-Type: application/sdp\r\nContent-Length: {len(b)}\r\n\r\n{b}").encode())
    rng = random.Random(19)
    for i in range(1500):
        data = bytearray(rng.choice(base))
        data = data.replace(b"branch=z9hG4bK-m", f"branch=z9hG4bK-m{i}".encode())
        data = data.replace(b"Call-ID: mut", f"Call-ID: mut{i}".encode())
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(4), rng.randrange(len(data))
            if op == 0:
                data[at] = rng.randrange(256)
            elif op == 1:
                del data[at:at + rng.randint(1, 40)]
            elif op == 2:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
            else:
                data[at:at] = data[at:at + rng.randint(1, 200)]
        sock.sendto(bytes(data), ("127.0.0.1", port))
        if i % 50 == 0:
            gevent.sleep(0.01)   # let the profile keep up (the socket buffer is finite)
    options = (f"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-final\r\n"
               f"From: <sip:m@127.0.0.1>;tag=f\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: final\r\nCSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n").encode()
    sock.sendto(options, ("127.0.0.1", port))
    with gevent.Timeout(20):
        while True:
            msg = sock.recv(65535)
            if b"Call-ID: final" in msg:
                break
    assert msg.startswith(b"SIP/2.0 200 OK\r\n")
    wait_for(lambda: core.sessions.count == 0, timeout=30)
    assert not [r for r in caplog.records if "error handling a message" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("mod_sofia")]
    sock.close()


# -- outbound legs over TCP -----------------------------------------------------------------------
class TcpPeer:
    """One end of a SIP TCP connection: messages framed by Content-Length (RFC 3261 §18.3)."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.buf = b""

    def recv(self) -> str:
        with gevent.Timeout(10):
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end >= 0:
                    m = re.search(rb"\r\nContent-Length: *(\d+)", self.buf[:end + 2], re.I)
                    total = end + 4 + int(m.group(1))
                    if len(self.buf) >= total:
                        msg, self.buf = self.buf[:total], self.buf[total:]
                        return msg.decode()
                chunk = self.conn.recv(65536)
                assert chunk, "the connection closed"
                self.buf += chunk

    def send(self, text: str) -> None:
        self.conn.sendall(text.encode())


def _routing(text: str) -> list[str]:
    return [ln for ln in text.split("\r\n") if ln.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]


def _refuse_busy(peer: TcpPeer) -> str:
    """Read the INVITE, answer 486 on the same connection, expect the ACK there; the INVITE."""
    inv = peer.recv()
    assert inv.startswith("INVITE "), inv
    heads = [h + ";tag=busy" if h.startswith("To:") else h for h in _routing(inv)]
    peer.send("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(heads) + "\r\nContent-Length: 0\r\n\r\n")
    ack = peer.recv()
    assert ack.startswith("ACK ") and "tag=busy" in ack, ack
    return inv


def test_originate_to_a_transport_tcp_uri_goes_over_tcp(kernel_factory):
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": NO_AUTH})
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    result = gevent.spawn(core.sessions.originate, f"sofia/internal/busy@127.0.0.1:{port};transport=tcp")
    with gevent.Timeout(10):
        conn, _ = lsock.accept()
    inv = _refuse_busy(TcpPeer(conn))
    assert inv.startswith(f"INVITE sip:busy@127.0.0.1:{port};transport=tcp SIP/2.0\r\n")
    assert re.search(r"^Via: SIP/2\.0/TCP 127\.0\.0\.1:\d+;", inv, re.M), inv
    assert re.search(r"^Contact: <sip:mod_sofia@127\.0\.0\.1:\d+;transport=tcp>", inv, re.M), inv
    cause, session = result.get(timeout=10)
    assert session is None and cause.name == "USER_BUSY"
    conn.close()
    lsock.close()


def test_originate_to_a_closed_tcp_port_fails_cleanly(kernel_factory):
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": NO_AUTH})
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    port = lsock.getsockname()[1]   # bound, not listening: connections are refused
    cause, session = core.sessions.originate(f"sofia/internal/x@127.0.0.1:{port};transport=tcp")
    assert session is None and cause.name == "NORMAL_TEMPORARY_FAILURE"
    lsock.close()


def test_a_user_registered_over_tcp_is_called_over_that_connection(kernel_factory):
    """The contact names a port nobody listens on (a NATed client): the INVITE must come back on
    the connection the REGISTER came over."""
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
    port = profile_port(core, "second")
    conn = socket.create_connection(("127.0.0.1", port))
    me = conn.getsockname()[1]
    peer = TcpPeer(conn)
    peer.send(f"REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{me};branch=z9hG4bK-t1\r\n"
              "From: <sip:natted@example.test>;tag=ft\r\nTo: <sip:natted@example.test>\r\n"
              "Call-ID: reg-tcp\r\nCSeq: 1 REGISTER\r\n"
              "Contact: <sip:natted@192.0.2.1:5999;transport=tcp>\r\nExpires: 60\r\n"
              "Content-Length: 0\r\n\r\n")
    res = peer.recv()
    assert res.startswith("SIP/2.0 200 OK\r\n"), res
    result = gevent.spawn(core.sessions.originate, "sofia/second/natted")
    inv = _refuse_busy(peer)
    assert inv.startswith("INVITE sip:natted@192.0.2.1:5999;transport=tcp SIP/2.0\r\n"), inv
    assert re.search(r"^Via: SIP/2\.0/TCP ", inv, re.M), inv
    cause, session = result.get(timeout=10)
    assert session is None and cause.name == "USER_BUSY"
    conn.close()


def test_sofia_contact(kernel_factory):
    """FreeSWITCH's ``sofia_contact`` formats: ``sofia/<profile>/sip:<contact URI sans scheme>``,
    several contacts comma-separated, the ``/prefix`` and ``~user-agent`` forms, every profile
    for ``*/`` or a domain that names no profile, ``error/user_not_registered``."""
    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
    port = profile_port(core, "second")
    socks = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        assert register(sock, port, "anyone", "example.test").startswith("SIP/2.0 200 OK\r\n")
        socks.append(sock)
    a, b = (f"sofia/second/sip:anyone@127.0.0.1:{s.getsockname()[1]}" for s in socks)
    assert core.api("sofia_contact second/anyone@example.test") == f"{a},{b}"
    assert core.api("sofia_contact */anyone@example.test") == f"{a},{b}"
    assert core.api("sofia_contact anyone@example.test") == f"{a},{b}"       # no profile by that name
    assert core.api("sofia_contact second/ANYONE@example.test/[x]") == f"[x]{a},[x]{b}"
    assert core.api("sofia_contact second/anyone@example.test~unknown") == f"{a},{b}"   # the UA
    assert core.api("sofia_contact second/anyone@example.test~sipp") == "error/user_not_registered"
    assert core.api("sofia_contact internal/anyone@example.test") == "error/user_not_registered"
    assert core.api("sofia_contact second/anyone@other.test") == "error/user_not_registered"
    assert core.api("sofia_contact second/nobody@example.test") == "error/user_not_registered"
    # no domain: the global ``domain`` variable's
    core.vars.set("domain", "example.test")
    assert core.api("sofia_contact second/anyone") == f"{a},{b}"
    for sock in socks:
        sock.close()


def test_sofia_xmlstatus(kernel_factory):
    """``sofia xmlstatus``: the profile list, a profile's info and its registrations as
    FreeSWITCH's cmd_xml_status writes them (well-formed XML, the same element names)."""
    from xml.etree import ElementTree

    core = kernel_factory(modules=["mod_softtimer", "mod_pcm", mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
    port = profile_port(core, "second")
    out = core.api("sofia xmlstatus")
    assert out.startswith('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profiles>\n')
    profiles = ElementTree.fromstring(out)
    assert [(p.findtext("name"), p.findtext("type"), p.findtext("state")) for p in profiles] == \
        [("internal", "profile", "RUNNING (0)"), ("second", "profile", "RUNNING (0)")]
    assert profiles[1].findtext("data") == f"sip:mod_sofia@127.0.0.1:{port}"

    info = ElementTree.fromstring(core.api("sofia xmlstatus profile internal")).find("profile-info")
    assert info.findtext("name") == "internal" and info.findtext("context") == "default"
    assert info.findtext("inbound-codecs") == "PCMA,PCMU" and info.findtext("dtmf-mode") == "rfc2833"
    assert info.findtext("registrations") == "0"

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    assert register(sock, port, "anyone", "example.test").startswith("SIP/2.0 200 OK\r\n")
    out = core.api("sofia xmlstatus profile second reg")
    root = ElementTree.fromstring(out)
    assert root.find("profile-info") is None
    (reg,) = root.find("registrations")
    assert reg.findtext("user") == "anyone@example.test"
    assert reg.findtext("contact") == f"<sip:anyone@127.0.0.1:{sock.getsockname()[1]}>"
    assert "<contact>&lt;sip:anyone@" in out                        # switch_amp_encode
    assert re.fullmatch(r"Registered\(UDP\)\(unknown\) exp\(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\) "
                        r"expsecs\(\d+\)", reg.findtext("status"))
    assert reg.findtext("network-ip") == "127.0.0.1"
    user = ElementTree.fromstring(core.api("sofia xmlstatus profile second user anyone@example.test"))
    assert len(user.find("registrations")) == 1
    assert len(ElementTree.fromstring(core.api("sofia xmlstatus profile second user example.test"))
               .find("registrations")) == 1                          # no @: the host
    assert len(ElementTree.fromstring(core.api("sofia xmlstatus profile second reg nomatch"))
               .find("registrations")) == 0
    assert core.api("sofia xmlstatus profile nope x") == "Invalid Profile!\n"
    assert core.api("sofia xmlstatus bogus x") == "Invalid Syntax!\n"
    assert core.api("sofia xmlstatus profile") == \
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<gateways>\n</gateways>\n'
    sock.close()
