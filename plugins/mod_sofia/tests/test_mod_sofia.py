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
    return kernel_factory(modules=[mod_sofia], conf={
        "softswitch.xml": root, "directory/default.xml": DIRECTORY.format(a1=a1),
        "sofia.conf.xml": SOFIA_CONF})


def profile_port(core, name="internal") -> int:
    status = core.api("sofia status")
    m = re.search(rf"^ +{name}\tprofile\t +sip:mod_sofia@127\.0\.0\.1:(\d+)\tRUNNING", status, re.M)
    assert m, status
    return int(m.group(1))


def test_profiles_start_on_port_zero_and_status(kernel_factory):
    core = kernel_factory(modules=[mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
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
    core = kernel_factory(modules=[mod_sofia], conf={"sofia.conf.xml": SOFIA_CONF})
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
