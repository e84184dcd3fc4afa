"""A sofia profile: one SIP user agent on one UDP address, with its registrar.

The receive greenlet parses each datagram (:func:`mod_sofia.message.parse`), lets the
transaction layer absorb retransmissions, and hands new requests to the dialog/call logic
(:mod:`mod_sofia.call`) or the registrar below. Bad input gets one log line and, when the
message can be answered, FreeSWITCH's/RFC 3261's error response; it never stops the loop.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import re
import secrets
import time
import uuid as _uuid

import gevent
from gevent import socket
from gevent.pool import Pool
from gevent.server import StreamServer

import softswitch
from softswitch import Event, EventType, params, switch_true

from . import call as sipcall
from .directory import find_user
from .message import (
    MAX_MESSAGE,
    Message,
    ParseError,
    parse,
    parse_name_addr,
    parse_via,
    response_to,
    serialize,
    split_commas,
)
from .transaction import TimerHeap, TransactionLayer

log = logging.getLogger(__name__)

__all__ = ["Profile", "ProfileConfig", "load_profiles", "REG_SCHEMA", "USER_AGENT"]

_CLEN = re.compile(rb"^(?:Content-Length|l)[ \t]*:[ \t]*(\d+)", re.I | re.M)
USER_AGENT = f"softswitch-mod_sofia/{softswitch.__version__}"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER"
# methods we know but do not serve on this subset: 405 with Allow (RFC 3261 §8.2.1);
# anything else is 501 Not Implemented
_KNOWN = frozenset(("INFO", "MESSAGE", "NOTIFY", "SUBSCRIBE", "PUBLISH", "REFER", "UPDATE", "PRACK"))

REG_SCHEMA = """CREATE TABLE IF NOT EXISTS sip_registrations (
   call_id          VARCHAR(255),
   sip_user         VARCHAR(255),
   sip_host         VARCHAR(255),
   presence_hosts   VARCHAR(255),
   contact          VARCHAR(1024),
   status           VARCHAR(255),
   ping_status      VARCHAR(255),
   ping_count       INTEGER,
   ping_time        BIGINT,
   force_ping       INTEGER,
   rpid             VARCHAR(255),
   expires          BIGINT,
   ping_expires     INTEGER not null default 0,
   user_agent       VARCHAR(255),
   server_user      VARCHAR(255),
   server_host      VARCHAR(255),
   profile_name     VARCHAR(255),
   hostname         VARCHAR(255),
   network_ip       VARCHAR(255),
   network_port     VARCHAR(6),
   sip_username     VARCHAR(255),
   sip_realm        VARCHAR(255),
   mwi_user         VARCHAR(255),
   mwi_host         VARCHAR(255),
   orig_server_host VARCHAR(255),
   orig_hostname    VARCHAR(255),
   sub_host         VARCHAR(255)
)"""


class ProfileConfig:
    """The ``<settings>`` of one ``<profile>`` in sofia.conf.xml (the subset we serve)."""

    def __init__(self, name: str, settings: dict[str, str], source: str = "sofia.conf") -> None:
        self.name = name
        get = settings.get
        self.sip_ip = get("sip-ip") or "127.0.0.1"
        try:
            self.sip_port = int(get("sip-port") or 5060)
            if not 0 <= self.sip_port <= 65535:
                raise ValueError
        except ValueError:
            raise softswitch.ConfigError(
                f"{source}: profile {name}: sip-port {get('sip-port')!r} is not a port number") from None
        self.rtp_ip = get("rtp-ip") or self.sip_ip
        self.context = get("context") or "public"
        self.dialplan = get("dialplan") or "XML"
        prefs = [c.strip().split("@")[0].upper() for c in (get("codec-prefs") or "PCMU,PCMA").split(",")
                 if c.strip()]
        unknown = [c for c in prefs if c not in ("PCMU", "PCMA")]
        if unknown:
            log.warning("%s: profile %s: codec-prefs %s not supported by mod_sofia yet (PCMU, PCMA); "
                        "ignored", source, name, ",".join(unknown))
        self.codec_prefs = [c for c in prefs if c in ("PCMU", "PCMA")] or ["PCMU", "PCMA"]
        self.auth_calls = switch_true(get("auth-calls"))
        self.accept_blind_reg = switch_true(get("accept-blind-reg"))
        self.dtmf_type = (get("dtmf-type") or "rfc2833").lower()
        self.te_pt = 101
        try:
            self.te_pt = int(get("rfc2833-pt") or 101)
        except ValueError:
            pass
        self.rtp_timer_name = get("rtp-timer-name") or "soft"
        self.challenge_realm = get("challenge-realm") or "auto_to"
        self.user_agent = get("user-agent-string") or USER_AGENT
        self.settings = settings


def load_profiles(cfg) -> dict[str, ProfileConfig]:
    """``<profiles><profile name=…><settings><param …/>`` → configs, in file order."""
    out: dict[str, ProfileConfig] = {}
    if cfg is None:
        return out
    for profiles in cfg.findall("profiles"):
        for p in profiles.findall("profile"):
            name = p.get("name") or ""
            if not name:
                log.error("sofia.conf: a <profile> without a name attribute; skipped")
                continue
            settings = {k.lower(): v for k, v in params(p)}
            out[name] = ProfileConfig(name, settings)
    return out


class Profile:
    """One running (or stopped) profile."""

    def __init__(self, state, cfg: ProfileConfig) -> None:
        self.state = state           # the module's state (core, endpoint, profiles)
        self.core = state.core
        self.cfg = cfg
        self.name = cfg.name
        self.sock = None
        self.port = 0
        self.running = False
        self.timers = TimerHeap()
        self.tx = TransactionLayer(self._send, self.timers)
        self.calls: dict[tuple[str, str], sipcall.SipCall] = {}
        self.nonces: dict[str, float] = {}
        self._greenlet: gevent.Greenlet | None = None
        self.tcp_server = None
        #: TCP connections by the peer's address: what is sent to that address goes there
        self.tcp_conns: dict[tuple[str, int], object] = {}
        self.ib_calls = self.ib_failed_calls = self.ob_calls = self.ob_failed_calls = 0
        self.bad_messages = 0

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"sip:mod_sofia@{self.cfg.sip_ip}:{self.port}"

    @property
    def bindurl(self) -> str:
        return f"{self.url};maddr={self.cfg.sip_ip}"

    def start(self) -> None:
        """Bind the UDP socket (port 0: any free port) and start serving.

        :raises OSError: the address cannot be bound (the message names it).
        """
        family = socket.AF_INET6 if ":" in self.cfg.sip_ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        except OSError:
            pass
        try:
            sock.bind((self.cfg.sip_ip, self.cfg.sip_port))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"profile {self.name}: cannot bind UDP {self.cfg.sip_ip}:"
                                   f"{self.cfg.sip_port}: {e.strerror}") from e
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.running = True
        self.timers = TimerHeap()
        self.tx = TransactionLayer(self._send, self.timers, self.reliable)
        # TCP on the same port (RFC 3261 §18: a UA listens on both)
        try:
            self.tcp_server = StreamServer((self.cfg.sip_ip, self.port), self._tcp_connection,
                                           spawn=Pool(10000))
            self.tcp_server.start()
        except OSError as e:
            self.tcp_server = None
            log.error("profile %s: no TCP on %s:%d (%s): UDP only", self.name, self.cfg.sip_ip,
                      self.port, e)
        self.timers.start()
        self._greenlet = gevent.spawn(self._recv_loop)
        self._sweeper = gevent.spawn(self._sweep_loop)
        self.core.db.execute("DELETE FROM sip_registrations WHERE profile_name = ? AND hostname = ?",
                             (self.name, self.core.hostname))
        log.info("profile %s listening on UDP %s:%d", self.name, self.cfg.sip_ip, self.port)

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        for call in list(self.calls.values()):
            if call.session is not None:
                call.session.hangup(softswitch.Cause.NORMAL_CLEARING)
        for g in (self._greenlet, getattr(self, "_sweeper", None)):
            if g is not None:
                g.kill(block=True, timeout=2)
        self.timers.stop()
        self.tx.clear()
        if self.tcp_server is not None:
            self.tcp_server.stop(timeout=1)
            self.tcp_server = None
        for conn in list(self.tcp_conns.values()):
            conn.close()
        self.tcp_conns.clear()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        log.info("profile %s stopped", self.name)

    # -- transport -------------------------------------------------------------------------------
    def reliable(self, addr: tuple[str, int]) -> bool:
        """Is ``addr`` a TCP peer (no retransmissions: RFC 3261 §17.1.1.2, §17.2.1)?"""
        return addr in self.tcp_conns

    def transport(self, addr: tuple[str, int]) -> str:
        return "TCP" if addr in self.tcp_conns else "UDP"

    def _tcp_connection(self, conn, addr) -> None:
        """One TCP peer that connected to us."""
        addr = (addr[0], addr[1])
        self.tcp_conns[addr] = conn
        self._tcp_reader(conn, addr)

    def tcp_connect(self, addr: tuple[str, int], timeout: float = 5.0) -> bool:
        """Have a TCP connection to ``addr``: the one it already has with us (a peer registered
        over TCP, or a call in progress; reused, as sofia-sip reaches NATed TCP clients), or a
        new one we open (RFC 3261 §18.1.1), read by its own greenlet as an accepted one is.

        :returns: False (logged) when ``addr`` cannot be reached over TCP.
        """
        if addr in self.tcp_conns:
            return True
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        conn = socket.socket(family, socket.SOCK_STREAM)
        conn.settimeout(timeout)
        try:
            conn.connect(addr)
        except OSError as e:
            conn.close()
            log.warning("profile %s: cannot connect over TCP to %s:%d: %s", self.name, addr[0],
                        addr[1], e)
            return False
        conn.settimeout(None)
        if addr in self.tcp_conns:   # the peer connected to us meanwhile: use that one
            conn.close()
            return True
        self.tcp_conns[addr] = conn

        def reader() -> None:
            try:
                self._tcp_reader(conn, addr)
            finally:
                conn.close()
        gevent.spawn(reader)
        return True

    def _tcp_reader(self, conn, addr: tuple[str, int]) -> None:
        """Messages framed by Content-Length (§18.3), handled as datagrams are."""
        buf = b""
        try:
            while self.running:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while True:
                    buf = buf.lstrip(b"\r\n")   # keep-alives
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buf) > MAX_MESSAGE:
                            log.warning("profile %s: TCP peer %s:%d sent %d bytes without an end of "
                                        "headers: closing", self.name, addr[0], addr[1], len(buf))
                            return
                        break
                    m = _CLEN.search(buf, 0, end + 2)
                    if m is None:
                        log.warning("profile %s: TCP message from %s:%d without Content-Length: "
                                    "closing (RFC 3261 §18.3)", self.name, addr[0], addr[1])
                        return
                    total = end + 4 + int(m.group(1))
                    if total > MAX_MESSAGE:
                        log.warning("profile %s: TCP message of %d bytes from %s:%d: closing",
                                    self.name, total, addr[0], addr[1])
                        return
                    if len(buf) < total:
                        break
                    data, buf = buf[:total], buf[total:]
                    try:
                        self.handle(data, addr)
                    except Exception:
                        log.exception("profile %s: error handling a message from %s:%d", self.name,
                                      *addr)
        except OSError as e:
            log.debug("profile %s: TCP peer %s:%d: %s", self.name, addr[0], addr[1], e)
        finally:
            if self.tcp_conns.get(addr) is conn:
                del self.tcp_conns[addr]

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        conn = self.tcp_conns.get(addr)
        if conn is not None:
            try:
                conn.sendall(data)
            except OSError as e:
                log.debug("profile %s: TCP send to %s:%d failed: %s", self.name, addr[0], addr[1], e)
            return
        sock = self.sock
        if sock is None:
            return
        try:
            sock.sendto(data, addr)
        except OSError as e:
            log.debug("profile %s: send to %s:%d failed: %s", self.name, addr[0], addr[1], e)

    def send_message(self, msg: Message, addr: tuple[str, int]) -> None:
        self._send(serialize(msg), addr)

    def _recv_loop(self) -> None:
        sock = self.sock
        while self.running:
            try:
                data, addr = sock.recvfrom(65536)
            except OSError as e:
                if not self.running:
                    return
                if e.errno in (errno.ECONNREFUSED, errno.EAGAIN):
                    continue
                log.error("profile %s: receive failed: %s", self.name, e)
                gevent.sleep(0.1)
                continue
            addr = (addr[0], addr[1])
            try:
                self.handle(data, addr)
            except Exception:
                log.exception("profile %s: error handling a message from %s:%d", self.name, *addr)

    def handle(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive CRLFs
        try:
            msg = parse(data)
        except ParseError as e:
            self.bad_messages += 1
            log.warning("profile %s: bad SIP message from %s:%d: %s", self.name, addr[0], addr[1], e)
            req = e.partial
            if req is not None and req.is_request and req.method != "ACK" and e.status:
                self.send_message(response_to(req, e.status, e.reason), addr)
            return
        if msg.is_request:
            self._request(msg, addr)
        else:
            self._response(msg, addr)

    # -- requests ----------------------------------------------------------------------------------
    def _request(self, msg: Message, addr: tuple[str, int]) -> None:
        # RFC 3581 / 3261 §18.2.1: note where it came from, answer there
        via = msg.get_all("Via")[0]
        _, host, port, vparams = parse_via(via)
        if "rport" in vparams or host != addr[0]:
            extra = f";received={addr[0]}"
            if "rport" in vparams and not vparams["rport"]:
                via = via.replace(";rport", f";rport={addr[1]}", 1)
            for h in msg.headers:
                if h[0] == "Via":
                    vias = split_commas(h[1])
                    vias[0] = via + extra if "received=" not in via else via
                    h[1] = ", ".join(vias)
                    break
        method = msg.method
        tx = self.tx.match_request(msg)
        if tx is not None:
            if method == "ACK":
                tx.ack()
            else:
                tx.retransmitted()
            return
        if method == "ACK":
            sipcall.on_ack(self, msg, addr)
            return
        if method == "CANCEL":
            stx = self.tx.server(msg, addr)
            sipcall.on_cancel(self, msg, addr, stx)
            return
        stx = self.tx.server(msg, addr)
        if method == "INVITE":
            if msg.to_tag():
                sipcall.on_reinvite(self, msg, addr, stx)
            else:
                sipcall.on_invite(self, msg, addr, stx)
        elif method == "BYE":
            sipcall.on_bye(self, msg, addr, stx)
        elif method == "REGISTER":
            self.on_register(msg, addr, stx)
        elif method == "OPTIONS":
            res = self.response(msg, 200, "OK", to_tag=None if msg.to_tag() else secrets.token_hex(6))
            res.add("Allow", ALLOW)
            res.add("Accept", "application/sdp")
            stx.respond(res)
        elif method in _KNOWN:
            res = self.response(msg, 405, "Method Not Allowed")
            res.add("Allow", ALLOW)
            stx.respond(res)
        else:
            log.info("profile %s: %s from %s:%d is not implemented: 501", self.name, method, *addr)
            res = self.response(msg, 501, "Not Implemented")
            res.add("Allow", ALLOW)
            stx.respond(res)

    def response(self, req: Message, status: int, reason: str, to_tag: str | None = None) -> Message:
        res = response_to(req, status, reason, to_tag)
        res.add("User-Agent", self.cfg.user_agent)
        return res

    def _response(self, msg: Message, addr: tuple[str, int]) -> None:
        tx = self.tx.match_response(msg)
        if tx is not None:
            tx.receive(msg)
            return
        sipcall.on_stray_response(self, msg, addr)

    # -- digest authentication (RFC 2617 / 3261 §22) ----------------------------------------------
    def new_nonce(self) -> str:
        nonce = str(_uuid.uuid4())
        now = time.monotonic()
        self.nonces[nonce] = now + 300
        if len(self.nonces) > 10000:
            self.nonces = {n: t for n, t in self.nonces.items() if t > now}
        return nonce

    def realm_for(self, msg: Message) -> str:
        if self.cfg.challenge_realm == "auto_to":
            na = parse_name_addr(msg.get("To") or "")
        elif self.cfg.challenge_realm == "auto_from":
            na = parse_name_addr(msg.get("From") or "")
        else:
            return self.cfg.challenge_realm
        return na.uri.host if na.uri is not None else self.cfg.sip_ip

    def challenge(self, req: Message, stx, proxy: bool) -> None:
        realm = self.realm_for(req)
        res = self.response(req, 407 if proxy else 401,
                            "Proxy Authentication Required" if proxy else "Unauthorized",
                            to_tag=secrets.token_hex(6))
        res.add("Proxy-Authenticate" if proxy else "WWW-Authenticate",
                f'Digest realm="{realm}", nonce="{self.new_nonce()}", algorithm=MD5, qop="auth"')
        stx.respond(res)

    def check_auth(self, req: Message, proxy: bool):
        """``(result, user)``: result "ok", "challenge" (no or stale credentials) or "forbidden"."""
        header = req.get("Proxy-Authorization" if proxy else "Authorization")
        if not header:
            return "challenge", None
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "digest":
            return "forbidden", None
        fields: dict[str, str] = {}
        for part in split_commas(rest):
            k, _, v = part.partition("=")
            fields[k.strip().lower()] = v.strip().strip('"')
        nonce = fields.get("nonce", "")
        if self.nonces.get(nonce, 0) < time.monotonic():
            return "challenge", None
        username = fields.get("username", "")
        realm = fields.get("realm", "")
        user = find_user(self.core.section("directory"), username, realm)
        if user is None:
            log.warning("profile %s: %s from user %s@%s: no such user in the directory", self.name,
                        req.method, username, realm)
            return "forbidden", None
        a1 = user.params.get("a1-hash")
        if not a1:
            pw = user.params.get("password", "")
            a1 = hashlib.md5(f"{username}:{realm}:{pw}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{req.method}:{fields.get('uri', '')}".encode()).hexdigest()
        qop = fields.get("qop", "")
        if qop:
            expect = hashlib.md5(f"{a1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:"
                                 f"{qop}:{ha2}".encode()).hexdigest()
        else:
            expect = hashlib.md5(f"{a1}:{nonce}:{ha2}".encode()).hexdigest()
        if not secrets.compare_digest(expect, fields.get("response", "").lower()):
            log.warning("profile %s: %s from %s@%s: wrong password", self.name, req.method, username, realm)
            return "forbidden", None
        return "ok", user

    # -- registrar ---------------------------------------------------------------------------------
    def on_register(self, req: Message, addr: tuple[str, int], stx) -> None:
        to = parse_name_addr(req.get("To") or "")
        if to.uri is None or not to.uri.user:
            stx.respond(self.response(req, 400, "Bad To Header"))
            return
        to_user, reg_host = to.uri.user, to.uri.host
        username, realm = to_user, self.realm_for(req)
        if not self.cfg.accept_blind_reg:
            result, user = self.check_auth(req, proxy=False)
            if result == "challenge":
                self.challenge(req, stx, proxy=False)
                return
            if result == "forbidden":
                stx.respond(self.response(req, 403, "Forbidden", to_tag=secrets.token_hex(6)))
                return
            username = user.id
        try:
            default_exp = int(req.get("Expires") or 3600)
        except ValueError:
            default_exp = 3600
        contacts = req.get_all("Contact")
        call_id = req.call_id
        db = self.core.db
        agent = req.get("User-Agent") or "unknown"
        now = int(time.time())
        ok_contacts: list[str] = []
        if contacts == ["*"]:
            if default_exp != 0:
                stx.respond(self.response(req, 400, "Bad Request"))
                return
            self._unregister_rows(to_user, reg_host, None, agent)
        for c in contacts if contacts != ["*"] else []:
            na = parse_name_addr(c)
            try:
                exp = int(na.params.get("expires", default_exp))
            except ValueError:
                exp = default_exp
            contact_str = f'"{na.display}" <{na.raw_uri}>' if na.display else f"<{na.raw_uri}>"
            if exp <= 0:
                self._unregister_rows(to_user, reg_host, contact_str, agent, call_id)
                continue
            cols, rows = db.query("SELECT 1 FROM sip_registrations WHERE profile_name = ? AND sip_user = ? "
                                  "AND sip_host = ? AND contact = ?", (self.name, to_user, reg_host, contact_str))
            status = f"Registered({self.transport(addr)})"
            if rows:
                db.execute("UPDATE sip_registrations SET call_id = ?, expires = ?, network_ip = ?, "
                           "network_port = ?, user_agent = ? WHERE profile_name = ? AND sip_user = ? "
                           "AND sip_host = ? AND contact = ?",
                           (call_id, now + exp, addr[0], str(addr[1]), agent, self.name, to_user,
                            reg_host, contact_str))
            else:
                db.execute("INSERT INTO sip_registrations (call_id, sip_user, sip_host, presence_hosts, "
                           "contact, status, ping_status, ping_count, ping_time, force_ping, rpid, expires, "
                           "ping_expires, user_agent, server_user, server_host, profile_name, hostname, "
                           "network_ip, network_port, sip_username, sip_realm, mwi_user, mwi_host, "
                           "orig_server_host, orig_hostname, sub_host) VALUES "
                           "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           (call_id, to_user, reg_host, "", contact_str, status, "Reachable", 0, 0, 0,
                            "unknown", now + exp, 0, agent, to_user, self.cfg.sip_ip, self.name,
                            self.core.hostname, addr[0], str(addr[1]), username, realm, to_user,
                            reg_host, self.cfg.sip_ip, self.core.hostname, reg_host))
            self._fire_reg("sofia::register", [
                ("profile-name", self.name), ("from-user", to_user), ("from-host", reg_host),
                ("presence-hosts", "n/a"), ("contact", contact_str), ("call-id", call_id),
                ("rpid", "unknown"), ("status", status), ("expires", str(exp)),
                ("to-user", to_user), ("to-host", reg_host), ("network-ip", addr[0]),
                ("network-port", str(addr[1])), ("username", username), ("realm", realm),
                ("user-agent", agent)] + ([("update-reg", "true")] if rows else []))
            ok_contacts.append(f"<{na.raw_uri}>;expires={exp}")
        res = self.response(req, 200, "OK", to_tag=secrets.token_hex(6))
        for c in ok_contacts:
            res.add("Contact", c)
        res.add("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        res.add("Allow", ALLOW)
        stx.respond(res)

    def _unregister_rows(self, user: str, host: str, contact: str | None, agent: str,
                         call_id: str = "") -> None:
        db = self.core.db
        where = "profile_name = ? AND sip_user = ? AND sip_host = ?"
        args: tuple = (self.name, user, host)
        if contact is not None:
            where += " AND contact = ?"
            args += (contact,)
        cols, rows = db.query(f"SELECT call_id, contact, sip_username, sip_realm, network_ip, network_port, "
                              f"expires FROM sip_registrations WHERE {where}", args)
        db.execute(f"DELETE FROM sip_registrations WHERE {where}", args)
        for cid, cont, uname, realm, nip, nport, _exp in rows:
            self._fire_reg("sofia::unregister", [
                ("profile-name", self.name), ("username", uname), ("from-user", user),
                ("from-host", host), ("contact", cont), ("call-id", call_id or cid), ("rpid", "unknown"),
                ("realm", realm), ("network-ip", nip), ("network-port", nport),
                ("user-agent", agent), ("expires", "0")])

    def _fire_reg(self, subclass: str, headers: list[tuple[str, str]]) -> None:
        ev = Event(EventType.CUSTOM, subclass)
        for k, v in headers:
            ev.add_header(k, v)
        self.core.events.fire(ev)

    def _sweep_loop(self) -> None:
        """Expire registrations (sofia::expire), as sofia_reg_check_expire."""
        while self.running:
            gevent.sleep(1.0)
            now = int(time.time())
            try:
                cols, rows = self.core.db.query(
                    "SELECT call_id, sip_user, sip_host, contact, network_ip, network_port, user_agent, "
                    "expires FROM sip_registrations WHERE profile_name = ? AND expires > 0 AND expires <= ?",
                    (self.name, now))
                if not rows:
                    continue
                self.core.db.execute("DELETE FROM sip_registrations WHERE profile_name = ? AND expires > 0 "
                                     "AND expires <= ?", (self.name, now))
            except Exception as e:  # the database went away during shutdown
                log.debug("profile %s: registration sweep failed: %s", self.name, e)
                continue
            for cid, user, host, contact, nip, nport, agent, exp in rows:
                self._fire_reg("sofia::expire", [
                    ("profile-name", self.name), ("call-id", cid), ("user", user), ("host", host),
                    ("contact", contact), ("expires", str(exp)), ("network-ip", nip),
                    ("network-port", nport), ("user-agent", agent)])

    def registered_contact(self, user: str, host: str | None = None) -> str | None:
        row = self.registration(user, host)
        return row[0] if row else None

    def registration(self, user: str, host: str | None = None) -> tuple[str, str, str, str] | None:
        """The newest registration of ``user``: ``(contact, status, network_ip, network_port)``."""
        sql = ("SELECT contact, status, network_ip, network_port FROM sip_registrations WHERE "
               "profile_name = ? AND sip_user = ?")
        args: tuple = (self.name, user)
        if host:
            sql += " AND sip_host = ?"
            args += (host,)
        sql += " ORDER BY expires DESC LIMIT 1"
        cols, rows = self.core.db.query(sql, args)
        return tuple(rows[0]) if rows else None

    def reg_count(self) -> int:
        cols, rows = self.core.db.query("SELECT count(*) FROM sip_registrations WHERE profile_name = ?",
                                        (self.name,))
        return int(rows[0][0]) if rows else 0
