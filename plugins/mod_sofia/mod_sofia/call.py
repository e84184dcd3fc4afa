"""SIP calls: INVITE dialogs both ways, and the ``sofia`` endpoint's session functions.

One :class:`SipCall` is the endpoint's private data of one leg (``session.private``) and the
dialog state (RFC 3261 §12): Call-ID, local and remote tags and parties, the remote target,
CSeq numbers. The media is a kernel :class:`softswitch.RtpSession`, read once per tick of the
session timer.

Inbound: INVITE → 100 Trying → (auth-calls: 407 challenge) → SDP offer negotiated against the
profile's codec-prefs → session in the profile's context/dialplan; ``ring_ready`` → 180,
``pre_answer`` → 183 + SDP, ``answer`` → 200 + SDP retransmitted (T1 doubling to T2) until
the ACK; CANCEL → 200 + 487; BYE → 200; our hangup → BYE, or the final error response the
hangup cause maps to (FreeSWITCH's ``hangup_cause_to_sip``).

Outbound: ``sofia/<profile>/<user>@<host>[:<port>]`` or ``sofia/<profile>/<user>`` (the
registered contact); INVITE with our offer; 180/183/200 mark the leg; the 2xx is ACKed by the
dialog (new branch, to the remote target); a final error hangs up with the mapped cause.
"""

from __future__ import annotations

import logging
import secrets
import uuid

from gevent import socket

import softswitch
from softswitch import Cause, ChannelState, Frame, MessageId, Status

from .message import Message, parse_name_addr, parse_uri, parse_via, serialize
from .sdp import STATIC_PT, SdpError, build_sdp, negotiate, parse_sdp
from .transaction import T1, T2

log = logging.getLogger(__name__)

__all__ = ["SipCall", "on_invite", "on_ack", "on_bye", "on_cancel", "on_reinvite",
           "on_stray_response", "outgoing_channel", "cause_to_sip", "sip_to_cause", "add_endpoint"]

_SIP_CAUSE = {
    Cause.UNALLOCATED_NUMBER: 404, Cause.NO_ROUTE_TRANSIT_NET: 404, Cause.NO_ROUTE_DESTINATION: 404,
    Cause.USER_BUSY: 486, Cause.NO_USER_RESPONSE: 408, Cause.NO_ANSWER: 480,
    Cause.SUBSCRIBER_ABSENT: 480, Cause.CALL_REJECTED: 603, Cause.NUMBER_CHANGED: 410,
    Cause.REDIRECTION_TO_NEW_DESTINATION: 410, Cause.DESTINATION_OUT_OF_ORDER: 502,
    Cause.INVALID_PROFILE: 502, Cause.INVALID_NUMBER_FORMAT: 484, Cause.INVALID_URL: 484,
    Cause.INVALID_GATEWAY: 484, Cause.FACILITY_REJECTED: 501, Cause.NORMAL_UNSPECIFIED: 480,
    Cause.REQUESTED_CHAN_UNAVAIL: 503, Cause.NORMAL_CIRCUIT_CONGESTION: 503,
    Cause.NETWORK_OUT_OF_ORDER: 503, Cause.NORMAL_TEMPORARY_FAILURE: 503,
    Cause.SWITCH_CONGESTION: 503, Cause.GATEWAY_DOWN: 503, Cause.OUTGOING_CALL_BARRED: 403,
    Cause.INCOMING_CALL_BARRED: 403, Cause.BEARERCAPABILITY_NOTAUTH: 403,
    Cause.BEARERCAPABILITY_NOTAVAIL: 503, Cause.BEARERCAPABILITY_NOTIMPL: 488,
    Cause.INCOMPATIBLE_DESTINATION: 488, Cause.FACILITY_NOT_IMPLEMENTED: 501,
    Cause.SERVICE_NOT_IMPLEMENTED: 501, Cause.RECOVERY_ON_TIMER_EXPIRE: 504,
    Cause.ORIGINATOR_CANCEL: 487, Cause.EXCHANGE_ROUTING_ERROR: 483,
}
_REASONS = {
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 410: "Gone",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 483: "Too Many Hops",
    484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    603: "Decline", 600: "Busy Everywhere", 604: "Does Not Exist Anywhere",
}


def cause_to_sip(cause: int) -> int:
    """FreeSWITCH's ``hangup_cause_to_sip`` (mod_sofia.c); anything else is 480."""
    return _SIP_CAUSE.get(cause, 480)


