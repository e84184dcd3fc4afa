"""mod_sofia: FreeSWITCH's SIP endpoint, for softswitch (issue #19, a first vertical slice).

* profiles from ``sofia.conf.xml`` (:mod:`mod_sofia.profile`), each a UDP SIP user agent with a
  registrar (digest auth against the XML ``directory``, the ``sip_registrations`` table,
  ``sofia::register`` / ``sofia::unregister`` / ``sofia::expire`` events);
* the ``sofia`` endpoint (:mod:`mod_sofia.call`): inbound INVITEs routed through the profile's
  dialplan and context, ``originate sofia/<profile>/<user>@<host>[:<port>]`` and
  ``sofia/<profile>/<registered user>``, media over the kernel's RTP stack
  (:func:`softswitch.rtp_open`) with RFC 2833 DTMF;
* the ``sofia`` API: ``sofia status``, ``sofia status profile <name> [reg]``,
  ``sofia profile <name> start|stop|restart`` with FreeSWITCH's output; ``sofia_contact``.

The SIP stack is our own (message parser, RFC 3261 transactions, dialogs): see README.md for
why sippy was not taken.
"""

from __future__ import annotations

import logging
import time

import softswitch

__version__ = "0.1.0"

__all__ = ["module_load", "module_shutdown", "__version__"]

log = logging.getLogger(__name__)

LINE = "================================================================================================="
SUBCLASSES = ("sofia::register", "sofia::unregister", "sofia::expire")


class _State:
    def __init__(self, module, core) -> None:
        self.module = module
        self.core = core
        self.endpoint = None
        self.profiles: dict = {}


def _start_profiles(state, only: str | None = None) -> list[str]:
    """(Re)read sofia.conf and start its profiles (or only ``only``). Returns failures."""
    from .profile import Profile, load_profiles

    cfg = state.module.config("sofia.conf")
    if cfg is None:
        log.error("mod_sofia: no sofia.conf in the configuration (autoload_configs/sofia.conf.xml): "
                  "no SIP profile started")
    configs = load_profiles(cfg)
    failed = []
    for name, pcfg in configs.items():
        if only is not None and name != only:
            continue
        old = state.profiles.get(name)
        if old is not None and old.running:
            continue
        profile = Profile(state, pcfg)
        try:
            profile.start()
        except OSError as e:
            log.error("mod_sofia: %s: the profile is not started", e.strerror or e)
            failed.append(name)
            continue
        state.profiles[name] = profile
    if only is not None and only not in configs:
        failed.append(only)
    return failed


@softswitch.hookimpl
def module_load(module, core):
    """Create the registrations table, start the profiles, add the endpoint and the API."""
    from . import call
    from .profile import REG_SCHEMA

    state = _State(module, core)
    module.state.sofia = state
    for sub in SUBCLASSES:
        module.reserve_subclass(sub)
    core.db.execute(REG_SCHEMA)
    call.add_endpoint(module, state)
    _start_profiles(state)

    @module.add_api("sofia", "Sofia Controls",
                    "status|status profile <name> [reg]|xmlstatus [profile <name> [reg]]|"
                    "profile <name> start|stop|restart")
    def sofia_api(cmd, session, stream):
        _sofia_command(state, (cmd or "").split(), stream)

    @module.add_api("sofia_contact", "Sofia Contacts", "[profile/]<user>@<domain>")
    def sofia_contact_api(cmd, session, stream):
        stream.write(sofia_contact(state, cmd or "", session))

    return softswitch.Status.SUCCESS


def _url_from_contact(contact: str) -> str:
    """sofia_glue_get_url_from_contact: past a quoted display name, what is inside ``<>``."""
    buf = contact.lstrip(" ")
    if buf.startswith('"'):
        end = buf.find('"', 1)
        buf = buf[end + 1:] if end >= 0 else buf[1:]
    buf = buf.lstrip(" ")
    lt = buf.find("<")
    if lt >= 0:
        gt = buf.find(">", lt)
        if gt >= 0:
            return buf[lt + 1:gt]
        return buf[1:]
    return buf


