"""mod_sofia against real SIP tools (issue #19): sipp (Debian ``sip-tester``) on loopback,
driving a real ``softswitch`` process; raw UDP sockets for retransmissions and bad input.

The process loads the default conf tree with mod_sofia, the XML dialplan, dptools and
tone_stream. Its ``internal`` profile binds port 0 (``sofia status`` tells which) with
``auth-calls`` off, since sipp's built-in ``uac`` cannot answer a 407.
"""

from __future__ import annotations

import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import time

import pytest

from .conftest import add_loads, make_system

SIPP = shutil.which("sipp")
SCENARIOS = pathlib.Path(__file__).parent / "sipp"
PCAPS = pathlib.Path("/usr/share/sip-tester")
TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp is not installed (.ci/run installs sip-tester)")

TEST_EXTENSIONS = r"""
    <extension name="sofia_test_tone_then_hangup">
      <condition field="destination_number" expression="^9198$">
        <action application="answer"/>
        <action application="playback" data="tone_stream://%(200,0,440);loops=5"/>
        <action application="hangup"/>
      </condition>
    </extension>

    <extension name="sofia_test_bridge">
      <condition field="destination_number" expression="^bridge-(\d+)$">
        <action application="bridge" data="sofia/internal/service@127.0.0.1:$1"/>
      </condition>
    </extension>

    <extension name="sofia_test_pre_answer_answer_park">
      <condition field="destination_number" expression="^pre_answer_park$">
        <action application="pre_answer"/>
        <action application="answer"/>
        <action application="park"/>
      </condition>
    </extension>

    <extension name="sofia_test_ring_and_park">
      <condition field="destination_number" expression="^9199$">
        <action application="ring_ready"/>
        <action application="park"/>
      </condition>
    </extension>

  </context>"""


def free_udp_port() -> int:
    # sipp needs a port number on its command line: take one the kernel says is free
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sip_system(tmp_path_factory):
    root = tmp_path_factory.mktemp("sofia")
    s = make_system(root)
    add_loads(s.conf, ("mod_loopback", "mod_dptools", "mod_dialplan_xml", "mod_tone_stream", "mod_sofia"))
    vars_xml = s.conf / "vars.xml"
    vars_xml.write_text(vars_xml.read_text().replace("internal_sip_port=5060", "internal_sip_port=0"))
    sofia = s.conf / "autoload_configs" / "sofia.conf.xml"
    text = sofia.read_text()
    # a second profile, as the default one, that challenges INVITEs (auth-calls)
    authed = text[text.index('    <profile name="internal">'):text.index("    </profile>") + len("    </profile>")]
    authed = authed.replace('name="internal"', 'name="authed"').replace("$${internal_sip_port}", "0")
    text = text.replace('name="auth-calls" value="true"', 'name="auth-calls" value="false"', 1)
    sofia.write_text(text.replace("  </profiles>", authed + "\n  </profiles>"))
    dp = s.conf / "dialplan" / "default.xml"
    dp.write_text(dp.read_text().replace("  </context>", TEST_EXTENSIONS, 1))
    s.start()
    s.wait_log("profile internal listening on UDP")
    m = re.search(r"profile internal listening on UDP 127\.0\.0\.1:(\d+)", s.log_text())
    s.sip_port = int(m.group(1))
    m = re.search(r"profile authed listening on UDP 127\.0\.0\.1:(\d+)", s.log_text())
    s.auth_port = int(m.group(1))
    work = root / "sipp"
    work.mkdir()
    if PCAPS.is_dir():
        (work / "pcap").symlink_to(PCAPS)
    s.sipp_dir = work
    yield s
    code = s.stop()
    assert code == 0, s.out.read_text()[-4000:]


def esl(system):
    from softswitch_cli import ESLClient

    return ESLClient(port=system.port, timeout=TIMEOUT)


def sipp(system, *args: str, timeout: float = 40.0, tag: str | None = None) -> subprocess.CompletedProcess:
    """Run sipp to the end; ``tag`` prefixes its Call-IDs, so a test finds its own calls' events
    (calls of earlier tests may still be ending)."""
    if tag is not None:
        args = (*args, "-cid_str", f"{tag}-%u-%p@%s")
    cmd = [SIPP, *args, "-i", "127.0.0.1", "-nostdin", "-timeout", "30s", "-timeout_error",
           "-trace_err", "-trace_msg", "-max_recv_loops", "1000"]
    r = subprocess.run(cmd, cwd=system.sipp_dir, capture_output=True, text=True, timeout=timeout)
    return r


def explain(r: subprocess.CompletedProcess, system) -> str:
    logs = sorted(system.sipp_dir.glob("*_errors.log")) + sorted(system.sipp_dir.glob("*_messages.log"))
    tail = "".join(p.read_text(errors="replace")[-3000:] for p in logs[-2:])
    return f"sipp exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}\n{tail}\n" \
           f"softswitch log:\n{system.log_text()[-3000:]}"