def sip_to_cause(status: int) -> Cause:
    """FreeSWITCH's ``sofia_glue_sip_cause_to_freeswitch``."""
    if status in (401, 402, 403, 407, 603, 608):
        return Cause.CALL_REJECTED
    if status in (404, 485, 604):
        return Cause.UNALLOCATED_NUMBER
    if status in (408, 504):
        return Cause.RECOVERY_ON_TIMER_EXPIRE
    if status == 410:
        return Cause.NUMBER_CHANGED
    if status in (413, 414, 416, 420, 421, 423, 505, 513):
        return Cause.INTERWORKING
    if status == 480:
        return Cause.NO_USER_RESPONSE
    if status in (400, 481, 500, 503):
        return Cause.NORMAL_TEMPORARY_FAILURE
    if status in (486, 600):
        return Cause.USER_BUSY
    if status == 484:
        return Cause.INVALID_NUMBER_FORMAT
    if status in (488, 606):
        return Cause.INCOMPATIBLE_DESTINATION
    if status == 502:
        return Cause.NETWORK_OUT_OF_ORDER
    if status == 405:
        return Cause.SERVICE_UNAVAILABLE
    if status in (406, 415, 501):
        return Cause.SERVICE_NOT_IMPLEMENTED
    if status in (482, 483):
        return Cause.EXCHANGE_ROUTING_ERROR
    if status == 487:
        return Cause.ORIGINATOR_CANCEL
    return Cause.NORMAL_UNSPECIFIED


def _branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


class SipCall:
    """One SIP leg: dialog state, the INVITE transaction, media."""

    __slots__ = (
        "profile", "session", "direction", "call_id", "local_tag", "remote_tag", "local_party",
        "remote_party", "remote_target", "addr", "local_cseq", "invite", "invite_tx", "rtp",
        "codec", "pt", "te_pt", "frame", "silence", "answered", "acked", "final_sent",
        "ok_data", "ok_timer", "ok_interval", "remote_bye", "bye_sent", "canceled", "provisional",
        "local_sdp", "sdp_id", "sdp_version", "invite_cseq", "ack_data", "early_sdp_sent",
        "late_offer", "tcp",
    )

    def __init__(self, profile, direction: str) -> None:
        self.profile = profile
        self.session = None
        self.direction = direction
        self.call_id = ""
        self.local_tag = secrets.token_hex(6)
        self.remote_tag = ""
        self.local_party = ""
        self.remote_party = ""
        self.remote_target = ""
        self.addr: tuple[str, int] = ("", 0)
        self.local_cseq = secrets.randbelow(10000) + 1
        self.invite: Message | None = None
        self.invite_tx = None
        self.rtp = None
        self.codec = "PCMU"
        self.pt = 0
        self.te_pt = 0
        self.frame = Frame(samples=160, rate=8000)
        self.silence = b"\xff" * 160
        self.answered = False
        self.acked = False
        self.final_sent = False
        self.ok_data: bytes | None = None
        self.ok_timer = None
        self.ok_interval = T1
        self.remote_bye = False
        self.bye_sent = False
        self.canceled = False
        self.provisional = False
        self.local_sdp = b""
        self.sdp_id = secrets.randbelow(2 ** 31)
        self.sdp_version = 0
        self.invite_cseq = 0
        self.ack_data: bytes | None = None
        self.early_sdp_sent = False
        #: an INVITE without SDP: our 200 carries the offer, the ACK the answer (RFC 3264 §5)
        self.late_offer = False
        #: the leg goes over TCP: a lost connection is opened again for the BYE (§18.1.1)
        self.tcp = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)

    # -- building in-dialog requests --------------------------------------------------------------
    def request(self, method: str, cseq: int | None = None) -> Message:
        p = self.profile
        req = Message(method, self.remote_target)
        req.add("Via", f"SIP/2.0/{p.transport(self.addr)} {p.cfg.sip_ip}:{p.port};rport;"
                       f"branch={_branch()}")
        req.add("Max-Forwards", "70")
        req.add("From", self.local_party)
        req.add("To", self.remote_party)
        req.add("Call-ID", self.call_id)
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        req.add("CSeq", f"{cseq} {method}")
        req.add("User-Agent", p.cfg.user_agent)
        return req

    def contact(self) -> str:
        p = self.profile
        user = "mod_sofia"
        if self.direction == "inbound" and self.invite is not None:
            ruri = _uri_or_none(self.invite.uri)
            user = ruri.user if ruri is not None and ruri.user else user
        return f"<sip:{user}@{p.cfg.sip_ip}:{p.port};transport={p.transport(self.addr).lower()}>"

    def sdp(self) -> bytes:
        self.sdp_version += 1 if not self.local_sdp else 0
        p = self.profile
        # an answer names the negotiated codec; a late offer offers every preferred one
        codecs = [(STATIC_PT[c], c) for c in p.cfg.codec_prefs] if self.late_offer else \
            [(self.pt, self.codec)]
        self.local_sdp = build_sdp(p.cfg.rtp_ip, self.rtp.local_port, codecs,
                                   self.te_pt, session_id=self.sdp_id, version=self.sdp_version)
        return self.local_sdp