def _select_contacts(state, profile, user: str, domain: str, concat: str | None, exclude: str | None,
                     match_ua: str | None, out: list[str], dedup: bool) -> None:
    """select_from_profile + contact_callback: ``<concat>sofia/<profile>/sip:<uri sans scheme>``."""
    sql = ("SELECT contact, profile_name FROM sip_registrations WHERE profile_name = ? "
           "AND upper(sip_user) = upper(?) AND (sip_host = ? OR presence_hosts LIKE ?)")
    args: tuple = (profile.name, user, domain, f"%{domain}%")
    if match_ua:
        sql += " AND user_agent LIKE ?"
        args += (f"%{match_ua}%",)
    if exclude:
        sql += " AND contact NOT LIKE ?"
        args += (f"%{exclude}%",)
    cols, rows = state.core.db.query(sql, args)
    for contact, pname in rows:
        if not contact:
            continue
        url = _url_from_contact(contact)
        item = f"{concat or ''}sofia/{pname}/sip:{url.partition(':')[2] if ':' in url else url}"
        if dedup and item in "".join(out):
            continue
        out.append(item + ",")


def sofia_contact(state, cmd: str, session=None) -> str:
    """FreeSWITCH's ``sofia_contact [profile/]<user>[@<domain>][/<prefix>][~<user agent>]``: the
    dial strings of the user's registered contacts, comma-separated, or
    ``error/user_not_registered``. The channel variables ``sip_exclude_contact`` and
    ``sip_match_user_agent`` of the calling session filter them, as in FreeSWITCH."""
    if not cmd:
        return ""
    exclude = match_ua = None
    if session is not None:
        exclude = session.get_variable("sip_exclude_contact")
        match_ua = session.get_variable("sip_match_user_agent")
    data = cmd
    profile_name: str | None = None
    tilde = "~" in data
    if tilde:
        data, match_ua = data.split("~", 1)
    slash = "/" in data
    if slash:
        profile_name, user = data.split("/", 1)
    else:
        user = data
    concat = domain = None
    if "@" in user:
        user, domain = user.split("@", 1)
        if "/" in domain:
            domain, concat = domain.split("/", 1)
    elif "/" in user:
        user, concat = user.split("/", 1)
    if tilde and not slash:
        # FreeSWITCH's profile name shares the user's buffer there: it is the user part
        profile_name = user
    if not domain:
        domain = state.core.vars.get("domain") or "freeswitch.local"
    profiles = {name: p for name, p in state.profiles.items() if p.running}
    profile = None
    if profile_name != "*" or not domain:
        if profile_name:
            profile = profiles.get(profile_name)
        if profile is None and domain:
            profile = profiles.get(domain)
    out: list[str] = []
    if profile is not None:
        _select_contacts(state, profile, user, domain, concat, exclude, match_ua, out, False)
    elif domain:
        for p in profiles.values():
            _select_contacts(state, p, user, domain, concat, exclude, match_ua, out, True)
    reply = "".join(out)
    if not reply:
        return "error/user_not_registered"
    return reply[:-1] if reply.endswith(",") else reply


@softswitch.hookimpl
def module_shutdown(module):
    state = getattr(module.state, "sofia", None)
    if state is None:
        return
    for profile in list(state.profiles.values()):
        profile.stop()


def _sofia_command(state, argv: list[str], stream) -> None:
    if not argv:
        stream.write("-USAGE: status|status profile <name> [reg]|xmlstatus [profile <name> [reg]]|"
                     "profile <name> start|stop|restart\n")
        return
    cmd = argv[0].lower()
    if cmd == "status":
        _status(state, argv[1:], stream)
    elif cmd == "xmlstatus":
        _xmlstatus(state, argv[1:], stream)
    elif cmd == "profile":
        _profile_cmd(state, argv[1:], stream)
    else:
        stream.write("-ERR Unknown command!\n")