def events_until(client, name: str, pred=lambda h: True, timeout: float = TIMEOUT, seen=None) -> dict:
    """The first ``name`` event matching ``pred``; every event read is appended to ``seen``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {name} event in {timeout} s"
        h = client.next_event(timeout=left).event_headers()
        if seen is not None:
            seen.append(h)
        if h.get("Event-Name") == name and pred(h):
            return h


# ----------------------------------------------------------------------------------------------
# calls with sipp
# ----------------------------------------------------------------------------------------------
def test_sipp_uac_calls_an_answering_extension(sip_system):
    """sipp's built-in ``uac``: INVITE, 200 with To-tag/Contact/SDP, ACK, BYE from sipp, 200."""
    c = esl(sip_system)
    c.command("event plain CHANNEL_HANGUP_COMPLETE")
    r = sipp(sip_system, "-sn", "uac", "-s", "9197", f"127.0.0.1:{sip_system.sip_port}", "-m", "3",
             "-r", "3", "-d", "300", "-p", str(free_udp_port()), tag="uac")
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CHANNEL_HANGUP_COMPLETE", lambda h: h.get("variable_sip_call_id", "").startswith("uac-"))
    assert h["variable_sip_from_user"] == "sipp"
    assert h["variable_sip_to_user"] == "9197"
    assert h["variable_sip_req_user"] == "9197"
    assert h["variable_sofia_profile_name"] == "internal"
    assert re.match(r"^uac-\d+-\d+@127\.0\.0\.1$", h["variable_sip_call_id"])
    assert h["Caller-Context"] == "default"
    assert re.match(r"^sofia/internal/sipp@127\.0\.0\.1:\d+$", h["Caller-Channel-Name"])  # From host:port
    assert h["Hangup-Cause"] == "NORMAL_CLEARING"
    assert h["variable_sip_hangup_disposition"] == "recv_bye"
    assert int(h["variable_rtp_audio_out_packet_count"]) > 0   # the tone went out as RTP
    c.close()


def test_sipp_uac_over_tcp(sip_system):
    """The same call over TCP (``-t t1``): responses and the BYE on sipp's connection, and
    no retransmissions on a reliable transport."""
    c = esl(sip_system)
    c.command("event plain CHANNEL_HANGUP_COMPLETE")
    r = sipp(sip_system, "-sn", "uac", "-t", "t1", "-s", "9197", f"127.0.0.1:{sip_system.sip_port}", "-m", "2",
             "-r", "2", "-d", "300", "-p", str(free_udp_port()))
    assert r.returncode == 0, explain(r, sip_system)
    # (calls of earlier tests may still be ending: wait for this test's TCP leg)
    h = events_until(c, "CHANNEL_HANGUP_COMPLETE", lambda h: h.get("variable_sip_via_protocol") == "tcp")
    assert h["variable_sip_hangup_disposition"] == "recv_bye"
    assert h["variable_sip_contact_uri"].startswith("sipp@127.0.0.1")
    c.close()


def test_dialplan_hangup_over_tcp(sip_system):
    """softswitch's BYE goes down sipp's TCP connection."""
    r = sipp(sip_system, "-sf", str(SCENARIOS / "uac_wait_bye.xml"), "-t", "t1", "-s", "9198",
             f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(free_udp_port()))
    assert r.returncode == 0, explain(r, sip_system)


def test_sipp_uac_pcap_rtp_and_rfc2833_dtmf(sip_system):
    """``uac_pcap``: PCMA RTP and an RFC 2833 "1" to the tone extension; softswitch answers in
    PCMA, and the digit, queued on the channel, is reported as a DTMF event when playback reads
    it (FreeSWITCH fires DTMF in switch_channel_dequeue_dtmf)."""
    if not (PCAPS / "g711a.pcap").exists():
        pytest.skip("sip-tester's pcap files are not installed")
    c = esl(sip_system)
    c.command("event plain DTMF CHANNEL_HANGUP_COMPLETE")
    r = sipp(sip_system, "-sn", "uac_pcap", "-s", "9197", f"127.0.0.1:{sip_system.sip_port}", "-m", "1",
             "-p", str(free_udp_port()), tag="pcapdtmf")
    assert r.returncode == 0, explain(r, sip_system)
    seen: list[dict] = []
    h = events_until(c, "CHANNEL_HANGUP_COMPLETE",
                     lambda h: h.get("variable_sip_call_id", "").startswith("pcapdtmf-"), seen=seen)
    # DTMF events carry no variables: this call's are the ones with its Unique-ID
    dtmf = [(e["DTMF-Digit"], e["DTMF-Source"]) for e in seen
            if e.get("Event-Name") == "DTMF" and e.get("Unique-ID") == h["Unique-ID"]]
    assert dtmf == [("1", "RTP")]
    assert h["variable_sip_use_codec_name"] == "PCMA"
    assert int(h["variable_rtp_audio_in_packet_count"]) > 100   # ~8 s of 20 ms PCMA
    assert int(h["variable_rtp_audio_out_packet_count"]) > 100  # the tone
    c.close()