def _uri_or_none(text: str):
    try:
        return parse_uri(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# media setup shared by both directions
# ---------------------------------------------------------------------------------------------
def _open_media(call: SipCall, session) -> str | None:
    """Codecs, timer, RTP for the call's codec. Returns an error text or None."""
    core = session.core
    p = call.profile
    try:
        spec = f"{call.codec}@8000h@20i"
        session.set_read_codec(core.codec_open(spec))
        session.set_write_codec(core.codec_open(spec))
        session.timer = core.timer_open(p.cfg.rtp_timer_name, 20, 160)
        call.rtp = softswitch.rtp_open(core, p.cfg.rtp_ip, call.pt, 160,
                                       te_payload_type=call.te_pt, name=session.channel.name)
    except (softswitch.CodecError, softswitch.TimerError, softswitch.RtpError) as e:
        return str(e)
    call.frame.codec = session.read_codec
    call.silence = (b"\xff" if call.codec == "PCMU" else b"\xd5") * 160
    session.set_variable("local_media_ip", p.cfg.rtp_ip)
    session.set_variable("local_media_port", str(call.rtp.local_port))
    return None


def _set_codec(call: SipCall, session, pt: int, name: str) -> None:
    if name != call.codec:
        core = session.core
        spec = f"{name}@8000h@20i"
        session.set_read_codec(core.codec_open(spec))
        session.set_write_codec(core.codec_open(spec))
        call.frame.codec = session.read_codec
        call.silence = (b"\xff" if name == "PCMU" else b"\xd5") * 160
    call.codec, call.pt = name, pt
    call.rtp.payload_type = pt
    session.set_variable("sip_use_codec_name", name)
    session.set_variable("sip_use_codec_rate", "8000")
    session.set_variable("sip_use_codec_ptime", "20")
    session.set_variable("rtp_use_codec_name", name)


def _uri_vars(session, prefix: str, text: str | None) -> None:
    if not text:
        return
    na = parse_name_addr(text)
    if na.uri is None:
        return
    u = na.uri
    if u.user:
        session.set_variable(f"{prefix}_user", u.user)
    session.set_variable(f"{prefix}_uri", f"{u.user}@{u.hostport}" if u.user else u.hostport)
    session.set_variable(f"{prefix}_host", u.host)
    if u.port:
        session.set_variable(f"{prefix}_port", str(u.port))
    if na.display:
        session.set_variable(f"{prefix}_display", na.display)


# ---------------------------------------------------------------------------------------------
# inbound
# ---------------------------------------------------------------------------------------------
def _reject(profile, req: Message, stx, status: int, reason: str | None = None, extra=()) -> None:
    res = profile.response(req, status, reason or _REASONS.get(status, "Error"),
                           to_tag=secrets.token_hex(6))
    for k, v in extra:
        res.add(k, v)
    stx.respond(res)


def on_invite(profile, req: Message, addr: tuple[str, int], stx) -> None:
    core = profile.core
    cfg = profile.cfg
    stx.respond(profile.response(req, 100, "Trying"))
    if not profile.running or profile.state.endpoint is None:
        _reject(profile, req, stx, 503)
        return
    if cfg.auth_calls:
        result, _user = profile.check_auth(req, proxy=True)
        if result == "challenge":
            profile.challenge(req, stx, proxy=True)
            return
        if result == "forbidden":
            _reject(profile, req, stx, 403)
            return
    from_na = parse_name_addr(req.get("From") or "")
    ruri = _uri_or_none(req.uri or "")
    if ruri is None or from_na.uri is None:
        log.warning("profile %s: INVITE from %s:%d with a bad Request-URI or From", profile.name, *addr)
        _reject(profile, req, stx, 400)
        return
    offer = None
    if req.body:
        try:
            offer = parse_sdp(req.body)
        except SdpError as e:
            log.warning("profile %s: INVITE %s from %s:%d: %s: 488", profile.name, req.call_id, *addr, e)
            _reject(profile, req, stx, 488)
            return
        choice = negotiate(offer, cfg.codec_prefs)
    else:
        # late offer: we offer in the 200 and take the answer from the ACK
        choice = (STATIC_PT[cfg.codec_prefs[0]], cfg.codec_prefs[0])
    if choice is None:
        log.info("profile %s: INVITE %s from %s:%d offers none of %s: 488", profile.name,
                 req.call_id, *addr, ",".join(cfg.codec_prefs))
        _reject(profile, req, stx, 488)
        return
    try:
        session = core.sessions.request(profile.state.endpoint, "inbound")
    except softswitch.SessionRefused:
        _reject(profile, req, stx, 503, "Maximum Calls In Progress", [("Retry-After", "300")])
        profile.ib_failed_calls += 1
        return
    profile.ib_calls += 1
    call = SipCall(profile, "inbound")
    call.session = session
    call.call_id = req.call_id
    call.invite = req
    call.invite_tx = stx
    stx.owner = call
    call.addr = addr
    call.remote_party = req.get("From") or ""
    call.remote_tag = from_na.params.get("tag", "")
    call.local_party = f"{req.get('To')};tag={call.local_tag}"
    contact = req.get_all("Contact")
    cna = parse_name_addr(contact[0]) if contact else None
    call.remote_target = cna.raw_uri if cna is not None and cna.uri is not None else from_na.raw_uri
    call.invite_cseq = req.cseq[0]
    call.pt, call.codec = choice
    call.late_offer = offer is None
    if cfg.dtmf_type == "rfc2833" and (offer.te_pt if offer is not None else cfg.te_pt):
        call.te_pt = offer.te_pt if offer is not None else cfg.te_pt
    session.private = call
    ch = session.channel
    from_user = from_na.uri.user or ""
    # url_set_chanvars: "user@host[:port]" of the From URI
    ch.set_name(f"sofia/{profile.name}/{from_user}@{from_na.uri.hostport}")
    err = _open_media(call, session)
    if err is not None:
        log.error("%s: cannot set up media: %s", ch.name, err)
        _drop(session)
        _reject(profile, req, stx, 503)
        profile.ib_failed_calls += 1
        return
    _set_codec(call, session, call.pt, call.codec)
    if offer is not None:
        call.rtp.set_remote(offer.ip, offer.port)
    profile.calls[call.key] = call
    # the variables FreeSWITCH's sofia_handle_sip_i_invite sets (the subset)
    sv = session.set_variable
    sv("sip_profile_name", profile.name)
    sv("sofia_profile_name", profile.name)
    sv("sip_call_id", req.call_id)
    sv("sip_from_tag", call.remote_tag)
    sv("sip_to_tag", call.local_tag)
    _uri_vars(session, "sip_from", req.get("From"))
    _uri_vars(session, "sip_to", req.get("To"))
    _uri_vars(session, "sip_req", f"<{req.uri}>")
    if contact:
        _uri_vars(session, "sip_contact", contact[0])
    _, vhost, vport, _ = parse_via(req.get_all("Via")[0])
    sv("sip_via_host", vhost)
    sv("sip_via_port", str(vport or 5060))
    sv("sip_via_protocol", profile.transport(addr).lower())
    sv("sip_received_ip", addr[0])
    sv("sip_received_port", str(addr[1]))
    sv("sip_network_ip", addr[0])
    sv("sip_network_port", str(addr[1]))
    sv("sip_local_network_addr", cfg.sip_ip)
    sv("sip_user_agent", req.get("User-Agent"))
    sv("sip_cseq", str(req.cseq[0]))
    if offer is not None:
        sv("remote_media_ip", offer.ip)
        sv("remote_media_port", str(offer.port))
        sv("switch_r_sdp", req.body.decode("utf-8", "replace"))
    sv("rtp_use_codec_rate", "8000")
    sv("dtmf_type", cfg.dtmf_type)
    dest = ruri.user or ""
    profile_ = softswitch.CallerProfile(
        username=from_user, dialplan=cfg.dialplan, caller_id_name=from_na.display or from_user,
        caller_id_number=from_user, network_addr=addr[0], ani=from_user,
        destination_number=dest, source="mod_sofia", context=cfg.context, chan_name=ch.name,
        uuid=session.uuid)
    ch.set_caller_profile(profile_)
    ch.set_state(ChannelState.CS_INIT)
    session.launch()


def _drop(session) -> None:
    call = session.private
    if session.timer is not None:
        session.timer.destroy()
    if isinstance(call, SipCall) and call.rtp is not None:
        call.rtp.close()
    session.destroy()


def _send_ok(call: SipCall) -> None:
    """The 2xx to the INVITE, retransmitted by the dialog until the ACK (§13.3.1.4)."""
    p = call.profile
    res = p.response(call.invite, 200, "OK", to_tag=call.local_tag)
    res.add("Contact", call.contact())
    res.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")
    res.add("Content-Type", "application/sdp")
    res.body = call.local_sdp or call.sdp()
    call.final_sent = True
    call.answered = True
    call.invite_tx.respond(res)
    call.ok_data = serialize(res)
    call.ok_interval = T1
    if not p.reliable(call.addr):
        call.ok_timer = p.timers.after(T1, lambda: _retransmit_ok(call))
    call.session.set_variable("sip_local_sdp_str", call.local_sdp.decode())


def _retransmit_ok(call: SipCall) -> None:
    if call.acked or call.ok_data is None or not call.profile.running:
        return
    p = call.profile
    if call.ok_interval >= 64 * T1 / 2 or call.remote_bye:
        # Timer H's worth without an ACK: the dialog is dead (§13.3.1.4)
        log.warning("%s: no ACK for the 200 OK: hanging up", call.session.channel.name if call.session else call.call_id)
        call.ok_data = None
        if call.session is not None:
            call.session.hangup(Cause.RECOVERY_ON_TIMER_EXPIRE)
        return
    p._send(call.ok_data, call.addr)
    p.tx.retransmissions += 1
    call.ok_interval = min(call.ok_interval * 2, T2)
    call.ok_timer = p.timers.after(call.ok_interval, lambda: _retransmit_ok(call))


def _find(profile, req: Message) -> SipCall | None:
    return profile.calls.get((req.call_id, req.to_tag()))


def on_ack(profile, req: Message, addr) -> None:
    call = _find(profile, req)
    if call is None:
        return  # an ACK for nothing we know: nothing to answer (§17.2.3)
    if req.cseq[0] == call.invite_cseq and not call.acked:
        call.acked = True
        if call.ok_timer is not None:
            call.ok_timer.cancel()
        if call.late_offer:
            _late_answer(call, req)


def _late_answer(call: SipCall, ack: Message) -> None:
    """The answer to our offer in the 200, in the ACK (RFC 3264 §5, late offer)."""
    s = call.session
    if s is None:
        return
    try:
        ans = parse_sdp(ack.body) if ack.body else None
    except SdpError as e:
        log.warning("%s: bad SDP answer in the ACK: %s", s.channel.name, e)
        ans = None
    choice = negotiate(ans, call.profile.cfg.codec_prefs) if ans is not None else None
    if choice is None:
        log.warning("%s: the ACK has no usable SDP answer to our offer: hanging up", s.channel.name)
        s.hangup(Cause.INCOMPATIBLE_DESTINATION)
        return
    call.late_offer = False
    _set_codec(call, s, *choice)
    if not ans.te_pt:
        call.te_pt = 0
        call.rtp.te_payload_type = 0
    else:
        call.te_pt = call.rtp.te_payload_type = ans.te_pt
    call.rtp.set_remote(ans.ip, ans.port)
    s.set_variable("remote_media_ip", ans.ip)
    s.set_variable("remote_media_port", str(ans.port))
    s.set_variable("switch_r_sdp", ack.body.decode("utf-8", "replace"))


def on_bye(profile, req: Message, addr, stx) -> None:
    call = _find(profile, req)
    if call is None:
        _reject(profile, req, stx, 481)
        return
    stx.respond(profile.response(req, 200, "OK"))
    call.remote_bye = True
    call.acked = True
    if call.ok_timer is not None:
        call.ok_timer.cancel()
    s = call.session
    if s is not None:
        s.set_variable("sip_hangup_disposition", "recv_bye")
        s.hangup(Cause.NORMAL_CLEARING)


def on_reinvite(profile, req: Message, addr, stx) -> None:
    call = _find(profile, req)
    if call is None:
        _reject(profile, req, stx, 481)
        return
    stx.respond(profile.response(req, 100, "Trying"))
    if req.body:
        try:
            offer = parse_sdp(req.body)
            call.rtp.set_remote(offer.ip, offer.port)
        except SdpError as e:
            log.warning("%s: re-INVITE with bad SDP: %s", call.session.channel.name, e)
            _reject(profile, req, stx, 488)
            return
    res = profile.response(req, 200, "OK")
    res.add("Contact", call.contact())
    res.add("Content-Type", "application/sdp")
    res.body = call.local_sdp or call.sdp()
    stx.respond(res)


def on_cancel(profile, req: Message, addr, stx) -> None:
    itx = profile.tx.find_invite_for_cancel(req)
    if itx is None:
        _reject(profile, req, stx, 481)
        return
    stx.respond(profile.response(req, 200, "OK"))
    call = itx.owner
    if itx.last_status >= 200 or call is None or call.final_sent:
        return  # too late: the call goes on (§9.2)
    call.canceled = True
    call.final_sent = True
    res = profile.response(call.invite, 487, "Request Terminated", to_tag=call.local_tag)
    itx.respond(res)
    s = call.session
    if s is not None:
        s.set_variable("sip_hangup_disposition", "recv_cancel")
        s.hangup(Cause.ORIGINATOR_CANCEL)


def on_stray_response(profile, res: Message, addr) -> None:
    """A response no transaction wants: a retransmitted 2xx to our INVITE gets its ACK again."""
    try:
        num, method = res.cseq
    except ValueError:
        return
    if method != "INVITE" or not 200 <= res.status < 300:
        return
    call = profile.calls.get((res.call_id, res.from_tag()))
    if call is not None and call.ack_data is not None:
        profile._send(call.ack_data, call.addr)


# ---------------------------------------------------------------------------------------------
# outbound
# ---------------------------------------------------------------------------------------------
def outgoing_channel(state, core, originator, var_event, caller_profile, flags):
    dest = caller_profile.destination_number or ""
    pname, _, target = dest.partition("/")
    profile = state.profiles.get(pname)
    if profile is None or not profile.running:
        log.error("sofia/%s: no running profile %r (sofia status lists them)", dest, pname)
        return Cause.INVALID_PROFILE, None
    if not target:
        log.error("sofia/%s: no destination after the profile name", dest)
        return Cause.INVALID_URL, None
    target = target.removeprefix("sip:")
    reg = None
    if "@" in target:
        uri_text = f"sip:{target}"
    else:
        reg = profile.registration(target)
        if reg is None:
            log.info("sofia/%s: user %s is not registered", dest, target)
            return Cause.USER_NOT_REGISTERED, None
        uri_text = parse_name_addr(reg[0]).raw_uri
    uri = _uri_or_none(uri_text)
    if uri is None:
        log.error("sofia/%s: bad SIP URI %r", dest, uri_text)
        return Cause.INVALID_URL, None
    try:
        host_ip = socket.gethostbyname(uri.host.strip("[]"))   # gevent's resolver: cooperative
    except OSError:
        log.error("sofia/%s: cannot resolve %s", dest, uri.host)
        return Cause.NO_ROUTE_DESTINATION, None
    addr = (host_ip, uri.port or 5060)
    reg_tcp = reg is not None and reg[1].endswith("(TCP)")
    tcp = reg_tcp or uri.params.get("transport", "").lower() == "tcp"
    if reg_tcp and reg[3].isdigit() and (reg[2], int(reg[3])) in profile.tcp_conns:
        # the connection the user registered over (a NATed TCP client cannot be reached otherwise)
        addr = (reg[2], int(reg[3]))
    elif tcp and not profile.tcp_connect(addr):
        # what sofia-sip reports when it cannot connect: a local 503
        return sip_to_cause(503), None
    try:
        session = core.sessions.request(state.endpoint, "outbound", originator=originator)
    except softswitch.SessionRefused as e:
        return e.cause, None
    profile.ob_calls += 1
    cfg = profile.cfg
    call = SipCall(profile, "outbound")
    call.session = session
    call.call_id = str(uuid.uuid4())
    call.remote_target = str(uri)
    call.addr = addr
    call.tcp = tcp
    call.codec = cfg.codec_prefs[0]
    call.pt = STATIC_PT[call.codec]
    call.te_pt = cfg.te_pt if cfg.dtmf_type == "rfc2833" else 0
    session.private = call
    ch = session.channel
    ch.set_name(f"sofia/{profile.name}/{target}")
    err = _open_media(call, session)
    if err is not None:
        log.error("%s: cannot set up media: %s", ch.name, err)
        _drop(session)
        profile.ob_failed_calls += 1
        return Cause.DESTINATION_OUT_OF_ORDER, None
    cid_num = caller_profile.caller_id_number or "0000000000"
    cid_name = caller_profile.caller_id_name or cid_num
    call.local_party = f'"{cid_name}" <sip:{cid_num}@{cfg.sip_ip}:{profile.port}>;tag={call.local_tag}'
    call.remote_party = f"<{uri.scheme}:{uri.user + '@' if uri.user else ''}{uri.hostport}>"
    profile.calls[call.key] = call
    sv = session.set_variable
    sv("sip_profile_name", profile.name)
    sv("sofia_profile_name", profile.name)
    sv("sip_call_id", call.call_id)
    sv("sip_from_tag", call.local_tag)
    sv("sip_destination_url", str(uri))
    sv("sip_req_user", uri.user)
    sv("sip_req_host", uri.host)
    sv("sip_to_user", uri.user)
    sv("sip_to_host", uri.host)
    sv("sip_from_user", cid_num)
    sv("sip_from_host", cfg.sip_ip)
    caller_profile.source = "mod_sofia"
    caller_profile.chan_name = ch.name
    ch.set_caller_profile(caller_profile)
    ch.set_state(ChannelState.CS_INIT)
    return Cause.SUCCESS, session


def _send_invite(call: SipCall) -> None:
    p = call.profile
    cfg = p.cfg
    req = Message("INVITE", call.remote_target)
    req.add("Via", f"SIP/2.0/{p.transport(call.addr)} {cfg.sip_ip}:{p.port};rport;branch={_branch()}")
    req.add("Max-Forwards", "70")
    req.add("From", call.local_party)
    req.add("To", call.remote_party)
    req.add("Call-ID", call.call_id)
    call.invite_cseq = call.local_cseq
    req.add("CSeq", f"{call.local_cseq} INVITE")
    req.add("Contact", call.contact())
    req.add("User-Agent", cfg.user_agent)
    req.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")
    req.add("Content-Type", "application/sdp")
    codecs = [(STATIC_PT[c], c) for c in cfg.codec_prefs]
    call.sdp_version = 1
    req.body = build_sdp(cfg.rtp_ip, call.rtp.local_port, codecs, call.te_pt,
                         session_id=call.sdp_id, version=call.sdp_version)
    call.local_sdp = req.body
    call.invite = req
    call.invite_tx = p.tx.request(req, call.addr, lambda tx, res: _on_invite_response(call, res),
                                  lambda tx: _on_invite_timeout(call))


def _apply_answer(call: SipCall, res: Message) -> bool:
    if not res.body:
        return False
    try:
        ans = parse_sdp(res.body)
    except SdpError as e:
        log.warning("%s: bad SDP in the %d: %s", call.session.channel.name, res.status, e)
        return False
    choice = negotiate(ans, call.profile.cfg.codec_prefs)
    if choice is None:
        return False
    s = call.session
    _set_codec(call, s, *choice)
    if ans.te_pt and call.te_pt:
        call.te_pt = ans.te_pt
        call.rtp.te_payload_type = ans.te_pt
    elif not ans.te_pt:
        call.te_pt = 0
        call.rtp.te_payload_type = 0
    call.rtp.set_remote(ans.ip, ans.port)
    s.set_variable("remote_media_ip", ans.ip)
    s.set_variable("remote_media_port", str(ans.port))
    s.set_variable("switch_r_sdp", res.body.decode("utf-8", "replace"))
    return True


def _on_invite_response(call: SipCall, res: Message) -> None:
    s = call.session
    status = res.status
    if s is None:
        return
    to = res.get("To") or ""
    tag = parse_name_addr(to).params.get("tag", "")
    if tag and status > 100:
        call.remote_tag = tag
        call.remote_party = to
        s.set_variable("sip_to_tag", tag)
    if status < 200:
        if status == 100:
            return
        call.provisional = True
        if call.canceled:
            _send_cancel(call)
            return
        if status == 183 and _apply_answer(call, res):
            s.mark_pre_answered()
        elif status in (180, 183):
            s.mark_ring_ready()
        return
    s.set_variable("sip_term_status", str(status))
    if status < 300:
        contact = res.get_all("Contact")
        if contact:
            cna = parse_name_addr(contact[0])
            if cna.uri is not None:
                call.remote_target = cna.raw_uri
        ack = call.request("ACK", cseq=call.invite_cseq)
        call.ack_data = serialize(ack)
        call.profile._send(call.ack_data, call.addr)
        call.acked = True
        call.answered = True
        if call.canceled or not s.channel.ready():
            _send_bye(call)
            return
        if not _apply_answer(call, res) and not s.channel.test_flag(softswitch.ChannelFlag.CF_EARLY_MEDIA):
            log.warning("%s: the 200 OK has no usable SDP: hanging up", s.channel.name)
            _send_bye(call)
            s.hangup(Cause.INCOMPATIBLE_DESTINATION)
            return
        s.mark_answered()
        return
    call.final_sent = True
    call.profile.ob_failed_calls += 1
    s.set_variable("sip_hangup_disposition", "recv_refuse")
    s.hangup(sip_to_cause(status))


def _on_invite_timeout(call: SipCall) -> None:
    if call.session is not None:
        log.info("%s: no answer to the INVITE (Timer B)", call.session.channel.name)
        call.profile.ob_failed_calls += 1
        call.session.hangup(Cause.RECOVERY_ON_TIMER_EXPIRE)


def _send_bye(call: SipCall) -> None:
    if call.bye_sent or call.remote_bye:
        return
    call.bye_sent = True
    p = call.profile
    if p.running:
        if call.tcp:
            p.tcp_connect(call.addr)
        p.tx.request(call.request("BYE"), call.addr, lambda tx, res: None)


def _send_cancel(call: SipCall) -> None:
    """§9.1: same Request-URI, Call-ID, From, To (no tag), CSeq number and top Via."""
    inv = call.invite
    if inv is None or call.bye_sent:
        return
    call.bye_sent = True
    req = Message("CANCEL", inv.uri)
    req.add("Via", inv.get_all("Via")[0])
    req.add("Max-Forwards", "70")
    req.add("From", inv.get("From"))
    req.add("To", inv.get("To"))
    req.add("Call-ID", inv.call_id)
    req.add("CSeq", f"{inv.cseq[0]} CANCEL")
    req.add("User-Agent", call.profile.cfg.user_agent)
    call.profile.tx.request(req, call.addr, lambda tx, res: None)


# ---------------------------------------------------------------------------------------------
# the endpoint's session functions
# ---------------------------------------------------------------------------------------------
def on_init(session):
    call: SipCall = session.private
    if call.direction == "outbound":
        _send_invite(call)
    session.channel.set_state(ChannelState.CS_ROUTING)


def on_hangup(session):
    call: SipCall = session.private
    if call is None:
        return
    cause = session.channel.hangup_cause
    if call.ok_timer is not None:
        call.ok_timer.cancel()
    if call.rtp is not None:
        # FreeSWITCH's rtp_audio_* variables (switch_rtp stats), on CHANNEL_HANGUP_COMPLETE
        st = call.rtp.stats()
        sv = session.set_variable
        sv("rtp_audio_in_raw_bytes", str(st["in_bytes"]))
        sv("rtp_audio_in_packet_count", str(st["in_packets"]))
        sv("rtp_audio_out_raw_bytes", str(st["out_bytes"]))
        sv("rtp_audio_out_packet_count", str(st["out_packets"]))
    p = call.profile
    if call.direction == "inbound":
        if not call.final_sent and call.invite_tx is not None:
            call.final_sent = True
            status = cause_to_sip(cause)
            res = p.response(call.invite, status, _REASONS.get(status, "Error"), to_tag=call.local_tag)
            res.add("Reason", f'Q.850;cause={softswitch.cause_q850(cause)};text="{softswitch.cause2str(cause)}"')
            call.invite_tx.respond(res)
            session.set_variable("sip_hangup_disposition", "send_refuse")
        elif call.answered and not call.remote_bye:
            _send_bye(call)
            session.set_variable("sip_hangup_disposition", "send_bye")
    else:
        if call.answered:
            if not call.remote_bye:
                _send_bye(call)
                session.set_variable("sip_hangup_disposition", "send_bye")
        elif not call.final_sent:
            call.canceled = True
            if call.provisional:
                _send_cancel(call)
                session.set_variable("sip_hangup_disposition", "send_cancel")


def on_destroy(session):
    call = session.private
    if session.timer is not None:
        session.timer.destroy()
    if isinstance(call, SipCall):
        if call.rtp is not None:
            call.rtp.close()
        p = call.profile
        # keep the dialog a little so late BYE/ACK retransmissions find it, then forget it
        p.timers.after(32.0, lambda: p.calls.pop(call.key, None) if p.calls.get(call.key) is call else None)
        call.session = None


def read_frame(session, flags):
    call: SipCall = session.private
    if not session.channel.ready():
        return Status.FALSE, None
    session.timer.next()
    rtp = call.rtp
    payload = rtp.read()
    if rtp.dtmf_pending:
        # as switch_core_media_read_frame: RTP digits go to the channel's DTMF queue; the DTMF
        # event fires when an application dequeues them (switch_channel_dequeue_dtmf)
        for digit, dur in rtp.take_dtmf():
            log.debug("%s: RTP DTMF %s (%d ms)", session.channel.name, digit, dur)
            session.queue_dtmf(digit, dur * 8, "RTP")
    frame = call.frame
    if payload is None:
        frame.data = call.silence
        frame.flags = softswitch.FrameFlag.CNG
    else:
        frame.data = payload
        frame.flags = 0
    frame.samples = len(frame.data)
    return Status.SUCCESS, frame


def write_frame(session, frame, flags):
    call: SipCall = session.private
    if call.rtp is None:
        return Status.FALSE
    call.rtp.write(frame.data, frame.samples or 160)
    return Status.SUCCESS


def kill_channel(session, sig):
    if sig == softswitch.Signal.KILL:
        session.hangup(Cause.NORMAL_CLEARING)
    return Status.SUCCESS


def receive_message(session, msg):
    call: SipCall = session.private
    mid = msg.id
    if call.direction != "inbound" or call.final_sent:
        return Status.SUCCESS
    p = call.profile
    if mid == MessageId.INDICATE_ANSWER:
        _send_ok(call)
    elif mid == MessageId.INDICATE_PROGRESS:
        if call.late_offer:
            # No offer in an unreliable 183 (the caller could not answer it: no PRACK here).
            # FreeSWITCH (enable-3pcc=proxy) sends no 183 either: it logs this and fails the
            # pre_answer, which hangs the call up with 488; we keep the call (a foot-gun nobody
            # depends on) and let the 200 carry the offer (RFC 3261 §13.2.1).
            log.warning("%s: CODEC NEGOTIATION ERROR.  SDP:\nNO SDP!: no early media on a call "
                        "whose INVITE had no offer: the 200 will carry ours", session.channel.name)
        elif not call.early_sdp_sent:
            call.early_sdp_sent = True
            res = p.response(call.invite, 183, "Session Progress", to_tag=call.local_tag)
            res.add("Contact", call.contact())
            res.add("Content-Type", "application/sdp")
            res.body = call.sdp()
            call.invite_tx.respond(res)
    elif mid == MessageId.INDICATE_RINGING:
        res = p.response(call.invite, 180, "Ringing", to_tag=call.local_tag)
        res.add("Contact", call.contact())
        call.invite_tx.respond(res)
    return Status.SUCCESS


def send_dtmf(session, digit, duration_ms):
    call: SipCall = session.private
    if call.rtp is None or not call.rtp.send_dtmf(digit, duration_ms or 100):
        return Status.FALSE
    return Status.SUCCESS


def add_endpoint(module, state):
    def outgoing(core, originator, var_event, profile, flags):
        return outgoing_channel(state, core, originator, var_event, profile, flags)

    state.endpoint = module.add_endpoint(
        "sofia",
        outgoing_channel=outgoing,
        read_frame=read_frame,
        write_frame=write_frame,
        kill_channel=kill_channel,
        receive_message=receive_message,
        send_dtmf=send_dtmf,
        state_handlers=softswitch.StateHandlers(on_init=on_init, on_hangup=on_hangup,
                                                on_destroy=on_destroy),
    )
    return state.endpoint