def _status(state, argv: list[str], stream) -> None:
    w = stream.write
    if not argv:
        w("%25s\t%s\t  %40s\t%s\n" % ("Name", "   Type", "Data", "State"))
        w(f"{LINE}\n")
        c = 0
        for p in state.profiles.values():
            if not p.running:
                continue
            inuse = sum(1 for call in p.calls.values() if call.session is not None)
            w("%25s\t%s\t  %40s\t%s (%u)\n" % (p.name, "profile", p.url, "RUNNING", inuse))
            c += 1
        w(f"{LINE}\n")
        w("%d profile%s %d alias%s\n" % (c, "" if c == 1 else "s", 0, "es"))
        return
    if argv[0].lower() != "profile":
        w("Invalid Syntax!\n")
        return
    p = state.profiles.get(argv[1]) if len(argv) > 1 else None
    if p is None or not p.running:
        w("Invalid Profile!\n")
        return
    cfg = p.cfg
    sub = argv[2].lower() if len(argv) > 2 else ""
    if sub not in ("reg", "user"):
        rows = [
            ("Name", p.name), ("Domain Name", "N/A"), ("Auto-NAT", "false"),
            ("DBName", "sofia_reg_" + p.name), ("Pres Hosts", ""), ("Dialplan", cfg.dialplan),
            ("Context", cfg.context),
            ("Challenge Realm", cfg.challenge_realm), ("RTP-IP", cfg.rtp_ip), ("SIP-IP", cfg.sip_ip),
            ("URL", p.url), ("BIND-URL", p.bindurl), ("HOLD-MUSIC", "N/A"), ("OUTBOUND-PROXY", "N/A"),
            ("CODECS IN", ",".join(cfg.codec_prefs)), ("CODECS OUT", ",".join(cfg.codec_prefs)),
            ("TEL-EVENT", str(cfg.te_pt)),
            ("DTMF-MODE", cfg.dtmf_type if cfg.dtmf_type in ("rfc2833", "info") else "none"),
            ("CNG", "13"), ("SESSION-TO", "0"), ("MAX-DIALOG", "1000"), ("MAX-RECV-RPS", "0"),
            ("NOMEDIA", "false"), ("LATE-NEG", "false"), ("PROXY-MEDIA", "false"),
            ("AGGRESSIVENAT", "false"),
            ("CALLS-IN", str(p.ib_calls)), ("FAILED-CALLS-IN", str(p.ib_failed_calls)),
            ("CALLS-OUT", str(p.ob_calls)), ("FAILED-CALLS-OUT", str(p.ob_failed_calls)),
            ("REGISTRATIONS", str(p.reg_count())),
        ]
        w(f"{LINE}\n")
        for k, v in rows:
            w(f"{k:<17}\t{v}\n")
    if sub in ("reg", "user"):
        sql = ("SELECT call_id, sip_user, sip_host, contact, status, rpid, expires, user_agent, "
               "server_user, server_host, profile_name, hostname, network_ip, network_port, "
               "sip_username, sip_realm, mwi_user, mwi_host, ping_status, ping_time "
               "FROM sip_registrations WHERE profile_name = ?")
        args: tuple = (p.name,)
        if sub == "reg" and len(argv) > 3:
            sql += " AND contact LIKE ?"
            args += (f"%{argv[3]}%",)
        elif sub == "user" and len(argv) > 3:
            user, _, host = argv[3].rpartition("@")
            if not user:
                user, host = "", host
            if user:
                sql += " AND sip_user = ?"
                args += (user,)
            if host:
                sql += " AND sip_host = ?"
                args += (host,)
        cols, rows = state.core.db.query(sql, args)
        w(f"\nRegistrations:\n{LINE}\n")
        now = int(time.time())
        for r in rows:
            exp = int(r[6] or 0)
            exp_buf = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(exp)) if r[6] is not None else ""
            s = lambda v: "" if v is None else str(v)  # noqa: E731 - switch_str_nil
            w(f"Call-ID:    \t{s(r[0])}\n"
              f"User:       \t{s(r[1])}@{s(r[2])}\n"
              f"Contact:    \t{s(r[3])}\n"
              f"Agent:      \t{s(r[7])}\n"
              f"Status:     \t{s(r[4])}({s(r[5])}) EXP({exp_buf}) EXPSECS({exp - now})\n"
              f"Ping-Status:\t{s(r[18])}\n"
              f"Ping-Time:\t{int(r[19] or 0) / 1000:0.2f}\n"
              f"Host:       \t{s(r[11])}\n"
              f"IP:         \t{s(r[12])}\n"
              f"Port:       \t{s(r[13])}\n"
              f"Auth-User:  \t{s(r[14])}\n"
              f"Auth-Realm: \t{s(r[15])}\n"
              f"MWI-Account:\t{s(r[16])}@{s(r[17])}\n\n")
        w(f"Total items returned: {len(rows)}\n")
    w(f"{LINE}\n")