def test_sipp_uac_pcap_to_the_echo_extension(sip_system):
    """The RTP sipp plays comes back: echo works on a SIP leg."""
    if not (PCAPS / "g711a.pcap").exists():
        pytest.skip("sip-tester's pcap files are not installed")
    c = esl(sip_system)
    c.command("event plain CHANNEL_HANGUP_COMPLETE")
    r = sipp(sip_system, "-sn", "uac_pcap", "-s", "9196", f"127.0.0.1:{sip_system.sip_port}", "-m", "1",
             "-p", str(free_udp_port()), tag="pcapecho")
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CHANNEL_HANGUP_COMPLETE", lambda h: h.get("variable_sip_call_id", "").startswith("pcapecho-"))
    sent_in = int(h["variable_rtp_audio_in_packet_count"])
    assert sent_in > 100
    assert int(h["variable_rtp_audio_out_packet_count"]) > sent_in // 2   # echoed back
    c.close()


def test_bridge_sipp_uac_to_sipp_uas(sip_system):
    """uac → softswitch → ``bridge sofia/internal/service@127.0.0.1:<port>`` → uas: the uac's
    BYE ends the A leg, softswitch sends BYE to the uas."""
    port = free_udp_port()
    uas = subprocess.Popen([SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                            "-nostdin", "-timeout", "30s", "-timeout_error"],
                           cwd=sip_system.sipp_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        time.sleep(0.3)  # let sipp bind its port (an external process)
        c = esl(sip_system)
        c.command("event plain CHANNEL_BRIDGE")
        r = sipp(sip_system, "-sn", "uac", "-s", f"bridge-{port}", f"127.0.0.1:{sip_system.sip_port}",
                 "-m", "1", "-d", "1000", "-p", str(free_udp_port()))
        assert r.returncode == 0, explain(r, sip_system)
        stdout, stderr = uas.communicate(timeout=40)
        assert uas.returncode == 0, stdout[-2000:]
        h = events_until(c, "CHANNEL_BRIDGE")
        assert h["Other-Leg-Channel-Name"] == f"sofia/internal/service@127.0.0.1:{port}"
        c.close()
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


def test_dialplan_answers_plays_and_hangs_up(sip_system):
    """answer + playback + hangup: softswitch sends the BYE (to sipp's Contact, new branch)."""
    r = sipp(sip_system, "-sf", str(SCENARIOS / "uac_wait_bye.xml"), "-s", "9198",
             f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(free_udp_port()),
             "-rtp_echo")
    assert r.returncode == 0, explain(r, sip_system)


def test_cancel_gets_487(sip_system):
    """A ringing (180) parked call cancelled: 200 to the CANCEL, 487 to the INVITE, the session
    hung up ORIGINATOR_CANCEL."""
    c = esl(sip_system)
    c.command("event plain CHANNEL_HANGUP_COMPLETE")
    r = sipp(sip_system, "-sf", str(SCENARIOS / "cancel.xml"), "-s", "9199",
             f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(free_udp_port()), tag="cancel")
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CHANNEL_HANGUP_COMPLETE", lambda h: h.get("variable_sip_call_id", "").startswith("cancel-"))
    assert h["Hangup-Cause"] == "ORIGINATOR_CANCEL"
    assert h["variable_sip_hangup_disposition"] == "recv_cancel"
    c.close()


def test_originate_to_sipp_uas(sip_system):
    """``originate sofia/internal/service@127.0.0.1:<port> &playback(...)``: sipp's ``uas``
    answers (180, 200), gets the ACK and, after the playback, softswitch's BYE."""
    port = free_udp_port()
    uas = subprocess.Popen([SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                            "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err"],
                           cwd=sip_system.sipp_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        c = esl(sip_system)
        out = ""
        for _ in range(50):  # sipp binds its port after start-up: retry while it refuses
            out = c.api(f"originate sofia/internal/service@127.0.0.1:{port} "
                        "&playback(tone_stream://%(200,0,440);loops=3)", timeout=TIMEOUT)
            if out.startswith("+OK"):
                break
            time.sleep(0.1)  # waiting for sipp's socket (an external process), bounded
        assert out.startswith("+OK "), out
        stdout, stderr = uas.communicate(timeout=40)
        assert uas.returncode == 0, f"{stdout[-2000:]}\n{stderr[-2000:]}\n{sip_system.log_text()[-3000:]}"
        c.close()
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()



def _originate_to_uas(system, uas_args: list[str], dial: str) -> None:
    """Start sipp's ``uas`` with ``uas_args``, originate ``dial`` to it (retrying while sipp is
    still binding), and wait for sipp to end its one call successfully."""
    uas = subprocess.Popen([SIPP, "-sn", "uas", "-i", "127.0.0.1", *uas_args, "-m", "1",
                            "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err"],
                           cwd=system.sipp_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        c = esl(system)
        out = ""
        for _ in range(50):  # sipp binds its port after start-up: retry while it refuses
            out = c.api(f"originate {dial} &playback(tone_stream://%(200,0,440);loops=2)",
                        timeout=TIMEOUT)
            if out.startswith("+OK"):
                break
            time.sleep(0.1)  # waiting for sipp's socket (an external process), bounded
        assert out.startswith("+OK "), out
        stdout, stderr = uas.communicate(timeout=40)
        assert uas.returncode == 0, f"{stdout[-2000:]}\n{stderr[-2000:]}\n{system.log_text()[-3000:]}"
        c.close()
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


def test_originate_to_sipp_uas_over_tcp(sip_system):
    """``;transport=tcp`` in the dial string: the INVITE, ACK and BYE go over one TCP connection
    to sipp's ``uas -t t1`` (which listens on TCP only)."""
    port = free_udp_port()
    _originate_to_uas(sip_system, ["-t", "t1", "-p", str(port)],
                      f"sofia/internal/service@127.0.0.1:{port};transport=tcp")


def test_call_a_user_registered_over_tcp(sip_system):
    """1001 registers over TCP (sipp ``-t t1``) and goes away; ``sofia/internal/1001`` reaches
    its contact over a new TCP connection, where sipp's ``uas -t t1`` answers."""
    port = free_udp_port()
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register.xml"), "-t", "t1", "-s", "1001", "-au", "1001",
             "-ap", "1234", "-key", "expires", "60", f"127.0.0.1:{sip_system.sip_port}", "-m", "1",
             "-p", str(port))
    assert r.returncode == 0, explain(r, sip_system)
    _originate_to_uas(sip_system, ["-t", "t1", "-p", str(port)], "sofia/internal/1001")
    # unregister (later tests count the registrations)
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register.xml"), "-t", "t1", "-s", "1001", "-au", "1001",
             "-ap", "1234", "-key", "expires", "0", f"127.0.0.1:{sip_system.sip_port}", "-m", "1",
             "-p", str(port))
    assert r.returncode == 0, explain(r, sip_system)
    c = esl(sip_system)
    assert "Total items returned: 0\n" in c.api("sofia status profile internal reg")
    c.close()

def test_auth_calls_challenges_invites(sip_system):
    """A profile with auth-calls: 407 with a digest challenge, ACK, the INVITE again with
    Proxy-Authorization (user 1000 of the directory), 200, and a call."""
    c = esl(sip_system)
    c.command("event plain CHANNEL_ANSWER")
    r = sipp(sip_system, "-sf", str(SCENARIOS / "uac_auth.xml"), "-s", "9197", "-au", "1000", "-ap", "1234",
             f"127.0.0.1:{sip_system.auth_port}", "-m", "1", "-p", str(free_udp_port()))
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CHANNEL_ANSWER")
    assert h["variable_sofia_profile_name"] == "authed"
    c.close()


def test_auth_calls_wrong_password_is_403(sip_system):
    raw = Raw(sip_system)
    raw.dest = ("127.0.0.1", sip_system.auth_port)
    raw.send(invite(raw, "auth-403", "z9hG4bK-a403", dest="9197"))
    chal = raw.recv_status(407)
    realm = re.search(r'realm="([^"]+)"', chal).group(1)
    nonce = re.search(r'nonce="([^"]+)"', chal).group(1)
    msg = invite(raw, "auth-403", "z9hG4bK-a403b", dest="9197").replace(
        "CSeq: 1 INVITE", "CSeq: 2 INVITE\nProxy-Authorization: Digest username=\"1000\", "
        f"realm=\"{realm}\", nonce=\"{nonce}\", uri=\"sip:9197@127.0.0.1\", response=\"{'0' * 32}\"")
    raw.send(msg)
    assert raw.recv_status(403)
    raw.close()


def test_rfc2833_out_of_one_sip_leg_into_another(sip_system):
    """``originate sofia/internal/9197@<our own profile>``: the outbound leg plays silence, the
    inbound one the tone; ``uuid_send_dtmf`` on the outbound leg goes out as RFC 2833 and comes
    back in on the inbound leg, where playback dequeues it: a DTMF event, source RTP."""
    c = esl(sip_system)
    c.command("event plain DTMF")
    out = c.api(f"originate sofia/internal/9197@127.0.0.1:{sip_system.sip_port} "
                "&playback(silence_stream://20000)", timeout=TIMEOUT)
    assert out.startswith("+OK "), out
    a = out.split()[1]
    assert c.api(f"uuid_send_dtmf {a} 5").startswith("+OK")
    d = events_until(c, "DTMF")
    assert d["DTMF-Digit"] == "5" and d["DTMF-Source"] == "RTP"
    assert d["Unique-ID"] != a
    assert re.match(r"^sofia/internal/0000000000@127\.0\.0\.1:\d+$", d["Caller-Channel-Name"])
    c.api(f"uuid_kill {a}")
    c.close()


def test_originate_refused_maps_the_sip_status(sip_system):
    """A destination nobody answers on: Timer B is 32 s, so use a 486 from a raw UAS instead."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(TIMEOUT)
    port = sock.getsockname()[1]
    import threading

    def uas():
        data, addr = sock.recvfrom(65535)
        text = data.decode()
        heads = [ln for ln in text.split("\r\n") if ln.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
        heads = [h + ";tag=busy1" if h.startswith("To:") else h for h in heads]
        sock.sendto(("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(heads) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
        ack, _ = sock.recvfrom(65535)
        got.append(ack.decode().split(" ")[0])

    got: list[str] = []
    t = threading.Thread(target=uas, daemon=True)
    t.start()
    c = esl(sip_system)
    out = c.api(f"originate sofia/internal/busy@127.0.0.1:{port} &park", timeout=TIMEOUT)
    assert out.strip() == "-ERR USER_BUSY"
    t.join(TIMEOUT)
    assert got == ["ACK"]   # the INVITE client transaction ACKs a non-2xx final itself
    sock.close()
    c.close()


# ----------------------------------------------------------------------------------------------
# registrar
# ----------------------------------------------------------------------------------------------
def test_register_with_digest_auth_and_unregister(sip_system):
    c = esl(sip_system)
    c.command("event plain CUSTOM sofia::register sofia::unregister")
    port = free_udp_port()
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register.xml"), "-s", "1000", "-au", "1000", "-ap", "1234",
             "-key", "expires", "120", f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(port))
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CUSTOM", lambda h: h.get("Event-Subclass") == "sofia::register")
    assert h["profile-name"] == "internal"
    assert h["from-user"] == "1000"
    assert h["contact"] == f"<sip:1000@127.0.0.1:{port}>"
    assert h["expires"] == "120"
    assert h["status"] == "Registered(UDP)"
    reg = c.api("sofia status profile internal reg")
    assert "Registrations:" in reg
    assert "User:       \t1000@127.0.0.1\n" in reg
    assert f"Contact:    \t<sip:1000@127.0.0.1:{port}>\n" in reg
    assert "Total items returned: 1\n" in reg
    assert "REGISTRATIONS    \t1\n" in c.api("sofia status profile internal")
    # unregister: Expires 0
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register.xml"), "-s", "1000", "-au", "1000", "-ap", "1234",
             "-key", "expires", "0", f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(port))
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CUSTOM", lambda h: h.get("Event-Subclass") == "sofia::unregister")
    assert h["from-user"] == "1000"
    assert "Total items returned: 0\n" in c.api("sofia status profile internal reg")
    c.close()


def test_register_over_tcp(sip_system):
    c = esl(sip_system)
    c.command("event plain CUSTOM sofia::register")
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register.xml"), "-t", "t1", "-s", "1001", "-au", "1001",
             "-ap", "1234", "-key", "expires", "30", f"127.0.0.1:{sip_system.sip_port}", "-m", "1",
             "-p", str(free_udp_port()))
    assert r.returncode == 0, explain(r, sip_system)
    h = events_until(c, "CUSTOM", lambda h: h.get("Event-Subclass") == "sofia::register")
    assert h["status"] == "Registered(TCP)"
    c.close()


def test_register_wrong_password_is_403(sip_system):
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register_forbidden.xml"), "-s", "1001", "-au", "1001",
             "-ap", "wrong", f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(free_udp_port()))
    assert r.returncode == 0, explain(r, sip_system)
    sip_system.wait_log("wrong password")


def test_call_a_registered_user(sip_system):
    """``sofia/internal/1001`` finds the contact 1001 registered, and calls sipp's uas there."""
    port = free_udp_port()
    r = sipp(sip_system, "-sf", str(SCENARIOS / "register.xml"), "-s", "1001", "-au", "1001", "-ap", "1234",
             "-key", "expires", "60", f"127.0.0.1:{sip_system.sip_port}", "-m", "1", "-p", str(port))
    assert r.returncode == 0, explain(r, sip_system)
    uas = subprocess.Popen([SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", "1",
                            "-nostdin", "-timeout", "30s", "-timeout_error"],
                           cwd=sip_system.sipp_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        c = esl(sip_system)
        out = ""
        for _ in range(50):
            out = c.api("originate sofia/internal/1001 &playback(tone_stream://%(200,0,440);loops=2)",
                        timeout=TIMEOUT)
            if out.startswith("+OK"):
                break
            time.sleep(0.1)  # waiting for sipp's socket (an external process), bounded
        assert out.startswith("+OK "), out
        stdout, stderr = uas.communicate(timeout=40)
        assert uas.returncode == 0, stdout[-2000:]
        assert c.api("originate sofia/internal/nobody &park").strip() == "-ERR USER_NOT_REGISTERED"
        c.close()
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()


# ----------------------------------------------------------------------------------------------
# transactions and bad input, with a raw socket
# ----------------------------------------------------------------------------------------------
class Raw:
    def __init__(self, system) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.dest = ("127.0.0.1", system.sip_port)

    def send(self, text: str) -> None:
        self.sock.sendto(text.replace("\n", "\r\n").encode(), self.dest)

    def recv(self, timeout: float = TIMEOUT) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(65535).decode()

    def recv_status(self, status: int, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if msg.startswith(f"SIP/2.0 {status} "):
                return msg

    def close(self) -> None:
        self.sock.close()


SDP = ("v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
       "m=audio 40000 RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n")


def invite(raw: Raw, call_id: str, branch: str, dest: str = "1000", body: str = SDP, cl: int | None = None) -> str:
    body = body.replace("\n", "\r\n")
    n = len(body) if cl is None else cl
    return (f"INVITE sip:{dest}@127.0.0.1:{raw.dest[1]} SIP/2.0\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{raw.port};branch={branch}\n"
            f"From: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: <sip:{dest}@127.0.0.1>\n"
            f"Call-ID: {call_id}\nCSeq: 1 INVITE\nContact: <sip:raw@127.0.0.1:{raw.port}>\n"
            f"Max-Forwards: 70\nContent-Type: application/sdp\nContent-Length: {n}\n\n") + body


def test_invite_retransmission_and_200_retransmitted_until_ack(sip_system):
    raw = Raw(sip_system)
    c = esl(sip_system)
    c.command("event plain CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE")
    call_id = f"retrans-{secrets.token_hex(4)}"
    msg = invite(raw, call_id, "z9hG4bK-retrans-1", dest="9197")
    raw.send(msg)
    raw.recv_status(100)
    raw.send(msg)                       # the same INVITE again: the transaction absorbs it
    ok = raw.recv_status(200)
    to = re.search(r"^To: (.*)$", ok, re.M).group(1).strip()
    ok2 = raw.recv_status(200, timeout=5)   # no ACK yet: the 200 comes again (T1 doubling)
    assert ok2 == ok
    creates = [events_until(c, "CHANNEL_CREATE", lambda h: h.get("variable_sip_call_id") == call_id)]
    raw.send(f"ACK sip:9197@127.0.0.1:{raw.dest[1]} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};"
             f"branch=z9hG4bK-retrans-ack\nFrom: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: {to}\n"
             f"Call-ID: {call_id}\nCSeq: 1 ACK\nContent-Length: 0\n\n")
    raw.send(f"BYE sip:9197@127.0.0.1:{raw.dest[1]} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};"
             f"branch=z9hG4bK-retrans-bye\nFrom: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: {to}\n"
             f"Call-ID: {call_id}\nCSeq: 2 BYE\nContent-Length: 0\n\n")
    bye_ok = raw.recv_status(200)
    assert "CSeq: 2 BYE" in bye_ok
    h = events_until(c, "CHANNEL_HANGUP_COMPLETE", lambda h: h.get("variable_sip_call_id") == call_id)
    assert h["Hangup-Cause"] == "NORMAL_CLEARING"
    # one session for the two INVITEs: the retransmission made no second channel
    assert len(creates) == 1
    assert call_id not in c.api("show channels")
    raw.close()
    c.close()


def test_late_offer_invite_without_sdp(sip_system):
    """An INVITE without SDP: softswitch's 200 offers PCMU, PCMA and telephone-event; the
    answer comes in the ACK (PCMA, to a socket of ours), and the tone arrives there as PCMA."""
    raw = Raw(sip_system)
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    media.settimeout(TIMEOUT)
    raw.send(invite(raw, "late-1", "z9hG4bK-late1", dest="9197", body=""))
    ok = raw.recv_status(200)
    assert re.search(r"^m=audio \d+ RTP/AVP 0 8 101\r$", ok, re.M), ok
    to = re.search(r"^To: (.*)$", ok, re.M).group(1).strip()
    answer = SDP.replace("40000", str(media.getsockname()[1])).replace("RTP/AVP 0 101", "RTP/AVP 8 101") \
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000").replace("\n", "\r\n")
    raw.send(f"ACK sip:9197@127.0.0.1:{raw.dest[1]} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};"
             f"branch=z9hG4bK-late-ack\nFrom: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: {to}\n"
             f"Call-ID: late-1\nCSeq: 1 ACK\nContent-Type: application/sdp\n"
             f"Content-Length: {len(answer)}\n\n" + answer.replace("\r\n", "\n"))
    deadline = time.monotonic() + TIMEOUT
    while True:
        pkt = media.recv(2048)
        if pkt[1] & 0x7F == 8:      # PCMA: the answer was applied
            break
        assert time.monotonic() < deadline
    raw.send(f"BYE sip:9197@127.0.0.1:{raw.dest[1]} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};"
             f"branch=z9hG4bK-late-bye\nFrom: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: {to}\n"
             f"Call-ID: late-1\nCSeq: 2 BYE\nContent-Length: 0\n\n")
    assert "CSeq: 2 BYE" in raw.recv_status(200)
    media.close()
    raw.close()


def test_late_offer_pre_answer_sends_no_offer_in_a_183(sip_system):
    """pre_answer on a call whose INVITE had no SDP: no 183 carrying an offer the caller could
    not answer (FreeSWITCH sends none either); the 200 carries the offer, the ACK the answer."""
    raw = Raw(sip_system)
    raw.send(invite(raw, "late-pre", "z9hG4bK-latepre", dest="pre_answer_park", body=""))
    seen = []
    while True:
        msg = raw.recv()
        seen.append(msg.split("\r\n", 1)[0])
        if msg.startswith("SIP/2.0 200 "):
            break
    assert seen[0] == "SIP/2.0 100 Trying" and "SIP/2.0 183 Session Progress" not in seen, seen
    assert re.search(r"^m=audio \d+ RTP/AVP 0 8 101\r$", msg, re.M), msg
    to = re.search(r"^To: (.*)$", msg, re.M).group(1).strip()
    answer = SDP.replace("\n", "\r\n")
    raw.send(f"ACK sip:pre_answer_park@127.0.0.1:{raw.dest[1]} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};"
             f"branch=z9hG4bK-latepre-ack\nFrom: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: {to}\n"
             f"Call-ID: late-pre\nCSeq: 1 ACK\nContent-Type: application/sdp\n"
             f"Content-Length: {len(answer)}\n\n" + answer.replace("\r\n", "\n"))
    raw.send(f"BYE sip:pre_answer_park@127.0.0.1:{raw.dest[1]} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};"
             f"branch=z9hG4bK-latepre-bye\nFrom: <sip:raw@127.0.0.1:{raw.port}>;tag=rawtag\nTo: {to}\n"
             f"Call-ID: late-pre\nCSeq: 2 BYE\nContent-Length: 0\n\n")
    assert "CSeq: 2 BYE" in raw.recv_status(200)
    raw.close()


def test_bad_input_gets_errors_and_the_profile_keeps_serving(sip_system):
    raw = Raw(sip_system)
    # garbage: no answer possible, one log line
    raw.sock.sendto(b"\x00\x01garbage\xff\r\n\r\n", raw.dest)
    # a Content-Length longer than the body: 400
    raw.send(invite(raw, "bad-cl", "z9hG4bK-badcl", cl=5000))
    assert "SIP/2.0 400 Bad Content-Length" in raw.recv_status(400)
    # an unknown method: 501; a known one we do not serve: 405 with Allow
    base = (f"Via: SIP/2.0/UDP 127.0.0.1:{raw.port};branch=z9hG4bK-{{b}}\nFrom: <sip:raw@127.0.0.1>;tag=t\n"
            f"To: <sip:x@127.0.0.1>\nCall-ID: {{c}}\nCSeq: 1 {{m}}\nContent-Length: 0\n\n")
    raw.send("FROB sip:x@127.0.0.1 SIP/2.0\n" + base.format(b="frob", c="frob", m="FROB"))
    assert raw.recv_status(501)
    raw.send("SUBSCRIBE sip:x@127.0.0.1 SIP/2.0\n" + base.format(b="sub", c="sub", m="SUBSCRIBE"))
    assert "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER" in raw.recv_status(405)
    # a BYE for no dialog: 481; a CANCEL for no transaction: 481
    raw.send("BYE sip:x@127.0.0.1 SIP/2.0\n" + base.format(b="bye", c="nodialog", m="BYE").replace(
        "To: <sip:x@127.0.0.1>", "To: <sip:x@127.0.0.1>;tag=nope"))
    assert raw.recv_status(481)
    raw.send("CANCEL sip:x@127.0.0.1 SIP/2.0\n" + base.format(b="nocancel", c="nocancel", m="CANCEL"))
    assert raw.recv_status(481)
    # a CSeq whose method is not the request's: 400
    raw.send("OPTIONS sip:x@127.0.0.1 SIP/2.0\n" + base.format(b="cseq", c="cseq", m="INVITE"))
    assert raw.recv_status(400)
    # an SDP offer with no codec we have: 488
    raw.send(invite(raw, "g729", "z9hG4bK-g729", body=SDP.replace("RTP/AVP 0 101", "RTP/AVP 18")))
    assert raw.recv_status(488)
    # and the profile still answers
    raw.send("OPTIONS sip:x@127.0.0.1 SIP/2.0\n" + base.format(b="opt", c="opt", m="OPTIONS"))
    assert raw.recv_status(200)
    sip_system.wait_log("bad SIP message")   # one log line for the garbage (the file is flushed later)
    raw.close()


def test_sofia_status_and_profile_restart(sip_system):
    c = esl(sip_system)
    out = c.api("sofia status")
    lines = out.split("\n")
    assert lines[0] == "%25s\t%s\t  %40s\t%s" % ("Name", "   Type", "Data", "State")
    assert lines[1] == "=" * 97
    assert re.match(r"^ +internal\tprofile\t +sip:mod_sofia@127\.0\.0\.1:\d+\tRUNNING \(\d+\)$", lines[2])
    assert re.match(r"^ +authed\tprofile\t +sip:mod_sofia@127\.0\.0\.1:\d+\tRUNNING \(\d+\)$", lines[3])
    assert lines[4] == "=" * 97
    assert lines[5] == "2 profiles 0 aliases"
    assert c.api("sofia status profile nope") == "Invalid Profile!\n"
    assert c.api("sofia profile nope stop") == "Invalid Profile [nope]"
    assert c.api("sofia profile internal stop") == "stopping: internal"
    assert "1 profile 0 aliases" in c.api("sofia status")
    start = c.api("sofia profile internal start")
    assert start == "Reload XML [Success]\ninternal started successfully\n", start
    m = re.search(r"sip:mod_sofia@127\.0\.0\.1:(\d+)", c.api("sofia status"))
    sip_system.sip_port = int(m.group(1))   # port 0: a new port after the restart
    raw = Raw(sip_system)
    raw.send(f"OPTIONS sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{raw.port};branch=z9hG4bK-o2\n"
             "From: <sip:raw@127.0.0.1>;tag=t\nTo: <sip:x@127.0.0.1>\nCall-ID: o2\nCSeq: 1 OPTIONS\n"
             "Content-Length: 0\n\n")
    assert raw.recv_status(200)
    raw.close()
    c.close()



# ----------------------------------------------------------------------------------------------
# a real SIP user agent: baresip, headless, driven over its ctrl_tcp module
# ----------------------------------------------------------------------------------------------
BARESIP = shutil.which("baresip")
BARESIP_MODULES = pathlib.Path("/usr/lib/baresip/modules")


class Baresip:
    """baresip with a sine source (ausine needs 48 kHz stereo: baresip resamples to PCMU) and a
    wav sink, commands as netstring JSON over ctrl_tcp."""

    def __init__(self, root: pathlib.Path, sip_port: int) -> None:
        import json

        self.json = json
        root.mkdir()
        self.ctrl = free_tcp_port()
        sip = sip_port_pair(avoid=self.ctrl)
        (root / "config").write_text(
            f"poll_method\tepoll\nsip_listen\t127.0.0.1:{sip}\n"
            f"audio_player\taufile,{root / 'heard.wav'}\naudio_source\tausine,440\n"
            f"audio_alert\taufile,{root / 'alert.wav'}\nausrc_srate\t48000\nauplay_srate\t48000\n"
            f"ausrc_channels\t2\nauplay_channels\t2\nmodule_path\t{BARESIP_MODULES}\n"
            "module\tg711.so\nmodule\tausine.so\nmodule\taufile.so\nmodule_app\taccount.so\n"
            f"module_app\tmenu.so\nmodule_app\tctrl_tcp.so\nctrl_tcp_listen\t127.0.0.1:{self.ctrl}\n")
        (root / "accounts").write_text(
            f"<sip:1000@127.0.0.1:{sip_port}>;auth_pass=1234;regint=600;audio_codecs=PCMU\n")
        self.proc = subprocess.Popen([BARESIP, "-f", str(root), "-t", "60"], stdout=open(root / "out.txt", "w"),
                                     stderr=subprocess.STDOUT)
        self.out = root / "out.txt"
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.ctrl), timeout=TIMEOUT)
                break
            except OSError:
                assert time.monotonic() < deadline, self.out.read_text()
                time.sleep(0.1)  # waiting for baresip's control socket (an external process)
        self.buf = b""

    def command(self, command: str, params: str = "") -> None:
        body = self.json.dumps({"command": command, "params": params, "token": command}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_event(self, kind: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b":" in self.buf:
                n, _, rest = self.buf.partition(b":")
                if len(rest) < int(n) + 1:
                    break
                msg = self.json.loads(rest[:int(n)])
                self.buf = rest[int(n) + 1:]
                if msg.get("type") == kind:
                    return msg
            assert time.monotonic() < deadline, f"baresip: no {kind}\n{self.out.read_text()[-3000:]}"
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            assert chunk, self.out.read_text()[-3000:]
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sip_port_pair(avoid: int) -> int:
    """A port p free for UDP and TCP with p + 1 free for TCP too: baresip listens on p (UDP and
    TCP) and p + 1 (TLS)."""
    for _ in range(100):
        p = free_udp_port()
        if avoid in (p, p + 1):
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise AssertionError("no free port pair for baresip")


@pytest.mark.skipif(BARESIP is None or not BARESIP_MODULES.is_dir(),
                    reason="baresip is not installed (.ci/run installs baresip-core)")
def test_baresip_registers_calls_sends_dtmf_and_hangs_up(sip_system, tmp_path):
    """baresip registers as 1000 (digest), calls the tone extension, sends "1", "2", "#" as
    RFC 2833 (reported as DTMF events, source RTP), and hangs up; its RTP got through (it
    announces its LAN address in SDP but sends from 127.0.0.1: RTP auto-adjust)."""
    c = esl(sip_system)
    c.command("event plain DTMF CHANNEL_HANGUP_COMPLETE CUSTOM sofia::register")
    ua = Baresip(tmp_path / "baresip", sip_system.sip_port)
    try:
        reg = events_until(c, "CUSTOM", lambda h: h.get("Event-Subclass") == "sofia::register"
                           and h.get("from-user") == "1000" and "baresip" in h.get("user-agent", "").lower())
        assert reg["username"] == "1000"
        ua.command("dial", f"sip:9197@127.0.0.1:{sip_system.sip_port}")
        ua.wait_event("CALL_ESTABLISHED")
        digits = []
        for d in "12#":
            ua.command("sndcode", d)
            h = events_until(c, "DTMF")
            assert h["DTMF-Source"] == "RTP"
            digits.append(h["DTMF-Digit"])
        assert digits == ["1", "2", "#"]
        ua.command("hangup")
        h = events_until(c, "CHANNEL_HANGUP_COMPLETE", lambda h: h.get("variable_sip_from_user") == "1000")
        assert h["Hangup-Cause"] == "NORMAL_CLEARING"
        assert h["variable_sip_hangup_disposition"] == "recv_bye"
        assert int(h["variable_rtp_audio_in_packet_count"]) > 10
    finally:
        ua.close()
        c.close()