XML_HEADER = '<?xml version="1.0" encoding="ISO-8859-1"?>'
REG_COLUMNS = ("call_id, sip_user, sip_host, contact, status, rpid, expires, user_agent, server_user, "
               "server_host, profile_name, hostname, network_ip, network_port, sip_username, sip_realm, "
               "mwi_user, mwi_host, ping_status, ping_time")
_URL_UNSAFE = set("\r\n #%&+:;<=>?@[\\]^`{|}\"")


def _amp(text) -> str:
    """switch_amp_encode."""
    return ("" if text is None else str(text)).replace("&", "&amp;").replace('"', "&quot;") \
        .replace("'", "&apos;").replace("<", "&lt;").replace(">", "&gt;")


def _url_encode(text) -> str:
    """switch_url_encode (an already %-escaped octet is kept)."""
    text = "" if text is None else str(text)
    out = []
    for i, ch in enumerate(text):
        if ch == "%" and len(text) - i > 2 and all(c in "0123456789ABCDEF" for c in text[i + 1:i + 3]):
            out.append(ch)
        elif ch < " " or ch > "~" or ch in _URL_UNSAFE:
            out.extend(f"%{b:02X}" for b in ch.encode())
        else:
            out.append(ch)
    return "".join(out)


def _xmlstatus(state, argv: list[str], stream) -> None:
    """``sofia xmlstatus [profile <name> [reg [<contact>]|user <user@host>|pres <host>]]``,
    FreeSWITCH's cmd_xml_status (no gateways here: their lists are empty)."""
    w = stream.write
    if not argv:
        w(f"{XML_HEADER}\n<profiles>\n")
        for p in state.profiles.values():
            if p.running:
                inuse = sum(1 for call in p.calls.values() if call.session is not None)
                w(f"<profile>\n<name>{p.name}</name>\n<type>profile</type>\n<data>{p.url}</data>\n"
                  f"<state>RUNNING ({inuse})</state>\n</profile>\n")
        w("</profiles>\n")
        return
    if len(argv) == 1:
        # FreeSWITCH: any single argument lists the gateways
        w(f"{XML_HEADER}\n<gateways>\n</gateways>\n")
        return
    what = argv[0].lower()
    if what == "gateway":
        w("Invalid Gateway!\n")
        return
    if what != "profile":
        w("Invalid Syntax!\n")
        return
    p = state.profiles.get(argv[1])
    if p is None or not p.running:
        w("Invalid Profile!\n")
        return
    cfg = p.cfg
    sub = argv[2].lower() if len(argv) > 2 else ""
    w(f"{XML_HEADER}\n<profile>\n")
    if sub not in ("reg", "user"):
        dtmf = cfg.dtmf_type if cfg.dtmf_type in ("rfc2833", "info") else "none"
        info = [("name", argv[1]), ("domain-name", "N/A"), ("auto-nat", "false"),
                ("db-name", "sofia_reg_" + p.name), ("pres-hosts", ""), ("dialplan", cfg.dialplan),
                ("context", cfg.context), ("challenge-realm", cfg.challenge_realm),
                ("rtp-ip", cfg.rtp_ip), ("sip-ip", cfg.sip_ip), ("url", p.url), ("bind-url", p.bindurl),
                ("hold-music", "N/A"), ("outbound-proxy", "N/A"),
                ("inbound-codecs", ",".join(cfg.codec_prefs)), ("outbound-codecs", ",".join(cfg.codec_prefs)),
                ("tel-event", str(cfg.te_pt)), ("dtmf-mode", dtmf), ("cng", "13"), ("session-to", "0"),
                ("max-dialog", "1000"), ("max-recv-rps", "0"), ("nomedia", "false"),
                ("late-neg", "false"), ("proxy-media", "false"), ("aggressive-nat", "false"),
                ("calls-in", str(p.ib_calls)), ("calls-out", str(p.ob_calls)),
                ("failed-calls-in", str(p.ib_failed_calls)), ("failed-calls-out", str(p.ob_failed_calls)),
                ("registrations", str(p.reg_count()))]
        w("  <profile-info>\n")
        for k, v in info:
            w(f"    <{k}>{v}</{k}>\n")
        w("  </profile-info>\n")
    sql = None
    args: tuple = (p.name,)
    base = f"SELECT {REG_COLUMNS} FROM sip_registrations WHERE profile_name = ?"
    if sub == "pres" and len(argv) > 3:
        sql, args = base + " AND presence_hosts LIKE ?", args + (f"%{argv[3]}%",)
    elif sub == "reg" and len(argv) > 3:
        sql, args = base + " AND contact LIKE ?", args + (f"%{argv[3]}%",)
    elif sub == "reg":
        sql = base
    elif sub == "user" and len(argv) > 3:
        # FreeSWITCH: without an @ the argument is the host
        user, at, host = argv[3].partition("@")
        if not at:
            user, host = "", user
        sql = base
        if user:
            sql, args = sql + " AND sip_user = ?", args + (user,)
        if host:
            sql, args = sql + " AND sip_host = ?", args + (host,)
    if sql is not None:
        w("  <registrations>\n")
        cols, rows = state.core.db.query(sql, args)
        now = int(time.time())
        for r in rows:
            s = ["" if v is None else str(v) for v in r]
            exp_buf, exp_secs = "", 0
            if r[6] is not None:
                exp_buf = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(r[6])))
                exp_secs = int(r[6]) - now
            w("    <registration>\n"
              f"        <call-id>{s[0]}</call-id>\n"
              f"        <user>{s[1]}@{s[2]}</user>\n"
              f"        <contact>{_amp(s[3])}</contact>\n"
              f"        <agent>{_amp(s[7])}</agent>\n"
              f"        <status>{s[4]}({s[5]}) exp({exp_buf}) expsecs({exp_secs})</status>\n"
              f"        <ping-status>{s[18]}</ping-status>\n"
              f"        <ping-time>{int(r[19] or 0) / 1000:0.2f}</ping-time>\n"
              f"        <host>{s[11]}</host>\n"
              f"        <network-ip>{s[12]}</network-ip>\n"
              f"        <network-port>{s[13]}</network-port>\n"
              f"        <sip-auth-user>{_url_encode(s[14])}</sip-auth-user>\n"
              f"        <sip-auth-realm>{s[15]}</sip-auth-realm>\n"
              f"        <mwi-account>{s[16]}@{s[17]}</mwi-account>\n"
              "    </registration>\n")
        w("  </registrations>\n")
    w("</profile>\n")


def _profile_cmd(state, argv: list[str], stream) -> None:
    w = stream.write
    if len(argv) < 2:
        w("Invalid Args!\n")
        return
    name, action = argv[0], argv[1].lower()
    if action == "start":
        ok, err = state.core.admin.reloadxml()
        w(f"Reload XML [{'Success' if ok else err}]\n")
        failed = _start_profiles(state, only=name)
        w(f"{name} started successfully\n" if not failed else f"Failure starting {name}\n")
        return
    p = state.profiles.get(name)
    if p is None or not p.running:
        w(f"Invalid Profile [{name}]")
        return
    if action == "stop":
        p.stop()
        state.profiles.pop(name, None)
        w(f"stopping: {name}")
    elif action == "restart":
        p.stop()
        state.profiles.pop(name, None)
        state.core.admin.reloadxml()
        _start_profiles(state, only=name)
        w(f"restarting: {name}")
    else:
        w("-ERR Unknown command!\n")
